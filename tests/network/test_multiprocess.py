"""Two conductors in separate processes, talking only through the encrypted peer transport.

Real ``zomehost run`` processes (and a real ``zomehost bootstrap`` process for discovery);
the test drives them through their admin and app interfaces with the Python client. Conductor
B advertises the address of a recording TCP relay, so every byte between A and B passes
through the test, which checks that no plaintext is on the wire.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from nacl.signing import SigningKey

from zomehost.conductor.conductor import Conductor
from zomehost.conductor.home import Home
from zomehost.core.clock import now_micros
from zomehost.core.codec import pack, unpack
from zomehost.core.hash import AgentPubKey, CellId
from zomehost.core.zome_call import ZomeCallParams, new_nonce, sign_call
from zomehost.network import protocol
from zomehost.network.transport import Transport

from .conftest import PASSPHRASE, make_home
from .relay import RelayThread

pytestmark = pytest.mark.slow

client = pytest.importorskip("zomehost.client")
MARKER = "SECRET-PLAINTEXT-31337"
ZOMEHOST = Path(sys.executable).parent / "zomehost"


@dataclass
class Proc:
    """One ``zomehost`` subprocess on a home."""

    name: str
    home: Path
    args: list[str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    endpoints: dict[str, Any] = field(default_factory=dict)
    app_port: int | None = None

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ZOMEHOST_")}
        env["ZOMEHOST_PASSPHRASE"] = PASSPHRASE
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [str(ZOMEHOST), "--home", str(self.home), *self.args],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        self.app_port = None

    def wait_ready(
        self, keys: tuple[str, ...] = ("admin_port", "network"), timeout: float = 30
    ) -> None:
        assert self.proc is not None
        end = time.monotonic() + timeout
        run_json = self.home / "run.json"
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.name} exited: {self.log.read_text()[-3000:]}")
            try:
                doc = json.loads(run_json.read_text())
            except (FileNotFoundError, json.JSONDecodeError):
                doc = {}
            if doc.get("pid") == self.proc.pid and all(k in doc for k in keys):
                self.endpoints = doc
                return
            time.sleep(0.05)
        raise AssertionError(f"{self.name} not ready: {self.log.read_text()[-3000:]}")

    @property
    def admin_url(self) -> str:
        return f"ws://127.0.0.1:{self.endpoints['admin_port']}"

    @property
    def network_address(self) -> str:
        """Where the node really listens (its agent infos may advertise another address)."""
        return str(self.endpoints["network"]["listen"])

    @property
    def transport_id(self) -> bytes:
        return bytes.fromhex(self.endpoints["network"]["transport_id"])

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(5)


def write_network(home: Path, network: dict[str, Any]) -> None:
    cfg = home / "conductor-config.yaml"
    doc = yaml.safe_load(cfg.read_text()) or {}
    doc["network"] = network
    cfg.write_text(yaml.safe_dump(doc))


@dataclass
class Cluster:
    bootstrap_url: str
    relay: RelayThread
    a: Proc
    b: Proc
    cell_a: CellId
    cell_b: CellId
    b_network: dict[str, Any]


@pytest.fixture(scope="module")
def cluster(
    tmp_path_factory: pytest.TempPathFactory, module_cache: Path, probe_bundle: bytes
) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("mp")
    boot = Proc("bootstrap", root, ["bootstrap", "--port", "0"], root / "bootstrap.log")
    boot.start()
    end = time.monotonic() + 20
    url = ""
    while not url:
        text = boot.log.read_text() if boot.log.exists() else ""
        for line in text.splitlines():
            if "listening on " in line:
                url = line.rsplit(" ", 1)[1]
        assert time.monotonic() < end, text
        time.sleep(0.05)

    relay = RelayThread()
    cells = {}
    for name in ("a", "b"):
        home = make_home(root / f"home-{name}", module_cache)
        c = Conductor.open(Home(home.path), PASSPHRASE)
        try:
            cells[name] = c.install_app(probe_bundle, "probe", None, None).cell_id("main")
        finally:
            c.close()
    common = {"bootstrap_url": url, "refresh_interval_s": 0.5, "call_timeout_ms": 15_000}
    b_network = {**common, "advertise": relay.address}  # peers reach B only through the relay
    write_network(root / "home-a", common)
    write_network(root / "home-b", b_network)
    a = Proc("a", root / "home-a", ["run", "--admin-port", "0"], root / "a.log")
    b = Proc("b", root / "home-b", ["run", "--admin-port", "0"], root / "b.log")
    a.start()
    b.start()
    try:
        a.wait_ready()
        b.wait_ready()
        relay.set_target(b.network_address)
        yield Cluster(url, relay, a, b, cells["a"], cells["b"], b_network)
    finally:
        for p in (a, b, boot):
            p.stop()
        relay.close()


async def app_of(proc: Proc) -> tuple[Any, CellId]:
    """An authenticated app client on ``proc`` with signing credentials for its probe cell."""
    admin = await client.AdminClient.connect(proc.admin_url)
    try:
        if proc.app_port is None:
            proc.app_port = await admin.attach_app_interface()
        token = await admin.issue_app_authentication_token("probe")
        app = await client.AppClient.connect(f"ws://127.0.0.1:{proc.app_port}", token)
        cell = app.cell_id("main")
        await admin.authorize_signing_credentials(cell)
    finally:
        await admin.close()
    return app, cell


async def remote(app: Any, agent: AgentPubKey, fn: str, payload: Any = None, **kw: Any) -> Any:
    arg = {"agent": agent.raw, "zome_name": "a", "fn_name": fn, "payload": payload, **kw}
    return await app.call_zome("a", "call_remote_fn", arg, role_name="main")


def ok(res: Any) -> Any:
    assert isinstance(res, dict) and set(res) == {"Ok"}, res
    return unpack(res["Ok"])


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 60))


def test_remote_call_results_across_processes(cluster: Cluster) -> None:
    async def main() -> None:
        app_a, ca = await app_of(cluster.a)
        app_b, cb = await app_of(cluster.b)
        assert ca == cluster.cell_a and cb == cluster.cell_b
        # Unauthorized: B has granted nothing yet.
        res = await remote(app_a, cb.agent, "echo", MARKER)
        assert set(res) == {"Unauthorized"}
        assert res["Unauthorized"]["provenance"] == ca.agent.raw
        # Ok, with a transferable secret covering listed functions.
        secret = await app_b.call_zome("a", "new_secret", None, role_name="main")
        grant = {
            "tag": "friends",
            "access": {"Transferable": {"secret": secret}},
            "functions": {
                "Listed": [["a", "echo"], ["a", "spin"], ["a", "call_remote_fn"], ["a", "caller"]]
            },
        }
        await app_b.call_zome("a", "make_grant", grant, role_name="main")
        t0 = time.monotonic()
        assert ok(await remote(app_a, cb.agent, "echo", MARKER, cap_secret=secret)) == MARKER
        first_ms = (time.monotonic() - t0) * 1000
        t0 = time.monotonic()
        for _ in range(10):
            ok(await remote(app_a, cb.agent, "echo", MARKER, cap_secret=secret))
        rtt_ms = (time.monotonic() - t0) * 100
        print(
            f"\nfirst remote call {first_ms:.1f} ms, then {rtt_ms:.1f} ms per call "
            "(client → A → relay → B → A → client)"
        )
        # A wrong secret, and a function the grant does not list.
        bad = await remote(app_a, cb.agent, "echo", "x", cap_secret=os.urandom(64))
        assert set(bad) == {"Unauthorized"}
        assert set(await remote(app_a, cb.agent, "whoami", None, cap_secret=secret)) == {
            "Unauthorized"
        }
        # NetworkError, promptly, for an agent nobody knows.
        t0 = time.monotonic()
        stranger = AgentPubKey.from_core(os.urandom(32))
        res = await remote(app_a, stranger, "echo", "x")
        assert "unknown" in res["NetworkError"]
        assert time.monotonic() - t0 < 3
        # Nested A -> B -> A (A grants B in turn).
        await app_a.call_zome(
            "a",
            "make_grant",
            {"tag": "open", "access": "Unrestricted", "functions": "All"},
            role_name="main",
        )
        inner = {"agent": ca.agent.raw, "zome_name": "b", "fn_name": "echo", "payload": MARKER}
        nested = await asyncio.gather(
            *(remote(app_a, cb.agent, "call_remote_fn", inner, cap_secret=secret) for _ in range(8))
        )
        for res in nested:
            assert ok(ok(res)) == MARKER
        # The per-call timeout: B spins, A gives up after 1 s with a NetworkError.
        t0 = time.monotonic()
        res = await remote(app_a, cb.agent, "spin", None, cap_secret=secret, timeout_ms=1000)
        assert "timed out" in res.get("NetworkError", "") or "Timeout" in res.get("CallError", "")
        assert time.monotonic() - t0 < 4
        await app_a.close()
        await app_b.close()

    run(main())
    # Everything between A and B went through the relay, encrypted.
    wire = cluster.relay.recorded()
    assert len(wire) > 2000
    assert MARKER.encode() not in wire
    for plain in (b"echo", b"call_remote_fn", b"friends", b"provenance", b"Unauthorized"):
        assert plain not in wire, plain


def test_remote_signal_reaches_the_recipients_ui(cluster: Cluster) -> None:
    async def main() -> None:
        app_a, _ = await app_of(cluster.a)
        app_b, cb = await app_of(cluster.b)
        await app_b.call_zome(
            "a",
            "make_grant",
            {
                "tag": "signals",
                "access": "Unrestricted",
                "functions": {"Listed": [["a", "recv_remote_signal"]]},
            },
            role_name="main",
        )
        value = {"note": MARKER, "n": 7}
        await app_a.call_zome(
            "a", "remote_signal", {"agents": [cb.agent.raw], "value": value}, role_name="main"
        )
        end = time.monotonic() + 10
        while True:
            sig = await app_b.next_signal(max(0.1, end - time.monotonic()))
            if sig.payload == value:
                break
        assert sig.cell_id == cb and sig.zome_name == "a"
        await app_a.close()
        await app_b.close()

    run(main())
    assert MARKER.encode() not in cluster.relay.recorded()


def test_forged_and_replayed_calls_across_processes(cluster: Cluster) -> None:
    """The test process as a third peer: it connects to B and sends signed calls by hand."""

    async def main() -> None:
        rogue = Transport(
            SigningKey.generate(),
            on_request=lambda c, r: asyncio.sleep(0),
            on_message=lambda c, m: asyncio.sleep(0),
        )
        # The wrong identity: B's address, but expecting A's transport key.
        from zomehost.network.errors import PeerUnreachable

        with pytest.raises(PeerUnreachable, match="identity"):
            await rogue.connect(cluster.b.network_address, cluster.a.transport_id)
        conn = await rogue.connect(cluster.b.network_address, cluster.b.transport_id)
        me = SigningKey.generate()
        agent = AgentPubKey.from_core(bytes(me.verify_key))
        params = ZomeCallParams(
            agent,
            cluster.cell_b,
            "a",
            "echo",
            None,
            pack("x"),
            new_nonce(),
            now_micros() + 60_000_000,
        )
        data, sig = sign_call(params, me)
        body = {"params": data, "signature": sig, "timeout_ms": 5000, "depth": 1}
        first = await conn.request(protocol.OP_CALL, body, 10)
        assert set(first) in ({"Ok"}, {"Unauthorized"})  # depends on B's grants so far
        replay = await conn.request(protocol.OP_CALL, body, 10)
        assert "nonce already used" in replay["AuthenticationFailed"]
        forged = await conn.request(
            protocol.OP_CALL,
            {"params": data, "signature": bytes(SigningKey.generate().sign(data).signature)},
            10,
        )
        assert set(forged) == {"AuthenticationFailed"}
        await rogue.stop()

    run(main())


def test_a_frozen_callee_is_a_network_error_the_calling_zome_handles(cluster: Cluster) -> None:
    """Issue 13.9: a peer that stops answering (SIGSTOP) must not take the caller's whole
    call down with its own deadline: the remote wait ends early enough for the zome to get
    ``NetworkError("… timed out …")`` as a value, even when it asked to wait longer."""

    async def scenario() -> tuple[Any, float]:
        app_a, _ = await app_of(cluster.a)
        app_b, cb = await app_of(cluster.b)
        await app_b.call_zome(
            "a",
            "make_grant",
            {"tag": "frozen", "access": "Unrestricted", "functions": "All"},
            role_name="main",
        )
        await app_b.close()
        assert ok(await remote(app_a, cb.agent, "echo", "warm")) == "warm"  # connected
        assert cluster.b.proc is not None
        pid = cluster.b.proc.pid
        os.kill(pid, signal.SIGSTOP)
        try:
            t0 = time.monotonic()
            res = await remote(app_a, cb.agent, "echo", "are you there", timeout_ms=60_000)
            elapsed = time.monotonic() - t0
        finally:
            os.kill(pid, signal.SIGCONT)
        assert await app_a.call_zome("a", "echo", "alive", role_name="main") == "alive"
        await app_a.close()
        return res, elapsed

    res, elapsed = run(scenario())
    assert set(res) == {"NetworkError"}, res
    assert "timed out" in res["NetworkError"]
    assert elapsed < 10  # inside the calling function's own 10 s deadline


def test_killed_callee_gives_network_error_and_restarted_peer_is_reached(
    cluster: Cluster,
) -> None:
    async def call_spin() -> tuple[Any, float]:
        app_a, _ = await app_of(cluster.a)
        app_b, cb = await app_of(cluster.b)
        await app_b.call_zome(
            "a",
            "make_grant",
            {"tag": "open", "access": "Unrestricted", "functions": "All"},
            role_name="main",
        )
        await app_b.close()
        loop = asyncio.get_running_loop()
        loop.call_later(1.0, cluster.b.kill)
        t0 = time.monotonic()
        res = await remote(app_a, cb.agent, "spin", None, timeout_ms=20_000)
        elapsed = time.monotonic() - t0
        # The caller's conductor keeps serving.
        assert await app_a.call_zome("a", "echo", "alive", role_name="main") == "alive"
        await app_a.close()
        return res, elapsed

    res, elapsed = run(call_spin())
    assert "NetworkError" in res, res
    assert elapsed < 5, elapsed  # the connection dropped: no waiting for the 20 s timeout

    # B comes back on a new port, without the relay: it republishes its agent info to the
    # bootstrap; A's record is stale (the relay now leads nowhere), so A looks B up again.
    relay_dead = cluster.relay
    relay_dead.set_target("127.0.0.1:1")
    b_network = {k: v for k, v in cluster.b_network.items() if k != "advertise"}
    write_network(cluster.b.home, b_network)
    cluster.b.start()
    cluster.b.wait_ready()

    async def after_restart() -> None:
        app_a, _ = await app_of(cluster.a)
        end = time.monotonic() + 10
        while True:
            res = await remote(app_a, cluster.cell_b.agent, "echo", "welcome back")
            if "Ok" in res or time.monotonic() > end:
                break
            await asyncio.sleep(0.3)
        assert ok(res) == "welcome back"
        await app_a.close()

    run(after_restart())
