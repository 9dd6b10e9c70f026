"""The WebSocket upgrade of a running conductor, from a raw socket: an upgrade with two
Origin headers is a plain 400 (it used to raise inside the Origin check: a 500 and a logged
traceback), and bytes after the request do not disturb the interface."""

from __future__ import annotations

import socket

from .conftest import ConductorProc

UPGRADE = (
    b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
)


def answer(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(request)
        out = b""
        while b"\r\n\r\n" not in out:
            chunk = s.recv(4096)
            if not chunk:
                break
            out += chunk
        return out


def test_two_origin_headers_are_a_400(conductor: ConductorProc) -> None:
    got = answer(
        conductor.admin_port,
        UPGRADE + b"Origin: http://a.example\r\nOrigin: http://b.example\r\n\r\n",
    )
    assert got.startswith(b"HTTP/1.1 400"), got[:200]
    assert "process_request failed" not in conductor.output()


def test_bytes_after_the_request_leave_the_interface_serving(conductor: ConductorProc) -> None:
    for junk in (b"ket\r\nConnection: Upgrade\r\n\r\n", b"\x00" * 64, b"\x81\x05hello"):
        answer(conductor.admin_port, UPGRADE + b"Origin: http://a.example\r\n\r\n" + junk)
    got = answer(conductor.admin_port, UPGRADE + b"\r\n")  # no Origin: refused, not crashed
    assert got.startswith(b"HTTP/1.1 400"), got[:200]
