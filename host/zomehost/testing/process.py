"""Real ``zomehost`` processes for tests: a conductor (``zomehost run``) and a bootstrap
service (``zomehost bootstrap``), each a child process with its own log file.

A conductor is found through the ``run.json`` it publishes in its home (the admin port, and
the peer network's address once it listens); the bootstrap service through the line it
prints. Nothing is mocked: these are the same console scripts a user runs.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Self

import nacl.pwhash
import yaml

from zomehost.conductor.home import PASSPHRASE_ENV, ConductorConfig, Home
from zomehost.core.keystore import Keystore
from zomehost.errors import ConductorError, ZomehostError
from zomehost.ribosome.module_cache import key_path as module_cache_key

# Test homes only: a passphrase everyone knows, and Argon2id at its minimum cost (the
# keystore opens in milliseconds). Never use these for a home that holds real keys.
TEST_PASSPHRASE = "zomehost test passphrase (not secret)"
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 20.0


class ProcessFailed(ZomehostError):
    """A zomehost child process did not start, exited early or ignored a stop signal."""

    kind = "ProcessFailed"


def zomehost_command() -> list[str]:
    """How to run the ``zomehost`` CLI of this Python: its console script, else ``-c``."""
    script = Path(sys.executable).with_name("zomehost")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from zomehost.cli.main import app; app()"]


def child_env(passphrase: str | None, keep: Iterable[str] = ()) -> dict[str, str]:
    """This process's environment without its ``ZOMEHOST_*`` settings (but ``keep``), and
    with ``passphrase`` as ``ZOMEHOST_PASSPHRASE``: a child sees only what the test chose."""
    kept = set(keep)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZOMEHOST_") or k in kept}
    if passphrase is not None:
        env[PASSPHRASE_ENV] = passphrase
    return env


# -- homes --------------------------------------------------------------------------------
def make_home(
    path: Path,
    *,
    passphrase: str = TEST_PASSPHRASE,
    network: dict[str, Any] | None = None,
    allowed_origins: Sequence[str] = ("*",),
    limits: dict[str, Any] | None = None,
    module_cache: Path | None = None,
    durable: bool = True,
    fast_keystore: bool = True,
) -> Path:
    """A fresh conductor home at ``path`` with a cheap keystore (tests only).

    ``network``: the config's ``network`` mapping (``None``: the peer network off);
    ``module_cache``: a module cache directory whose compiled modules (and key) are copied
    in, so the conductor does not compile them again; ``durable``: fsync every commit;
    ``fast_keystore=False``: the keystore sealed at zomehost's real cost, as ``zomehost init``
    seals it (what a cold start measures).
    An existing home is refused: its keys and chains stay as they are.
    """
    home = Home(path)
    if home.keystore_path.exists():
        raise ConductorError(f"{home.path} is already a zomehost home: give an empty directory")
    home.path.mkdir(parents=True, exist_ok=True)
    doc = yaml.safe_load(ConductorConfig().dump())  # every section, as `zomehost init` writes
    doc.update(
        allowed_origins=list(allowed_origins),
        durable=durable,
        limits=limits or {},
        network=network if network is not None else {"enabled": False},
    )
    home.config_path.write_text(yaml.safe_dump(doc, sort_keys=False))
    ConductorConfig.load(home.config_path)  # the conductor must accept what we wrote
    if fast_keystore:
        keystore = Keystore.create(
            passphrase,
            ops=nacl.pwhash.argon2id.OPSLIMIT_MIN,
            mem=nacl.pwhash.argon2id.MEMLIMIT_MIN,
        )
    else:
        keystore = Keystore.create(passphrase)
    home.save_keystore(keystore)
    if module_cache is not None:
        seed_module_cache(home.path, module_cache)
    return home.path


def seed_module_cache(home: Path, cache: Path) -> None:
    """Copy a module cache's compiled modules into ``home``, with the key that signs them."""
    target = Home(home).cache_path
    target.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(module_cache_key(cache), module_cache_key(target))
    for f in cache.glob("*.cwasm"):
        shutil.copyfile(f, target / f.name)


def set_section(home: Path, name: str, value: dict[str, Any]) -> None:
    """Replace the mapping ``name`` of a home's conductor config (keys it leaves out take
    their defaults)."""
    config = Home(home).config_path
    doc = yaml.safe_load(config.read_text()) or {}
    doc[name] = value
    config.write_text(yaml.safe_dump(doc, sort_keys=False))


def set_network(home: Path, network: dict[str, Any]) -> None:
    """Replace the ``network`` mapping of a home's conductor config."""
    set_section(home, "network", network)


# -- processes ----------------------------------------------------------------------------
class ZomehostProcess:
    """One ``zomehost`` child process; stdout and stderr go to ``log``. ``wrap``: a command
    it runs under (e.g. ``ip netns exec NS`` to put it in a network namespace)."""

    def __init__(
        self, name: str, log: Path, *, env: dict[str, str], wrap: Sequence[str] = ()
    ) -> None:
        self.name = name
        self.log = log
        self.env = env
        self.wrap = list(wrap)
        self.proc: subprocess.Popen[bytes] | None = None

    def spawn(self, args: Sequence[str]) -> None:
        if self.running:
            raise ProcessFailed(f"{self.name} is already running (pid {self.pid})")
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [*self.wrap, *zomehost_command(), *args],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int:
        if self.proc is None:
            raise ProcessFailed(f"{self.name} was never started")
        return self.proc.pid

    @property
    def returncode(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def output(self, chars: int = 5000) -> str:
        """The end of the process's log (for failure messages)."""
        with contextlib.suppress(OSError):
            return self.log.read_text(errors="replace")[-chars:]
        return ""

    def _exited_early(self) -> ProcessFailed:
        return ProcessFailed(
            f"{self.name} exited with status {self.returncode} while starting:\n{self.output()}"
        )

    def stop(self, sig: int = signal.SIGTERM, timeout: float = STOP_TIMEOUT_S) -> int:
        """Send ``sig`` and wait for the exit; a process that ignores it is killed and
        :class:`ProcessFailed` raised. Returns the exit status (also when already exited)."""
        if self.proc is None:
            raise ProcessFailed(f"{self.name} was never started")
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
                raise ProcessFailed(
                    f"{self.name} ignored signal {sig} for {timeout} s:\n{self.output()}"
                ) from None
        return int(self.proc.returncode)

    def kill(self) -> None:
        """SIGKILL: the process gets no chance to clean up (a crash, a pulled plug)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)


class ConductorProcess(ZomehostProcess):
    """``zomehost run --admin-port 0`` on a home."""

    def __init__(
        self,
        home: Path,
        log: Path | None = None,
        *,
        name: str = "conductor",
        passphrase: str = TEST_PASSPHRASE,
        keep_env: Iterable[str] = (),
        wrap: Sequence[str] = (),
    ) -> None:
        home = Path(home)
        env = child_env(passphrase, keep_env)
        super().__init__(name, log or home / "conductor.log", env=env, wrap=wrap)
        self.home = home
        self.endpoints: dict[str, Any] = {}

    def start(
        self, *extra: str, ready: Sequence[str] = ("admin_port",), timeout: float = START_TIMEOUT_S
    ) -> Self:
        """Start the conductor and wait until ``run.json`` names every key of ``ready``
        (``"network"`` too: wait until the peer transport listens)."""
        self.launch(*extra)
        self.wait_ready(ready, timeout)
        return self

    def launch(self, *extra: str) -> None:
        """Start the conductor without waiting (start several, then ``wait_ready`` each)."""
        self.endpoints = {}
        self.spawn(["--home", str(self.home), "run", "--admin-port", "0", *extra])

    def wait_ready(
        self, ready: Sequence[str] = ("admin_port",), timeout: float = START_TIMEOUT_S
    ) -> None:
        self.wait_run_json(lambda doc: all(k in doc for k in ready), timeout)

    def wait_run_json(
        self, done: Callable[[dict[str, Any]], bool], timeout: float = START_TIMEOUT_S
    ) -> dict[str, Any]:
        """This process's ``run.json`` once ``done`` accepts it (the conductor rewrites it as
        its endpoints come up: the UIs it serves, the relays it registered with), also
        kept as ``endpoints``."""
        run_json = self.home / "run.json"
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if not self.running:
                raise self._exited_early()
            try:
                doc: dict[str, Any] = json.loads(run_json.read_text())
            except (FileNotFoundError, json.JSONDecodeError):
                doc = {}
            if doc.get("pid") == self.pid and done(doc):
                self.endpoints = doc
                return doc
            time.sleep(0.05)
        raise ProcessFailed(f"{self.name} was not ready within {timeout} s:\n{self.output()}")

    def ui_url(self, app_id: str, timeout: float = START_TIMEOUT_S) -> str:
        """Where the conductor serves the UI of ``app_id`` (installed from a ``.webhapp``)."""
        doc = self.wait_run_json(lambda doc: app_id in (doc.get("ui") or {}), timeout)
        return str(doc["ui"][app_id])

    def cli(self, *args: str, timeout: float = START_TIMEOUT_S) -> subprocess.CompletedProcess[str]:
        """``zomehost --home HOME ARGS…`` with this conductor's passphrase, e.g. ``chain APP
        ROLE --json`` once it is stopped (a running conductor owns its home)."""
        return subprocess.run(
            [*zomehost_command(), "--home", str(self.home), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )

    def restart(self, *extra: str, ready: Sequence[str] = ("admin_port",)) -> Self:
        """Stop (if running) and start again on the same home: new ports, same chains."""
        if self.running:
            self.stop()
        return self.start(*extra, ready=ready)

    @property
    def admin_port(self) -> int:
        return int(self.endpoints["admin_port"])

    @property
    def admin_url(self) -> str:
        return f"ws://127.0.0.1:{self.admin_port}"

    @property
    def network_address(self) -> str:
        """Where the peer transport really listens (its agent infos may advertise another)."""
        return str(self.endpoints["network"]["listen"])

    @property
    def transport_id(self) -> bytes:
        return bytes.fromhex(self.endpoints["network"]["transport_id"])


class ServiceProcess(ZomehostProcess):
    """A ``zomehost`` service command (``bootstrap``, ``relay``) on loopback, found through
    the ``… listening on ADDRESS`` lines it prints."""

    def __init__(
        self, root: Path, args: Sequence[str], *, name: str, wrap: Sequence[str] = ()
    ) -> None:
        super().__init__(name, Path(root) / f"{name}.log", env=child_env(None), wrap=wrap)
        self.root = Path(root)
        self.args = list(args)
        self._log_start = 0

    def launch(self) -> None:
        self._log_start = self.log.stat().st_size if self.log.exists() else 0
        self.spawn(["--home", str(self.root / f"{self.name}-home"), *self.args])

    def announced(self, what: str, timeout: float = START_TIMEOUT_S) -> str:
        """The address in the line ``<what> listening on ADDRESS`` of this run (waits)."""
        line = re.compile(rf"{re.escape(what)} listening on (\S+)")
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self.log.open("rb") as f:
                f.seek(self._log_start)
                found = line.search(f.read().decode(errors="replace"))
            if found:
                return found.group(1)
            if not self.running:
                raise self._exited_early()
            time.sleep(0.05)
        self.kill()
        raise ProcessFailed(f"{self.name} was not ready within {timeout} s:\n{self.output()}")


class BootstrapProcess(ServiceProcess):
    """``zomehost bootstrap --port 0``: where agents publish and look up each other; with
    ``relay``, also the relay it runs beside it (``--relay-port 0``)."""

    def __init__(self, root: Path, *, name: str = "bootstrap", relay: bool = False) -> None:
        args = ["bootstrap", "--port", "0", *(["--relay-port", "0"] if relay else [])]
        super().__init__(root, args, name=name)
        self.relay = relay
        self.url = ""
        self.relay_address = ""

    def start(self, timeout: float = START_TIMEOUT_S) -> Self:
        self.url = self.relay_address = ""
        self.launch()
        self.url = self.announced("bootstrap service", timeout)
        if self.relay:
            self.relay_address = self.announced("relay", timeout)
        return self


class RelayProcess(ServiceProcess):
    """``zomehost relay --port 0``: a relay for conductors that cannot be dialled."""

    def __init__(self, root: Path, *, name: str = "relay") -> None:
        super().__init__(root, ["relay", "--port", "0"], name=name)
        self.address = ""

    def start(self, timeout: float = START_TIMEOUT_S) -> Self:
        self.address = ""
        self.launch()
        self.address = self.announced("relay", timeout)
        return self
