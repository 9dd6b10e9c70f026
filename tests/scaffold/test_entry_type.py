"""``zomehost new entry-type``: an entry type added to an existing app's zome, in Rust and in
AssemblyScript. The app still builds, its scaffolded tests still pass, and the test written
for the new type (create one with two agents, list it) passes: ``zomehost test`` runs them
all, with real conductor processes. Refusals (bad names, clashes, an ambiguous zome) leave
every file as it was."""

from __future__ import annotations

from pathlib import Path

import pytest

from zomehost.scaffold.entry_type import new_entry_type
from zomehost.scaffold.errors import ScaffoldError

from .conftest import Run, needs_node


def snapshot(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".zomehost" not in p.parts
    }


@pytest.mark.slow  # a build and six multi-agent tests per language
@pytest.mark.timeout(1800)
@pytest.mark.parametrize("lang", ["rust", "assemblyscript"])
def test_an_added_entry_type_builds_and_every_test_passes(
    zh: Run, workdir: Path, lang: str
) -> None:
    if lang == "assemblyscript":
        needs_node()
    zh("new", "app", "todo", "--lang", lang)
    app = workdir / "todo"
    added = zh("new", "entry-type", "todo_item", "-f", "title", "-f", "done:bool",
               "-f", "priority:int", cwd=app)  # fmt: skip
    source = Path(added.stdout.strip())
    assert source.name in ("lib.rs", "index.ts")
    assert "create_todo_item({title, done, priority}) and list_todo_items()" in added.stderr
    zh("new", "entry-type", "tag", "--app", str(app))  # a second one, the default field
    tests = sorted(p.name for p in (app / "tests").glob("test_*.py"))
    assert tests == ["test_todo.py", "test_todo_tag.py", "test_todo_todo_item.py"]
    text = source.read_text()
    for fn in ("create_todo_item", "list_todo_items", "create_tag", "list_tags"):
        assert fn in text

    run = zh("test", str(app), "--", "-q", check=False, timeout=1500)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "7 passed" in run.stdout, run.stdout  # the 5 scaffolded and the 2 new


def test_refusals_change_nothing(zh: Run, workdir: Path) -> None:
    zh("new", "app", "shop")
    app = workdir / "shop"
    zh("new", "entry-type", "order", "-f", "sku", cwd=app)
    before = snapshot(app)
    cases = {
        ("order",): "already names the entry type order",
        ("note",): "already names the entry type note",  # the scaffold's own
        ("Bad-Name",): "entry type Bad-Name",
        ("item", "-f", "type"): "field type",
        ("item", "-f", "hash"): "field hash",
        ("item", "-f", "a", "-f", "a"): "field a is named twice",
        ("item", "-f", "n:float"): "the type is one of string, int, bool",
        ("item", "--zome", "nope"): "no zome nope",
    }
    for args, message in cases.items():
        r = zh("new", "entry-type", *args, cwd=app, check=False)
        assert r.returncode == 1, (args, r.stdout, r.stderr)
        lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
        assert len(lines) == 1 and message in lines[0], (args, r.stderr)
        assert snapshot(app) == before, args
    outside = zh("new", "entry-type", "item", cwd=workdir, check=False)
    assert outside.returncode == 1 and "no happ.yaml" in outside.stderr


def test_an_app_with_several_zomes_needs_zome(zh: Run, workdir: Path) -> None:
    zh("new", "app", "duo")
    app = workdir / "duo"
    zh("new", "zome", "second", cwd=app)
    before = snapshot(app)
    with pytest.raises(ScaffoldError, match="duo, second: choose one with --zome"):
        new_entry_type("item", [], cwd=app)
    assert snapshot(app) == before
    out = new_entry_type("item", ["label"], zome="second", cwd=app / "zomes")
    assert out.changed == [app / "zomes" / "second" / "src" / "lib.rs"]
    assert "create_item" not in (app / "zomes" / "duo" / "src" / "lib.rs").read_text()


def test_a_zome_without_zome_fns_is_refused_untouched(zh: Run, workdir: Path) -> None:
    zh("new", "app", "bare")
    lib = workdir / "bare" / "zomes" / "bare" / "src" / "lib.rs"
    lib.write_text(lib.read_text().replace("zome_fns!(", "my_fns!("))
    before = snapshot(workdir / "bare")
    with pytest.raises(ScaffoldError, match="no zome_fns!"):
        new_entry_type("item", [], cwd=workdir / "bare")
    assert snapshot(workdir / "bare") == before
