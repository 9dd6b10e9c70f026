"""What the CLI prints: one text form for bytes, no Python reprs, plain one-line errors.

* Bytes (a zome's result, a record's signature, a secret) are ``base64:`` followed by
  base64url without padding: the very text ``zomehost grant`` prints for a secret and
  ``--cap-secret`` takes.
* No Python ``repr`` reaches a person: not in output, not in error lines (the CLI's source is
  searched for the ways one gets there).
* A missing file is one line naming it, never ``[Errno 2] …``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from zomehost.cli.render import bytes_from_text, bytes_text

Run = Callable[..., Any]
CLI_SOURCES = sorted((Path(__file__).resolve().parents[2] / "host/zomehost/cli").glob("*.py"))
BYTES = re.compile(r"^base64:[A-Za-z0-9_-]*$")
PYTHON_REPR = re.compile(
    r"\{'|\['|(?<![\w-])b['\"]|\\x[0-9a-f]{2}|PosixPath\(|\[Errno|object at 0x"
)


def ok(result: Any) -> str:
    assert result.returncode == 0, f"stdout={result.stdout}\nstderr={result.stderr}"
    assert not PYTHON_REPR.search(result.stdout + result.stderr), result.stdout + result.stderr
    return str(result.stdout)


def one_line_error(result: Any) -> str:
    assert result.returncode != 0, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, result.stderr
    assert not PYTHON_REPR.search(lines[0]), lines[0]
    return lines[0]


def strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from strings(k)
            yield from strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from strings(v)


@pytest.mark.parametrize("source", CLI_SOURCES, ids=lambda p: p.name)
def test_the_cli_source_builds_no_message_from_a_repr(source: Path) -> None:
    text = source.read_text()
    for pattern in (r"!r\}", r"\brepr\(", r"\{exc\}", r"str\(exc\)", r"%r"):
        assert not re.search(pattern, text), f"{source.name}: {pattern}"


def test_a_secret_a_zome_returns_is_printed_as_grant_prints_one(
    probe_home: Path, zomehost_inproc: Run
) -> None:
    printed = json.loads(ok(zomehost_inproc(probe_home, "call", "p", "main", "a", "new_secret")))
    assert BYTES.match(printed), printed
    token = printed.removeprefix("base64:")
    secret = bytes_from_text(token)
    assert len(secret) == 64 and bytes_text(secret) == token  # grant's form, exactly
    granted = ok(
        zomehost_inproc(probe_home, "grant", "p", "main", "--functions", "*", "--transferable")
    ).strip()
    assert re.fullmatch(r"[A-Za-z0-9_-]{86}", granted), granted  # same alphabet, no padding


def test_every_byte_value_in_chain_output_has_the_one_form(
    probe_home: Path, zomehost_inproc: Run
) -> None:
    ok(zomehost_inproc(probe_home, "call", "p", "main", "a", "new_secret"))
    ok(zomehost_inproc(probe_home, "grant", "p", "main", "--functions", "a:echo"))
    records = json.loads(ok(zomehost_inproc(probe_home, "chain", "p", "main", "--json")))
    found = [s for s in strings(records) if s.startswith("base64:")]
    assert found, "the chain has signatures"
    for text in found:
        assert BYTES.match(text), text
    listing = ok(zomehost_inproc(probe_home, "grants", "p", "main"))
    assert "\ta:echo\t" in listing and "{" not in listing and "[" not in listing, listing


def test_user_input_is_quoted_as_json_not_as_python(probe_home: Path, zomehost_inproc: Run) -> None:
    line = one_line_error(zomehost_inproc(probe_home, "grant", "p", "main", "--functions", "it's"))
    assert 'got "it\'s"' in line, line
    line = one_line_error(zomehost_inproc(probe_home, "call", "p", "main", "a", "echo", "{x"))
    assert (
        line == "error: the payload is not valid JSON: Expecting property name enclosed in "
        "double quotes (line 1, column 2)"
    ), line


def test_a_missing_file_is_one_plain_line(
    probe_home: Path, tmp_path: Path, zomehost_inproc: Run
) -> None:
    nope = tmp_path / "no[/]pe [bold]x"  # printed as written, not read as rich markup
    cases = [
        ("app", "install", f"{nope}.happ", "--app-id", "x"),
        ("app", "update-coordinators", "p", "main", "--zome", f"a={nope}.wasm"),
        ("dna", "pack", str(nope)),
        ("app", "pack", str(nope)),
        ("web-app", "pack", str(nope)),
        ("dna", "unpack", f"{nope}.dna"),
        ("app", "unpack", f"{nope}.happ"),
    ]
    for args in cases:
        line = one_line_error(zomehost_inproc(probe_home, *args))
        assert line.startswith("error: "), (args, line)
        assert str(nope) in line, (args, line)
        assert ("Errno" not in line and "No such file" in line) or "no " in line, (args, line)
