"""What the example drivers share: conductors from ``zomehost.testing``, and a story printer.

Each agent runs its own ``zomehost run`` process on its own fresh home, and a ``zomehost
bootstrap`` process lets them find each other: a :class:`zomehost.testing.Scenario` used
without pytest. The drivers are the agents' UIs: signed calls and signals over the app
WebSocket.

    python examples/ghostwriter/run.py [--keep | --dir DIR]
    python examples/messenger/run.py [--keep | --dir DIR]
    python examples/serve.py {ghostwriter,messenger} [--keep | --dir DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from zomehost.core.hash import AgentPubKey, CellId, HoloHash, any_hash
from zomehost.errors import ZomehostError
from zomehost.testing import Player, Scenario


class StepFailed(Exception):
    """An expectation of the story did not hold."""


def short(value: HoloHash | bytes) -> str:
    """A hash or agent key as text, shortened for reading: ``uhCAk…Xy3q``."""
    text = str(value if isinstance(value, HoloHash) else any_hash(value))
    return f"{text[:5]}…{text[-4:]}"


def outcome(result: dict[str, Any]) -> str:
    """A zome's pass-through of a remote call's outcome (``{"Ok": v}``, ``{"Unauthorized":
    {…}}``, ``{"NetworkError": msg}``, …) as one readable line."""
    ((kind, value),) = result.items()
    if kind == "Unauthorized":
        return f"Unauthorized: {value.get('reason')}"
    if isinstance(value, HoloHash):
        return f"{kind}({short(value)})"
    return f"{kind}: {value}"


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


class Ui:
    """One agent's UI of an example app: calls into one zome of one role, and its signals."""

    def __init__(self, player: Player, role: str, zome: str) -> None:
        self.player = player
        self.role = role
        self.zome = zome

    @property
    def name(self) -> str:
        return self.player.name

    @property
    def agent(self) -> AgentPubKey:
        return self.player.agent

    @property
    def cell_id(self) -> CellId:
        return self.player.cell_id(self.role)

    def call(self, fn: str, payload: Any = None) -> Any:
        return self.player.call(self.zome, fn, payload, role=self.role)

    def signal(self, kind: str) -> Any:
        """The first signal of type ``kind`` this UI has not seen before (waits for it)."""
        return self.player.signal(lambda p: isinstance(p, dict) and p.get("type") == kind)


class Sandbox:
    """The example's conductors (a :class:`Scenario`), and whose agent key is whose."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.names: dict[AgentPubKey, str] = {}

    @property
    def dir(self) -> Path:
        return self.scenario.root

    def start_agents(
        self,
        app_dir: Path,
        names: list[str],
        *,
        app_id: str,
        network_seed: str,
        role: str,
        zome: str,
    ) -> list[Ui]:
        """One conductor per name, started side by side, each with the app installed for its
        own agent and a UI connected; returns once the agents are discoverable."""
        players = self.scenario.add_players(
            app_dir, names, app_id=app_id, network_seed=network_seed
        )
        for p in players:
            self.names[p.agent] = p.name.capitalize()
        return [Ui(p, role, zome) for p in players]

    def who(self, key: HoloHash | bytes) -> str:
        """``Alice (uhCAk…Xy3q)`` for an agent of this sandbox, else the short key."""
        agent = AgentPubKey(key.raw if isinstance(key, HoloHash) else key)
        name = self.names.get(agent)
        return f"{name} ({short(agent)})" if name else short(agent)

    def chain(self, ui: Ui, app_id: str) -> list[dict[str, Any]]:
        """The cell's source chain, read with ``zomehost chain --json`` from its home.

        Run it on a stopped conductor: a home is one running conductor's own business."""
        done = ui.player.peer.process.cli("chain", app_id, ui.role, "--json")
        if done.returncode != 0:
            raise StepFailed(f"zomehost chain on {ui.name}'s home: {done.stderr.strip()}")
        records: list[dict[str, Any]] = json.loads(done.stdout)
        return records


def arguments(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--dir", type=Path, help="sandbox directory (kept afterwards)")
    parser.add_argument("--keep", action="store_true", help="keep the sandbox directory")
    return parser


@contextlib.contextmanager
def sandbox(args: argparse.Namespace) -> Iterator[Sandbox]:
    """A :class:`Sandbox` in ``--dir`` (kept), else in a temporary directory (removed unless
    ``--keep``); every process is stopped at the end."""
    root = args.dir or Path(tempfile.mkdtemp(prefix="zomehost-sandbox-"))
    try:
        with Scenario(root) as scenario:
            yield Sandbox(scenario)
    finally:
        if args.keep:
            print(f"\n(sandbox kept in {root})")
        elif args.dir is None:
            shutil.rmtree(root, ignore_errors=True)


def run(story: Callable[[Sandbox], None], description: str) -> int:
    """Run ``story(sandbox)`` in a fresh sandbox; 0 if every step held, else 1 (with the
    conductors' log tails)."""
    args = arguments(description).parse_args()
    with sandbox(args) as sb:
        try:
            story(sb)
        except (StepFailed, ZomehostError) as exc:
            print(f"\nFAILED: {exc}", file=sys.stderr, flush=True)
            print(sb.scenario.logs(), file=sys.stderr, flush=True)
            return 1
    return 0
