"""The rest of the conductor API (issue 19) against a real ``zomehost run`` with its network
on: through the real JS client (tests/js/hc_client_more.mjs) and the Python client.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import shutil
import signal
import subprocess
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import nacl.signing
import pytest

from conftest import AppBuilder
from zomehost.client import AdminClient, AppClient, ConductorApiError
from zomehost.conductor.packing import pack_app_dir
from zomehost.core.api_wire import INTERNAL, RIBOSOME
from zomehost.core.bundle import Bundle
from zomehost.core.codec import pack, unpack
from zomehost.core.hash import CellId, DnaHash
from zomehost.network.agent_info import AgentInfo

from .conftest import ZOMEHOST, ConductorProc, api_home, run_node

pytestmark = pytest.mark.slow

ORIGIN = "zomehost-test"
PEER_URL = "127.0.0.1:9"


@pytest.fixture
def net_conductor(tmp_path: Path, module_cache: Path) -> Iterator[ConductorProc]:
    home = api_home(tmp_path / "home", module_cache, network=True)
    proc = ConductorProc(home, tmp_path / "conductor.log").start()
    yield proc
    assert proc.stop() == 0, proc.output()


@pytest.fixture(scope="module")
def deferred_happ(notes_happ: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The notes app, its manifest allowing deferred membrane proofs."""
    bundle = Bundle.decode(notes_happ.read_bytes())
    manifest = {**bundle.manifest, "allow_deferred_memproofs": True}
    out = tmp_path_factory.mktemp("deferred") / "notes-deferred.happ"
    out.write_bytes(Bundle(manifest, bundle.resources).encode())
    return out


@pytest.fixture(scope="module")
def notes_wasm(notes_happ: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The notes zome's wasm, out of the packed app."""
    happ = Bundle.decode(notes_happ.read_bytes())
    (dna_blob,) = happ.resources.values()
    (wasm,) = Bundle.decode(dna_blob).resources.values()
    out = tmp_path_factory.mktemp("wasm") / "notes.wasm"
    out.write_bytes(wasm)
    return out


def forged(text: str) -> str:
    """``text`` with one bit of its signature flipped."""
    doc = unpack(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    sig = bytearray(doc["signature"])
    sig[0] ^= 1
    return base64.urlsafe_b64encode(pack({**doc, "signature": bytes(sig)})).decode()


def signed_peer_info() -> str:
    """An agent info signed by an agent of another conductor, as text."""
    return AgentInfo.create(
        nacl.signing.SigningKey.generate(),
        DnaHash.of_content(b"a dna elsewhere"),
        PEER_URL,
        os.urandom(32),
    ).to_text()


def test_holochain_client_more(
    net_conductor: ConductorProc,
    notes_happ: Path,
    deferred_happ: Path,
    notes_wasm: Path,
    wasm_paths: dict[str, Path],
) -> None:
    steps = run_node(
        "hc_client_more.mjs",
        net_conductor,
        notes_happ,
        DEFERRED_HAPP_PATH=str(deferred_happ),
        NOTES_WASM=str(notes_wasm),
        PROBE_WASM=str(wasm_paths["probe"]),
        EXTRA_AGENT_INFO=signed_peer_info(),
        EXTRA_AGENT_URL=PEER_URL,
    )
    done = {s["step"] for s in steps}
    for step in (
        "dump_state",
        "dump_full_state",
        "get_dna_definition",
        "storage_info",
        "agent_info",
        "add_agent_info",
        "peer_meta_info",
        "dump_network_stats",
        "dump_network_metrics",
        "app_agent_info",
        "app_peer_meta_info",
        "app_dump_network_stats",
        "app_dump_network_metrics",
        "create_clone_cell",
        "enable_clone_cell",
        "disable_clone_cell",
        "delete_clone_cell",
        "update_coordinators",
        "provide_memproofs",
        "app_enable_app",
        "revoke_agent_key",
        "countersigning",
    ):
        assert step in done, step


def test_agent_infos_without_a_network(conductor: ConductorProc) -> None:
    """No peer service: added infos are verified and listed; the stats show no transport."""

    async def run() -> None:
        async with await AdminClient.connect(conductor.admin_url) as admin:
            await expect(INTERNAL, admin.add_agent_info([forged(signed_peer_info())]))
            await admin.add_agent_info([signed_peer_info()])
            (text,) = await admin.agent_info()
            assert json.loads(json.loads(text)["agentInfo"])["url"] == PEER_URL
            assert len(await admin.peer_meta_info(PEER_URL)) == 1
            stats = await admin.dump_network_stats()
            assert stats["transport_stats"]["peer_urls"] == []

    asyncio.run(run())


async def published(admin: AdminClient, cell: CellId) -> dict[str, Any]:
    """The cell's own agent info, once the peer service signed it (it does so within its
    refresh interval of a cell starting; the wait is bounded, not measured)."""
    for _ in range(200):
        for text in await admin.agent_info([cell.dna_hash]):
            info: dict[str, Any] = json.loads(json.loads(text)["agentInfo"])
            if info["agent"] == str(cell.agent):
                return info
        await asyncio.sleep(0.05)
    raise AssertionError(f"no agent info published for {cell}")


async def expect(kind: str, coro: Any) -> ConductorApiError:
    with pytest.raises(ConductorApiError) as info:
        await coro
    assert info.value.kind == kind, info.value
    return info.value


def test_python_client_more(
    net_conductor: ConductorProc,
    notes_happ: Path,
    deferred_happ: Path,
    notes_wasm: Path,
    wasm_paths: dict[str, Path],
) -> None:
    asyncio.run(
        _python_client_more(net_conductor, notes_happ, deferred_happ, notes_wasm, wasm_paths)
    )


async def _python_client_more(
    proc: ConductorProc,
    notes_happ: Path,
    deferred_happ: Path,
    notes_wasm: Path,
    wasm_paths: dict[str, Path],
) -> None:
    async with await AdminClient.connect(proc.admin_url) as admin:
        info = await admin.install_app(path=notes_happ, installed_app_id="py-more")
        await admin.enable_app("py-more")
        cell = CellId.from_wire(info["cell_info"]["notes"][0]["value"]["cell_id"])
        port = await admin.attach_app_interface(allowed_origins="*")
        token = await admin.issue_app_authentication_token("py-more", single_use=False)
        await admin.authorize_signing_credentials(cell)
        async with await AppClient.connect(f"ws://127.0.0.1:{port}", token) as app:
            await app.call_zome(
                "notes", "create_note", {"title": "t", "body": "b"}, role_name="notes"
            )

            # state views
            dump, summary = json.loads(await admin.dump_state(cell))
            assert [r["action"]["type"] for r in dump["source_chain_dump"]["records"]][:3] == [
                "Dna",
                "AgentValidationPkg",
                "Create",
            ]
            assert "records" in summary
            full = await admin.dump_full_state(cell)
            assert len(full["source_chain_dump"]["records"]) == len(
                dump["source_chain_dump"]["records"]
            )
            definition = await admin.get_dna_definition(cell)
            assert [z[0] for z in definition["coordinator_zomes"]] == ["notes"]
            storage = await admin.storage_info()
            assert any("py-more" in b["value"]["used_by"] for b in storage["blobs"])
            await expect(INTERNAL, admin.dump_state(CellId(DnaHash.of_content(b"x"), cell.agent)))

            # network views: our own signed agent info, a peer's added, a bad one refused
            ours = await published(admin, cell)
            assert ours["agent"] == str(cell.agent)
            await expect(INTERNAL, admin.add_agent_info(["{}"]))
            known = len(await admin.agent_info())
            genuine = signed_peer_info()
            await expect(INTERNAL, admin.add_agent_info([genuine, forged(signed_peer_info())]))
            assert len(await admin.agent_info()) == known  # one bad record: none kept
            await admin.add_agent_info([genuine])
            meta = await admin.peer_meta_info(PEER_URL)
            assert len(meta) == 1
            stats = await admin.dump_network_stats()
            assert stats["transport_stats"]["backend"] == "zomehost-noise"
            metrics = await admin.dump_network_metrics()
            assert str(cell.dna_hash) in metrics
            assert len(await app.agent_info()) >= 1
            assert await app.peer_meta_info(PEER_URL) == {}
            assert (await app.dump_network_stats())["transport_stats"]["peer_urls"]
            assert list(await app.dump_network_metrics()) == [str(cell.dna_hash)]

            # clone cells
            clone = await app.create_clone_cell("notes", network_seed="py-room", name="room")
            assert clone["clone_id"] == "notes.0" and clone["enabled"] is True
            clone_cell = CellId.from_wire(clone["cell_id"])
            # another app's connection reaches none of this app's clones
            await admin.install_app(path=notes_happ, installed_app_id="py-other")
            await admin.enable_app("py-other")
            other_token = await admin.issue_app_authentication_token("py-other")
            async with await AppClient.connect(f"ws://127.0.0.1:{port}", other_token) as other:
                await expect(INTERNAL, other.disable_clone_cell("notes.0"))
                await expect(INTERNAL, other.disable_clone_cell(clone_cell.dna_hash))
            await admin.authorize_signing_credentials(clone_cell)
            assert await app.call_zome("notes", "list_notes", cell_id=clone_cell) == []
            # this connection was opened before the clone existed: it gets its signals too
            note = {"title": "in the clone", "body": "b"}
            await app.call_zome("notes", "create_note", note, cell_id=clone_cell)
            while (await app.next_signal(timeout=10)).cell_id != clone_cell:
                pass
            await app.disable_clone_cell("notes.0")
            await expect(INTERNAL, admin.delete_clone_cell("py-more", "notes.1"))
            again = await app.enable_clone_cell(clone_cell.dna_hash)
            assert again["enabled"] is True
            await expect(INTERNAL, admin.delete_clone_cell("py-more", "notes.0"))
            await app.disable_clone_cell(clone_cell.dna_hash)
            await admin.delete_clone_cell("py-more", "notes.0")
            assert [
                c["type"] for c in (await app.fetch_app_info() or {})["cell_info"]["notes"]
            ] == ["provisioned"]

            # coordinator updates: probe code in, notes code back, the chain untouched
            await admin.update_coordinators(cell, {"notes": wasm_paths["probe"].read_bytes()})
            assert await app.call_zome("notes", "echo", "x", role_name="notes") == "x"
            await expect(RIBOSOME, app.call_zome("notes", "list_notes", role_name="notes"))
            packed = notes_wasm.parent / "notes-coordinators.bundle"
            packed.write_bytes(
                Bundle(
                    {"zomes": [{"name": "notes", "path": "n.wasm"}]},
                    {"n.wasm": notes_wasm.read_bytes()},
                ).encode()
            )
            await admin.update_coordinators(cell, path=str(packed))
            notes = await app.call_zome("notes", "list_notes", role_name="notes")
            assert [n["title"] for n in notes] == ["t"]

            # agent key revocation: reads work, writes are refused
            assert await admin.revoke_agent_key(cell.agent, "py-more") == []
            error = await expect(
                INTERNAL,
                app.call_zome(
                    "notes", "create_note", {"title": "x", "body": "y"}, role_name="notes"
                ),
            )
            assert "revoked" in error.message
            await expect(INTERNAL, admin.authorize_signing_credentials(cell))  # grants too
            assert len(await app.call_zome("notes", "list_notes", role_name="notes")) == 1

        # deferred membrane proofs
        d = await admin.install_app(path=deferred_happ, installed_app_id="py-deferred")
        assert d["status"] == {"type": "awaiting_memproofs"}
        dtoken = await admin.issue_app_authentication_token("py-deferred", single_use=False)
        async with await AppClient.connect(f"ws://127.0.0.1:{port}", dtoken) as dapp:
            await expect(INTERNAL, dapp.enable_app())
            await expect(INTERNAL, dapp.provide_memproofs({"nope": b"x"}))
            await dapp.provide_memproofs({"notes": b"proof"})
            await dapp.enable_app()
            info2 = await dapp.fetch_app_info()
            assert info2 is not None and info2["status"] == {"type": "enabled"}


# -- the CLI: update-coordinators and the dev loop ---------------------------------------------
def zomehost_cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ZOMEHOST), "--home", str(home), *args],
        env=ConductorProc.env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


async def until(probe: Callable[[], Awaitable[bool]]) -> None:
    """Wait for a condition the conductor reaches on its own (bounded, not measured)."""
    for _ in range(400):
        with contextlib.suppress(ConductorApiError):
            if await probe():
                return
        await asyncio.sleep(0.05)
    raise AssertionError("condition never reached")


def test_cli_update_coordinators_and_dev(
    fresh_conductor: ConductorProc, wasm_paths: dict[str, Path], tmp_path: Path
) -> None:
    app_dir = AppBuilder(wasm_paths, tmp_path / "src").write_dir(
        {"main": [("notes", "notes")]}, name="devapp"
    )
    happ = pack_app_dir(app_dir, tmp_path / "devapp.happ")
    probe = wasm_paths["probe"]
    home = fresh_conductor.home

    # offline: the home's own conductor (no daemon running yet)
    r = zomehost_cli(home, "app", "install", str(happ), "--app-id", "offline")
    assert r.returncode == 0, r.stderr
    r = zomehost_cli(
        home, "app", "update-coordinators", "offline", "main", "--zome", f"notes={probe}"
    )
    assert r.returncode == 0, r.stderr
    r = zomehost_cli(home, "call", "offline", "main", "notes", "echo", '"off"')
    assert r.returncode == 0 and json.loads(r.stdout) == "off", r.stderr
    r = zomehost_cli(home, "app", "update-coordinators", "offline", "main", "--zome", "notes")
    assert r.returncode == 1 and "NAME=PATH" in r.stderr
    r = zomehost_cli(
        home, "app", "update-coordinators", "offline", "nope", "--zome", f"notes={probe}"
    )
    assert r.returncode == 1 and "no role or enabled clone 'nope' (roles: main)" in r.stderr

    fresh_conductor.start()
    asyncio.run(_live(fresh_conductor, happ, app_dir, probe))


async def _live(proc: ConductorProc, happ: Path, app_dir: Path, probe: Path) -> None:
    async with await AdminClient.connect(proc.admin_url) as admin:
        info = await admin.install_app(path=happ, installed_app_id="devapp")
        await admin.enable_app("devapp")
        cell = CellId.from_wire(info["cell_info"]["main"][0]["value"]["cell_id"])
        port = await admin.attach_app_interface(allowed_origins="*")
        token = await admin.issue_app_authentication_token("devapp", single_use=False)
        await admin.authorize_signing_credentials(cell)
        async with await AppClient.connect(f"ws://127.0.0.1:{port}", token) as app:
            await app.call_zome("notes", "create_note", {"title": "kept", "body": ""}, cell_id=cell)

            # live, through the running conductor
            r = zomehost_cli(
                proc.home,
                "app",
                "update-coordinators",
                "devapp",
                "main",
                "--zome",
                f"notes={probe}",
                "--conductor",
                "auto",
            )
            assert r.returncode == 0, r.stderr
            assert await app.call_zome("notes", "echo", "live", cell_id=cell) == "live"

            # the dev loop: its first look sends the app dir's notes code back in ...
            cmd = [str(ZOMEHOST), "--home", str(proc.home), "dev", str(app_dir)]
            dev = subprocess.Popen(
                [*cmd, "--app-id", "devapp", "--interval", "0.1"],
                env=ConductorProc.env(),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )

            async def notes_back() -> bool:
                notes = await app.call_zome("notes", "list_notes", cell_id=cell)
                return [n["title"] for n in notes] == ["kept"]

            async def probe_in() -> bool:
                return bool(await app.call_zome("notes", "echo", "dev", cell_id=cell) == "dev")

            try:
                await until(notes_back)
                # ... and a save swaps the new wasm in
                shutil.copyfile(probe, app_dir / "dna_main" / "notes.wasm")
                await until(probe_in)
            except AssertionError:
                dev.kill()
                raise AssertionError(dev.communicate(timeout=30)[0]) from None
            dev.send_signal(signal.SIGINT)
            out, _ = dev.communicate(timeout=30)
            assert "swapped main: notes" in out, out
