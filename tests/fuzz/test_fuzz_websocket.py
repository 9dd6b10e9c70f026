"""Fuzz WebSocket frames against a running conductor (`zomehost run`): damaged and random
frames to the admin interface, and to an app interface before and instead of
authentication. After every frame the conductor must still answer a valid request (on the
same connection, or on a new one if it closed this one with a policy code), and its log
must show no unexpected failure."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from zomehost.core import api_wire as wire
from zomehost.core.codec import pack
from zomehost.fuzz.testbed import PASSPHRASE, app_bundle, dna, make_home, wat
from zomehost.testing.process import ConductorProcess

from .conftest import budget, count, values
from .strategies import mutated

SAFE_TAGS = [
    "list_apps",
    "list_dnas",
    "list_cell_ids",
    "list_app_interfaces",
    "install_app",
    "enable_app",
    "disable_app",
    "grant_zome_call_capability",
    "list_capability_grants",
    "revoke_zome_call_capability",
    "issue_app_authentication_token",
    "revoke_app_authentication_token",
    "uninstall_app",
    "nope",
]


class Conductor:
    def __init__(self, home: Path) -> None:
        self.process = ConductorProcess(home, passphrase=PASSPHRASE).start()
        self.port = self.process.admin_port
        self.rid = 1 << 40
        self.app_port = 0
        self.admin: Any = None

    def connect(self, port: int | None = None) -> Any:
        from websockets.sync.client import connect
        from websockets.typing import Origin

        return connect(
            f"ws://127.0.0.1:{port or self.port}",
            origin=Origin("fuzz"),
            max_size=None,
            open_timeout=10,
            proxy=None,
            legacy=True,
        )

    def request(self, ws: Any, tag: str, value: Any = None) -> Any:
        self.rid += 1
        ws.send(wire.encode_request(self.rid, tag, value))
        while True:
            env = wire.decode_envelope(ws.recv(timeout=15))
            if env is not None and env.type == "response" and env.id == self.rid:
                return wire.decode_response(env.data)

    def stop(self) -> None:
        self.process.kill()


@pytest.fixture(scope="module")
def conductor(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Conductor]:
    home = make_home(Path(tmp_path_factory.mktemp("ws")) / "home").path
    cfg = yaml.safe_load((home / "conductor-config.yaml").read_text())
    cfg["network"] = {"enabled": False}
    (home / "conductor-config.yaml").write_text(yaml.safe_dump(cfg))
    c = Conductor(home)
    try:
        ws = c.connect()
        setup(c, ws)
    except BaseException:
        c.stop()  # never leave the conductor behind
        raise
    yield c
    ws.close()
    c.stop()
    log = c.process.output(1 << 20)
    assert "Traceback" not in log and "unexpectedly" not in log, log[-5000:]


def setup(c: Conductor, ws: Any) -> None:
    bundle = app_bundle({"main": dna({"writer": wat("writer")}, seed="ws")})
    c.request(
        ws, "install_app", {"installed_app_id": "ws", "source": {"type": "bytes", "value": bundle}}
    )
    c.request(ws, "enable_app", {"installed_app_id": "ws"})
    c.app_port = c.request(ws, "attach_app_interface", {"port": 0, "allowed_origins": "*"})["port"]
    c.admin = ws


def _seeds() -> list[bytes]:
    return [
        wire.encode_request(1, "list_apps", {"status_filter": None}),
        wire.encode_request(
            2,
            "install_app",
            {"installed_app_id": "x", "source": {"type": "bytes", "value": b"\x1f\x8b\x08"}},
        ),
        wire.encode_request(
            3,
            "grant_zome_call_capability",
            {
                "cell_id": [b"\x84\x2d\x24" + b"\x00" * 36, b"\x84\x20\x24" + b"\x00" * 36],
                "cap_grant": {"tag": "t", "functions": "All", "access": "Unrestricted"},
            },
        ),
        wire.encode_request(4, "enable_app", {"installed_app_id": "ws"}),
        wire.encode_request(5, "issue_app_authentication_token", {"installed_app_id": "ws"}),
        wire.encode_authenticate(b"\x00" * 16),
        pack({"type": "request", "id": 9, "data": b"\xc1\xc1"}),
    ]


frames = mutated(_seeds()) | st.builds(
    lambda tag, rid, value: wire.encode_request(rid, tag, value),
    st.sampled_from(SAFE_TAGS),
    st.integers(0, 2**64 - 1),
    values,
)


def _send_junk(c: Conductor, frame: bytes | str) -> None:
    from websockets.exceptions import ConnectionClosed

    try:
        c.admin.send(frame)
        assert c.request(c.admin, "list_apps", {"status_filter": None}) is not None
    except ConnectionClosed:
        c.admin = c.connect()  # the server may close a connection: it must take a new one
        assert c.request(c.admin, "list_apps", {"status_filter": None}) is not None
        count("websocket frames (admin)", expected=True)
        return
    count("websocket frames (admin)")


SEEN = [0]


@budget(600)
@given(frames | st.text(max_size=50))
def test_admin_frames(conductor: Conductor, frame: bytes | str) -> None:
    _send_junk(conductor, frame)


@budget(100)
@given(frames | st.text(max_size=30))
def test_app_frames_before_authentication(conductor: Conductor, frame: bytes | str) -> None:
    from websockets.exceptions import ConnectionClosed

    ws = conductor.connect(conductor.app_port)
    try:
        ws.send(frame)
        ws.recv(timeout=15)  # the server answers junk by closing the socket
        pytest.fail("an app interface answered an unauthenticated frame")
    except ConnectionClosed as exc:
        assert exc.rcvd is not None and exc.rcvd.code in (1008, 1003, 1002, 1007, 1009)
    finally:
        ws.close()
    count("websocket frames (app, unauthenticated)", expected=True)
    # and a client with a valid token is still served
    SEEN[0] += 1
    if SEEN[0] % 10 == 1:
        token = conductor.request(
            conductor.admin, "issue_app_authentication_token", {"installed_app_id": "ws"}
        )
        app = conductor.connect(conductor.app_port)
        app.send(wire.encode_authenticate(token["token"]))
        conductor.rid += 1
        app.send(wire.encode_request(conductor.rid, "app_info", None))
        env = wire.decode_envelope(app.recv(timeout=15))
        assert env is not None and env.type == "response"
        assert wire.decode_response(env.data)["installed_app_id"] == "ws"
        app.close()
        count("valid app clients served between junk")
