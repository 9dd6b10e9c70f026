"""The sans-I/O wire layer against the frames captured from the real client
(docs/conductor-api.md §8), and the signal queue's drop-oldest policy."""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
from typing import Any

import pytest

from conftest import REPO
from zomehost.api import connection, origins
from zomehost.api.app_socket import binary_frame
from zomehost.api.slots import Slots
from zomehost.api.tokens import TokenStore
from zomehost.client.base import RequestTimeout, WsClient
from zomehost.core.api_wire import (
    ApiError,
    decode_envelope,
    decode_request,
    decode_response,
    desensitized_grant,
    encode_app_signal,
    encode_error,
    encode_response,
    grant_from_api,
    grant_to_api,
    pack,
    unpack,
)
from zomehost.core.capability import AccessKind
from zomehost.core.hash import CellId
from zomehost.core.zome_call import verify_call

SPEC = (REPO / "docs" / "conductor-api.md").read_text()


def captured(section: str) -> bytes:
    """The multi-line hex dump of a worked example in the spec."""
    body = SPEC.split(f"### {section}", 1)[1].split("\n### ", 1)[0]
    block = body.split("```", 2)[1]
    lines = []
    for line in block.splitlines():
        if re.fullmatch(r"[0-9a-f]{20,}", line.strip()):
            lines.append(line.strip())
        elif lines:
            break
    return bytes.fromhex("".join(lines))


def test_error_frame_matches_holochains_vector() -> None:
    expected = bytes.fromhex(
        "83a474797065a8726573706f6e7365a2696407a464617461c43882a474797065a56572726f72a576616c7565"
        "82a474797065ae7269626f736f6d655f6572726f72a576616c7565aa6572726f725f74657874"
    )
    assert encode_error(7, "ribosome_error", "error_text") == expected


def test_unit_response_has_no_value_key() -> None:
    expected = bytes.fromhex(
        "83a474797065a8726573706f6e7365a2696403a464617461c41381a474797065ac6170705f64697361626c6564"
    )
    assert encode_response(3, "app_disabled") == expected


def test_list_apps_request_decodes() -> None:
    frame = bytes.fromhex(
        "83a2696403a474797065a772657175657374a464617461c41782a474797065a96c6973745f61707073a576616c756580"
    )
    env = decode_envelope(frame)
    assert env is not None and (env.type, env.id) == ("request", 3)
    assert decode_request(env.data) == ("list_apps", {})


def test_captured_call_zome_verifies_over_the_received_bytes() -> None:
    env = decode_envelope(captured("8.3"))
    assert env is not None and env.id == 2
    tag, value = decode_request(env.data)
    assert tag == "call_zome"
    params = verify_call(value["bytes"], value["signature"])
    assert (params.zome_name, params.fn_name) == ("notes", "create_note")
    assert params.provenance.raw.endswith(b"\x00\x00\x00\x00")  # the JS signing key
    assert unpack(params.payload) == {"title": "hi", "body": "there"}


def test_signal_frame_is_byte_identical_to_the_accepted_one() -> None:
    frame = captured("8.4")
    env = decode_envelope(frame)
    assert env is not None and env.type == "signal"
    inner = unpack(env.data or b"")
    v = inner["value"]
    again = encode_app_signal(CellId.from_wire(v["cell_id"]), v["zome_name"], v["signal"])
    assert again == frame


@pytest.mark.parametrize(
    "frame",
    [
        b"",
        b"\xc1",
        b"\x93\x01\x02\x03",
        b"\x81\xa4type\xa4nope",
        b"\x83\xa4type\xa7request\xa2id\xa1x\xa4data\xc4\x00",  # id is a string
        b"\x83\xa4type\xa7request\xa2id\xff\xa4data\xc4\x00",  # negative id
        b"\x82\xa4type\xa7request\xa4data\xa3str",  # data not bin
    ],
)
def test_garbage_envelopes_are_dropped(frame: bytes) -> None:
    assert decode_envelope(frame) is None


def test_inner_garbage_is_deserialization() -> None:
    for data in (None, b"\xc1", b"\x01", b"\x81\xa4type\x01"):
        with pytest.raises(ApiError) as info:
            decode_request(data)
        assert info.value.kind == "deserialization"
    with pytest.raises(ApiError) as err:
        decode_response(
            pack({"type": "error", "value": {"type": "zome_call_unauthorized", "value": "no"}})
        )
    assert (err.value.kind, err.value.message) == ("zome_call_unauthorized", "no")


def test_grant_conversion_round_trips() -> None:
    key = b"\x84\x20\x24" + bytes(range(32)) + b"\x00\x00\x00\x00"  # zero location: accepted
    api: dict[str, Any] = {
        "tag": "zome-call-signing-key",
        "functions": {"type": "listed", "value": [["notes", "list_notes"]]},
        "access": {"type": "assigned", "value": {"secret": bytes(64), "assignees": [key]}},
    }
    grant = grant_from_api(api)
    assert grant.access.kind is AccessKind.ASSIGNED
    assert grant_to_api(grant) == api
    view = desensitized_grant(grant)
    assert view["access"] == {"access_type": "assigned", "assignees": [key]}
    assert "secret" not in repr(view)
    for bad in ({"access": {"type": "assigned"}}, {"access": {"type": "all"}}, None):
        with pytest.raises(ApiError) as info:
            grant_from_api({"tag": "t", "functions": {"type": "all"}, **(bad or {})})
        assert info.value.kind == "deserialization"


class _FakeWs:
    """Like ``AppSocket``: a framed message is written whole at once, then the writer waits
    for the buffer to drain (``gate``: a client that does not read keeps it shut)."""

    remote_address = ("127.0.0.1", 1)

    def __init__(self) -> None:
        self.sent: list[bytes] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.write_lock = threading.Lock()

    def send_locked(self, wire: bytes) -> bool:
        assert self.write_lock.locked()
        self.sent.append(wire)
        return True

    async def drained(self) -> None:
        await self.gate.wait()


def test_writer_keeps_production_order_and_holds_responses() -> None:
    async def main() -> None:
        ws = _FakeWs()
        conn = connection.AppConnection(ws, "app", set(), Slots(8))  # type: ignore[arg-type]
        writer = asyncio.create_task(conn.write())
        ws.gate.clear()  # a client that does not read
        conn.push_signal(b"s1")
        answered = asyncio.create_task(conn.deliver(b"r1"))
        await asyncio.sleep(0)  # deliver() queues its frame before it first waits
        conn.push_signal(b"s2")
        await asyncio.sleep(0.01)
        assert not answered.done()  # the response waits for the client, holding its slot
        ws.gate.set()
        await asyncio.wait_for(answered, 1)
        await asyncio.sleep(0.01)
        assert ws.sent == [binary_frame(b"s1"), binary_frame(b"r1"), binary_frame(b"s2")]
        writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await writer
        await asyncio.wait_for(conn.deliver(b"late"), 1)  # closed: returns at once

    asyncio.run(main())


def test_signal_queue_drops_oldest_and_counts() -> None:
    async def make() -> connection.AppConnection:
        return connection.AppConnection(_FakeWs(), "app", set(), Slots(8))  # type: ignore[arg-type]

    conn = asyncio.run(make())
    n = connection.SIGNAL_QUEUE + 10
    for i in range(n):
        conn.push_signal(i.to_bytes(4, "big"))
    assert len(conn.signals) == connection.SIGNAL_QUEUE
    assert conn.dropped == 10
    frames = [f for _, f in conn.signals]
    assert frames[0] == (10).to_bytes(4, "big")  # the oldest went first
    assert frames[-1] == (n - 1).to_bytes(4, "big")


def test_allowed_origins() -> None:
    any_ = origins.AllowedOrigins.parse("*")
    assert any_.allows("anything") and any_.text == "*"
    listed = origins.AllowedOrigins.parse(" a , b,")
    assert listed.allows("a") and listed.allows("b") and not listed.allows("c")
    assert listed.text == "a,b"


def test_tokens_expire_and_are_single_use() -> None:
    tokens = TokenStore()
    tokens.issue(b"t1", "app", None, True)
    assert tokens.use(b"t1", None) == "app"
    assert tokens.use(b"t1", None) is None
    tokens.issue(b"t2", "app", 1, False)  # expired in 1970
    assert tokens.use(b"t2", None) is None
    tokens.issue(b"t3", "app", None, False)
    assert tokens.use(b"t3", "other") is None
    assert tokens.use(b"t3", "app") == "app" and tokens.use(b"t3", None) == "app"
    tokens.revoke_app("app")
    assert tokens.use(b"t3", None) is None


def test_client_request_times_out_and_forgets_it() -> None:
    """A real server that takes requests and never answers."""
    from websockets.asyncio.server import ServerConnection, serve

    async def main() -> None:
        got: list[bytes] = []

        async def silent(ws: ServerConnection) -> None:
            async for frame in ws:
                got.append(frame if isinstance(frame, bytes) else frame.encode())

        async with serve(silent, "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            client = WsClient(f"ws://127.0.0.1:{port}")
            await client.open(None, 1 << 20)
            with pytest.raises(RequestTimeout) as info:
                await client.request("app_info", timeout=0.05)
            assert info.value.message == "request app_info got no response within 0.05 s"
            assert client._pending == {}
            assert len(got) == 1 and decode_envelope(got[0]) is not None
            await client.close()
            assert client.closed is not None  # and a request now fails at once

    asyncio.run(main())
