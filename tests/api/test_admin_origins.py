"""The admin interface and browsers (docs/conductor-api.md, "Origins"): with the default
``allowed_origins: ['*']`` no web page may open it — raw WebSocket upgrades carrying each
kind of Origin a browser sends are refused — while programs (CLI, Node, Python clients,
which send a free-form name) keep working, and a web origin listed exactly is admitted."""

from __future__ import annotations

import asyncio

import pytest
import yaml
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import InvalidStatus
from websockets.typing import Origin

from zomehost.api.origins import AllowedOrigins, is_web_origin
from zomehost.client import AdminClient

from .conftest import ConductorProc

pytestmark = pytest.mark.slow

BROWSER_ORIGINS = [
    "http://127.0.0.1:8888",
    "http://localhost:8888",
    "https://evil.example",
    "http://[::1]:3000",
    "null",
    "file://",
    "chrome-extension://abcdefghijklmnopabcdefghijklmnop",
    "moz-extension://2bd6b4d6-1b0a-4c8e-9b3f-0c3d5f1e2a7b",
    "safari-web-extension://ABCD",
    "tauri://localhost",
    "app://obsidian.md",
    "HTTP://EVIL.EXAMPLE",
]
PROGRAM_ORIGINS = ["zomehost-client", "zomehost-cli", "hc-client", "my-cli-app", "node"]


async def upgrade(port: int, origin: str | None) -> int | None:
    """The status a raw WebSocket upgrade with this Origin gets (``None``: accepted)."""
    try:
        async with ws_connect(
            f"ws://127.0.0.1:{port}", origin=Origin(origin) if origin else None, proxy=None
        ):
            return None
    except InvalidStatus as exc:
        return int(exc.response.status_code)


def test_web_origins_are_told_from_program_names() -> None:
    assert all(is_web_origin(o) for o in BROWSER_ORIGINS)
    assert not any(is_web_origin(o) for o in PROGRAM_ORIGINS)
    admin = AllowedOrigins.parse("*, http://localhost:8888", web_wildcard=False)
    assert admin.allows("zomehost-client") and admin.allows("http://localhost:8888")
    assert not admin.allows("http://localhost:8889") and not admin.allows("null")
    app = AllowedOrigins.parse("*")  # an app interface's '*' is Holochain's: anyone
    assert app.allows("http://localhost:8889")


def test_default_admin_refuses_every_browser_origin(conductor: ConductorProc) -> None:
    async def go() -> None:
        for origin in BROWSER_ORIGINS:
            assert await upgrade(conductor.admin_port, origin) == 400, origin
        assert await upgrade(conductor.admin_port, None) == 400  # Holochain requires one
        for origin in PROGRAM_ORIGINS:
            assert await upgrade(conductor.admin_port, origin) is None, origin
        admin = await AdminClient.connect(conductor.admin_url)  # the Python client
        assert isinstance(await admin.list_apps(), list)
        await admin.close()

    asyncio.run(go())


def test_a_listed_web_origin_is_admitted(fresh_conductor: ConductorProc) -> None:
    config = fresh_conductor.home / "conductor-config.yaml"
    doc = yaml.safe_load(config.read_text())
    doc["allowed_origins"] = ["*", "http://localhost:8888"]
    config.write_text(yaml.safe_dump(doc))
    fresh_conductor.start()

    async def go() -> None:
        port = fresh_conductor.admin_port
        assert await upgrade(port, "http://localhost:8888") is None
        assert await upgrade(port, "http://localhost:8889") == 400
        assert await upgrade(port, "null") == 400
        assert await upgrade(port, "zomehost-client") is None

    try:
        asyncio.run(go())
    finally:
        fresh_conductor.stop()


def test_init_writes_the_safe_default() -> None:
    """What `zomehost init` writes admits programs only (no web page) at the admin port."""
    from zomehost.conductor.home import ConductorConfig

    doc = yaml.safe_load(ConductorConfig().dump())
    origins = AllowedOrigins.parse(",".join(doc["allowed_origins"]), web_wildcard=False)
    assert origins.allows("zomehost-cli")
    assert not any(origins.allows(o) for o in BROWSER_ORIGINS)
