#!/usr/bin/env python3
"""The messenger in the browser: Alice's and Bob's conductors, each serving the UI.

Starts a bootstrap service and two `zomehost run` processes (fresh homes, loopback), installs
the messenger `.webhapp` on both, and prints the two URLs to open (one page per agent).
Stop with Ctrl-C. Build the zomes and the UI first: `just messenger-ui` does both.

    python examples/messenger/serve.py [--keep | --dir DIR]
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "ghostwriter"))

from sandbox import serve_forever  # noqa: E402

if __name__ == "__main__":
    sys.exit(serve_forever(HERE, ["alice", "bob"], "messenger-demo", __doc__.splitlines()[0]))
