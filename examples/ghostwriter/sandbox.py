"""A sandbox of zomehost conductors on loopback, for the example drivers (``run.py``).

Each conductor is its own ``zomehost run`` process with its own fresh home; a
``zomehost bootstrap`` process lets them find each other. The drivers talk to them only
the way any program would: over the admin and app WebSockets (``zomehost.client``).

    async with Sandbox() as sb:
        await sb.start_bootstrap()
        alice = await sb.start_conductor("alice")
        ui = await sb.install(alice, happ_path, app_id="blog", network_seed="demo")
        await ui.call("publish_post", {...})

Used by examples/ghostwriter/run.py and examples/messenger/run.py.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from zomehost.client.admin import AdminClient
from zomehost.client.app import AppClient, AppSignal
from zomehost.conductor.packing import pack_app_dir, pack_web_app_dir
from zomehost.core.hash import AgentPubKey, CellId, DnaHash, HoloHash, any_hash
from zomehost.network.bootstrap import BootstrapClient

PASSPHRASE = "sandbox passphrase (examples only)"
START_TIMEOUT_S = 60.0
ZOMEHOST = Path(sys.executable).parent / "zomehost"


class StepFailed(Exception):
    """An expectation of the story did not hold."""


def short(value: HoloHash | bytes) -> str:
    """A hash or agent key as text, shortened for reading: ``uhCAk…Xy3q``."""
    text = str(value if isinstance(value, HoloHash) else any_hash(value))
    return f"{text[:5]}…{text[-4:]}"


class Story:
    """Prints a story step by step; ``expect`` turns a broken expectation into an exit code."""

    def __init__(self, title: str) -> None:
        self.n = 0
        self.bold = sys.stdout.isatty()
        print(self._b(title), flush=True)

    def _b(self, text: str) -> str:
        return f"\033[1m{text}\033[0m" if self.bold else text

    def section(self, text: str) -> None:
        print(f"\n{self._b('== ' + text)}", flush=True)

    def step(self, text: str) -> None:
        self.n += 1
        print(f"\n{self._b(f'{self.n}. {text}')}", flush=True)

    def say(self, text: str) -> None:
        print(f"   {text}", flush=True)

    def expect(self, condition: bool, text: str) -> None:
        """``text`` is what should hold; printed with ✓, or the run stops with it."""
        if not condition:
            raise StepFailed(text)
        print(f"   ✓ {text}", flush=True)


def tail(path: Path, lines: int) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return ""


def outcome(result: dict[str, Any]) -> str:
    """A zome's pass-through of a remote call's outcome (``{"Ok": v}``, ``{"Unauthorized":
    {…}}``, ``{"NetworkError": msg}``, …) as one readable line."""
    ((kind, value),) = result.items()
    if kind == "Unauthorized":
        return f"Unauthorized: {value.get('reason')}"
    if isinstance(value, bytes):
        return f"{kind}({short(value)})"
    return f"{kind}: {value}"


def pack(example_dir: Path, out_dir: Path) -> Path:
    return pack_app_dir(example_dir, out_dir / f"{example_dir.name}.happ")


@dataclass
class Conductor:
    """One ``zomehost run`` process and an admin connection to it."""

    name: str
    home: Path
    process: asyncio.subprocess.Process
    admin: AdminClient
    admin_port: int
    log: Path

    @property
    def running(self) -> bool:
        return self.process.returncode is None

    def log_tail(self, lines: int = 20) -> str:
        return tail(self.log, lines)


@dataclass
class AppUi:
    """What an agent's UI holds: an authenticated app connection and the signals it got."""

    name: str
    conductor: Conductor
    client: AppClient
    cell_id: CellId
    role: str
    zome: str
    signals: list[Any] = field(default_factory=list)  # every signal, in arrival order
    _taken: set[int] = field(default_factory=set)  # indices `signal` has handed out

    @property
    def agent(self) -> AgentPubKey:
        return self.cell_id.agent

    async def call(self, fn: str, payload: Any = None) -> Any:
        return await self.client.call_zome(self.zome, fn, payload, cell_id=self.cell_id)

    async def signal(self, kind: str, timeout: float = 10.0) -> Any:
        """The first signal of type ``kind`` not seen before (waits up to ``timeout``)."""
        deadline = time.monotonic() + timeout
        while True:
            for i, s in enumerate(self.signals):
                if i not in self._taken and isinstance(s, dict) and s.get("type") == kind:
                    self._taken.add(i)
                    return s
            if time.monotonic() > deadline:
                raise StepFailed(f"{self.name}'s UI got no {kind!r} signal within {timeout} s")
            await asyncio.sleep(0.02)

    def _on_signal(self, signal: AppSignal) -> None:
        if signal.cell_id == self.cell_id:
            self.signals.append(signal.payload)


class Sandbox:
    def __init__(self, workdir: Path | None = None, *, keep: bool = False) -> None:
        self._own_dir = workdir is None
        self.dir = workdir or Path(tempfile.mkdtemp(prefix="zomehost-sandbox-"))
        self.keep = keep
        self.bootstrap_url: str | None = None
        self._bootstrap: asyncio.subprocess.Process | None = None
        self.conductors: list[Conductor] = []
        self._apps: list[AppUi] = []
        self.names: dict[bytes, str] = {}  # agent key -> the name of whose UI it is

    async def __aenter__(self) -> Sandbox:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- processes ----------------------------------------------------------------------
    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ZOMEHOST_")}
        env["ZOMEHOST_PASSPHRASE"] = PASSPHRASE
        return env

    async def start_bootstrap(self) -> str:
        """Start ``zomehost bootstrap --port 0``; return its URL."""
        log = open(self.dir / "bootstrap.log", "w")  # noqa: SIM115 - the child writes it
        proc = await asyncio.create_subprocess_exec(
            str(ZOMEHOST), "bootstrap", "--port", "0",
            stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL, env=self._env(),
        )  # fmt: skip
        log.close()
        self._bootstrap = proc
        assert proc.stdout is not None
        try:
            line = await asyncio.wait_for(proc.stdout.readline(), START_TIMEOUT_S)
        except TimeoutError:
            line = b""
        found = re.search(rb"(https?://\S+)", line)
        if not found:
            text = line.decode(errors="replace")
            raise StepFailed(f"the bootstrap service did not start: {text}")
        self.bootstrap_url = found.group(1).decode()
        return self.bootstrap_url

    async def start_conductor(self, name: str) -> Conductor:
        """``zomehost init`` a fresh home, point its network at the bootstrap, ``zomehost run``."""
        home = self.dir / name
        if home.exists():
            raise StepFailed(f"{home} already exists: give the sandbox an empty directory")
        init = await asyncio.create_subprocess_exec(
            str(ZOMEHOST), "--home", str(home), "init",
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=self._env(),
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
        _, err = await init.communicate()
        if init.returncode != 0:
            raise StepFailed(f"zomehost init for {name} failed: {err.decode().strip()}")
        config_path = home / "conductor-config.yaml"
        config = yaml.safe_load(config_path.read_text()) or {}
        config["network"] = {
            "listen": "127.0.0.1:0",
            "bootstrap_url": self.bootstrap_url,
            "refresh_interval_s": 0.5,
        }
        config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        run_json = home / "run.json"
        log_path = home / "conductor.log"
        log = open(log_path, "w")  # noqa: SIM115 - the child writes it
        proc = await asyncio.create_subprocess_exec(
            str(ZOMEHOST), "--home", str(home), "run", "--admin-port", "0",
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=self._env(),
        )  # fmt: skip
        log.close()
        deadline = time.monotonic() + START_TIMEOUT_S
        endpoints: dict[str, Any] = {}
        while "admin_port" not in endpoints or "network" not in endpoints:
            if proc.returncode is not None or time.monotonic() > deadline:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                raise StepFailed(f"{name}'s conductor did not start:\n{tail(log_path, 20)}")
            with contextlib.suppress(FileNotFoundError, json.JSONDecodeError):
                endpoints = json.loads(run_json.read_text())
            await asyncio.sleep(0.05)
        port = int(endpoints["admin_port"])
        admin = await AdminClient.connect(f"ws://127.0.0.1:{port}")
        conductor = Conductor(name, home, proc, admin, port, log_path)
        self.conductors.append(conductor)
        return conductor

    async def stop_conductor(self, conductor: Conductor) -> None:
        """SIGTERM, as a user stopping the conductor would; wait for it to exit."""
        for app in [a for a in self._apps if a.conductor is conductor]:
            with contextlib.suppress(Exception):
                await app.client.close()
            self._apps.remove(app)
        with contextlib.suppress(Exception):
            await conductor.admin.close()
        if conductor.running:
            conductor.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(conductor.process.wait(), 30)
            except TimeoutError:
                conductor.process.kill()
                await conductor.process.wait()

    # -- apps -----------------------------------------------------------------------------
    async def install(
        self,
        conductor: Conductor,
        happ: Path,
        *,
        app_id: str,
        network_seed: str,
        role: str,
        zome: str,
    ) -> AppUi:
        """Install and enable the app, give a UI signing credentials and an app connection."""
        admin = conductor.admin
        info = await admin.install_app(
            path=happ, installed_app_id=app_id, network_seed=network_seed
        )
        await admin.enable_app(app_id)
        cell_id = CellId.from_wire(info["cell_info"][role][0]["value"]["cell_id"])
        await admin.authorize_signing_credentials(cell_id)
        port = await admin.attach_app_interface(installed_app_id=app_id)
        token = await admin.issue_app_authentication_token(app_id)
        client = await AppClient.connect(f"ws://127.0.0.1:{port}", token)
        ui = AppUi(conductor.name, conductor, client, cell_id, role, zome)
        client.on_signal(ui._on_signal)
        self._apps.append(ui)
        self.names[cell_id.agent.raw] = conductor.name.capitalize()
        return ui

    async def install_web_app(
        self, conductor: Conductor, bundle: Path, *, app_id: str, network_seed: str
    ) -> str:
        """Install and enable a ``.webhapp``; return the URL where the conductor serves its UI."""
        info = await conductor.admin.install_app(
            path=bundle, installed_app_id=app_id, network_seed=network_seed
        )
        await conductor.admin.enable_app(app_id)
        self.names[bytes(info["agent_pub_key"])] = conductor.name.capitalize()
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            with contextlib.suppress(FileNotFoundError, json.JSONDecodeError):
                urls = json.loads((conductor.home / "run.json").read_text()).get("ui") or {}
                if app_id in urls:
                    return str(urls[app_id])
            await asyncio.sleep(0.05)
        raise StepFailed(f"{conductor.name}'s conductor never served the UI of {app_id}")

    async def start_agents(
        self, names: list[str], happ: Path, *, app_id: str, network_seed: str, role: str, zome: str
    ) -> list[AppUi]:
        """One conductor per name, started side by side, each with the app installed."""

        async def one(name: str) -> AppUi:
            conductor = await self.start_conductor(name)
            return await self.install(
                conductor, happ, app_id=app_id, network_seed=network_seed, role=role, zome=zome
            )

        return list(await asyncio.gather(*(one(n) for n in names)))

    def who(self, key: HoloHash | bytes) -> str:
        """``Alice (uhCAk…Xy3q)`` for an agent of this sandbox, else the short key."""
        raw = key.raw if isinstance(key, HoloHash) else key
        name = self.names.get(raw)
        return f"{name} ({short(raw)})" if name else short(raw)

    async def chain(self, conductor: Conductor, app_id: str, role: str) -> list[dict[str, Any]]:
        """The cell's source chain, read with ``zomehost chain --json`` from its home.

        Run it on a stopped conductor: a home is one running conductor's own business."""
        proc = await asyncio.create_subprocess_exec(
            str(ZOMEHOST), "--home", str(conductor.home), "chain", app_id, role, "--json",
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=self._env(),
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
        out, err = await proc.communicate()
        if proc.returncode != 0:
            raise StepFailed(f"zomehost chain on {conductor.name}'s home: {err.decode().strip()}")
        records: list[dict[str, Any]] = json.loads(out)
        return records

    async def wait_until_discoverable(
        self, dna: DnaHash, agents: list[AgentPubKey], timeout: float = 30.0
    ) -> None:
        """Wait until the bootstrap service knows every agent of ``agents`` in ``dna``."""
        assert self.bootstrap_url is not None
        client = BootstrapClient(self.bootstrap_url)
        deadline = time.monotonic() + timeout
        wanted = set(agents)
        while True:
            found = {r.info.agent for r in await client.lookup(dna)}
            if wanted <= found:
                return
            if time.monotonic() > deadline:
                missing = ", ".join(short(a) for a in wanted - found)
                raise StepFailed(f"agents never published to the bootstrap service: {missing}")
            await asyncio.sleep(0.1)

    async def close(self) -> None:
        for conductor in list(self.conductors):
            await self.stop_conductor(conductor)
        if self._bootstrap is not None and self._bootstrap.returncode is None:
            self._bootstrap.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self._bootstrap.wait(), 10)
            except TimeoutError:
                self._bootstrap.kill()
                await self._bootstrap.wait()
        if self._own_dir and not self.keep:
            shutil.rmtree(self.dir, ignore_errors=True)


def run(story: Any, description: str) -> int:
    """Run ``await story(sandbox)`` in a fresh sandbox; 0 if every step held, else 1.

    Command line: ``--dir DIR`` puts the sandbox (homes, logs) in DIR and keeps it;
    ``--keep`` keeps the temporary one."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--dir", type=Path, help="sandbox directory (kept afterwards)")
    parser.add_argument("--keep", action="store_true", help="keep the sandbox directory")
    args = parser.parse_args()
    if args.dir is not None:
        args.dir.mkdir(parents=True, exist_ok=True)

    async def main() -> int:
        async with Sandbox(args.dir, keep=args.keep) as sb:
            try:
                await story(sb)
            except StepFailed as exc:
                print(f"\nFAILED: {exc}", file=sys.stderr, flush=True)
                for c in sb.conductors:
                    log = c.log_tail()
                    if log:
                        print(f"--- {c.name}'s conductor log (tail) ---\n{log}", file=sys.stderr)
                return 1
            if args.keep:
                print(f"\n(sandbox kept in {sb.dir})")
        return 0

    return asyncio.run(main())


async def serve_web_app(
    sb: Sandbox, example_dir: Path, names: list[str], *, network_seed: str
) -> list[str]:
    """A bootstrap service and one conductor per name, each serving the example's ``.webhapp``
    (packed from its ``web-happ.yaml``); prints each agent's page and returns the URLs."""
    await sb.start_bootstrap()
    bundle = pack_web_app_dir(example_dir, sb.dir / f"{example_dir.name}.webhapp")

    async def one(name: str) -> str:
        conductor = await sb.start_conductor(name)
        return await sb.install_web_app(
            conductor, bundle, app_id=example_dir.name, network_seed=network_seed
        )

    urls = list(await asyncio.gather(*(one(n) for n in names)))
    for name, url in zip(names, urls):
        print(f"{name.capitalize()}'s page: {url}", flush=True)
    return urls


def serve_forever(example_dir: Path, names: list[str], network_seed: str, doc: str) -> int:
    """``serve.py``: serve the example's UI from one conductor per agent until Ctrl-C."""

    async def story(sb: Sandbox) -> None:
        await serve_web_app(sb, example_dir, names, network_seed=network_seed)
        print("Open each page in a browser; Ctrl-C stops the conductors.", flush=True)
        await asyncio.Event().wait()

    try:
        return run(story, doc)
    except KeyboardInterrupt:
        return 0
