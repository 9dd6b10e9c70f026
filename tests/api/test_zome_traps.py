"""A zome that traps, as every client meets it (issue 18.3): a Rust panic and an
AssemblyScript abort reach the real ``@holochain/client``, the Python client and the CLI
(through a running conductor) with the guest's own words and the zome and function names,
and the cell keeps serving its agent afterwards."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from conftest import REPO, AppBuilder
from zomehost.client import AdminClient, AppClient, ZomeCallFailed
from zomehost.conductor.packing import pack_app_dir

from .conftest import ConductorProc, run_node

pytestmark = pytest.mark.slow

AS_PROBE = REPO / "zomes" / "probe_as" / "build" / "probe_as.wasm"
WORDS = "deliberate panic after create"
# role -> (zome, what the message must hold besides the zome's own words)
GUESTS = {"rust": ("rusty", f"panicked at '{WORDS}'"), "as": ("scripted", f"aborted: {WORDS}")}


@pytest.fixture(scope="module")
def traps_happ(wasm_paths: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Role ``rust``: the Rust probe as zome ``rusty``; role ``as``: the AssemblyScript
    probe as zome ``scripted``."""
    if not AS_PROBE.is_file():
        pytest.fail(f"{AS_PROBE} is not built: run `just zomes`")
    root = tmp_path_factory.mktemp("traps")
    app_dir = AppBuilder(wasm_paths, root / "src").write_dir(
        {"rust": [("rusty", "probe")], "as": [("scripted", str(AS_PROBE))]},
        name="traps",
        seeds={"rust": "traps-rust", "as": "traps-as"},
    )
    return pack_app_dir(app_dir, root / "traps.happ")


def assert_names_the_trap(message: str, zome: str, words: str) -> None:
    assert f"{zome}.create_then_panic" in message, message
    assert words in message, message


def test_holochain_client_gets_the_panic_and_abort_text(
    conductor: ConductorProc, traps_happ: Path
) -> None:
    steps = {s["step"]: s for s in run_node("hc_client_panics.mjs", conductor, traps_happ)}
    for role, (zome, words) in GUESTS.items():
        trap = steps[f"{role}_trap"]
        assert trap["error_name"] == "ribosome_error"
        assert_names_the_trap(trap["error_message"], zome, words)
        assert steps[f"{role}_after_trap"]["echoed"] == "still here"


def test_python_client_and_cli_get_the_panic_and_abort_text(
    conductor: ConductorProc, traps_happ: Path
) -> None:
    async def python_client() -> None:
        async with await AdminClient.connect(conductor.admin_url) as admin:
            await admin.install_app(path=traps_happ, installed_app_id="traps-py")
            await admin.enable_app("traps-py")
            port = await admin.attach_app_interface()
            token = await admin.issue_app_authentication_token("traps-py")
            async with await AppClient.connect(f"ws://127.0.0.1:{port}", token) as app:
                for role, (zome, words) in GUESTS.items():
                    await admin.authorize_signing_credentials(app.cell_id(role))
                    with pytest.raises(ZomeCallFailed) as trap:
                        await app.call_zome(zome, "create_then_panic", "x", role_name=role)
                    assert_names_the_trap(trap.value.message, zome, words)
                    assert await app.call_zome(zome, "echo", "on", role_name=role) == "on"

    asyncio.run(python_client())

    for role, (zome, words) in GUESTS.items():
        r = conductor.cli(
            "call", "traps-py", role, zome, "create_then_panic", '"x"', "--conductor", "auto"
        )
        lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
        assert r.returncode == 1 and len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
        assert_names_the_trap(lines[0], zome, words)
        again = conductor.cli("call", "traps-py", role, zome, "echo", '"on"', "--conductor", "auto")
        assert again.returncode == 0 and again.stdout.strip() == '"on"', again.stderr
