"""``zomehost call --conductor URL``: a signed zome call through a running conductor.

The CLI acts like any other client (docs/clients.md): over the admin interface it finds the
app, authorizes signing credentials for the cell (or reuses the ones cached in the home,
file mode 0600), issues a single-use token and finds or attaches an app interface; then it
makes the signed call on the app interface and returns the decoded result.

``URL`` may be ``auto`` (or empty): the admin port is read from the home's ``run.json``,
which a running ``zomehost run`` writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from zomehost.client import AdminClient, AppClient, SigningCredentials, ZomeCallUnauthorized
from zomehost.client.app import cell_of
from zomehost.conductor.home import Home, passphrase_from_env
from zomehost.core.hash import AgentPubKey, CellId
from zomehost.core.json_form import shown
from zomehost.errors import ConductorError, InvalidInput, NotFound

ORIGIN = "zomehost-cli"
CREDENTIALS_FILE = "cli-signing-credentials.json"


def conductor_url(url: str | None, home: Home) -> str:
    """The admin URL: as given, or from ``run.json`` of a conductor running on ``home``."""
    if url and url != "auto":
        if not url.startswith(("ws://", "wss://")):
            raise InvalidInput(f"--conductor takes ws://host:port, got {shown(url)}")
        return url
    try:
        doc = json.loads((home.path / "run.json").read_text())
        return f"ws://127.0.0.1:{int(doc['admin_port'])}"
    except (OSError, ValueError, KeyError):
        raise ConductorError(
            f"no running conductor found for {home.path} (no run.json): start `zomehost run` "
            "or pass --conductor ws://127.0.0.1:PORT"
        ) from None


def call_through_conductor(
    url: str | None,
    home: Home,
    app_id: str,
    role: str,
    zome: str,
    fn: str,
    value: Any,
    as_: str | None,
    secret: bytes | None,
) -> Any:
    admin_url = conductor_url(url, home)
    return asyncio.run(_call(admin_url, home, app_id, role, zome, fn, value, as_, secret))


async def _call(
    url: str,
    home: Home,
    app_id: str,
    role: str,
    zome: str,
    fn: str,
    value: Any,
    as_: str | None,
    secret: bytes | None,
) -> Any:
    admin = await AdminClient.connect(url, origin=ORIGIN)
    async with admin:
        apps, info = await _find_app(admin, url, app_id)
        cell_id = cell_of(info, role)
        cache = CredentialCache(home)
        cached = False
        if as_ is not None:
            creds = _agent_credentials(home, apps, as_, secret)
        elif secret is not None:
            # A secret from `zomehost grant --transferable`: any key may present it.
            creds = SigningCredentials(*_fresh_key(), secret)
        else:
            found = cache.get(url, cell_id)
            cached = found is not None
            creds = found or await _authorize(admin, cache, url, cell_id)
        port = await _app_port(admin, app_id)
        token = await admin.issue_app_authentication_token(app_id)
        host = urlsplit(url).hostname or "127.0.0.1"
        app = await AppClient.connect(f"ws://{host}:{port}", token, origin=ORIGIN)
        async with app:
            try:
                return await app.call_zome(zome, fn, value, cell_id=cell_id, credentials=creds)
            except ZomeCallUnauthorized:
                if not cached:
                    raise
            # The cached grant was revoked (or the cell reinstalled): authorize afresh, once.
            # (A fresh call's nonce is never refused, so only the grant can have failed.)
            creds = await _authorize(admin, cache, url, cell_id)
            return await app.call_zome(zome, fn, value, cell_id=cell_id, credentials=creds)


def update_coordinators_through_conductor(
    url: str | None, home: Home, app_id: str, role: str, zomes: dict[str, bytes]
) -> CellId:
    """Swap zomes of a role's DNA in a running conductor (``update_coordinators``)."""
    return asyncio.run(_update(conductor_url(url, home), app_id, role, zomes))


async def _update(url: str, app_id: str, role: str, zomes: dict[str, bytes]) -> CellId:
    async with await AdminClient.connect(url, origin=ORIGIN) as admin:
        _, info = await _find_app(admin, url, app_id)
        cell_id = cell_of(info, role)
        await admin.update_coordinators(cell_id, zomes)
        return cell_id


def schedules_through_conductor(
    url: str | None, home: Home, app_id: str, role: str
) -> list[dict[str, Any]]:
    """A cell's scheduled functions, from a running conductor (``list_scheduled_functions``)."""
    return asyncio.run(_schedules(conductor_url(url, home), app_id, role))


async def _schedules(url: str, app_id: str, role: str) -> list[dict[str, Any]]:
    async with await AdminClient.connect(url, origin=ORIGIN) as admin:
        _, info = await _find_app(admin, url, app_id)
        return await admin.list_scheduled_functions(cell_of(info, role))


async def _find_app(
    admin: AdminClient, url: str, app_id: str
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Every app's info, and ``app_id``'s."""
    apps = await admin.list_apps()
    info = next((a for a in apps if a["installed_app_id"] == app_id), None)
    if info is None:
        raise NotFound(f"no app {shown(app_id)} on the conductor at {url}")
    return apps, info


def _fresh_key() -> tuple[Any, AgentPubKey]:
    creds = SigningCredentials.generate()
    return creds.key, creds.provenance


async def _authorize(
    admin: AdminClient, cache: CredentialCache, url: str, cell_id: CellId
) -> SigningCredentials:
    creds = await admin.authorize_signing_credentials(cell_id)
    cache.put(url, cell_id, creds)
    return creds


def _agent_credentials(
    home: Home, apps: list[dict[str, Any]], who: str, secret: bytes | None
) -> SigningCredentials:
    """``--as``: sign as an agent of the local keystore (an agent key, or an app's agent)."""
    if who.startswith("uhCAk"):
        agent = AgentPubKey.from_text(who)
    else:
        other = next((a for a in apps if a["installed_app_id"] == who), None)
        if other is None:
            raise NotFound(f"--as {shown(who)}: no such app or agent key")
        agent = AgentPubKey(other["agent_pub_key"])
    passphrase = passphrase_from_env()
    if passphrase is None:
        raise InvalidInput("--as through a conductor needs ZOMEHOST_PASSPHRASE (keystore access)")
    keystore = home.open_keystore(passphrase)
    if agent not in keystore.keys:
        raise NotFound(f"agent {agent} has no key in the keystore of {home.path}")
    return SigningCredentials.for_agent(keystore.signing_key(agent), secret)


async def _app_port(admin: AdminClient, app_id: str) -> int:
    """An app interface this CLI may use for ``app_id``: an existing one, or a new one."""
    for iface in await admin.list_app_interfaces():
        if iface.get("installed_app_id") not in (None, app_id):
            continue
        origins = {o.strip() for o in str(iface.get("allowed_origins", "")).split(",")}
        if "*" in origins or ORIGIN in origins:
            return int(iface["port"])
    return await admin.attach_app_interface(allowed_origins=ORIGIN, installed_app_id=app_id)


class CredentialCache:
    """Signing credentials per cell, in the home, readable by the owner only."""

    def __init__(self, home: Home) -> None:
        self.path: Path | None = home.path / CREDENTIALS_FILE if home.path.is_dir() else None

    def _load(self) -> dict[str, Any]:
        if self.path is None:
            return {}
        try:
            doc = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        return doc if isinstance(doc, dict) else {}

    @staticmethod
    def _key(url: str, cell_id: CellId) -> str:
        # By cell only: a cell id names one agent's chain, whatever port the conductor uses.
        return str(cell_id)

    def get(self, url: str, cell_id: CellId) -> SigningCredentials | None:
        doc = self._load().get(self._key(url, cell_id))
        if not isinstance(doc, dict):
            return None
        try:
            return SigningCredentials.from_doc(doc)
        except (KeyError, ValueError, TypeError):
            return None

    def put(self, url: str, cell_id: CellId, creds: SigningCredentials) -> None:
        if self.path is None:
            return
        doc = self._load()
        doc[self._key(url, cell_id)] = creds.to_doc()
        tmp = self.path.with_suffix(".tmp")
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(doc, f)
        os.replace(tmp, self.path)


def served_ui_url(home: Home, app_id: str) -> str:
    """Where the conductor running on ``home`` serves ``app_id``'s UI (from ``run.json``)."""
    try:
        doc = json.loads((home.path / "run.json").read_text())
    except (OSError, ValueError):
        raise ConductorError(
            f"no running conductor found for {home.path} (no run.json): start `zomehost run`"
        ) from None
    urls = doc.get("ui") or {}
    if app_id == "dashboard" and doc.get("dashboard"):
        return str(doc["dashboard"])
    if app_id not in urls:
        raise NotFound(
            f"the conductor serves no UI for {shown(app_id)} (apps with a UI: "
            f"{', '.join(sorted(urls)) or 'none'}); install it from a .webhapp"
        )
    return str(urls[app_id])
