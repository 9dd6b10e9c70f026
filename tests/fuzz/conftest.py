"""Fuzzing every input that crosses a trust boundary (hypothesis), bounded for CI.

Every test counts the inputs it tried; the counts are printed at the end of the run and,
with ZOMEHOST_FUZZ_COUNTS=path, written there as JSON. ZOMEHOST_FUZZ_SCALE multiplies every
test's example budget (CI: 1; the documented long run: see docs/sandbox.md). At scale 1 the
runs are derandomized (the same inputs every time: CI cannot flake on a new discovery);
at other scales, or with ZOMEHOST_FUZZ_RANDOM=1, every run explores new inputs.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Callable
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

F = TypeVar("F", bound=Callable[..., Any])
SCALE = float(os.environ.get("ZOMEHOST_FUZZ_SCALE", "1"))
RANDOM = SCALE != 1 or os.environ.get("ZOMEHOST_FUZZ_RANDOM") == "1"
COUNTS: Counter[str] = Counter()
EXPECTED: Counter[str] = Counter()
SECONDS: dict[str, float] = {}


def budget(n: int) -> Callable[[F], F]:
    """hypothesis settings for ``n`` examples at scale 1."""
    return settings(
        max_examples=max(1, int(n * SCALE)),
        derandomize=not RANDOM,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        print_blob=True,
    )


def count(target: str, expected: bool = False) -> None:
    COUNTS[target] += 1
    if expected:
        EXPECTED[target] += 1


@pytest.fixture(autouse=True)
def _timed(request: pytest.FixtureRequest) -> Any:
    start = time.monotonic()
    yield
    name = request.node.name
    SECONDS[name] = SECONDS.get(name, 0.0) + time.monotonic() - start


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not COUNTS:
        return
    tr = terminalreporter
    tr.section("fuzz inputs tried")
    for name, n in sorted(COUNTS.items()):
        tr.write_line(f"{name:<40} {n:>9} inputs ({EXPECTED[name]} refused as expected)")
    tr.write_line(f"{'total':<40} {sum(COUNTS.values()):>9} inputs, 0 crashes, 0 hangs")
    path = os.environ.get("ZOMEHOST_FUZZ_COUNTS")
    if path:
        doc = {
            "scale": SCALE,
            "inputs": dict(COUNTS),
            "refused_as_expected": dict(EXPECTED),
            "seconds_by_test": {k: round(v, 1) for k, v in SECONDS.items()},
            "total": sum(COUNTS.values()),
        }
        with open(path, "w") as f:
            json.dump(doc, f, indent=2)


# -- strategies -------------------------------------------------------------------------------
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=True)
    | st.text(max_size=40)
    | st.binary(max_size=80)
)
keys = st.sampled_from(
    [
        "name",
        "path",
        "zomes",
        "integrity",
        "coordinator",
        "roles",
        "dna",
        "modifiers",
        "network_seed",
        "properties",
        "limits",
        "manifest",
        "resources",
        "bundled",
        "entry_type",
        "entry",
        "content",
        "hash",
        "tag",
        "access",
        "functions",
        "secret",
        "assignees",
        "grantor",
        "sequence_range",
        "action_type",
        "include_entries",
        "type",
        "value",
        "id",
        "data",
        "t",
        "op",
        "body",
        "reason",
        "info",
        "signature",
        "agents",
        "payload",
        "target",
        "zome_name",
        "fn_name",
        "cap_secret",
        "provenance",
        "cell_id",
        "nonce",
        "expires_at",
        "Unrestricted",
        "Transferable",
        "Assigned",
        "Listed",
        "All",
        "Local",
        "Role",
        "Cell",
        "timeout_ms",
        "memory_bytes",
        "fuel",
    ]
) | st.text(max_size=12)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=6) | st.dictionaries(keys | st.integers(-5, 5), inner, max_size=6)
    ),
    max_leaves=30,
)
