"""``zomehost new app|zome`` and ``zomehost build``: scaffold zomes and build them.

    zomehost new app NAME [--lang rust|assemblyscript] [--zome ZOME]
    zomehost new zome NAME [--lang rust|assemblyscript] [--dna DIR] [--app DIR]
    zomehost new entry-type NAME [--field NAME:TYPE]... [--zome ZOME] [--app DIR]
    zomehost build [DIR] [--force]
    zomehost test [DIR] [-- PYTEST ARGS]

The work is done by :mod:`zomehost.scaffold`; this module prints.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from zomehost.core.json_form import shown
from zomehost.errors import ZomehostError

if TYPE_CHECKING:
    from zomehost.scaffold.new import Lang

new_cmd = typer.Typer(
    help="Scaffold a new app (happ.yaml, a DNA, a zome), or add a zome or an entry type to one.",
    no_args_is_help=True,
)
err = Console(stderr=True, highlight=False, markup=False)
LANGS = ("rust", "assemblyscript")

LangOpt = Annotated[
    str,
    typer.Option(
        "--lang",
        "-l",
        help="The zome's language: rust or assemblyscript (as).",
        show_default=True,
    ),
]
AppDirOpt = Annotated[
    Path | None,
    typer.Option("--app", help="The app directory (default: the one around the cwd)."),
]


def _lang(text: str) -> Lang:
    from zomehost.scaffold.new import Lang

    aliases = {"rust": Lang.RUST, "rs": Lang.RUST, "assemblyscript": Lang.ASSEMBLYSCRIPT}
    aliases.update({"as": Lang.ASSEMBLYSCRIPT, "ts": Lang.ASSEMBLYSCRIPT})
    try:
        return aliases[text.strip().lower()]
    except KeyError:
        raise typer.BadParameter(
            f"{shown(text)}: choose rust or assemblyscript", param_hint="--lang"
        ) from None


def _fail(message: str) -> NoReturn:
    err.print(f"[bold red]error:[/] {escape(message)}", markup=True, soft_wrap=True)
    raise typer.Exit(1)


def _rel(path: Path) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:
        return str(path)


def _report(files: list[Path], changed: list[Path], next_steps: list[str]) -> None:
    for f in files:
        err.print(f"  [green]created[/] {escape(_rel(f))}", markup=True)
    for f in changed:
        err.print(f"  [yellow]updated[/] {escape(_rel(f))}", markup=True)
    if next_steps:
        err.print("next:")
        for step in next_steps:
            err.print(f"  {step}", markup=False)


@new_cmd.command("app")
def new_app(
    name: Annotated[str, typer.Argument(help="The app's name: also its directory, role, DNA.")],
    lang: LangOpt = "rust",
    zome: Annotated[
        str | None,
        typer.Option("--zome", help="The zome's name (default: the app's name, snake_case)."),
    ] = None,
) -> None:
    """Create the directory NAME/: happ.yaml, dna/dna.yaml, one zome with sample functions
    (hello, create_note, list_notes), a README; ready for `zomehost build NAME`."""
    from zomehost.scaffold.new import new_app as scaffold_app

    chosen = _lang(lang)
    try:
        out = scaffold_app(Path.cwd(), name, chosen, zome)
    except ZomehostError as exc:
        _fail(exc.message)
        return
    err.print(f"new {chosen.label} app [bold]{name}[/] in {escape(_rel(out.root))}/", markup=True)
    _report(out.files, out.changed, out.next_steps)
    print(out.root)


@new_cmd.command("zome")
def new_zome(
    name: Annotated[str, typer.Argument(help="The zome's name (snake_case).")],
    lang: LangOpt = "rust",
    dna: Annotated[
        Path | None,
        typer.Option("--dna", help="The DNA to add it to (a directory with dna.yaml)."),
    ] = None,
    app_dir: AppDirOpt = None,
) -> None:
    """Add a zome to the current app: zomes/NAME/ with sample functions, listed in dna.yaml."""
    from zomehost.scaffold.new import new_zome as scaffold_zome

    chosen = _lang(lang)
    try:
        out = scaffold_zome(name, chosen, dna=dna, app=app_dir)
    except ZomehostError as exc:
        _fail(exc.message)
        return
    err.print(f"new {chosen.label} zome [bold]{name}[/] in {escape(_rel(out.root))}/", markup=True)
    _report(out.files, out.changed, out.next_steps)
    print(out.root / "zomes" / name)


@new_cmd.command("entry-type")
def new_entry_type(
    name: Annotated[str, typer.Argument(help="The entry type's name (snake_case).")],
    field: Annotated[
        list[str] | None,
        typer.Option(
            "--field",
            "-f",
            metavar="NAME:TYPE",
            help="A field of its content, TYPE string, int or bool (repeatable; "
            "default: text:string).",
        ),
    ] = None,
    zome: Annotated[
        str | None,
        typer.Option("--zome", help="The zome to add it to (default: the app's only zome)."),
    ] = None,
    app_dir: AppDirOpt = None,
) -> None:
    """Add an entry type to a zome of the current app (Rust or AssemblyScript): its fields,
    create_NAME and list_NAMEs, and a test of both in tests/."""
    from zomehost.scaffold.entry_type import new_entry_type as scaffold_entry_type

    try:
        out = scaffold_entry_type(name, field or [], zome=zome, app=app_dir)
    except ZomehostError as exc:
        _fail(exc.message)
    err.print(f"new entry type [bold]{name}[/]: {out.notes[0]}", markup=True)
    _report(out.files, out.changed, out.next_steps)
    print(out.changed[0])


def _build(directory: Path, force: bool) -> Path:
    """Build every zome of the app (printing progress); the app's root."""
    from zomehost.scaffold.build import build_app, plan

    tty = sys.stderr.isatty()

    def echo(line: str) -> None:
        if line.startswith("==> "):
            err.print(f"[bold]==>[/] {escape(line[4:])}", markup=True, soft_wrap=True)
        else:
            err.print(line, markup=False, soft_wrap=True)

    def stream(line: str) -> None:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()

    try:
        built = build_app(directory, force=force, echo=echo, stream=stream, color=tty)
        root = plan(directory).root
    except ZomehostError as exc:
        _fail(exc.message)
    n = len(built)
    err.print(f"built {n} zome{'s' if n != 1 else ''} of {_rel(directory.resolve())}")
    for b in built:
        for target in b.zome.outputs:
            print(target)
    return root


AppDirArg = Annotated[
    Path, typer.Argument(help="The app directory (with happ.yaml) or a DNA directory.")
]
ForceOpt = Annotated[
    bool, typer.Option("--force", help="Recompile AssemblyScript zomes that are up to date.")
]


def build(directory: AppDirArg = Path("."), force: ForceOpt = False) -> None:
    """Build every zome of an app: Rust with cargo (offline, wasm32), AssemblyScript with the
    SDK's asc wrapper; each wasm is written where the DNA's dna.yaml points."""
    _build(directory, force)


def test(ctx: typer.Context, directory: AppDirArg = Path("."), force: ForceOpt = False) -> None:
    """Build the app, then run its tests (pytest over tests/ with zomehost's fixtures:
    several agents, each on its own conductor process). Arguments after `--` go to pytest,
    e.g. `zomehost test myapp -- -k hello -x`."""
    from zomehost.scaffold.testrun import pytest_command

    root = _build(directory, force)
    try:
        cmd = pytest_command(root, ctx.args)
    except ZomehostError as exc:
        _fail(exc.message)
    err.print(f"==> pytest {_rel(root / 'tests')}", markup=False)
    raise typer.Exit(subprocess.run(cmd, cwd=root, stdin=subprocess.DEVNULL).returncode)
