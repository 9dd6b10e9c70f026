"""A scenario: conductors in separate processes on loopback, one agent each, driven as their
UIs would drive them (signed calls over the app WebSocket, signals back).

    with Scenario(tmp_path) as s:
        alice, bob = s.add_players(app_dir, ["alice", "bob"])
        alice.call("notes", "create_note", "hi")
        bob.peer.kill(); bob.peer.restart()

The API is synchronous, so tests need no asyncio plugin: the clients live on an event loop
in a thread of the scenario, and each method waits for its result there.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Coroutine, Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

from zomehost.client import AdminClient, AppClient, AppSignal
from zomehost.conductor.packing import pack_app_dir
from zomehost.core.hash import AgentPubKey, CellId, DnaHash
from zomehost.network.bootstrap import BootstrapClient
from zomehost.testing.process import (
    TEST_PASSPHRASE,
    BootstrapProcess,
    ConductorProcess,
    ProcessFailed,
    make_home,
)

T = TypeVar("T")
CALL_TIMEOUT_S = 120.0
SIGNAL_TIMEOUT_S = 10.0
AppSource = Path | str | bytes  # an app directory (happ.yaml), a .happ file, or its bytes


class Timeout(ProcessFailed):
    """What a scenario waited for did not happen in time (a signal, a discovery)."""

    kind = "Timeout"


class Player:
    """One agent's app on one conductor: what that agent's UI would hold."""

    def __init__(self, name: str, peer: Peer, app_id: str, client: AppClient) -> None:
        self.name = name
        self.peer = peer
        self.app_id = app_id
        self.client = client
        self.signals: list[AppSignal] = []  # every app signal received, in arrival order
        self._taken: set[int] = set()  # the indices signal() has handed out
        self._arrived = threading.Condition()
        client.on_signal(self._on_signal)

    @property
    def agent(self) -> AgentPubKey:
        return self.client.agent_pub_key

    def cell_id(self, role: str | None = None) -> CellId:
        """The cell of ``role`` (default: the app's only role)."""
        assert self.client.app_info is not None
        roles = list(self.client.app_info["cell_info"])
        if role is None:
            if len(roles) != 1:
                raise ValueError(f"app {self.app_id!r} has roles {roles}: name one")
            role = roles[0]
        return self.client.cell_id(role)

    def call(self, zome: str, fn: str, payload: Any = None, *, role: str | None = None) -> Any:
        """A signed zome call as this agent; returns the decoded result (a failed call
        raises the client's typed error, e.g. ``zomehost.client.ZomeCallFailed``)."""
        cell = self.cell_id(role)
        return self.peer.scenario.run(self.client.call_zome(zome, fn, payload, cell_id=cell))

    def signal(
        self, match: Callable[[Any], bool] | None = None, timeout: float = SIGNAL_TIMEOUT_S
    ) -> Any:
        """The payload of the next signal not handed out before (the first such one that
        ``match`` accepts, when given); :class:`Timeout` if none comes within ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while True:
                for i, signal in enumerate(self.signals):
                    if i not in self._taken and (match is None or match(signal.payload)):
                        self._taken.add(i)
                        return signal.payload
                left = deadline - time.monotonic()
                if left <= 0:
                    raise Timeout(f"{self.name} got no matching signal within {timeout} s")
                self._arrived.wait(left)

    def _on_signal(self, signal: AppSignal) -> None:
        with self._arrived:
            self.signals.append(signal)
            self._arrived.notify_all()

    async def reconnect(self) -> None:
        """A new app connection after the conductor restarted (credentials persist)."""
        self.client = await self.peer.app_client(self.app_id)
        self.client.on_signal(self._on_signal)


class Peer:
    """One conductor process of the scenario, with an admin connection to it."""

    def __init__(
        self,
        scenario: Scenario,
        name: str,
        process: ConductorProcess,
        *,
        uses_bootstrap: bool = False,
    ) -> None:
        self.scenario = scenario
        self.name = name
        self.process = process
        self.uses_bootstrap = uses_bootstrap  # its network config lists the scenario's
        self.admin: AdminClient | None = None
        self.app_port: int | None = None
        self.players: list[Player] = []

    @property
    def home(self) -> Path:
        return self.process.home

    async def connect(self) -> None:
        self.admin = await AdminClient.connect(self.process.admin_url)
        self.app_port = None

    async def app_client(self, app_id: str) -> AppClient:
        assert self.admin is not None
        if self.app_port is None:
            self.app_port = await self.admin.attach_app_interface()
        token = await self.admin.issue_app_authentication_token(app_id)
        url = f"ws://127.0.0.1:{self.app_port}"
        return await AppClient.connect(url, token, typed_hashes=True)

    async def _install_app(
        self, bundle: bytes, app_id: str, network_seed: str | None
    ) -> dict[str, Any]:
        assert self.admin is not None
        info = await self.admin.install_app(
            bundle=bundle, installed_app_id=app_id, network_seed=network_seed
        )
        await self.admin.enable_app(app_id)
        return info

    async def _install(
        self, name: str, bundle: bytes, app_id: str, network_seed: str | None
    ) -> Player:
        assert self.admin is not None
        info = await self._install_app(bundle, app_id, network_seed)
        for cells in info["cell_info"].values():
            for cell in cells:
                if cell.get("type") == "provisioned":
                    await self.admin.authorize_signing_credentials(
                        CellId.from_wire(cell["value"]["cell_id"])
                    )
        player = Player(name, self, app_id, await self.app_client(app_id))
        self.players.append(player)
        return player

    def install(
        self,
        app: AppSource,
        *,
        name: str | None = None,
        app_id: str | None = None,
        network_seed: str | None = None,
    ) -> Player:
        """Install and enable an app for a new agent here; its UI gets signing credentials
        for every cell and an authenticated app connection."""
        bundle = self.scenario.bundle(app)
        app_id = app_id or f"app-{len(self.players)}"
        seed = network_seed if network_seed is not None else self.scenario.network_seed
        return self.scenario.run(self._install(name or self.name, bundle, app_id, seed))

    def install_app(
        self, app: AppSource, *, app_id: str, network_seed: str | None = None
    ) -> dict[str, Any]:
        """Install and enable an app for a new agent, and nothing more (no UI connection,
        no signing credentials): for a ``.webhapp`` whose UI the conductor serves
        (``peer.process.ui_url(app_id)``). Returns the app's info."""
        seed = network_seed if network_seed is not None else self.scenario.network_seed
        return self.scenario.run(self._install_app(self.scenario.bundle(app), app_id, seed))

    async def _disconnect(self) -> None:
        for player in self.players:
            with contextlib.suppress(Exception):
                await player.client.close()
        if self.admin is not None:
            with contextlib.suppress(Exception):
                await self.admin.close()
        self.admin = None

    def stop(self) -> int:
        """SIGTERM, as a user stopping the conductor would; returns its exit status."""
        self.scenario.run(self._disconnect())
        return self.process.stop()

    def kill(self) -> None:
        """SIGKILL: the conductor vanishes mid-whatever (its peers see a dead connection)."""
        self.process.kill()
        self.scenario.run(self._disconnect())

    def restart(self) -> None:
        """Start the conductor again on its home and reconnect every player's UI."""
        if self.process.running:
            self.stop()
        else:  # it died (or was killed from elsewhere): drop the dead connections
            self.scenario.run(self._disconnect())
        self.process.start(ready=self.scenario.ready)

        async def reconnect() -> None:
            await self.connect()
            for player in self.players:
                await player.reconnect()

        self.scenario.run(reconnect())


class Scenario:
    """Conductor processes (and a bootstrap service when ``network``) under ``root``.

    The bootstrap service starts with the first conductor that uses it: one whose network
    config does not set ``bootstrap_url`` itself (``None``: no scenario bootstrap).

    ``network_config``: more keys for every conductor's ``network`` mapping (docs/config.md);
    ``relay``: the bootstrap service runs a relay beside it (``scenario.bootstrap.relay_address``).
    """

    def __init__(
        self,
        root: Path,
        *,
        network: bool = True,
        network_seed: str | None = "zomehost-testing",
        module_cache: Path | None = None,
        network_config: dict[str, Any] | None = None,
        relay: bool = False,
    ) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.network = network
        self.network_seed = network_seed
        self.module_cache = module_cache
        self.network_config = dict(network_config or {})
        self.relay = relay
        self.bootstrap: BootstrapProcess | None = None
        self.peers: list[Peer] = []
        self._bundles: dict[Path, bytes] = {}
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()

    @property
    def ready(self) -> tuple[str, ...]:
        return ("admin_port", "network") if self.network else ("admin_port",)

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = CALL_TIMEOUT_S) -> T:
        """Run a coroutine on the scenario's event loop (where the clients live)."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def bundle(self, app: AppSource) -> bytes:
        """The .happ bytes of an app directory (packed once), a .happ file, or bytes."""
        if isinstance(app, bytes):
            return app
        path = Path(app).resolve()
        if path not in self._bundles:
            if path.is_dir():
                out = self.root / "bundles" / f"{path.name}-{len(self._bundles)}.happ"
                out.parent.mkdir(parents=True, exist_ok=True)
                self._bundles[path] = pack_app_dir(path, out).read_bytes()
            else:
                self._bundles[path] = path.read_bytes()
        return self._bundles[path]

    def bootstrap_url(self) -> str:
        """The bootstrap service's URL (started on first use)."""
        if self.bootstrap is None:
            self.bootstrap = BootstrapProcess(self.root, relay=self.relay).start()
        return self.bootstrap.url

    def add_peer(self, name: str, *, network: dict[str, Any] | None = None) -> Peer:
        """A fresh home and a ``zomehost run`` on it (its network points at the bootstrap;
        ``network``: more keys for this conductor's ``network`` mapping)."""
        return self.add_peers([name], network=network)[0]

    def add_peers(
        self, names: Sequence[str], *, network: dict[str, Any] | None = None
    ) -> list[Peer]:
        """Several conductors, started side by side."""
        config = None
        if self.network:
            config = {
                "listen": "127.0.0.1:0",
                "refresh_interval_s": 0.5,
                **self.network_config,
                **(network or {}),
            }
            if "bootstrap_url" not in config:
                config["bootstrap_url"] = self.bootstrap_url()  # started on first use
        uses = False  # the scenario's bootstrap is among this config's
        if config is not None and self.bootstrap is not None:
            urls = [config.get("bootstrap_url"), *(config.get("bootstrap_urls") or [])]
            uses = self.bootstrap.url in urls
        made = []
        for name in names:
            home = make_home(self.root / name, network=config, module_cache=self.module_cache)
            made.append(Peer(self, name, ConductorProcess(home, name=name), uses_bootstrap=uses))
        for peer in made:
            peer.process.launch()
        for peer in made:
            self.peers.append(peer)
            peer.process.wait_ready(self.ready)
            self.run(peer.connect())
        return made

    def add_players(
        self,
        app: AppSource,
        names: Sequence[str] = ("alice", "bob"),
        *,
        app_id: str = "app",
        network_seed: str | None = None,
        network: dict[str, Any] | None = None,
    ) -> list[Player]:
        """One conductor per name, each with ``app`` installed for its own agent, the agents
        discoverable by each other when the network is on."""
        peers = self.add_peers(names, network=network)
        players = [
            peer.install(app, name=peer.name, app_id=app_id, network_seed=network_seed)
            for peer in peers
        ]
        found = [p for p in players if p.peer.uses_bootstrap]
        if found:  # the others find their peers as their own config says
            self.wait_discoverable(found)
        return players

    def wait_discoverable(self, players: Iterable[Player], timeout: float = 30.0) -> None:
        """Wait until the bootstrap service knows every player's agent in each of its DNAs."""
        wanted: dict[DnaHash, set[AgentPubKey]] = {}
        for p in players:
            assert p.client.app_info is not None
            for role in p.client.app_info["cell_info"]:
                cell = p.cell_id(role)
                wanted.setdefault(cell.dna_hash, set()).add(cell.agent)
        client = BootstrapClient(self.bootstrap_url())

        async def wait() -> None:
            deadline = time.monotonic() + timeout
            for dna, agents in wanted.items():
                while not agents <= {r.info.agent for r in await client.lookup(dna)}:
                    if time.monotonic() > deadline:
                        raise Timeout(f"agents not published within {timeout} s")
                    await asyncio.sleep(0.1)

        self.run(wait(), timeout + 10)

    def shutdown(self) -> None:
        """Stop every conductor (killing those that do not stop), then the bootstrap."""
        problems: list[str] = []
        for peer in self.peers:
            with contextlib.suppress(Exception):
                self.run(peer._disconnect(), 10)
            if peer.process.proc is None:
                continue
            try:
                peer.process.stop()
            except ProcessFailed as exc:
                problems.append(exc.message)
        if self.bootstrap is not None and self.bootstrap.running:
            with contextlib.suppress(ProcessFailed):
                self.bootstrap.stop()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()
        if problems:
            raise ProcessFailed("; ".join(problems))

    def logs(self, chars: int = 3000) -> str:
        """The end of every process's log, for a failed test's report."""
        procs = [p.process for p in self.peers] + ([self.bootstrap] if self.bootstrap else [])
        return "\n".join(f"--- {p.name} ({p.log}) ---\n{p.output(chars)}" for p in procs)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.shutdown()


__all__ = ["TEST_PASSPHRASE", "AppSource", "Peer", "Player", "Scenario", "Timeout"]
