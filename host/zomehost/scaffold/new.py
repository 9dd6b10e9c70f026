"""``zomehost new app`` and ``zomehost new zome``: write an app or a zome from the templates.

An app directory looks like this (both languages can be mixed in one DNA)::

    myapp/
      happ.yaml               one role, named after the app
      dna/dna.yaml            the DNA; each zome's ``path`` is where ``zomehost build`` writes it
      zomes/<zome>/           one directory per zome, named after the zome
        Cargo.toml, src/lib.rs              (Rust)
        assembly/index.ts                   (AssemblyScript)
      Cargo.toml, .cargo/config.toml        (when there are Rust zomes: the cargo workspace)
      package.json                          (when there are AssemblyScript zomes)
      tests/test_<zome>.py    multi-agent tests (``zomehost test`` runs them), pytest.ini
      README.md, .gitignore
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import yaml

from zomehost.core import yamldoc
from zomehost.core.bundle import NAME_MAX, DnaManifest
from zomehost.errors import ZomehostError
from zomehost.scaffold.errors import ScaffoldError
from zomehost.scaffold.sdk import SDK_LINK, Sdks, find_sdks, link_sdks


class Lang(StrEnum):
    RUST = "rust"
    ASSEMBLYSCRIPT = "assemblyscript"

    @property
    def label(self) -> str:
        return "Rust" if self is Lang.RUST else "AssemblyScript"


APP_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
ZOME_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
ZOME_NAME_MAX = 64
# Crate names that would shadow a standard crate or that cargo refuses.
RESERVED = frozenset(
    {"std", "core", "alloc", "proc_macro", "test", "self", "super", "crate", "build", "deps"}
)
PLACEHOLDER = re.compile(r"\{\{([a-z_]+)\}\}")


@dataclass
class Scaffolded:
    """What ``new`` wrote: the files (absolute paths) and the commands to run next."""

    root: Path
    files: list[Path] = field(default_factory=list)
    changed: list[Path] = field(default_factory=list)
    next_steps: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


# -- names --------------------------------------------------------------------------------
def check_app_name(name: str) -> str:
    if len(name) > NAME_MAX or not APP_NAME.match(name):
        raise ScaffoldError(
            f"app name {name!r}: use letters, digits, '_' and '-' (starting with a letter or "
            f"digit, at most {NAME_MAX} characters)"
        )
    return name


def check_zome_name(name: str) -> str:
    if len(name) > ZOME_NAME_MAX or not ZOME_NAME.match(name):
        raise ScaffoldError(
            f"zome name {name!r}: use lower-case letters, digits and '_', starting with a "
            f"letter, at most {ZOME_NAME_MAX} characters (it is also the Rust crate's and the "
            "wasm file's name)"
        )
    if name in RESERVED:
        raise ScaffoldError(f"zome name {name!r} is reserved (a Rust crate name): choose another")
    return name


def default_zome_name(app_name: str) -> str:
    name = app_name.lower().replace("-", "_")
    try:
        return check_zome_name(name)
    except ScaffoldError:
        raise ScaffoldError(
            f"cannot name the zome after the app ({name!r} is not a valid zome name): "
            "pass --zome NAME"
        ) from None


# -- templates ----------------------------------------------------------------------------
def templates() -> Traversable:
    return resources.files("zomehost.scaffold") / "templates"


def render(text: str, values: dict[str, str]) -> str:
    def sub(m: re.Match[str]) -> str:
        key = m.group(1)
        if key not in values:
            raise ScaffoldError(f"template placeholder {{{{{key}}}}} has no value (a bug)")
        return values[key]

    return PLACEHOLDER.sub(sub, text)


def _template(*parts: str) -> str:
    node = templates()
    for p in parts:
        node = node / p
    return node.read_text(encoding="utf-8")


def _walk(node: Traversable, prefix: tuple[str, ...] = ()) -> Iterable[tuple[tuple[str, ...], str]]:
    for child in sorted(node.iterdir(), key=lambda c: c.name):
        if child.is_dir():
            yield from _walk(child, (*prefix, child.name))
        elif child.name != "__pycache__":
            yield (*prefix, child.name), child.read_text(encoding="utf-8")


def _write(path: Path, text: str, out: Scaffolded) -> None:
    if path.exists():
        raise ScaffoldError(f"{path} already exists: not overwriting it")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    out.files.append(path)


SDK_RUST = (SDK_LINK / "rust").as_posix()  # relative to the app's root
SDK_AS = (SDK_LINK / "assemblyscript").as_posix()


def _values(**kw: str) -> dict[str, str]:
    return {"sdk_rust": SDK_RUST, "sdk_as": SDK_AS, **kw}


# -- the pieces ---------------------------------------------------------------------------
def _zome_dir(app_root: Path, zome: str) -> Path:
    return app_root / "zomes" / zome


def wasm_path(app_root: Path, zome: str) -> Path:
    """Where a new zome's wasm goes (``zomehost build`` writes it wherever dna.yaml says)."""
    return _zome_dir(app_root, zome) / "build" / f"{zome}.wasm"


def _write_zome_sources(app_root: Path, zome: str, lang: Lang, out: Scaffolded) -> None:
    zdir = _zome_dir(app_root, zome)
    if zdir.exists():
        raise ScaffoldError(f"{zdir} already exists: choose another zome name")
    values = _values(zome_name=zome)
    for parts, text in _walk(templates() / lang.value / "zome"):
        _write(zdir.joinpath(*parts), render(text, values), out)


def _ensure_rust_workspace(app_root: Path, zome: str, out: Scaffolded) -> None:
    cargo_toml = app_root / "Cargo.toml"
    member = f"zomes/{zome}"
    if not cargo_toml.exists():
        _write(cargo_toml, _template("rust", "workspace", "Cargo.toml"), out)
    else:
        out.changed.append(cargo_toml)
    _add_workspace_member(cargo_toml, member)
    config = app_root / ".cargo" / "config.toml"
    if not config.exists():
        _write(config, _template("rust", "workspace", "cargo-config.toml"), out)


def _add_workspace_member(cargo_toml: Path, member: str) -> None:
    text = cargo_toml.read_text(encoding="utf-8")
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScaffoldError(f"{cargo_toml}: not valid TOML: {exc}") from None
    ws = doc.get("workspace")
    if not isinstance(ws, dict):
        raise ScaffoldError(f'{cargo_toml} has no [workspace]: add one with members = ["{member}"]')
    members = ws.get("members", [])
    if member in members:
        return
    m = re.search(r"(?ms)^(members\s*=\s*\[)(.*?)(\])", text)
    if m is None:
        if "members" in ws:
            raise ScaffoldError(f'{cargo_toml}: cannot edit [workspace] members: add "{member}"')
        new = re.sub(
            r"(?m)^\[workspace\]\s*$",
            f'[workspace]\nmembers = [\n    "{member}",\n]',
            text,
            count=1,
        )
    else:
        body = m.group(2).rstrip()
        if body.strip() and not body.rstrip().endswith(","):
            body += ","
        body = (body + "\n" if body.strip() else "\n") + f'    "{member}",\n'
        new = text[: m.start(2)] + body + text[m.end(2) :]
    if member not in tomllib.loads(new)["workspace"].get("members", []):
        raise ScaffoldError(f'{cargo_toml}: cannot edit [workspace] members: add "{member}"')
    cargo_toml.write_text(new, encoding="utf-8")


def _npm_name(app_name: str) -> str:
    return re.sub(r"[^a-z0-9_-]", "-", app_name.lower()) + "-zomes"


def _ensure_as_workspace(app_root: Path, app_name: str, out: Scaffolded) -> None:
    package_json = app_root / "package.json"
    if not package_json.exists():
        values = _values(npm_name=_npm_name(app_name), app_name=app_name)
        _write(
            package_json,
            render(_template("assemblyscript", "workspace", "package.json"), values),
            out,
        )
        return
    try:
        doc = json.loads(package_json.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ScaffoldError(f"{package_json}: not valid JSON: {exc}") from None
    deps = {**doc.get("dependencies", {}), **doc.get("devDependencies", {})}
    wanted = {
        "@zomehost/sdk": f"file:{SDK_AS}",
        "assemblyscript": "0.28.9",
    }
    missing = {k: v for k, v in wanted.items() if k not in deps}
    if missing:
        doc.setdefault("devDependencies", {}).update(missing)
        package_json.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
        out.changed.append(package_json)


def _ensure_workspace(
    app_root: Path, app_name: str, zome: str, lang: Lang, out: Scaffolded
) -> None:
    if lang is Lang.RUST:
        _ensure_rust_workspace(app_root, zome, out)
    else:
        _ensure_as_workspace(app_root, app_name, out)


def add_zome_to_dna(dna_yaml: Path, zome: str, wasm: Path) -> None:
    """List ``zome`` (wasm at ``wasm``) in ``dna_yaml``'s coordinator zomes, keeping comments."""
    text = dna_yaml.read_text(encoding="utf-8")
    doc = _load_yaml(dna_yaml, text)
    names = {z.get("name") for z in _zome_docs(doc) if isinstance(z, dict)}
    if zome in names:
        raise ScaffoldError(f"{dna_yaml} already has a zome named {zome!r}")
    rel = Path(os.path.relpath(wasm, dna_yaml.parent)).as_posix()
    new = _insert_coordinator_zome(text, zome, rel)
    if new is None or _zome_names(_load_yaml(dna_yaml, new)) != [*_zome_names(doc), zome]:
        # Not the layout we know: rewrite the document (its comments are lost).
        if not isinstance(doc, dict):
            raise ScaffoldError(f"{dna_yaml}: the dna manifest must be a mapping")
        coordinator = doc.setdefault("coordinator", {})
        if not isinstance(coordinator, dict):
            raise ScaffoldError(f"{dna_yaml}: coordinator must be a mapping")
        zomes = coordinator.get("zomes") or []
        zomes.append({"name": zome, "path": rel})
        coordinator["zomes"] = zomes
        new = yaml.safe_dump(doc, sort_keys=False)
    try:
        DnaManifest.parse(yaml.safe_load(new))
    except ZomehostError as exc:
        raise ScaffoldError(f"{dna_yaml}: {exc.message}") from None
    dna_yaml.write_text(new, encoding="utf-8")


def _load_yaml(path: Path, text: str) -> Any:
    return yamldoc.parse(text, str(path), ScaffoldError)


def _zome_docs(doc: Any) -> list[Any]:
    if not isinstance(doc, dict):
        return []
    out: list[Any] = []
    for section in ("integrity", "coordinator"):
        part = doc.get(section)
        if isinstance(part, dict):
            out += list(part.get("zomes") or [])
    return out + list(doc.get("zomes") or [])


def _zome_names(doc: Any) -> list[Any]:
    return [z.get("name") for z in _zome_docs(doc) if isinstance(z, dict)]


def _insert_coordinator_zome(text: str, zome: str, path: str) -> str | None:
    """Append ``- name/path`` to the block list under ``coordinator:`` / ``zomes:``."""
    lines = text.splitlines(keepends=True)

    def indent(line: str) -> int:
        return len(line) - len(line.lstrip(" "))

    def blank(line: str) -> bool:
        return not line.strip() or line.lstrip().startswith("#")

    try:
        coord = next(i for i, ln in enumerate(lines) if re.match(r"^coordinator:\s*(#.*)?$", ln))
    except StopIteration:
        return None
    zomes = None
    for i in range(coord + 1, len(lines)):
        if blank(lines[i]):
            continue
        if indent(lines[i]) == 0:
            break
        if re.match(r"^\s+zomes:\s*(#.*)?$", lines[i]):
            zomes = i
            break
    if zomes is None:
        return None
    base = indent(lines[zomes])
    end = zomes + 1
    item_indent = None
    for i in range(zomes + 1, len(lines)):
        if blank(lines[i]):
            continue
        ind = indent(lines[i])
        stripped = lines[i].lstrip(" ")
        if ind < base or (ind == base and not stripped.startswith("- ")):
            break
        if stripped.startswith("- ") and item_indent is None:
            item_indent = ind
        end = i + 1
    pad = " " * (item_indent if item_indent is not None else base + 2)
    item = f"{pad}- name: {zome}\n{pad}  path: {path}\n"
    if end > 0 and not lines[end - 1].endswith("\n"):
        lines[end - 1] += "\n"
    lines.insert(end, item)
    return "".join(lines)


# -- new app ------------------------------------------------------------------------------
def new_app(
    parent: Path,
    name: str,
    lang: Lang = Lang.RUST,
    zome: str | None = None,
    sdks: Sdks | None = None,
) -> Scaffolded:
    """Create ``parent/name``: happ.yaml, dna/dna.yaml and one zome with sample functions."""
    check_app_name(name)
    zome = check_zome_name(zome) if zome else default_zome_name(name)
    sdks = sdks or find_sdks()
    root = parent / name
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise ScaffoldError(f"{root} already exists and is not empty")
    out = Scaffolded(root)
    is_rust = lang is Lang.RUST
    values = _values(
        app_name=name,
        role_name=name,
        dna_name=name,
        zome_name=zome,
        lang_title=lang.label,
        lang_flag="" if is_rust else " --lang assemblyscript",
        zome_tree="a Rust crate (`Cargo.toml`, `src/lib.rs`)" if is_rust else "`assembly/index.ts`",
        workspace_tree=(
            "| `Cargo.toml`, `.cargo/config.toml` | the cargo workspace of the Rust zomes "
            "(offline, wasm32) |\n"
            if is_rust
            else "| `package.json` | the AssemblyScript compiler and SDK, for `npm install` |\n"
        ),
        lang_notes=render(_template(lang.value, "README-notes.md"), _values()),
    )
    root.mkdir(parents=True, exist_ok=True)
    try:
        _write(root / "happ.yaml", render(_template("app", "happ.yaml"), values), out)
        dna_yaml = root / "dna" / "dna.yaml"
        _write(dna_yaml, render(_template("app", "dna", "dna.yaml"), values), out)
        _write(root / "README.md", render(_template("app", "README.md"), values), out)
        _write(root / ".gitignore", _template("app", "gitignore"), out)
        _write(root / "pytest.ini", _template("app", "pytest.ini"), out)
        test_file = root / "tests" / f"test_{zome}.py"
        _write(test_file, render(_template("app", "tests", "test_app.py.template"), values), out)
        out.files.append(link_sdks(root, sdks))
        _write_zome_sources(root, zome, lang, out)
        _ensure_workspace(root, name, zome, lang, out)
        add_zome_to_dna(dna_yaml, zome, wasm_path(root, zome))
    except BaseException:
        _remove_created(out)
        raise
    out.changed = []
    out.next_steps = [
        f"zomehost test {name}  # build, then run its multi-agent tests",
        f"zomehost app pack {name}",
        "zomehost init  # once: a conductor home (~/.zomehost) and its keystore",
        f"zomehost app install {name}.happ --app-id {name}",
        f"zomehost call {name} {name} {zome} hello '\"world\"'",
    ]
    return out


# -- new zome -----------------------------------------------------------------------------
def find_app_root(start: Path) -> Path | None:
    """The nearest directory at or above ``start`` that holds a happ.yaml."""
    start = start.resolve()
    for d in (start, *start.parents):
        if (d / "happ.yaml").is_file():
            return d
    return None


def _dna_yamls_of_app(app_root: Path) -> list[Path]:
    happ = app_root / "happ.yaml"
    doc = _load_yaml(happ, happ.read_text(encoding="utf-8"))
    found: list[Path] = []
    for role in (doc or {}).get("roles") or []:
        path = ((role or {}).get("dna") or {}).get("path") if isinstance(role, dict) else None
        if not isinstance(path, str):
            continue
        p = (app_root / path).resolve()
        if p.is_dir():
            p = p / "dna.yaml"
        if p.name.endswith((".yaml", ".yml")) and p.is_file() and p not in found:
            found.append(p)
    return found


def resolve_dna(dna: Path | None, app: Path | None, cwd: Path) -> tuple[Path, Path]:
    """(dna.yaml, app root) for ``new zome``: ``--dna``, else the app's only DNA."""
    if dna is not None:
        dna = (cwd / dna).resolve()
        dna_yaml = dna / "dna.yaml" if dna.is_dir() else dna
        if not dna_yaml.is_file():
            raise ScaffoldError(f"no dna.yaml at {dna}")
        root = find_app_root(app or dna_yaml.parent)
        if app is not None and root is None:
            raise ScaffoldError(f"no happ.yaml in {app} or above it")
        return dna_yaml, root or dna_yaml.parent.parent
    start = (cwd / app).resolve() if app is not None else cwd
    root = find_app_root(start)
    if root is None:
        if (start / "dna.yaml").is_file():
            return start / "dna.yaml", start.parent
        raise ScaffoldError(
            f"no happ.yaml in {start} or above it: run this inside an app directory "
            "(`zomehost new app NAME` makes one), or pass --dna DIR"
        )
    dnas = _dna_yamls_of_app(root)
    if not dnas:
        raise ScaffoldError(f"{root / 'happ.yaml'} names no dna.yaml directory: pass --dna DIR")
    if len(dnas) > 1:
        listing = ", ".join(os.path.relpath(d.parent, cwd) for d in dnas)
        raise ScaffoldError(f"the app has several DNAs ({listing}): choose one with --dna DIR")
    return dnas[0], root


def new_zome(
    name: str,
    lang: Lang = Lang.RUST,
    *,
    dna: Path | None = None,
    app: Path | None = None,
    cwd: Path | None = None,
    sdks: Sdks | None = None,
) -> Scaffolded:
    """Create ``<app>/zomes/NAME`` and list it in the DNA's dna.yaml."""
    check_zome_name(name)
    cwd = (cwd or Path.cwd()).resolve()
    dna_yaml, root = resolve_dna(dna, app, cwd)
    sdks = sdks or find_sdks()
    happ = root / "happ.yaml"
    app_name = root.name
    if happ.is_file():
        doc = _load_yaml(happ, happ.read_text(encoding="utf-8"))
        if isinstance(doc, dict) and isinstance(doc.get("name"), str):
            app_name = doc["name"]
    out = Scaffolded(root)
    # Refuse a duplicate before writing anything.
    if name in _zome_names(_load_yaml(dna_yaml, dna_yaml.read_text(encoding="utf-8"))):
        raise ScaffoldError(f"{dna_yaml} already has a zome named {name!r}")
    backups = {
        p: p.read_bytes()
        for p in (dna_yaml, root / "Cargo.toml", root / "package.json")
        if p.is_file()
    }
    try:
        link_sdks(root, sdks)
        _write_zome_sources(root, name, lang, out)
        _ensure_workspace(root, app_name, name, lang, out)
        add_zome_to_dna(dna_yaml, name, wasm_path(root, name))
    except BaseException:
        _remove_created(out)
        for p, data in backups.items():
            p.write_bytes(data)
        raise
    out.changed = sorted({*out.changed, dna_yaml})
    rel = os.path.relpath(root, cwd)
    where = "" if rel == "." else f" {rel}"
    out.next_steps = [
        f"zomehost build{where}",
        f"zomehost app pack{where or ' .'}",
    ]
    return out


def _remove_created(out: Scaffolded) -> None:
    for f in reversed(out.files):
        f.unlink(missing_ok=True)
        d = f.parent
        while d != out.root and d.is_dir() and not any(d.iterdir()):
            d.rmdir()
            d = d.parent
    if out.root.is_dir() and not any(out.root.iterdir()):
        out.root.rmdir()
