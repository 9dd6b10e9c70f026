"""The wall clock in Holochain's unit, microseconds since the epoch: where time is read.

Pure functions take the time as an argument; the layers that do I/O read it here, so there
is one clock to reason about (and to replace in a test).
"""

from __future__ import annotations

import time


def now_micros() -> int:
    return time.time_ns() // 1000
