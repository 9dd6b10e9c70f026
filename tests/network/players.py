"""The calls the multi-process network tests make through their conductors' UIs.

The conductors are real ``zomehost run`` processes from ``zomehost.testing`` (a
:class:`~zomehost.testing.Scenario`'s players, or a bare
:class:`~zomehost.testing.ConductorProcess` for the swarm's namespaced hosts).
"""

from __future__ import annotations

from typing import Any

from zomehost.client import AdminClient, AppClient
from zomehost.core.codec import unpack
from zomehost.core.hash import AgentPubKey, CellId
from zomehost.testing import ConductorProcess, Player


def remote_arg(agent: AgentPubKey, fn: str, payload: Any, **kw: Any) -> dict[str, Any]:
    """The probe's ``call_remote_fn`` input: call ``agent``'s ``a.fn`` (``kw``:
    ``cap_secret``, ``timeout_ms``)."""
    return {"agent": agent, "zome_name": "a", "fn_name": fn, "payload": payload, **kw}


def remote(caller: Player, agent: AgentPubKey, fn: str, payload: Any = None, **kw: Any) -> Any:
    """``caller``'s probe calls ``agent``'s probe over the network; the ZomeCallResponse."""
    return caller.call("a", "call_remote_fn", remote_arg(agent, fn, payload, **kw))


def ok(res: Any) -> Any:
    """The value of an ``{"Ok": packed}`` response (anything else fails the test)."""
    assert isinstance(res, dict) and set(res) == {"Ok"}, res
    return unpack(res["Ok"])


async def app_of(proc: ConductorProcess, app_id: str = "probe") -> tuple[AppClient, CellId]:
    """An authenticated app client on ``proc`` with signing credentials for the app's
    ``main`` cell (an app installed before the conductor started)."""
    admin = await AdminClient.connect(proc.admin_url)
    try:
        port = await admin.attach_app_interface()
        token = await admin.issue_app_authentication_token(app_id)
        app = await AppClient.connect(f"ws://127.0.0.1:{port}", token)
        cell = app.cell_id("main")
        await admin.authorize_signing_credentials(cell)
    finally:
        await admin.close()
    return app, cell


async def remote_from(
    app: AppClient, agent: AgentPubKey, fn: str, payload: Any = None, **kw: Any
) -> Any:
    """:func:`remote` from a bare app client (on the caller's own event loop)."""
    arg = remote_arg(agent, fn, payload, **kw)
    return await app.call_zome("a", "call_remote_fn", arg, role_name="main")
