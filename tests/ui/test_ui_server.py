"""The UI server of ``zomehost run`` tried as an attacker would: raw HTTP and WebSocket
clients against a real conductor process serving two apps' UIs (``alpha``, ``beta``)."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from pathlib import Path

import pytest
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import InvalidStatus
from websockets.typing import Origin

from zomehost.client import AppClient
from zomehost.client.base import InvalidToken
from zomehost.core.codec import pack
from zomehost.core.hash import AgentPubKey, CellId
from zomehost.core.zome_call import ZomeCallParams, check_signature, new_nonce

from .conftest import (
    PROBE_UI,
    Served,
    http,
    load_page,
    parse_response,
    raw_http,
    serve_apps,
    wait_for,
)

pytestmark = pytest.mark.slow


# -- files ------------------------------------------------------------------------------
def test_serves_the_bundle_files_and_nothing_else(served: Served) -> None:
    port = served.port("alpha")
    status, headers, body = http(port, "GET", "/app.js")
    assert (status, body) == (200, PROBE_UI["app.js"])
    assert headers["content-type"].startswith("text/javascript")
    assert headers["x-content-type-options"] == "nosniff"
    assert http(port, "GET", "/sub/dir/page.html")[2] == PROBE_UI["sub/dir/page.html"]
    assert http(port, "HEAD", "/app.js")[:2][0] == 200
    assert http(port, "GET", "/missing.js")[0] == 404
    assert http(port, "POST", "/app.js")[0] == 405
    assert http(port, "DELETE", "/")[0] == 405


@pytest.mark.parametrize(
    "target",
    [
        "/../../../../etc/passwd",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/%2E%2E%2F%2E%2E%2Fconductor-config.yaml",
        "/sub/../../conductor-config.yaml",
        "/sub/dir/..%2f..%2f..%2fkeystore.bin",
        "/..\\..\\keystore.bin",
        "/%5c..%5ckeystore.bin",
        "/app.js%00.html",
        "//etc/passwd",
        "/./app.js",
        "/%ff%fe",
        "http://127.0.0.1/app.js",
        "*",
    ],
)
def test_path_traversal_never_leaves_the_bundle(served: Served, target: str) -> None:
    status, _, body = http(served.port("alpha"), "GET", target)
    assert status in (400, 404), (target, status)
    assert b"root:" not in body and b"admin_port" not in body


def test_dns_rebinding_and_other_hosts_are_refused(served: Served) -> None:
    port = served.port("alpha")
    for host in (f"evil.example:{port}", "127.0.0.1", f"127.0.0.1:{port + 1}", "", "[::1]"):
        status, _, body = http(port, "GET", "/", host=host)
        assert status in (400, 421), host
        assert b"__HC_LAUNCHER_ENV__" not in body
    status, headers, _ = http(port, "GET", "/app.js?x=1", host=f"localhost:{port}")
    assert status == 308 and headers["location"] == f"http://127.0.0.1:{port}/app.js?x=1"


def test_bad_http_gets_400_and_the_server_goes_on(served: Served) -> None:
    port = served.port("alpha")
    junks = (
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + os.urandom(64) + b"\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
        b"GET / HTTP/1.1 extra\r\n\r\n",
        b"GET\r\n\r\n",
        b"GET / HTTP/1.1\r\nContent-Length: -1\r\nHost: x\r\n\r\n",
        b"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
    )
    for junk in junks:
        answer = raw_http(port, junk)
        assert answer.startswith(b"HTTP/1.1 400"), (junk, answer[:80])
    assert http(port, "GET", "/app.js")[0] == 200


def test_huge_headers_and_bodies_are_refused(served: Served) -> None:
    port = served.port("alpha")
    huge = b"GET / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nX-Big: %s\r\n\r\n" % (port, b"a" * 100_000)
    assert parse_response(raw_http(port, huge))[0] == 431
    many = b"".join(b"X-%d: y\r\n" % i for i in range(5000))
    head = b"GET / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n%s\r\n" % (port, many)
    assert parse_response(raw_http(port, head))[0] == 431
    body = b"POST /.zomehost/sign-zome-call HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n" % port
    body += b"Content-Length: %d\r\n\r\n" % (64 * 1024 * 1024)
    assert parse_response(raw_http(port, body))[0] == 413
    assert http(port, "GET", "/app.js")[0] == 200


def test_a_slow_client_is_cut_off(served: Served) -> None:
    """A request that never completes does not hold its connection (slowloris)."""
    port = served.port("alpha")
    with socket.create_connection(("127.0.0.1", port), timeout=60) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n" % port)  # no blank line, ever
        answer = s.recv(4096)
    assert answer.startswith(b"HTTP/1.1 408")


# -- the page's token and app interface ---------------------------------------------------
def test_each_page_load_gets_its_own_single_use_token(served: Served) -> None:
    a, b = load_page(served.port("alpha")), load_page(served.port("alpha"))
    assert a.token != b.token and len(a.token) == 64
    assert a.app_id == "alpha" and a.agent == served.agents["alpha"]
    assert a.agent.startswith("uhCAk")
    assert f"connect-src 'self' ws://localhost:{a.app_port} ws://127.0.0.1:{a.app_port}" in a.csp
    origin = served.urls["alpha"].rstrip("/")
    url = f"ws://127.0.0.1:{a.app_port}"

    async def go() -> None:
        client = await AppClient.connect(url, a.token, origin=origin)
        assert client.installed_app_id == "alpha"
        await client.close()
        with pytest.raises(InvalidToken):  # used once already
            await AppClient.connect(url, a.token, origin=origin)

    asyncio.run(go())


async def _upgrade(port: int, origin: str | None) -> int | None:
    """The HTTP status a WebSocket upgrade with this Origin gets (None: accepted)."""
    try:
        async with ws_connect(
            f"ws://127.0.0.1:{port}", origin=Origin(origin) if origin else None, proxy=None
        ):
            return None
    except InvalidStatus as exc:
        return int(exc.response.status_code)


def test_an_app_interface_admits_only_its_own_ui_origin(served: Served) -> None:
    alpha = load_page(served.port("alpha"))
    own = served.urls["alpha"].rstrip("/")
    others = [
        served.urls["beta"].rstrip("/"),  # the other app's page
        f"http://localhost:{served.port('alpha')}",
        "http://evil.example",
        "https://127.0.0.1",
        "null",
        "file://",
        "chrome-extension://abcdefghijklmnop",
        "moz-extension://4b1d",
        "zomehost-client",
    ]

    async def go() -> None:
        assert await _upgrade(alpha.app_port, own) is None
        for origin in [*others, None]:
            assert await _upgrade(alpha.app_port, origin) == 400, origin

    asyncio.run(go())


def test_a_page_reaches_its_own_app_and_nothing_else(served: Served) -> None:
    alpha, beta = load_page(served.port("alpha")), load_page(served.port("beta"))
    beta_origin = served.urls["beta"].rstrip("/")

    async def go() -> None:
        # alpha's token on beta's interface (from beta's origin): refused, closed 1008.
        with pytest.raises(InvalidToken):
            await AppClient.connect(f"ws://127.0.0.1:{beta.app_port}", alpha.token,
                                    origin=beta_origin)  # fmt: skip
        # The admin interface refuses every web page's origin, its own UI's included.
        admin = served.conductor.admin_port
        for origin in (served.urls["alpha"].rstrip("/"), beta_origin):
            assert await _upgrade(admin, origin) == 400

    asyncio.run(go())


# -- the signer -----------------------------------------------------------------------------
def _params(cell: CellId, provenance: AgentPubKey) -> bytes:
    return ZomeCallParams(
        provenance, cell, "probe", "whoami", None, pack(None), new_nonce(),
        (time.time_ns() // 1000) + 60_000_000,
    ).encode()  # fmt: skip


def _cell(served: Served, app_id: str) -> CellId:
    page = load_page(served.port(app_id))
    origin = served.urls[app_id].rstrip("/")

    async def go() -> CellId:
        client = await AppClient.connect(f"ws://127.0.0.1:{page.app_port}", page.token,
                                         origin=origin)  # fmt: skip
        try:
            return client.cell_id("main")
        finally:
            await client.close()

    return asyncio.run(go())


def test_the_signer_signs_only_its_own_apps_calls_for_its_own_page(served: Served) -> None:
    port = served.port("alpha")
    page = load_page(port)
    origin = served.urls["alpha"].rstrip("/")
    alpha_cell, beta_cell = _cell(served, "alpha"), _cell(served, "beta")
    good = _params(alpha_cell, alpha_cell.agent)

    def sign(body: bytes, **headers: str) -> tuple[int, bytes]:
        status, _, answer = http(port, "POST", "/.zomehost/sign-zome-call", body=body,
                                 headers=headers)  # fmt: skip
        return status, answer

    session = {"X-Zomehost-Session": page.session, "Origin": origin}
    status, signature = sign(good, **session)
    assert status == 200 and len(signature) == 64
    check_signature(ZomeCallParams.decode(good), good, signature)  # as the agent itself

    assert sign(good, Origin=origin)[0] == 403  # no session secret
    assert sign(good, **{**session, "X-Zomehost-Session": "guess"})[0] == 403
    assert sign(good, **{**session, "Origin": served.urls["beta"].rstrip("/")})[0] == 403
    assert sign(good, **{"X-Zomehost-Session": page.session})[0] == 403  # no Origin
    beta_session = load_page(served.port("beta")).session
    assert sign(good, **{**session, "X-Zomehost-Session": beta_session})[0] == 403
    # Another app's cell, or another agent as provenance: never signed.
    assert sign(_params(beta_cell, alpha_cell.agent), **session)[0] == 403
    assert sign(_params(beta_cell, beta_cell.agent), **session)[0] == 403
    assert sign(_params(alpha_cell, beta_cell.agent), **session)[0] == 403
    assert sign(b"\xc1 not msgpack", **session)[0] == 400
    assert sign(pack({"cell_id": 1}), **session)[0] == 400


def test_uninstalling_an_app_stops_serving_its_ui(
    probe_webhapp: Path, module_cache: Path, tmp_path: Path
) -> None:
    """Installs and uninstalls through the admin interface are noticed while running."""
    served = serve_apps(tmp_path / "home", module_cache, probe_webhapp, ["gamma"])
    try:
        port = served.port("gamma")
        assert http(port, "GET", "/app.js")[0] == 200

        async def go() -> None:
            from zomehost.client import AdminClient

            admin = await AdminClient.connect(served.conductor.admin_url)
            await admin.install_app(path=probe_webhapp, installed_app_id="delta")
            await admin.uninstall_app("gamma")
            await admin.close()

        asyncio.run(go())
        deadline = time.monotonic() + 30
        urls: dict[str, str] = {}
        while time.monotonic() < deadline:
            served.conductor.wait_ready()
            urls = served.conductor.endpoints.get("ui") or {}
            if "delta" in urls and "gamma" not in urls:
                break
            time.sleep(0.1)
        assert set(urls) == {"delta"}
        delta = int(urls["delta"].rsplit(":", 1)[1].strip("/"))
        assert http(delta, "GET", "/app.js")[0] == 200
        with pytest.raises(OSError):
            http(port, "GET", "/app.js")
    finally:
        served.conductor.stop()


def test_a_restart_serves_each_ui_at_the_same_origin(
    probe_webhapp: Path, module_cache: Path, tmp_path: Path
) -> None:
    """The origin (and so the app interface's allowed origin, and the page's storage) stays."""
    served = serve_apps(tmp_path / "home", module_cache, probe_webhapp, ["alpha"])
    before = dict(served.urls)
    page = load_page(served.port("alpha"))
    served.conductor.stop()
    served.conductor.start()
    try:
        wait_for(lambda: served.conductor.wait_ready() or "ui" in served.conductor.endpoints,
                 "the UI served again")  # fmt: skip
        assert served.conductor.endpoints["ui"] == before
        again = load_page(served.port("alpha"))
        assert again.app_port == page.app_port and again.token != page.token
    finally:
        served.conductor.stop()
