"""One replay window per cell, whatever the channel (issue 13.8).

A call signed once may run once: the same signed bytes sent to a cell through the app
interface and through the peer protocol share one nonce window, in either order.
"""

from __future__ import annotations

from typing import Any

from zomehost.api.server import start_interfaces
from zomehost.client import AdminClient, AppClient, ZomeCallUnauthorized
from zomehost.core.clock import now_micros
from zomehost.core.hash import CellId
from zomehost.core.zome_call import ZomeCallParams, new_nonce, sign_call
from zomehost.network import protocol

from .conftest import Peer, ok_value
from .test_node import run_pair

ORIGIN = "zomehost-test"


def test_a_call_seen_by_one_channel_does_not_run_again_through_the_other(
    peer_factory: Any, probe_bundle: bytes
) -> None:
    async def scenario(a: Peer, ca: CellId, b: Peer, cb: CellId) -> None:
        await b.grant(cb)
        ifaces = await start_interfaces(b.daemon)
        b.daemon.services.append(ifaces)
        admin = await AdminClient.connect(f"ws://127.0.0.1:{ifaces.admin_port}", origin=ORIGIN)
        async with admin:
            port = await admin.attach_app_interface(
                allowed_origins=ORIGIN, installed_app_id="probe"
            )
            token = await admin.issue_app_authentication_token("probe", single_use=False)
        app = await AppClient.connect(f"ws://127.0.0.1:{port}", token, origin=ORIGIN)
        node = a.node
        assert node is not None
        record = node.directory.get(cb.dna_hash, cb.agent)
        assert record is not None
        conn = await node.transport.connect(record.info.address, record.info.transport_id)
        key = a.conductor.keystore.signing_key(ca.agent)

        def signed(value: bytes) -> tuple[bytes, bytes]:
            params = ZomeCallParams(
                ca.agent, cb, "a", "echo", None, value, new_nonce(), now_micros() + 60_000_000
            )
            return sign_call(params, key)

        async def through_app(data: bytes, sig: bytes) -> Any:
            return await app.request("call_zome", {"bytes": data, "signature": sig})

        async def through_peer(data: bytes, sig: bytes) -> Any:
            body = {"params": data, "signature": sig, "timeout_ms": 5000, "depth": 1}
            return await conn.request(protocol.OP_CALL, body, 5)

        async with app:
            # App interface first, then the peer protocol: refused as a replay.
            data, sig = signed(b"\xa3one")
            assert await through_app(data, sig) is not None
            replay = await through_peer(data, sig)
            assert "nonce already used" in replay["AuthenticationFailed"]
            # Peer protocol first, then the app interface: refused the same way.
            data, sig = signed(b"\xa3two")
            assert ok_value(await through_peer(data, sig)) == "two"
            try:
                await through_app(data, sig)
            except ZomeCallUnauthorized as exc:
                assert 'BadNonce("Duplicate")' in exc.message
            else:
                raise AssertionError("a replay through the app interface ran")

    run_pair(peer_factory, probe_bundle, scenario)
