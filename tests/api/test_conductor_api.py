"""The conductor API against a real ``zomehost run``: the real JS client, the Python client,
``zomehost call --conductor``, and bad input (each a typed error, the conductor still serving).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import stat
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Origin

from zomehost.client import (
    AdminClient,
    AppClient,
    ConductorApiError,
    ConnectionRejected,
    InvalidToken,
    SigningCredentials,
)
from zomehost.core.api_wire import (
    AUTH_FAILED,
    DESERIALIZATION,
    INTERNAL,
    RIBOSOME,
    UNAUTHORIZED,
    ApiError,
    decode_envelope,
    decode_response,
    encode_authenticate,
    encode_request,
    pack,
)
from zomehost.core.hash import ActionHash, CellId
from zomehost.core.zome_call import ZomeCallParams, new_nonce, sign_call

from .conftest import ZOMEHOST, ConductorProc, run_node

pytestmark = pytest.mark.slow

ORIGIN = "zomehost-test"


# -- helpers -------------------------------------------------------------------------------
async def install_enabled(
    admin: AdminClient, app_id: str, *, path: Path | None = None, bundle: bytes | None = None
) -> tuple[dict[str, Any], CellId]:
    agent = await admin.generate_agent_pub_key()
    info = await admin.install_app(
        path=path, bundle=bundle, installed_app_id=app_id, agent_key=agent
    )
    assert info["status"] == {"type": "disabled", "value": {"type": "never_started"}}
    info = await admin.enable_app(app_id)
    assert info["status"] == {"type": "enabled"}
    ((_role, cells),) = info["cell_info"].items()
    return info, CellId.from_wire(cells[0]["value"]["cell_id"])


def signed(
    creds: SigningCredentials,
    cell_id: CellId,
    zome: str,
    fn: str,
    payload: Any = None,
    *,
    expires_in_us: int = 60_000_000,
) -> tuple[bytes, bytes]:
    params = ZomeCallParams(
        creds.provenance,
        cell_id,
        zome,
        fn,
        creds.cap_secret,
        pack(payload),
        new_nonce(),
        time.time_ns() // 1000 + expires_in_us,
    )
    return sign_call(params, creds.key)


async def expect_api_error(kind: str, coro: Any) -> ConductorApiError:
    with pytest.raises(ConductorApiError) as info:
        await coro
    assert info.value.kind == kind, info.value
    return info.value


# -- the real JavaScript client ---------------------------------------------------------------
def test_holochain_client_flow(conductor: ConductorProc, notes_happ: Path) -> None:
    steps = run_node("hc_client_flow.mjs", conductor, notes_happ)
    by_step = {s["step"]: s for s in steps}
    assert by_step["signal"]["payload"]["type"] == "note_created"
    assert by_step["call_zome_list_notes"]["notes"][0]["title"] == "hi"


def test_holochain_client_errors(conductor: ConductorProc, notes_happ: Path) -> None:
    steps = run_node("hc_client_errors.mjs", conductor, notes_happ)
    kinds = {s["step"]: s.get("error_name") for s in steps}
    assert kinds["admin_unknown_request"] == "deserialization"
    assert kinds["call_zome_bad_signature"] == "zome_call_authentication_failed"
    assert kinds["call_zome_replayed_nonce"] == "zome_call_unauthorized"
    assert kinds["app_connect_bad_token"] == "InvalidTokenError"


# -- the Python client ---------------------------------------------------------------------
def test_python_client_flow(conductor: ConductorProc, notes_happ: Path) -> None:
    async def main() -> None:
        async with await AdminClient.connect(conductor.admin_url, origin=ORIGIN) as admin:
            info, cell_id = await install_enabled(admin, "notes-py", bundle=notes_happ.read_bytes())
            assert cell_id in await admin.list_cell_ids()
            assert cell_id.dna_hash in await admin.list_dnas()
            port = await admin.attach_app_interface(
                allowed_origins=ORIGIN, installed_app_id="notes-py"
            )
            assert {"port": port, "allowed_origins": ORIGIN, "installed_app_id": "notes-py"} in (
                await admin.list_app_interfaces()
            )
            token = await admin.issue_app_authentication_token("notes-py")
            creds = await admin.authorize_signing_credentials(cell_id)
            grants = await admin.list_capability_grants("notes-py")
            [(gcell, infos)] = grants
            assert CellId.from_wire(gcell) == cell_id
            [g] = infos
            assert g["cap_grant"]["access"] == {
                "access_type": "assigned",
                "assignees": [creds.provenance.raw],
            }
            assert g["revoked_at"] is None

            url = f"ws://127.0.0.1:{port}"
            async with await AppClient.connect(url, token, origin=ORIGIN) as app:
                assert app.installed_app_id == "notes-py"
                assert app.agent_pub_key.raw == info["agent_pub_key"]
                seen: list[Any] = []
                app.on_signal(seen.append)
                note = {"title": "py", "body": "through the conductor"}
                h = await app.call_zome("notes", "create_note", note, role_name="notes")
                assert isinstance(h, bytes) and ActionHash(h)
                assert len(seen) == 1  # the call's signal arrived before its response
                sig = await app.next_signal(5)
                assert sig.cell_id == cell_id and sig.zome_name == "notes"
                assert sig.payload["type"] == "note_created" and sig.payload["hash"] == h
                assert seen == [sig]
                notes = await app.call_zome("notes", "list_notes", None, role_name="notes")
                assert [(n["hash"], n["title"], n["body"]) for n in notes] == [
                    (h, "py", "through the conductor")
                ]
                await admin.disable_app("notes-py")  # the connection's app check sees it
                off = await expect_api_error(
                    INTERNAL, app.call_zome("notes", "list_notes", role_name="notes")
                )
                assert "is disabled" in off.message
                disabled = {a["installed_app_id"]: a for a in await admin.list_apps("disabled")}
                assert disabled["notes-py"]["status"] == {
                    "type": "disabled",
                    "value": {"type": "user"},
                }
                await admin.enable_app("notes-py")
                assert len(await app.call_zome("notes", "list_notes", role_name="notes")) == 1
                await admin.uninstall_app("notes-py")
                gone = await expect_api_error(
                    INTERNAL, app.call_zome("notes", "list_notes", role_name="notes")
                )
                assert "no longer installed" in gone.message

    asyncio.run(main())


def test_cli_call_through_conductor(conductor: ConductorProc, notes_happ: Path) -> None:
    async def setup() -> None:
        async with await AdminClient.connect(conductor.admin_url) as admin:
            await install_enabled(admin, "notes-cli", path=notes_happ)
            port = await admin.attach_app_interface(allowed_origins=ORIGIN)
            token = await admin.issue_app_authentication_token("notes-cli")
            async with await AppClient.connect(
                f"ws://127.0.0.1:{port}", token, origin=ORIGIN
            ) as app:
                for seed in ("room-a", "room-b"):
                    await app.create_clone_cell("notes", network_seed=seed)
                await app.disable_clone_cell("notes.1")

    asyncio.run(setup())

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(ZOMEHOST), "--home", str(conductor.home), *args],
            env=ConductorProc.env(),
            capture_output=True,
            text=True,
            timeout=60,
        )

    note = json.dumps({"title": "from the cli", "body": "signed"})
    r = cli("call", "notes-cli", "notes", "notes", "create_note", note, "--conductor",
            conductor.admin_url)  # fmt: skip
    assert r.returncode == 0, r.stderr
    created = json.loads(r.stdout)
    assert created.startswith("uhCkk")
    creds_file = conductor.home / "cli-signing-credentials.json"
    assert stat.S_IMODE(creds_file.stat().st_mode) == 0o600
    # `--conductor auto` finds the running conductor through run.json; credentials are reused.
    r = cli("call", "notes-cli", "notes", "notes", "list_notes", "--conductor", "auto")
    assert r.returncode == 0, r.stderr
    assert [(n["hash"], n["title"]) for n in json.loads(r.stdout)] == [(created, "from the cli")]
    # --as: signed by the app's own agent key from the keystore (the author capability).
    r = cli("call", "notes-cli", "notes", "notes", "list_notes", "--conductor", "auto",
            "--as", "notes-cli")  # fmt: skip
    assert r.returncode == 0 and json.loads(r.stdout)[0]["hash"] == created, r.stderr
    r = cli("call", "notes-cli", "notes", "notes", "no_such_fn", "--conductor", "auto")
    assert r.returncode == 1 and "no_such_fn" in r.stderr
    # a clone by its clone id: its own chain
    clone_note = json.dumps({"title": "in the clone", "body": "room-a"})
    r = cli("call", "notes-cli", "notes.0", "notes", "create_note", clone_note, "--conductor",
            "auto")  # fmt: skip
    assert r.returncode == 0, r.stderr
    in_clone = json.loads(r.stdout)
    r = cli("call", "notes-cli", "notes.0", "notes", "list_notes", "--conductor", "auto")
    assert [n["hash"] for n in json.loads(r.stdout)] == [in_clone], r.stderr
    r = cli("call", "notes-cli", "notes", "notes", "list_notes", "--conductor", "auto")
    assert [n["hash"] for n in json.loads(r.stdout)] == [created], r.stderr
    r = cli("call", "notes-cli", "notes.1", "notes", "list_notes", "--conductor", "auto")
    assert r.returncode == 1 and 'clone "notes.1" of app "notes-cli" is disabled' in r.stderr
    r = cli("call", "notes-cli", "notes.7", "notes", "list_notes", "--conductor", "auto")
    assert r.returncode == 1 and "clones: notes.0, notes.1" in r.stderr, r.stderr

    async def grants() -> list[int]:
        async with await AdminClient.connect(conductor.admin_url) as admin:
            return [len(infos) for _, infos in await admin.list_capability_grants("notes-cli")]

    assert sorted(asyncio.run(grants())) == [0, 1, 1]  # per cell called: one, cached, reused


# -- bad input -------------------------------------------------------------------------------
def test_bad_input_is_typed_and_isolated(
    conductor: ConductorProc, notes_happ: Path, probe_happ: Path
) -> None:
    async def main() -> None:
        admin = await AdminClient.connect(conductor.admin_url, origin=ORIGIN)
        _, cell_a = await install_enabled(admin, "bad-a", path=notes_happ)
        _, cell_b = await install_enabled(admin, "bad-b", path=probe_happ)
        port = await admin.attach_app_interface(allowed_origins=ORIGIN)
        bound = await admin.attach_app_interface(allowed_origins=ORIGIN, installed_app_id="bad-a")
        app_url, bound_url = f"ws://127.0.0.1:{port}", f"ws://127.0.0.1:{bound}"
        creds_a = await admin.authorize_signing_credentials(cell_a)
        creds_b = await admin.authorize_signing_credentials(cell_b)
        token = await admin.issue_app_authentication_token("bad-a")
        healthy = await AppClient.connect(app_url, token, origin=ORIGIN)
        probe = await AppClient.connect(
            app_url, await admin.issue_app_authentication_token("bad-b"), origin=ORIGIN
        )

        async def still_serving() -> None:
            await healthy.call_zome("notes", "list_notes", role_name="notes")
            assert "bad-a" in {a["installed_app_id"] for a in await admin.list_apps()}

        # Garbage frames are dropped; the connection stays usable.
        async with ws_connect(conductor.admin_url, origin=Origin(ORIGIN), proxy=None) as raw:
            await raw.send(b"\xc1 not msgpack")
            await raw.send("a text frame")
            await raw.send(pack([1, 2, 3]))
            await raw.send(pack({"type": "request", "id": "x", "data": b""}))
            await raw.send(pack({"type": "request", "id": 5, "data": b"\xc1"}))
            env = decode_envelope(await raw.recv())
            assert env is not None and env.id == 5
            with pytest.raises(ApiError) as bad_inner:
                decode_response(env.data)
            assert bad_inner.value.kind == DESERIALIZATION
            await raw.send(encode_request(6, "list_dnas"))
            env = decode_envelope(await raw.recv())
            assert env is not None and env.id == 6
            assert cell_a.dna_hash.raw in decode_response(env.data)
        await still_serving()

        # Unknown and unsupported admin requests.
        await expect_api_error(DESERIALIZATION, admin.request("no_such_request", {"x": 1}))
        await expect_api_error(INTERNAL, admin.request("dump_conductor_state", None))
        await expect_api_error(DESERIALIZATION, admin.request("dump_state", {"cell_id": []}))
        await expect_api_error(DESERIALIZATION, admin.request("enable_app", {"nope": 1}))
        await expect_api_error(INTERNAL, admin.enable_app("no-such-app"))
        await still_serving()

        # An oversized message closes that connection only (1009: message too big). No
        # graceful close from this side afterwards: the server stopped reading the 17 MiB,
        # so the close handshake could only time out.
        raw = await ws_connect(app_url, origin=Origin(ORIGIN), proxy=None, max_size=None)
        try:
            with pytest.raises(ConnectionClosed) as closed:
                await raw.send(b"\x00" * (17 * 1024 * 1024))
                await raw.recv()
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
        finally:
            if not raw.transport.is_closing():
                raw.transport.abort()
        await still_serving()

        # A request before authenticate: closed with 1008, nothing answered.
        async with ws_connect(app_url, origin=Origin(ORIGIN), proxy=None) as raw:
            await raw.send(encode_request(0, "app_info"))
            with pytest.raises(ConnectionClosed) as closed:
                await raw.recv()
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
        await still_serving()

        # Tokens: bogus, expired, reused, or for another app on a bound interface.
        with pytest.raises(InvalidToken):
            await AppClient.connect(app_url, os.urandom(64), origin=ORIGIN)
        short = await admin.issue_app_authentication_token("bad-a", expiry_seconds=1)
        once = await admin.issue_app_authentication_token("bad-a")
        other = await admin.issue_app_authentication_token("bad-b")
        await (await AppClient.connect(app_url, once, origin=ORIGIN)).close()
        with pytest.raises(InvalidToken):
            await AppClient.connect(app_url, once, origin=ORIGIN)
        with pytest.raises(InvalidToken):
            await AppClient.connect(bound_url, other, origin=ORIGIN)
        revoked = await admin.issue_app_authentication_token("bad-a", single_use=False)
        await admin.revoke_app_authentication_token(revoked)
        with pytest.raises(InvalidToken):
            await AppClient.connect(app_url, revoked, origin=ORIGIN)
        await asyncio.sleep(1.1)
        with pytest.raises(InvalidToken):
            await AppClient.connect(app_url, short, origin=ORIGIN)
        await still_serving()

        # Origins.
        with pytest.raises(ConnectionRejected, match="400"):
            await AdminClient.connect(conductor.admin_url, origin=None)
        with pytest.raises(ConnectionRejected, match="400"):
            await AppClient.connect(app_url, token, origin="http://evil.example")

        # Signed calls: bad signature, replay, expired, too far ahead, wrong app's cell.
        data, sig = signed(creds_a, cell_a, "notes", "list_notes")
        tampered = bytes([sig[0] ^ 0xFF]) + sig[1:]
        await expect_api_error(AUTH_FAILED, healthy.call_zome_signed(data, tampered))
        other_bytes, _ = signed(creds_a, cell_a, "notes", "list_notes")
        await expect_api_error(AUTH_FAILED, healthy.call_zome_signed(other_bytes, sig))
        assert await healthy.call_zome_signed(data, sig) == await healthy.call_zome(
            "notes", "list_notes", role_name="notes"
        )
        err = await expect_api_error(UNAUTHORIZED, healthy.call_zome_signed(data, sig))
        assert "Duplicate" in err.message
        err = await expect_api_error(
            UNAUTHORIZED,
            healthy.call_zome_signed(
                *signed(creds_a, cell_a, "notes", "list_notes", expires_in_us=-1)
            ),
        )
        assert "Expired" in err.message
        err = await expect_api_error(
            UNAUTHORIZED,
            healthy.call_zome_signed(
                *signed(creds_a, cell_a, "notes", "list_notes", expires_in_us=3600 * 10**6)
            ),
        )
        assert "Future" in err.message
        await expect_api_error(
            INTERNAL, healthy.call_zome("probe", "echo", "x", cell_id=cell_b, credentials=creds_b)
        )
        await expect_api_error(
            UNAUTHORIZED,
            healthy.call_zome("notes", "list_notes", cell_id=cell_a, credentials=creds_b),
        )
        await expect_api_error(RIBOSOME, healthy.call_zome("notes", "nope", role_name="notes"))
        await expect_api_error(
            DESERIALIZATION, healthy.request("call_zome", {"bytes": "text", "signature": b""})
        )
        await expect_api_error(
            INTERNAL, healthy.request("call_zome", {"bytes": b"\xc1", "signature": bytes(64)})
        )
        await expect_api_error(DESERIALIZATION, healthy.request("no_such_app_request"))
        await still_serving()

        # Each connection sees only its own app's signals.
        await probe.call_zome("probe", "signal", {"to": "b"}, role_name="main")
        await healthy.call_zome("notes", "create_note", {"title": "s", "body": "a"},
                                role_name="notes")  # fmt: skip
        sig_b = await probe.next_signal(5)
        sig_a = await healthy.next_signal(5)
        assert (sig_b.cell_id, sig_b.payload) == (cell_b, {"to": "b"})
        assert sig_a.cell_id == cell_a and sig_a.payload["title"] == "s"
        await asyncio.sleep(0.2)
        with pytest.raises(TimeoutError):
            await probe.next_signal(0.1)
        with pytest.raises(TimeoutError):
            await healthy.next_signal(0.1)

        await healthy.close()
        await probe.close()
        await admin.close()

    asyncio.run(main())


def test_slow_client_does_not_stall_calls(conductor: ConductorProc, probe_happ: Path) -> None:
    """A client that never reads gets its signals queued (then dropped); calls never wait."""

    async def main() -> None:
        async with await AdminClient.connect(conductor.admin_url) as admin:
            _, cell = await install_enabled(admin, "slow", path=probe_happ)
            port = await admin.attach_app_interface()
            await admin.authorize_signing_credentials(cell)
            url = f"ws://127.0.0.1:{port}"
            stalled = await ws_connect(url, origin=Origin(ORIGIN), proxy=None, max_queue=1)
            await stalled.send(
                encode_authenticate(await admin.issue_app_authentication_token("slow"))
            )
            token = await admin.issue_app_authentication_token("slow")
            async with await AppClient.connect(url, token) as app:
                pad = "x" * 200_000
                slowest = 0.0
                start = time.monotonic()
                for i in range(120):
                    t = time.monotonic()
                    await app.call_zome("probe", "signal", {"i": i, "pad": pad}, role_name="main")
                    slowest = max(slowest, time.monotonic() - t)
                    assert (await app.next_signal(5)).payload["i"] == i
                assert slowest < 2.0, slowest
                assert time.monotonic() - start < 30
            stalled.transport.abort()

    asyncio.run(main())


# -- lifecycle -------------------------------------------------------------------------------
def test_shutdown_restart_and_single_instance(
    fresh_conductor: ConductorProc, notes_happ: Path
) -> None:
    proc = fresh_conductor.start()
    home = proc.home

    async def setup() -> tuple[int, CellId]:
        async with await AdminClient.connect(proc.admin_url) as admin:
            _, cell = await install_enabled(admin, "notes", path=notes_happ)
            port = await admin.attach_app_interface(allowed_origins=ORIGIN)
            await admin.authorize_signing_credentials(cell)
            token = await admin.issue_app_authentication_token("notes")
            async with await AppClient.connect(
                f"ws://127.0.0.1:{port}", token, origin=ORIGIN
            ) as app:
                for i in range(3):
                    note = {"title": f"n{i}", "body": "kept"}
                    await app.call_zome("notes", "create_note", note, role_name="notes")
            return port, cell

    port, _cell = asyncio.run(setup())

    # A second conductor on the same home is refused, clearly.
    r = subprocess.run(
        [str(ZOMEHOST), "--home", str(home), "run", "--admin-port", "0"],
        env=ConductorProc.env(),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert r.returncode == 1, r.stdout + r.stderr
    assert "is running on" in r.stderr and str(proc.proc.pid) in r.stderr  # type: ignore[union-attr]
    hint = "stop it first (this command works on a stopped home; the running conductor"
    assert f"{hint} takes admin calls at {proc.admin_url})" in r.stderr

    assert proc.stop(signal.SIGTERM) == 0, proc.output()
    assert "conductor stopped" in proc.output()
    assert not (home / "run.json").exists()
    r = subprocess.run(
        [str(ZOMEHOST), "--home", str(home), "chain", "verify", "notes", "notes"],
        env=ConductorProc.env(),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert r.returncode == 0 and "intact" in r.stdout, r.stderr

    # Restart: the app interface is back on its port, grants and notes are kept.
    proc.start()

    async def after() -> None:
        async with await AdminClient.connect(proc.admin_url) as admin:
            assert [i["port"] for i in await admin.list_app_interfaces()] == [port]
            token = await admin.issue_app_authentication_token("notes")
        async with await AppClient.connect(f"ws://127.0.0.1:{port}", token, origin=ORIGIN) as app:
            notes = await app.call_zome("notes", "list_notes", role_name="notes")
            assert sorted(n["title"] for n in notes) == ["n0", "n1", "n2"]

    asyncio.run(after())
    assert proc.stop(signal.SIGINT) == 0, proc.output()


@pytest.mark.parametrize(
    ("asked", "runs"), [(None, "native"), ("fast", "fast"), ("public", "public")]
)
def test_run_json_names_the_wasm_boundary_the_calls_run_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, asked: str | None, runs: str
) -> None:
    """A fallback from the native boundary is said once in the log; run.json says what runs,
    for scripts and the bench (which records it beside its figures)."""
    from zomehost.testing.process import ConductorProcess, make_home

    if asked is not None:
        monkeypatch.setenv("ZOMEHOST_BOUNDARY", asked)
    home = make_home(tmp_path / "home")
    proc = ConductorProcess(home, tmp_path / "run.log", keep_env=("ZOMEHOST_BOUNDARY",)).start()
    try:
        assert proc.endpoints["wasm_boundary"] == runs
        doc = json.loads((home / "run.json").read_text())
        assert doc["wasm_boundary"] == runs and doc["admin_port"] == proc.admin_port
    finally:
        proc.stop()
