"""Every command's ``--help`` is in the shell's words: no Python type or value reprs.

The commands are found by walking the typer app (a new command is checked without being
listed here); each help text is rendered as a terminal shows it and searched for what typer
or Python would print from the code's types: ``<bool>``, ``<list[str]>``, ``<str>``,
``{app_id}``, ``[Errno 2]``, ``None``, ``PosixPath(…)``, ``{'…': …}``.
"""

from __future__ import annotations

import re

import pytest
import typer
from typer.core import TyperGroup
from typer.testing import CliRunner

from zomehost.cli.main import app

REPRS = re.compile(
    r"<(bool|str|int|float|path|text|list\[[^>]*\]|[a-z_]+\[)[^>]*>"  # typer's type labels
    r"|\{[a-z_]+\}"  # typer's required-argument braces
    r"|\[Errno|Errno \d"  # an OSError's repr
    r"|\bNone\b|\bTrue\b|\bFalse\b"  # Python constants
    r"|PosixPath\(|frozenset\(|<class |object at 0x"  # Python object reprs
    r"|\{'|\['"  # a dict's or list's repr
)


def _commands() -> list[list[str]]:
    root = typer.main.get_command(app)
    found: list[list[str]] = []

    def walk(cmd: object, path: list[str]) -> None:
        found.append(path)
        if isinstance(cmd, TyperGroup):
            for name, sub in cmd.commands.items():
                walk(sub, [*path, name])

    walk(root, [])
    return found


COMMANDS = _commands()


def test_the_walk_finds_every_command_group() -> None:
    names = {" ".join(p) for p in COMMANDS}
    assert {"", "call", "app", "app pack", "dna pack", "new app", "chain"} <= names
    assert len(COMMANDS) > 25


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "zomehost")
def test_help_has_no_python_reprs(path: list[str]) -> None:
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output
    bad = sorted({m.group(0) for m in REPRS.finditer(result.output)})
    assert not bad, f"`zomehost {' '.join(path)} --help` shows {bad}:\n{result.output}"


def test_flags_show_no_type_and_values_show_a_metavar() -> None:
    out = CliRunner().invoke(app, ["grant", "--help"], env={"COLUMNS": "200"}).output
    transferable = next(line for line in out.splitlines() if "--transferable" in line)
    assert "Anyone holding" in transferable
    assert re.search(r"--transferable\s+Anyone", transferable), transferable
    assert re.search(r"--tag\s+TEXT", out), out
    assert "Usage: root grant [OPTIONS] APP_ID ROLE" in out


@pytest.mark.parametrize(
    "path", [p for p in COMMANDS if p == [] or p in (["app"], ["new"])], ids=lambda p: str(p)
)
def test_a_groups_command_list_gives_each_command_one_paragraph(path: list[str]) -> None:
    """A command's summary in its group's list is its help's first paragraph, wrapped by the
    terminal only: a wide terminal shows each on one line (typer kept the docstring's line
    breaks, so summaries broke mid-sentence)."""
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "400"})
    assert result.exit_code == 0, result.output
    commands = result.output.split("Commands")[1]
    rows = [line.strip("│ ") for line in commands.splitlines() if line.startswith("│")]
    assert rows and all(re.match(r"^[a-z][a-z-]* {2,}\S", row) for row in rows), rows
