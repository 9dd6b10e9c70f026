"""The seed corpus of the long fuzz targets: valid inputs for each, in libFuzzer's byte form
(``zomehost.fuzz.long`` maps bytes to each target's arguments). Committed under
``zomehost/fuzz/corpus/TARGET/``; regenerate with::

    python -m zomehost.fuzz.seeds [DIR]
"""

from __future__ import annotations

import hashlib
import struct
import sys
import zlib
from pathlib import Path

import nacl.pwhash
import nacl.signing

from zomehost.conductor.home import ConductorConfig
from zomehost.core import api_wire
from zomehost.core.codec import pack
from zomehost.core.hash import DnaHash
from zomehost.core.keystore import Keystore
from zomehost.fuzz import targets as t
from zomehost.fuzz.testbed import app_bundle, dna, wat
from zomehost.network import protocol
from zomehost.ribosome.engine import HOST_FUNCTIONS

SEP = b"\xff\x00"  # long.py's separator between the parts of one input
DNA = DnaHash.from_core(bytes(range(32)))
UPGRADE = (
    b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
)
DNA_YAML = """manifest_version: '1'
name: demo
integrity:
  network_seed: ''
  properties: {a: 1}
  zomes: []
coordinator:
  zomes:
    - name: demo
      path: ../zomes/demo/build/demo.wasm
limits: {timeout_ms: 2000}
"""
HAPP_YAML = """manifest_version: '1'
name: app
description: an app
roles:
  - name: main
    dna:
      path: ./dna
      modifiers: {network_seed: x, properties: null}
"""


def _host_raw(name: str, value: object) -> bytes:
    """The hostile zome's ``host_raw`` input: call host function ``name`` with ``value``."""
    return struct.pack("<BBII", HOST_FUNCTIONS.index(name), 1, 0, 0) + pack(value)


def seeds() -> dict[str, list[bytes]]:
    """Target name -> seed inputs."""
    bundle = app_bundle({"main": dna({"writer": wat("writer")})})
    keystore = Keystore.create(
        "fuzz-passphrase",
        ops=nacl.pwhash.argon2id.OPSLIMIT_MIN,
        mem=nacl.pwhash.argon2id.MEMLIMIT_MIN,
    )
    keystore.generate()
    _, _, cache_file, _ = t._cache_bed()
    manifest = dna({"z": b""}).manifest.to_doc()
    call_body = {"params": b"\x80", "signature": bytes(64), "timeout_ms": 1000, "depth": 1}
    signer = nacl.signing.SigningKey(bytes(32))
    return {
        "msgpack": [pack({"a": [1, 2.5, b"x", None, True]}), pack([[[]]])],
        "bundle": [bundle],
        "bundle-inner": [zlib.decompress(bundle, wbits=47)],
        "manifest": [pack(manifest), pack({"name": "a", "roles": []})],
        "wire-value": [pack({"tag": "t", "access": "Unrestricted", "functions": "All"})],
        "stored-action": [pack({"type": "Dna", "timestamp": 0})],
        "signed-call": [pack({"provenance": b"x"}) + SEP + bytes(64)],
        "api-frame": [api_wire.encode_request(1, "list_apps", {})],
        "peer-message": [protocol.encode(protocol.Request(1, protocol.OP_CALL, call_body))],
        "agent-info": [pack({"info": b"x", "signature": bytes(signer.sign(b"x").signature)})],
        "session-handshake": [b"\x00" + bytes(32), b"\x01" + bytes(96)],
        "session-frames": [b"a\x00bc" + SEP + b"\x01\x00\x00\x05\x07" + SEP + b"\x03\x05"],
        "guest-abi": [
            b"\x00" + _host_raw("create", {"entry_type": "e", "entry": b"x"}),
            b"\x01" + _host_raw("query", {"include_entries": True}),
            b"\x00" + _host_raw("random_bytes", 16),
            b"\x00" + _host_raw("trace", {"level": "info", "msg": "hi"}),
            b"\x00" + struct.pack("<BBII", 4, 0, 65536, 16),
        ],
        "module-cache": [b"\x00", b"\x01" + cache_file, b"\x00\x00\x00\x00\x01"],
        "handshake-message-3": [b"\x03" + bytes(112), b"\x01" + bytes(8), b"\x00" + bytes(160)],
        "bootstrap-request": [
            b"GET /v1/health HTTP/1.1\r\nHost: b\r\n\r\n",
            b"GET /v1/agent-infos/%s?limit=5 HTTP/1.1\r\nHost: b\r\n\r\n" % str(DNA).encode(),
            b"POST /v1/agent-infos HTTP/1.1\r\nHost: b\r\nContent-Type: application/msgpack"
            b"\r\nContent-Length: 1\r\n\r\n\x90",
        ],
        "bootstrap-response": [
            b"HTTP/1.1 200 OK\r\nContent-Type: application/msgpack\r\n"
            b"Content-Length: 1\r\n\r\n\x90",
            b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nbad",
        ],
        "keystore": [keystore.seal()],
        "conductor-config": [
            ConductorConfig().dump().encode(),
            b"admin_port: 4444\nlimits: {timeout_ms: 100, fuel: null}\nboundary: fast\n",
        ],
        "manifest-yaml": [DNA_YAML.encode(), HAPP_YAML.encode()],
        "peer-request-body": [
            pack(call_body),
            pack({"params": b"\x80", "binding": bytes(64), "timeout_ms": 1000, "depth": 1}),
        ],
        "peer-answer": [pack({"Ok": b"\x90"}), pack({"NetworkError": "gone"})],
        "one-way-body": [
            protocol.OP_SIGNAL.encode() + SEP + pack(call_body),
            protocol.OP_SIGNAL.encode() + SEP + pack({"params": b"\x80", "binding": bytes(64)}),
            protocol.OP_AGENT_INFOS.encode() + SEP + pack([]),
        ],
        "websocket-upgrade": [
            b"\x00" + UPGRADE + f"Origin: {t.ALLOWED_ORIGIN}\r\n\r\n".encode(),
            b"\x01" + UPGRADE + b"\r\n",
        ],
    }


def write(root: Path) -> int:
    """Write every seed as ``root/TARGET/<sha1>`` (replacing what was there); the number
    written. Keystore and module cache seeds hold fresh random keys each time."""
    n = 0
    for target, inputs in seeds().items():
        folder = root / target
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.iterdir():  # the corpus is exactly this generation's seeds
            old.unlink()
        for data in inputs:
            (folder / hashlib.sha1(data).hexdigest()).write_bytes(data)
            n += 1
    return n


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name("corpus")
    print(f"wrote {write(out)} seeds under {out}")
