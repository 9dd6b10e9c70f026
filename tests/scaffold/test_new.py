"""``zomehost new`` and ``zomehost build``, as a user runs them: the real console script in a
directory outside the repository.

End to end, per language (the guides, docs/guide-*.md, follow the same steps):
``zomehost new app demo [--lang assemblyscript]``, ``zomehost build demo``,
``zomehost app pack demo``, ``zomehost init``, ``zomehost app install``, then
``zomehost call demo demo demo hello '"world"'`` prints ``"Hello, world"``.

Plus the scaffolding itself (files, manifests, names, adding zomes) and build failures
(the compiler's messages, exit status 1).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import REPO
from zomehost.core.bundle import AppManifest, DnaManifest

from .conftest import ZOMEHOST, Run, needs_node

GUIDE_STEP = re.compile(
    r"<!-- guide-test: (run|expect|append)(?: ([^ ]+))? -->\n```[a-z]*\n(.*?)```", re.S
)


def guide_steps(guide: Path) -> list[tuple[str, str, str]]:
    """The guide's tested steps: (run, "", script) | (expect, "", text) | (append, path, text)."""
    steps = [(m[1], m[2] or "", m[3]) for m in GUIDE_STEP.finditer(guide.read_text())]
    assert steps and steps[0][0] == "run", f"no guide-test steps in {guide}"
    return steps


def run_guide(guide: Path, workdir: Path) -> dict[str, str]:
    """Run a guide's shell blocks in order, in ``workdir``, as they run for a user who types
    them into one shell (``cd`` and ``export`` carry over), and check the outputs it shows.
    Returns the environment the guide ends with."""
    state = workdir.parent / "guide-state"
    state.mkdir(exist_ok=True)
    env_file, cwd_file = state / "env", state / "cwd"
    cwd_file.write_text(str(workdir))
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZOMEHOST_")}
    env["PATH"] = f"{ZOMEHOST.parent}:{env.get('PATH', '')}"
    env["COLUMNS"] = "200"
    output = ""
    for i, (kind, arg, body) in enumerate(guide_steps(guide)):
        if kind == "run":
            script = (
                f'cd "$(cat {cwd_file})"\n'
                f"if [ -f {env_file} ]; then source {env_file}; fi\n"
                "set -euo pipefail\n"
                f"{body}\n"
                f"pwd > {cwd_file}; export -p > {env_file}\n"
            )
            proc = subprocess.run(
                ["bash", "-c", script],
                env=env,
                capture_output=True,
                text=True,
                timeout=1200,
                stdin=subprocess.DEVNULL,
            )
            assert proc.returncode == 0, (
                f"{guide.name}, step {i}: exit status {proc.returncode}\n{body}\n"
                f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
            )
            output = proc.stdout
        elif kind == "expect":
            for line in body.strip().splitlines():
                assert line in output.splitlines(), (
                    f"{guide.name}, step {i}: expected the line {line!r} in\n{output}"
                )
        else:
            target = Path(cwd_file.read_text().strip()) / arg
            assert target.is_file(), f"{guide.name}, step {i}: no {target} to append to"
            with target.open("a") as f:
                f.write("\n" + body)
    final = dict(env)
    for m in re.finditer(r'^declare -x (ZOMEHOST_[A-Z_]+)="(.*)"$', env_file.read_text(), re.M):
        final[m[1]] = m[2]
    return final


# -- end to end: the guides, run as written ---------------------------------------------
@pytest.mark.slow  # ~30 s: three AssemblyScript compiles
def test_assemblyscript_guide_from_new_to_a_call(zh: Run, workdir: Path) -> None:
    """docs/guide-assemblyscript.md: `zomehost new app demo --lang assemblyscript`, build,
    pack, init, install, `zomehost call demo demo demo hello '"world"'` -> "Hello, world";
    then a changed zome and a second zome."""
    needs_node()
    env = run_guide(REPO / "docs" / "guide-assemblyscript.md", workdir)
    app = workdir / "demo"
    for zome in ("demo", "greetings"):
        wasm = app / "zomes" / zome / "build" / f"{zome}.wasm"
        assert wasm.read_bytes()[:4] == b"\0asm"
    hello = zh("call", "demo", "demo", "demo", "hello", '"world"', env=env)
    assert json.loads(hello.stdout) == "Hello, world"
    notes = json.loads(zh("call", "demo", "demo", "demo", "list_notes", env=env).stdout)
    assert [n["text"] for n in notes] == ["one"] and notes[0]["hash"].startswith("uhCkk")
    refused = zh("call", "demo", "demo", "demo", "create_note", '""', env=env, check=False)
    assert refused.returncode == 1 and "a note needs some text" in refused.stderr
    # Nothing changed since: a second build compiles nothing.
    again = zh("build", "demo")
    assert again.stderr.count("up to date") == 2, again.stderr


@pytest.mark.slow
@pytest.mark.timeout(1800)  # cargo builds serde & co. for a new app: minutes on a busy machine
def test_rust_guide_from_new_to_a_call(zh: Run, workdir: Path) -> None:
    """docs/guide-rust.md (`zomehost new app demo`, ... -> "Hello, world"), then a compile
    error."""
    env = run_guide(REPO / "docs" / "guide-rust.md", workdir)
    app = workdir / "demo"
    cargo = tomllib.loads((app / "zomes" / "demo" / "Cargo.toml").read_text())
    sdk = cargo["dependencies"]["zomehost_sdk"]["path"]
    assert sdk == "../../.zomehost/sdk/rust"  # relative: the app can move
    assert (app / "zomes" / "demo" / sdk / "Cargo.toml").is_file()
    config = tomllib.loads((app / ".cargo" / "config.toml").read_text())
    assert config["net"]["offline"] is True
    assert config["build"]["target"] == "wasm32-unknown-unknown"
    members = tomllib.loads((app / "Cargo.toml").read_text())["workspace"]["members"]
    assert members == ["zomes/demo", "zomes/greetings"]
    count = zh("call", "demo", "demo", "demo", "count_notes", env=env)
    assert json.loads(count.stdout) == 1

    # A compile error: exit status 1, the compiler's message, and the old wasm kept.
    wasm = app / "zomes" / "demo" / "build" / "demo.wasm"
    lib = app / "zomes" / "demo" / "src" / "lib.rs"
    lib.write_text(lib.read_text().replace('Ok(format!("Hello, {}", name))', "Ok(nme)"))
    before = wasm.read_bytes()
    broken = zh("build", "demo", check=False)
    assert broken.returncode == 1
    assert "cannot find value `nme`" in broken.stderr
    assert "error: Rust zome demo: cargo build failed" in broken.stderr
    assert wasm.read_bytes() == before


# -- scaffolding ------------------------------------------------------------------------
def test_new_app_writes_manifests_that_parse(zh: Run, workdir: Path) -> None:
    zh("new", "app", "my-app", "--lang", "assemblyscript", "--zome", "greeter")
    app = workdir / "my-app"
    happ = yaml.safe_load((app / "happ.yaml").read_text())
    manifest = AppManifest.parse(happ)
    assert manifest.name == "my-app"
    assert [r.name for r in manifest.roles] == ["my-app"]
    dna = DnaManifest.parse(yaml.safe_load((app / "dna" / "dna.yaml").read_text()))
    assert [(z.name, z.path) for z in dna.zomes] == [
        ("greeter", "../zomes/greeter/build/greeter.wasm")
    ]
    assert (app / "zomes" / "greeter" / "assembly" / "index.ts").is_file()
    package = json.loads((app / "package.json").read_text())
    sdk = package["devDependencies"]["@zomehost/sdk"]
    assert sdk == "file:.zomehost/sdk/assemblyscript"  # relative: the app can move
    assert (app / sdk[5:] / "package.json").is_file()
    assert (app / ".zomehost" / "sdk").resolve() == REPO / "sdk"
    assert package["devDependencies"]["assemblyscript"] == "0.28.9"
    readme = (app / "README.md").read_text()
    assert "zomehost call my-app my-app greeter hello '\"world\"'" in readme
    assert "{{" not in readme
    assert not (app / "Cargo.toml").exists()


def test_new_zome_adds_to_the_app_and_keeps_the_manifest_comments(zh: Run, workdir: Path) -> None:
    zh("new", "app", "mixed", "--lang", "assemblyscript")
    app = workdir / "mixed"
    zh("new", "zome", "second", "--lang", "rust", cwd=app / "zomes")  # from a subdirectory
    zh("new", "zome", "third", "--lang", "as", cwd=app)
    text = (app / "dna" / "dna.yaml").read_text()
    assert text.startswith("# The mixed DNA.")
    dna = DnaManifest.parse(yaml.safe_load(text))
    assert [z.name for z in dna.zomes] == ["mixed", "second", "third"]
    assert dna.zomes[1].path == "../zomes/second/build/second.wasm"
    workspace = tomllib.loads((app / "Cargo.toml").read_text())["workspace"]
    assert workspace["members"] == ["zomes/second"]
    assert (app / ".cargo" / "config.toml").is_file()
    assert (app / "zomes" / "second" / "src" / "lib.rs").is_file()
    # the zome sources match the DNA: what `zomehost build` will build
    from zomehost.scaffold.build import plan
    from zomehost.scaffold.new import Lang

    got = {(z.name, z.lang) for z in plan(app).zomes}
    assert got == {
        ("mixed", Lang.ASSEMBLYSCRIPT),
        ("second", Lang.RUST),
        ("third", Lang.ASSEMBLYSCRIPT),
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["new", "app", "9lives"], "pass --zome NAME"),
        (["new", "app", "bad name"], "app name 'bad name'"),
        (["new", "app", "ok", "--zome", "Bad"], "zome name 'Bad'"),
        (["new", "app", "ok", "--zome", "std"], "reserved"),
        (["new", "app", "ok", "--lang", "go"], "choose rust or assemblyscript"),
        (["new", "zome", "z"], "no happ.yaml"),
        (["build"], "no happ.yaml or dna.yaml"),
    ],
)
def test_clear_errors(zh: Run, args: list[str], message: str) -> None:
    proc = zh(*args, check=False)
    assert proc.returncode != 0
    assert message in proc.stderr, proc.stderr


def test_existing_things_are_not_overwritten(zh: Run, workdir: Path) -> None:
    zh("new", "app", "app1")
    again = zh("new", "app", "app1", check=False)
    assert again.returncode == 1 and "already exists" in again.stderr
    dup = zh("new", "zome", "app1", cwd=workdir / "app1", check=False)
    assert dup.returncode == 1 and "already has a zome named 'app1'" in dup.stderr
    before = (workdir / "app1" / "Cargo.toml").read_text()
    (workdir / "app1" / "zomes" / "taken").mkdir()
    taken = zh("new", "zome", "taken", cwd=workdir / "app1", check=False)
    assert taken.returncode == 1 and "already exists" in taken.stderr
    # a refused zome leaves the app as it was
    assert (workdir / "app1" / "Cargo.toml").read_text() == before
    assert "taken" not in (workdir / "app1" / "dna" / "dna.yaml").read_text()


def test_new_zome_needs_dna_when_the_app_has_several(zh: Run, workdir: Path) -> None:
    zh("new", "app", "multi")
    app = workdir / "multi"
    shutil.copytree(app / "dna", app / "dna2")
    doc: dict[str, Any] = yaml.safe_load((app / "happ.yaml").read_text())
    doc["roles"].append({"name": "other", "dna": {"path": "./dna2"}})
    (app / "happ.yaml").write_text(yaml.safe_dump(doc))
    ambiguous = zh("new", "zome", "extra", cwd=app, check=False)
    assert ambiguous.returncode == 1 and "--dna" in ambiguous.stderr
    zh("new", "zome", "extra", "--dna", "dna2", cwd=app)
    assert "extra" in (app / "dna2" / "dna.yaml").read_text()
    assert "extra" not in (app / "dna" / "dna.yaml").read_text()


def test_a_missing_sdk_is_a_clear_error(zh: Run, workdir: Path, monkeypatch: Any) -> None:
    from zomehost.scaffold import ScaffoldError, new_app

    monkeypatch.setenv("ZOMEHOST_SDK_DIR", str(workdir / "nowhere"))
    with pytest.raises(ScaffoldError, match="zomehost SDKs were not found"):
        new_app(workdir, "nosdk")
    assert not (workdir / "nosdk").exists()


def test_the_sdk_is_found_from_the_installed_package() -> None:
    from zomehost.scaffold import find_sdks

    sdks = find_sdks()
    assert sdks.root == REPO / "sdk"  # the package's sdk/ links to the checkout's
    assert (sdks.rust / "src" / "lib.rs").is_file()
    assert sdks.asc_wrapper.is_file()


def test_assemblyscript_compile_error_is_shown(zh: Run, workdir: Path) -> None:
    needs_node()
    zh("new", "app", "broken", "--lang", "assemblyscript")
    index = workdir / "broken" / "zomes" / "broken" / "assembly" / "index.ts"
    index.write_text(index.read_text().replace('out.writeString("Hello, " + name);', "out.nope();"))
    proc = zh("build", "broken", check=False)
    assert proc.returncode == 1
    assert "Property 'nope' does not exist" in proc.stderr
    assert "error: AssemblyScript zome broken: compile failed" in proc.stderr


@pytest.mark.slow
def test_without_the_checkouts_node_modules_build_runs_npm_install(
    zh: Run, workdir: Path, tmp_path: Path
) -> None:
    """An SDK with no node_modules next to it: `zomehost build` runs `npm install` in the
    app (its package.json names assemblyscript and the SDK), then compiles with that."""
    needs_node()
    if shutil.which("npm") is None:
        pytest.skip("npm is not installed")
    sdk = tmp_path / "elsewhere" / "sdk"
    shutil.copytree(REPO / "sdk" / "assemblyscript", sdk / "assemblyscript", symlinks=True)
    shutil.copytree(REPO / "sdk" / "rust", sdk / "rust", ignore=shutil.ignore_patterns("target"))
    env = {"ZOMEHOST_SDK_DIR": str(sdk)}
    zh("new", "app", "own", "--lang", "assemblyscript", env=env)
    proc = zh("build", "own", check=False, env=env)
    if proc.returncode != 0 and "npm install" in proc.stderr and "failed" in proc.stderr:
        pytest.skip(f"npm install failed (offline?): {proc.stderr[-500:]}")
    assert proc.returncode == 0, proc.stderr
    node_modules = workdir / "own" / "node_modules"
    assert "==> npm install" in proc.stderr
    assert f"asc and @zomehost/sdk from {node_modules}" in proc.stderr
    assert (node_modules / "@zomehost" / "sdk").resolve() == (sdk / "assemblyscript").resolve()
    assert (workdir / "own" / "zomes" / "own" / "build" / "own.wasm").is_file()
