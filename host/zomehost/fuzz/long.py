"""Long, coverage-guided fuzzing runs with atheris (libFuzzer) over zomehost.fuzz.targets.

atheris is not a dependency of zomehost; install it where you run this (see
docs/sandbox.md for the documented run)::

    python -m zomehost.fuzz.long TARGET [-max_total_time=600] [-seed=N] [corpus dir...]
    python -m zomehost.fuzz.long --list

Each input is bytes from libFuzzer; the target's typed refusals are expected; anything else
is reported by libFuzzer as a crash (with the input saved as crash-<sha1>). Without a corpus
directory, the run starts from the committed seed corpus (``zomehost/fuzz/corpus/TARGET``,
written by ``python -m zomehost.fuzz.seeds``) and keeps what it finds in a temporary one.

libFuzzer ends the process without running Python's exit handlers, so the fuzzing runs in a
child process that records its counts in a file after every input; when it ends, this
process prints ``zomehost-fuzz: TARGET inputs=N refused=M exit=RC``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import struct
import subprocess
import sys
import tempfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

CORPUS = Path(__file__).with_name("corpus")
COUNTS_ENV = "ZOMEHOST_FUZZ_COUNTS_FILE"
_COUNTS = struct.Struct("<QQ")  # inputs, refused


def byte_targets() -> dict[str, Callable[[bytes], None]]:
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

    def flags(data: bytes) -> tuple[int, bytes]:
        """The first byte as option bits, the rest as the input."""
        return (data[0] if data else 0), data[1:]

    def module_cache(data: bytes) -> None:
        bits, rest = flags(data)
        t.module_cache_file(rest, bool(bits & 1))

    def message_3(data: bytes) -> None:
        bits, rest = flags(data)
        t.handshake_message_3(rest, bool(bits & 1), bool(bits & 2))

    def abi(data: bytes) -> None:
        bits, rest = flags(data)
        t.guest_abi(rest, ("native", "fast", "public")[bits % 3])

    def upgrade(data: bytes) -> None:
        bits, rest = flags(data)
        t.websocket_upgrade(rest, bool(bits & 1))

    def text(fn: Callable[[str], None]) -> Callable[[bytes], None]:
        return lambda data: fn(data.decode("utf-8", "replace"))

    def one_way(data: bytes) -> None:
        op, body = split(data, 2)
        from_msgpack(lambda value: t.one_way_body(op.decode("utf-8", "replace"), value))(body)

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
        "guest-abi": abi,
        "module-cache": module_cache,
        "handshake-message-3": message_3,
        "bootstrap-request": t.bootstrap_request,
        "bootstrap-response": t.bootstrap_response,
        "keystore": t.keystore_file,
        "conductor-config": text(t.conductor_config),
        "manifest-yaml": text(t.manifest_yaml),
        "peer-request-body": from_msgpack(t.peer_request_body),
        "peer-answer": from_msgpack(t.peer_answer_body),
        "one-way-body": one_way,
        "websocket-upgrade": upgrade,
    }


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] in ("-h", "--help", "--list"):
        print(__doc__)
        print("targets:", ", ".join(byte_targets()))
        return
    if sys.argv[1] == "--child":
        del sys.argv[1]
        _child()
        return
    name, args = sys.argv[1], sys.argv[2:]
    if name not in byte_targets():
        raise SystemExit(f"unknown target {name!r}: {', '.join(byte_targets())}")
    with tempfile.TemporaryDirectory(prefix=f"zomehost-fuzz-{name}-") as work:
        counts = Path(work) / "counts"
        counts.write_bytes(_COUNTS.pack(0, 0))
        if not [a for a in args if not a.startswith("-")]:  # no corpus: start from the seeds
            found = Path(work) / "corpus"
            found.mkdir()
            args += [str(found), str(CORPUS / name)]
        child = subprocess.run(
            [sys.executable, "-m", "zomehost.fuzz.long", "--child", name, *args],
            env={**os.environ, COUNTS_ENV: str(counts)},
            check=False,
        )
        inputs, refused = _COUNTS.unpack(counts.read_bytes())
    print(
        f"zomehost-fuzz: {name} inputs={inputs} refused={refused} exit={child.returncode}",
        flush=True,
    )
    raise SystemExit(child.returncode)


def _child() -> None:
    """Run libFuzzer over one target, recording the counts after every input."""
    name = sys.argv.pop(1)
    import atheris  # type: ignore[import-not-found,import-untyped,unused-ignore]

    logging.getLogger("zomehost").setLevel(logging.ERROR)  # refusals are logged as warnings
    with atheris.instrument_imports(include=["zomehost"]):
        import zomehost.api.origins
        import zomehost.conductor.home
        import zomehost.core.api_wire
        import zomehost.core.keystore
        import zomehost.core.yamldoc
        import zomehost.network.agent_info
        import zomehost.network.bootstrap
        import zomehost.network.noise
        import zomehost.network.protocol
        import zomehost.network.session
        import zomehost.p2p.service
        import zomehost.ribosome.boundary
        import zomehost.ribosome.fastpath
        import zomehost.ribosome.host_fns
        import zomehost.ribosome.module_cache  # noqa: F401  (the targets import these lazily)
        from zomehost.fuzz import targets as t

        fn = byte_targets()[name]
    fd = os.open(os.environ[COUNTS_ENV], os.O_WRONLY)
    counts = [0, 0]

    def one(data: bytes) -> None:
        counts[0] += 1
        try:
            fn(data)
        except t.Expected:
            counts[1] += 1
        finally:
            os.pwrite(fd, _COUNTS.pack(*counts), 0)

    atheris.Setup(sys.argv, one)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
