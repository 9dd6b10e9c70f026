"""The conductor dashboard: what it shows (apps, cells, chains with verify, grants and
claims, live calls and signals), read-only unless the config allows more, and behind the
same Host, Origin and session rules as the app UIs."""

from __future__ import annotations

import asyncio
import json
import re
import time
from pathlib import Path
from typing import Any

import pytest

from zomehost.client import AppClient
from zomehost.core.codec import pack
from zomehost.core.hash import AgentPubKey, CellId
from zomehost.core.zome_call import ZomeCallParams, new_nonce

from .conftest import Served, http, load_page, serve_apps, wait_for

pytestmark = pytest.mark.slow


def session_of(port: int) -> str:
    status, headers, body = http(port, "GET", "/")
    assert status == 200
    assert "connect-src 'self';" in headers["content-security-policy"]
    found = re.search(r'window\.__ZOMEHOST__=\{"session": "([^"]+)"\}', body.decode())
    assert found, body[:500]
    return found.group(1)


def api(port: int, path: str, session: str | None, method: str = "GET", **headers: str) -> Any:
    if session is not None:
        headers["X-Zomehost-Session"] = session
    status, _, body = http(port, method, f"/api/{path}", headers=headers)
    return status, (json.loads(body) if status == 200 else body.decode())


def call_through_page(served: Served, app_id: str, fn: str, payload: Any) -> Any:
    """What the page does: a token from index.html, a call signed by the UI server."""
    page = load_page(served.port(app_id))
    origin = served.urls[app_id].rstrip("/")

    async def go() -> Any:
        client = await AppClient.connect(f"ws://127.0.0.1:{page.app_port}", page.token,
                                         origin=origin)  # fmt: skip
        try:
            cell: CellId = client.cell_id("main")
            data = ZomeCallParams(
                cell.agent, cell, "probe", fn, None, pack(payload), new_nonce(),
                (time.time_ns() // 1000) + 60_000_000,
            ).encode()  # fmt: skip
            status, _, signature = http(
                served.port(app_id), "POST", "/.zomehost/sign-zome-call", body=data,
                headers={"X-Zomehost-Session": page.session, "Origin": origin},
            )  # fmt: skip
            assert status == 200
            return await client.call_zome_signed(data, signature)
        finally:
            await client.close()

    return asyncio.run(go())


def test_dashboard_shows_apps_chains_caps_and_live_activity(served: Served) -> None:
    port = served.dashboard_port
    session = session_of(port)
    status, overview = api(port, "overview", session)
    assert status == 200 and overview["allow"] == []
    apps = {a["app_id"]: a for a in overview["apps"]}
    assert set(apps) == {"alpha", "beta"}
    alpha = apps["alpha"]
    assert alpha["agent"] == served.agents["alpha"] and alpha["ui"] == served.urls["alpha"]
    [cell] = alpha["cells"]
    assert cell["role"] == "main" and cell["agent"] == alpha["agent"] and cell["length"] >= 3
    q = f"dna={cell['dna']}&agent={cell['agent']}"

    # Live: a call made the page's way shows up in the feed, with its signal.
    assert api(port, "events?after=0&wait=0", session)[0] == 200
    assert api(port, "events?after=x", session)[0] == 400
    whoami = call_through_page(served, "alpha", "whoami", None)
    assert whoami["agent_initial_pubkey"] == AgentPubKey.from_text(served.agents["alpha"]).raw
    call_through_page(served, "alpha", "signal", {"hello": "dashboard"})
    wanted = {("call", "whoami", "Ok"), ("call", "signal", "Ok"), ("signal", None, None)}

    def probe_events() -> list[dict[str, Any]]:
        events = [e for e in api(port, "events?after=0&wait=1", session)[1] if e["zome"] == "probe"]
        kinds = {(e["kind"], e.get("fn"), e.get("outcome")) for e in events}
        return events if wanted <= kinds else []

    events = wait_for(probe_events, "both calls and the signal in the feed")
    signal = next(e for e in events if e["kind"] == "signal")
    assert "dashboard" in signal["payload"] and signal["cell"]["agent"] == alpha["agent"]
    assert all(e["provenance"] == alpha["agent"] for e in events if e["kind"] == "call")

    status, chain = api(port, f"chain?{q}", session)
    assert status == 200 and chain["length"] == len(chain["records"])
    seqs = [r["seq"] for r in chain["records"]]
    assert seqs == sorted(seqs, reverse=True) and seqs[-1] == 0
    assert chain["records"][-1]["type"] == "Dna"
    status, verified = api(port, f"verify?{q}", session, "POST")
    assert verified == {"ok": True, "records": chain["length"]}
    status, caps = api(port, f"caps?{q}", session)
    assert status == 200 and set(caps) == {"grants", "claims"}
    assert api(port, f"chain?dna={cell['dna']}", session)[0] == 400  # no agent
    assert api(port, "chain?dna=x&agent=y", session)[0] == 400


def test_dashboard_is_read_only_and_guarded(served: Served) -> None:
    port = served.dashboard_port
    session = session_of(port)
    assert api(port, "app?id=alpha&action=disable", session, "POST")[0] == 403
    assert api(port, "overview", None)[0] == 403  # no session secret
    assert api(port, "overview", "guess")[0] == 403
    assert api(port, "overview", load_page(served.port("alpha")).session)[0] == 403
    other = served.urls["alpha"].rstrip("/")  # an app's page is another origin
    assert api(port, "overview", session, Origin=other)[0] == 403
    assert api(port, "overview", session, Origin="null")[0] == 403
    assert api(port, "overview", session, Origin=f"http://127.0.0.1:{port}")[0] == 200
    status, _, body = http(port, "GET", "/api/overview", host=f"evil.example:{port}",
                           headers={"X-Zomehost-Session": session})  # fmt: skip
    assert status == 421 and b"alpha" not in body
    assert http(port, "GET", "/../../conductor-config.yaml")[0] in (400, 404)
    assert api(port, "nope", session)[0] == 404
    assert http(port, "POST", "/")[0] == 405


def test_dashboard_allows_more_only_when_configured(
    probe_webhapp: Path, module_cache: Path, tmp_path: Path
) -> None:
    served = serve_apps(tmp_path / "home", module_cache, probe_webhapp, ["alpha"],
                        {"dashboard": {"allow": ["apps"]}})  # fmt: skip
    try:
        port = served.dashboard_port
        session = session_of(port)
        assert api(port, "overview", session)[1]["allow"] == ["apps"]
        status, done = api(port, "app?id=alpha&action=disable", session, "POST")
        assert status == 200 and done["status"] == "disabled"
        [app] = api(port, "overview", session)[1]["apps"]
        assert app["status"] == "disabled"
        assert api(port, "app?id=alpha&action=explode", session, "POST")[0] == 400
    finally:
        served.conductor.stop()


def test_a_bad_dashboard_config_stops_the_start(
    probe_webhapp: Path, module_cache: Path, tmp_path: Path
) -> None:
    from api.conftest import ConductorProc, api_home
    from zomehost.testing.process import ProcessFailed

    home = api_home(tmp_path / "home", module_cache)
    config = home / "conductor-config.yaml"
    config.write_text(config.read_text() + "dashboard: {allow: [everything]}\n")
    proc = ConductorProc(home, tmp_path / "log")
    with pytest.raises(ProcessFailed, match=r"dashboard\.allow"):
        proc.start()
    assert proc.proc is not None and proc.proc.wait(30) != 0


@pytest.mark.parametrize(
    "section",
    ["dashboard: [apps]", "dashboard: {enabled: 'yes'}", "dashboard: {allow: apps}",
     "dashboard: {allow: [everything]}", "dashboard: {allow: [{a: 1}]}"],
)  # fmt: skip
def test_bad_dashboard_sections_are_typed_errors(tmp_path: Path, section: str) -> None:
    from zomehost.conductor.home import ConductorConfig
    from zomehost.errors import ConductorError

    path = tmp_path / "conductor-config.yaml"
    path.write_text(section + "\n")
    with pytest.raises(ConductorError, match="dashboard"):
        ConductorConfig.load(path)
