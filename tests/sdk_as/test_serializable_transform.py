"""The @serializable / @scheduled transform (sdk/assemblyscript/bin/serializable.mjs) refuses
what it cannot serialise, by name, at compile time; its key names are serde's snake_case.
(What it generates is checked against serde in tests/conformance/test_typed_classes.py,
and @scheduled in tests/conductor/test_schedule.py.)"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ASC = REPO / "sdk" / "assemblyscript" / "bin" / "zomehost-asc.mjs"
TRANSFORM = REPO / "sdk" / "assemblyscript" / "bin" / "serializable.mjs"

BAD_ENTRY = """
import { Encoder } from "@zomehost/sdk";
import { Plain } from "./other";
export { __zh_alloc, __zh_free } from "@zomehost/sdk";

@serializable
class Generic<T> {
  value: i32 = 0;
}

class Base {
  id: i32 = 0;
}

@serializable
class Derived extends Base {
  extra: i32 = 0;
}

@serializable
class Clash {
  fooBar: i32 = 0;
  foo_bar: i32 = 0;
}

@serializable
class Callback {
  f: (x: i32) => i32 = (x: i32): i32 => x;
}

@scheduled
function notExported(last: i32): i32 { return last; }

export function use(e: Encoder, p: Plain): void {}
"""

BAD_OTHER = """
@serializable
export class Plain {
  x: i32 = 0;
}
"""


def node() -> str:
    found = shutil.which("node")
    if found is None:
        pytest.fail("node is not installed: the AssemblyScript SDK needs it")
    return found


def test_unsupported_classes_and_functions_are_refused_by_name(tmp_path: Path) -> None:
    (tmp_path / "assembly").mkdir()
    (tmp_path / "assembly" / "index.ts").write_text(BAD_ENTRY)
    (tmp_path / "assembly" / "other.ts").write_text(BAD_OTHER)
    (tmp_path / "node_modules").symlink_to(REPO / "node_modules")
    proc = subprocess.run(
        [node(), str(ASC), "assembly/index.ts", "-o", "build/bad.wasm"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    for expected in (
        "@serializable Generic: generic classes are not supported",
        "@serializable Derived: a class that extends another is not supported",
        '@serializable Clash: fields fooBar and foo_bar both travel as "foo_bar"',
        "@serializable Callback: field f: only named types are supported",
        "@scheduled notExported must be exported",
        "other.ts: a file with @serializable classes or @scheduled functions must import "
        'from "@zomehost/sdk"',
    ):
        assert expected in out, out
    assert not (tmp_path / "build" / "bad.wasm").exists()


def test_keys_are_serde_snake_case() -> None:
    names = ["title", "createdAt", "bigCount", "already_snake", "httpURLValue", "x1Y"]
    script = (
        f"import({json.dumps(TRANSFORM.as_uri())}).then(m => "
        f"console.log(JSON.stringify({json.dumps(names)}.map(m.snakeCase))))"
    )
    proc = subprocess.run(
        [node(), "-e", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert json.loads(proc.stdout) == [
        "title", "created_at", "big_count", "already_snake", "http_url_value", "x1_y"
    ]  # fmt: skip
