"""Long, coverage-guided fuzzing runs with atheris (libFuzzer) over zomehost.fuzz.targets.

atheris is not a dependency of zomehost; install it where you run this (see
docs/sandbox.md for the documented run)::

    python -m zomehost.fuzz.long TARGET [-max_total_time=600] [-seed=N] [corpus dir...]
    python -m zomehost.fuzz.long --list

Each input is bytes from libFuzzer; the target's typed refusals are expected; anything else
is reported by libFuzzer as a crash (with the input saved as crash-<sha1>). At exit the
number of inputs tried is printed as ``zomehost-fuzz: TARGET inputs=N refused=M``.
"""

from __future__ import annotations

import atexit
import contextlib
import sys
import zlib
from collections.abc import Callable
from typing import Any

COUNTS = {"inputs": 0, "refused": 0}


def _targets() -> dict[str, Callable[[bytes], None]]:
    from zomehost.core.codec import unpack
    from zomehost.fuzz import targets as t

    def split(data: bytes, n: int) -> list[bytes]:
        """Cut the input into up to ``n`` parts at 0xFF 0x00 markers."""
        return (data.split(b"\xff\x00") + [b""] * n)[:n]

    def from_msgpack(fn: Callable[[Any], None]) -> Callable[[bytes], None]:
        def run(data: bytes) -> None:
            try:
                value = unpack(data)
            except Exception:
                raise t.Expected("not msgpack") from None
            fn(value)

        return run

    def session_frames(data: bytes) -> None:
        parts = split(data, 3)
        payloads = [p for p in parts[0].split(b"\x00")[:5]]
        op = ["none", "flip", "truncate", "insert", "delete", "duplicate"][
            (parts[1][:1] or b"\x00")[0] % 6
        ]
        pos = int.from_bytes(parts[1][1:4] or b"\x00", "big")
        val = (parts[1][4:5] or b"\x00")[0]
        chunks = [max(1, b) for b in parts[2][:6]]
        t.session_frames(payloads, (op, pos, val), chunks)

    def wire_values(value: Any) -> None:
        for n in sorted(t.WIRE_DECODERS):
            with contextlib.suppress(t.Expected):
                t.wire_value(n, value)

    def handshake(data: bytes) -> None:
        t.session_handshake_bytes(
            data[1:], [max(1, b) for b in data[1:4]], bool(data[:1] and data[0] & 1)
        )

    return {
        "msgpack": t.msgpack_payload,
        "bundle": t.bundle_bytes,
        "bundle-inner": lambda d: t.bundle_bytes(zlib.compress(d, 1, wbits=31)),
        "manifest": from_msgpack(t.manifests),
        "wire-value": from_msgpack(wire_values),
        "stored-action": t.stored_action,
        "signed-call": lambda d: t.signed_zome_call(*split(d, 2)),
        "api-frame": t.api_frame,
        "peer-message": t.peer_message,
        "agent-info": from_msgpack(t.agent_info),
        "session-handshake": handshake,
        "session-frames": session_frames,
    }


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] in ("-h", "--help", "--list"):
        print(__doc__)
        print("targets:", ", ".join(_targets()))
        return
    name = sys.argv.pop(1)
    import atheris  # type: ignore[import-not-found,import-untyped,unused-ignore]

    with atheris.instrument_imports(include=["zomehost"]):
        import zomehost.core.api_wire
        import zomehost.network.agent_info
        import zomehost.network.noise
        import zomehost.network.protocol
        import zomehost.network.session  # noqa: F401  (the targets import these lazily)
        from zomehost.fuzz import targets as t

        fns = _targets()
    if name not in fns:
        raise SystemExit(f"unknown target {name!r}: {', '.join(fns)}")
    fn = fns[name]

    def one(data: bytes) -> None:
        COUNTS["inputs"] += 1
        try:
            fn(data)
        except t.Expected:
            COUNTS["refused"] += 1

    atexit.register(
        lambda: print(
            f"zomehost-fuzz: {name} inputs={COUNTS['inputs']} refused={COUNTS['refused']}",
            flush=True,
        )
    )
    atheris.Setup(sys.argv, one)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
