"""``zomehost new entry-type``: add an entry type to a zome of an existing app.

An entry type in zomehost is a name the chain records carry and the shape of their content
(docs/abi.md: no separate integrity zome). Adding one writes, in the zome's source (Rust
``src/lib.rs`` or AssemblyScript ``assembly/index.ts``): the name, the content's fields,
``create_<name>`` (the fields in, the action hash out) and ``list_<name>s`` (every such entry
on the agent's chain, with its hash); the Rust functions join ``zome_fns!``. A test file
``tests/test_<zome>_<name>.py`` creates one and lists it with two agents. The files changed
are restored when anything fails, so a refused addition leaves the app as it was.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from zomehost.scaffold.errors import ScaffoldError
from zomehost.scaffold.new import (
    ZOME_NAME,
    ZOME_NAME_MAX,
    Lang,
    Scaffolded,
    _template,
    _write,
    find_app_root,
    render,
)

MAX_FIELDS = 16
# Names a field cannot take: Rust keywords, and `hash` (the listed view's own field).
_RUST_KEYWORDS = (
    "as async await break const continue crate dyn else enum extern false fn for if impl in let "
    "loop match mod move mut pub ref return self static struct super trait true type unsafe use "
    "where while"
)
RESERVED_FIELDS = frozenset(_RUST_KEYWORDS.split()) | {"hash"}


@dataclass(frozen=True)
class FieldKind:
    rust: str
    read: str  # the AssemblyScript Decoder method
    write: str  # the Encoder method
    initial: str  # an AssemblyScript local's declaration, before its value is read
    sample: str  # a Python literal for the scaffolded test


KINDS = {
    "string": FieldKind("String", "readString", "writeString", ' = ""', '"sample {name}"'),
    "int": FieldKind("i64", "readI64", "writeI64", ": i64 = 0", "7"),
    "bool": FieldKind("bool", "readBool", "writeBool", " = false", "True"),
}


@dataclass(frozen=True)
class Field:
    name: str
    kind: FieldKind


def parse_fields(specs: list[str]) -> list[Field]:
    """``NAME:TYPE`` (TYPE ``string``, ``int`` or ``bool``; ``NAME`` alone is a string)."""
    if not specs:
        specs = ["text:string"]
    if len(specs) > MAX_FIELDS:
        raise ScaffoldError(f"an entry type has at most {MAX_FIELDS} fields")
    fields: list[Field] = []
    for spec in specs:
        name, _, kind = spec.partition(":")
        kind = kind or "string"
        if not ZOME_NAME.match(name) or len(name) > ZOME_NAME_MAX or name in RESERVED_FIELDS:
            raise ScaffoldError(
                f"field {name or spec}: use lower-case letters, digits and '_', starting with a "
                "letter (not a Rust keyword, not hash)"
            )
        if kind not in KINDS:
            raise ScaffoldError(f"field {name}: the type is one of {', '.join(KINDS)}")
        if any(f.name == name for f in fields):
            raise ScaffoldError(f"field {name} is named twice")
        fields.append(Field(name, KINDS[kind]))
    return fields


def _plural(name: str) -> str:
    return name + ("es" if name.endswith(("s", "x", "ch", "sh")) else "s")


def _values(name: str, zome: str, fields: list[Field]) -> dict[str, str]:
    names = ", ".join(f.name for f in fields)
    sample = ", ".join(f'"{f.name}": {f.kind.sample.format(name=f.name)}' for f in fields)
    reads = "".join(
        f'    {"if" if i == 0 else "else if"} (key == "{f.name}") '
        f"{{ {f.name} = from.{f.kind.read}(); seen |= {1 << i}; }}\n"
        for i, f in enumerate(fields)
    )
    return {
        "entry_type": name,
        "zome_name": zome,
        "const_name": name.upper(),
        "type_name": "".join(part.capitalize() for part in name.split("_") if part),
        "create_fn": f"create_{name}",
        "list_fn": f"list_{_plural(name)}",
        "copy_fn": f"copy_{name}",
        "field_list": names,
        "field_count": str(len(fields)),
        "all_seen": str((1 << len(fields)) - 1),
        "rust_fields": "".join(f"    {f.name}: {f.kind.rust},\n" for f in fields),
        "rust_moves": "".join(f"                {f.name}: entry.{f.name},\n" for f in fields),
        "as_locals": "".join(f"  let {f.name}{f.kind.initial};\n" for f in fields),
        "as_reads": reads,
        "as_writes": "".join(
            f'  out.writeString("{f.name}").{f.kind.write}({f.name});\n' for f in fields
        ),
        "sample": "{" + sample + "}",
    }


def _zome_dir(root: Path, zome: str | None) -> Path:
    zomes = sorted(p for p in (root / "zomes").glob("*") if p.is_dir())
    if zome is not None:
        found = root / "zomes" / zome
        if found not in zomes:
            raise ScaffoldError(f"no zome {zome} in {root / 'zomes'}")
        return found
    if len(zomes) != 1:
        names = ", ".join(p.name for p in zomes) or "none"
        raise ScaffoldError(f"the app's zomes are {names}: choose one with --zome NAME")
    return zomes[0]


def _lang_of(zdir: Path) -> tuple[Lang, Path]:
    if (zdir / "src" / "lib.rs").is_file():
        return Lang.RUST, zdir / "src" / "lib.rs"
    if (zdir / "assembly" / "index.ts").is_file():
        return Lang.ASSEMBLYSCRIPT, zdir / "assembly" / "index.ts"
    raise ScaffoldError(f"{zdir} has neither src/lib.rs nor assembly/index.ts")


def _refuse_clashes(source: Path, text: str, values: dict[str, str]) -> None:
    if re.search(rf"[\"']{re.escape(values['entry_type'])}[\"']", text):
        raise ScaffoldError(f"{source} already names the entry type {values['entry_type']}")
    for key in ("const_name", "type_name", "create_fn", "list_fn", "copy_fn"):
        if re.search(rf"\b{re.escape(values[key])}\b", text):
            raise ScaffoldError(f"{source} already has {values[key]}: choose another name")


ZOME_FNS = re.compile(r"zome_fns!\s*\((.*?)\)\s*;", re.S)
SERDE_USE = re.compile(r"^use serde::(.*?);", re.M | re.S)


def _add_to_rust(text: str, block: str, values: dict[str, str], source: Path) -> str:
    m = ZOME_FNS.search(text)
    if m is None:
        raise ScaffoldError(f"{source} has no zome_fns!(…): cannot export the new functions")
    names = [n.strip() for n in m.group(1).split(",") if n.strip()]
    names += [values["create_fn"], values["list_fn"]]
    exported = f"zome_fns!({', '.join(names)});"
    if len(exported) > 99:  # as rustfmt lays it out
        exported = "zome_fns!(\n" + "".join(f"    {n},\n" for n in names) + ");"
    # the block goes before the comment lines that introduce zome_fns!
    start = text.rfind("\n", 0, m.start()) + 1
    lines_before = text[:start].splitlines(keepends=True)
    while lines_before and lines_before[-1].lstrip().startswith("//"):
        start -= len(lines_before.pop())
    new = text[:start].rstrip("\n") + "\n" + block + "\n" + text[start : m.start()]
    new += exported + text[m.end() :]
    uses = " ".join(u.group(1) for u in SERDE_USE.finditer(new))
    if not all(re.search(rf"\b{t}\b", uses) for t in ("Deserialize", "Serialize")):
        if uses:
            raise ScaffoldError(f"{source}: import serde's Deserialize and Serialize, then retry")
        first_use = re.search(r"^use ", new, re.M)
        at = first_use.start() if first_use else 0
        new = new[:at] + "use serde::{Deserialize, Serialize};\n" + new[at:]
    return new


SDK_IMPORT = re.compile(r'import\s*\{([^}]*)\}\s*from\s*"@zomehost/sdk";')
AS_NEEDS = (
    "ChainQueryFilter",
    "Decoder",
    "Encoder",
    "HoloHash",
    "Outcome",
    "create",
    "fail",
    "ok",
    "query",
    "zomeFn",
)


def _add_to_assemblyscript(text: str, block: str) -> str:
    m = SDK_IMPORT.search(text)
    if m is None:
        names: list[str] = []
        head = ""
    else:
        names = [n.strip() for n in m.group(1).split(",") if n.strip()]
        head = text[: m.start()]
        text = text[m.end() :]
    wanted = sorted({*names, *AS_NEEDS}, key=lambda n: (n[0].islower(), n))
    imports = "import {\n" + "".join(f"  {n},\n" for n in wanted) + '} from "@zomehost/sdk";'
    return head + imports + text.rstrip("\n") + "\n" + block


def new_entry_type(
    name: str,
    fields: list[str],
    *,
    zome: str | None = None,
    app: Path | None = None,
    cwd: Path | None = None,
) -> Scaffolded:
    """Add entry type ``name`` (with ``NAME:TYPE`` fields) to a zome of the app around
    ``cwd`` (or ``app``)."""
    if not ZOME_NAME.match(name) or len(name) > ZOME_NAME_MAX:
        raise ScaffoldError(
            f"entry type {name}: use lower-case letters, digits and '_', starting with a letter"
        )
    parsed = parse_fields(fields)
    cwd = (cwd or Path.cwd()).resolve()
    start = (cwd / app).resolve() if app is not None else cwd
    root = find_app_root(start)
    if root is None:
        raise ScaffoldError(f"no happ.yaml in {start} or above it: run this inside an app")
    zdir = _zome_dir(root, zome)
    lang, source = _lang_of(zdir)
    values = _values(name, zdir.name, parsed)
    text = source.read_text(encoding="utf-8")
    _refuse_clashes(source, text, values)
    if lang is Lang.RUST:
        new = _add_to_rust(text, render(_template("entry_type", "lib.rs"), values), values, source)
    else:
        new = _add_to_assemblyscript(text, render(_template("entry_type", "index.ts"), values))
    out = Scaffolded(root)
    test_file = root / "tests" / f"test_{zdir.name}_{name}.py"
    try:
        _write(
            test_file, render(_template("entry_type", "test_entry_type.py.template"), values), out
        )
        source.write_text(new, encoding="utf-8")
    except BaseException:
        source.write_text(text, encoding="utf-8")
        for f in out.files:
            f.unlink(missing_ok=True)
        raise
    out.changed = [source]
    out.notes = [f"{values['create_fn']}({{{values['field_list']}}}) and {values['list_fn']}()"]
    rel = os.path.relpath(root, cwd)
    out.next_steps = [f"zomehost test {rel}  # build, then run the app's tests, the new one too"]
    return out
