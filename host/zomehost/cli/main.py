"""``zomehost``: install apps, call zomes, inspect chains, run a conductor.

Every command takes ``--home DIR`` (default ``$ZOMEHOST_HOME`` or ``~/.zomehost``), either
before the command or after it. Errors print one line and exit 1.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from zomehost.api.views import scheduled_functions
from zomehost.chain.store import FORMAT as STORE_FORMAT
from zomehost.chain.store import Store
from zomehost.cli.help import Group as PlainHelpGroup
from zomehost.cli.render import (
    BYTES_PREFIX,
    bytes_from_text,
    bytes_text,
    dumps,
    os_error_text,
    parse_payload,
    record_view,
    schedule_line,
    shown,
)
from zomehost.conductor.app import AppStatus
from zomehost.conductor.conductor import Conductor
from zomehost.conductor.home import Home, default_home, passphrase_from_env
from zomehost.conductor.packing import (
    pack_app_dir,
    pack_dna_dir,
    pack_web_app_dir,
    unpack_app,
    unpack_dna,
    unpack_web_app,
)
from zomehost.core.action import ActionType
from zomehost.core.bundle import MAX_BUNDLE_BYTES
from zomehost.core.capability import (
    SECRET_LEN,
    AccessKind,
    CapAccess,
    GrantedFunctions,
    ZomeCallCapGrant,
)
from zomehost.core.clock import now_micros
from zomehost.core.codec import pack
from zomehost.core.files import read_bounded
from zomehost.core.hash import ActionHash, AgentPubKey, HoloHash, any_hash
from zomehost.core.query import ChainQueryFilter
from zomehost.core.zome_call import ZomeCall
from zomehost.errors import BundleError, HomeInUse, InvalidInput, NotFound, ZomehostError

app = typer.Typer(
    cls=PlainHelpGroup,
    help="zomehost: a WebAssembly-sandboxed zome host (Holochain's call and capability model).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,  # --install-completion, --show-completion
)
app_cmd = typer.Typer(
    help="Pack, unpack, install, list, enable, disable and uninstall apps.", no_args_is_help=True
)
dna_cmd = typer.Typer(help="Pack and unpack DNAs.", no_args_is_help=True)
web_app_cmd = typer.Typer(
    help="Pack and unpack web apps (.webhapp: a hApp and its UI).", no_args_is_help=True
)
agent_cmd = typer.Typer(help="Manage agent keys in the keystore.", no_args_is_help=True)
app.add_typer(app_cmd, name="app")
app.add_typer(dna_cmd, name="dna")
app.add_typer(web_app_cmd, name="web-app")
app.add_typer(agent_cmd, name="agent")

err = Console(stderr=True, highlight=False, soft_wrap=True, markup=False)  # text is text
T = TypeVar("T")
HomeOpt = Annotated[
    Path | None, typer.Option("--home", help="Conductor home directory.", show_default=False)
]
# a running conductor to go through instead of opening the home (commands that can)
ConductorOpt = Annotated[
    str | None,
    typer.Option(
        "--conductor",
        help="ws://host:port of a running conductor's admin interface, or 'auto' for the "
        "one running on --home.",
    ),
]
_global_home: list[Path | None] = [None]


def _print_version(value: bool) -> None:
    if value:
        import zomehost

        print(f"zomehost {zomehost.__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    home: HomeOpt = None,
    verbose: Annotated[
        int, typer.Option("--verbose", "-v", count=True, help="More log output.")
    ] = 0,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version."
        ),
    ] = False,
) -> None:
    _global_home[0] = home
    import logging

    logging.basicConfig(
        level=logging.WARNING - 10 * min(verbose, 2),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def _home(home: Path | None) -> Home:
    return Home(home or _global_home[0] or default_home())


def _passphrase(confirm: bool = False) -> str:
    value = passphrase_from_env()
    if value is not None:
        return value
    if not sys.stdin.isatty():
        raise InvalidInput("no passphrase: set ZOMEHOST_PASSPHRASE or run in a terminal")
    return str(typer.prompt("Keystore passphrase", hide_input=True, confirmation_prompt=confirm))


def _fail(message: str) -> None:
    err.print(f"[bold red]error:[/] {escape(message)}", markup=True, soft_wrap=True)
    raise typer.Exit(1)


def _describe(exc: ZomehostError) -> str:
    """One line; the kind first where it is the point (Unauthorized, AuthenticationFailed…)."""
    if exc.kind in ("Unauthorized", "AuthenticationFailed", "Timeout", "LimitExceeded", "Trap"):
        return f"{exc.kind}: {exc.message}"
    return exc.message


def _guard(fn: Callable[[], T]) -> T:
    try:
        return fn()
    except ZomehostError as exc:
        _fail(_describe(exc))
    except OSError as exc:
        _fail(os_error_text(exc))
    raise AssertionError("unreachable")


def _in_use(exc: HomeInUse, *, through: bool) -> HomeInUse:
    """``exc`` with what to do about it: ``through``, the command can go through the
    running conductor (it has ``--conductor``)."""
    if exc.admin_url is None:
        hint = "stop it first"
    elif through:
        hint = f"stop it, or go through it with --conductor {exc.admin_url}"
    else:
        hint = (
            "stop it first (this command works on a stopped home; the running "
            f"conductor takes admin calls at {exc.admin_url})"
        )
    return HomeInUse(f"{exc.message}: {hint}", exc.pid, exc.admin_url)


def _guard_home(fn: Callable[[], T], *, through: bool = False) -> T:
    """:func:`_guard` for work that takes the home (one process per home: a running
    daemon is named, with what to do about it, never written past)."""

    def guarded() -> T:
        try:
            return fn()
        except HomeInUse as exc:
            raise _in_use(exc, through=through) from None

    return _guard(guarded)


@contextmanager
def _conductor(home: Path | None, *, through: bool = False) -> Iterator[Conductor]:
    h = _home(home)
    status = err.status("compiling…")
    started = [False]

    def on_compile(zome: str) -> None:
        if not started[0]:
            status.start()
            started[0] = True
        status.update(f"compiling zome [bold]{zome}[/] (cached after this)…")

    _guard_home(h.lock, through=through)
    try:
        conductor = _guard(lambda: Conductor.open(h, _passphrase(), on_compile=on_compile))
    except BaseException:
        h.unlock()
        raise
    try:
        yield conductor
    except ZomehostError as exc:
        _fail(_describe(exc))
    finally:
        if started[0]:
            status.stop()
        conductor.close()
        h.unlock()


def _text_hash(text: str, what: str) -> HoloHash:
    try:
        return any_hash(HoloHash.from_text(text).raw)  # typed: ActionHash, AgentPubKey, ...
    except ZomehostError as exc:
        raise InvalidInput(f"{what}: {exc.message}") from None


# -- home ---------------------------------------------------------------------------------
@app.command()
def init(home: HomeOpt = None) -> None:
    """Create a conductor home: config, keystore (sealed with your passphrase), store."""
    h = _home(home)
    _guard(lambda: h.init(_passphrase(confirm=True)))
    err.print(f"initialised zomehost home at {h.path}")


@agent_cmd.command("new")
def agent_new(home: HomeOpt = None) -> None:
    """Generate a new agent key pair in the keystore and print its public key."""
    with _conductor(home) as c:
        print(c.generate_agent())


@agent_cmd.command("list")
def agent_list(home: HomeOpt = None) -> None:
    """List the agent public keys in the keystore."""
    with _conductor(home) as c:
        for agent in c.agents():
            print(agent)


# -- bundles ------------------------------------------------------------------------------
@dna_cmd.command("pack")
def dna_pack(
    directory: Annotated[Path, typer.Argument(help="Directory with dna.yaml (or the file).")],
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Bundle file to write.")
    ] = None,
    home: HomeOpt = None,
) -> None:
    """Pack a DNA directory (dna.yaml + wasm) into one .dna bundle file."""
    out, dna_hash = _guard(lambda: pack_dna_dir(directory, output))
    err.print(f"wrote {out} (dna hash {dna_hash})")
    print(out)


@app_cmd.command("pack")
def app_pack(
    directory: Annotated[Path, typer.Argument(help="Directory with happ.yaml (or the file).")],
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Bundle file to write.")
    ] = None,
    home: HomeOpt = None,
) -> None:
    """Pack an app directory (happ.yaml + its DNAs) into one .happ bundle file."""
    out = _guard(lambda: pack_app_dir(directory, output))
    err.print(f"wrote {out}")
    print(out)


UnpackDirOpt = Annotated[
    Path | None,
    typer.Option(
        "-o", "--output", metavar="DIR", help="Directory to write (default: the bundle's name)."
    ),
]
ForceOpt = Annotated[
    bool, typer.Option("--force", help="Overwrite the manifest and files already there.")
]


def _unpack(unpack: Callable[..., Path], bundle: Path, output: Path | None, force: bool) -> None:
    """Unpack ``bundle`` into ``output`` (default: the bundle's name); print where."""
    out = _guard(lambda: unpack(bundle, output or Path(bundle.stem), force=force))
    err.print(f"unpacked {bundle} into {out}")
    print(out)


@dna_cmd.command("unpack")
def dna_unpack(
    bundle: Annotated[Path, typer.Argument(help="A .dna bundle file.")],
    output: UnpackDirOpt = None,
    force: ForceOpt = False,
    home: HomeOpt = None,
) -> None:
    """Unpack a .dna bundle into a directory: dna.yaml and one ZOME.wasm per zome (packing
    it again gives the same bundle)."""
    _unpack(unpack_dna, bundle, output, force)


@app_cmd.command("unpack")
def app_unpack(
    bundle: Annotated[Path, typer.Argument(help="A .happ bundle file.")],
    output: UnpackDirOpt = None,
    force: ForceOpt = False,
    home: HomeOpt = None,
) -> None:
    """Unpack a .happ bundle into a directory: happ.yaml and one ROLE.dna per role (packing
    it again gives the same bundle; `zomehost dna unpack` opens a .dna)."""
    _unpack(unpack_app, bundle, output, force)


@web_app_cmd.command("pack")
def web_app_pack(
    directory: Annotated[Path, typer.Argument(help="Directory with web-happ.yaml (or the file).")],
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Bundle file to write.")
    ] = None,
    home: HomeOpt = None,
) -> None:
    """Pack a web app (web-happ.yaml: its hApp and its UI folder) into one .webhapp file."""
    out = _guard(lambda: pack_web_app_dir(directory, output))
    err.print(f"wrote {out}")
    print(out)


@web_app_cmd.command("unpack")
def web_app_unpack(
    bundle: Annotated[Path, typer.Argument(help="A .webhapp bundle file.")],
    output: UnpackDirOpt = None,
    force: ForceOpt = False,
    home: HomeOpt = None,
) -> None:
    """Unpack a .webhapp bundle into a directory: web-happ.yaml, NAME.happ and ui.zip
    (packing it again gives the same bundle; `zomehost app unpack` opens the .happ)."""
    _unpack(unpack_web_app, bundle, output, force)


# -- apps ---------------------------------------------------------------------------------
@app_cmd.command("install")
def app_install(
    bundle: Annotated[Path, typer.Argument(help="A .happ or .webhapp bundle file.")],
    app_id: Annotated[str, typer.Option("--app-id", help="Id to install the app under.")],
    agent: Annotated[str | None, typer.Option("--agent", help="Existing agent key to use.")] = None,
    network_seed: Annotated[
        str | None, typer.Option("--network-seed", help="Override the DNAs' network seed.")
    ] = None,
    link: Annotated[
        list[str] | None,
        typer.Option(
            "--link",
            metavar="APP",
            help="An installed app whose cells this app's zomes may call as their author "
            "(repeatable). Without it another app's cells answer only to grants.",
        ),
    ] = None,
    home: HomeOpt = None,
) -> None:
    """Install an app bundle for an agent (new unless --agent); runs genesis for each cell."""
    data = _guard(lambda: read_bounded(bundle, MAX_BUNDLE_BYTES, BundleError))
    with _conductor(home) as c:
        agent_key = AgentPubKey(HoloHash.from_text(agent).raw) if agent else None
        installed = c.install_app(data, app_id, agent_key, network_seed, frozenset(link or ()))
        err.print(f"installed app [bold]{app_id}[/] for agent {installed.agent}", markup=True)
        for role, dna in installed.roles.items():
            err.print(f"  role {role}: dna {dna}")
        print(installed.agent)


@app_cmd.command("ui")
def app_ui(
    app_id: Annotated[str, typer.Argument(help="Installed app id, or `dashboard`.")],
    open_it: Annotated[bool, typer.Option("--open", help="Open it in a browser.")] = False,
    home: HomeOpt = None,
) -> None:
    """Print the URL where the running conductor serves APP's UI (or the dashboard)."""
    from zomehost.cli.remote import served_ui_url

    url = _guard(lambda: served_ui_url(_home(home), app_id))
    print(url)
    if open_it:
        import webbrowser

        webbrowser.open(url)


@app_cmd.command("list")
def app_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    home: HomeOpt = None,
) -> None:
    """List installed apps with their status, agent and cells."""
    with _conductor(home) as c:
        apps = c.list_apps()
        if as_json:
            print(
                dumps(
                    [
                        {
                            "app_id": a.app_id,
                            "status": a.status.value,
                            "agent": a.agent.raw,
                            "roles": {r: h.raw for r, h in a.roles.items()},
                            "linked_apps": sorted(a.linked_apps),
                        }
                        for a in apps
                    ],
                    pretty=True,
                )
            )
            return
        if not apps:
            err.print("no apps installed")
        for a in apps:
            links = f"\tlinked: {', '.join(sorted(a.linked_apps))}" if a.linked_apps else ""
            print(f"{a.app_id}\t{a.status.value}\t{a.agent}\t{', '.join(a.roles)}{links}")


def _set_status(app_id: str, status: AppStatus, home: Path | None) -> None:
    with _conductor(home) as c:
        c.set_app_status(app_id, status)
        err.print(f"app {app_id} {status.value}")


@app_cmd.command("enable")
def app_enable(app_id: str, home: HomeOpt = None) -> None:
    """Enable an installed app: its cells take calls again."""
    _set_status(app_id, AppStatus.ENABLED, home)


@app_cmd.command("disable")
def app_disable(app_id: str, home: HomeOpt = None) -> None:
    """Disable an app: its cells refuse calls; data is kept."""
    _set_status(app_id, AppStatus.DISABLED, home)


@app_cmd.command("uninstall")
def app_uninstall(app_id: str, home: HomeOpt = None) -> None:
    """Uninstall an app (its chains stay in the store)."""
    with _conductor(home) as c:
        c.uninstall_app(app_id)
        err.print(f"app {app_id} uninstalled")


def _zome_files(specs: list[str]) -> dict[str, bytes]:
    """``NAME=WASM`` options as zome name -> wasm bytes."""
    zomes: dict[str, bytes] = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            raise InvalidInput(f"--zome takes NAME=PATH/TO.wasm, got {shown(spec)}")
        zomes[name] = Path(path).read_bytes()
    return zomes


@app_cmd.command("update-coordinators")
def app_update_coordinators(
    app_id: Annotated[str, typer.Argument(help="Installed app id.")],
    role: Annotated[str, typer.Argument(help="Role whose DNA gets the new code.")],
    zome: Annotated[
        list[str],
        typer.Option("--zome", metavar="NAME=WASM", help="A zome to replace or add (repeatable)."),
    ],
    conductor: Annotated[
        str | None,
        typer.Option(
            "--conductor",
            help="ws://host:port of a running conductor's admin interface (the swap is live), "
            "or 'auto' for the one running on --home.",
        ),
    ] = None,
    home: HomeOpt = None,
) -> None:
    """Replace zomes of a role's DNA in place: every cell of that DNA runs the new code from
    its next call; chains and the DNA hash stay as installed (docs/conductor-api.md)."""
    zomes = _guard(lambda: _zome_files(zome))
    if conductor is not None:
        from zomehost.cli.remote import update_coordinators_through_conductor

        _guard(
            lambda: update_coordinators_through_conductor(
                conductor, _home(home), app_id, role, zomes
            )
        )
    else:
        with _conductor(home, through=True) as c:
            c.update_coordinators(c.cell_id_for(app_id, role).dna_hash, zomes)
    err.print(f"updated zome(s) {', '.join(sorted(zomes))} of {app_id}/{role}")


# -- calls --------------------------------------------------------------------------------
def _provenance(c: Conductor, who: str | None, default: AgentPubKey) -> AgentPubKey:
    if who is None:
        return default
    if who.startswith("uhCAk"):
        agent = AgentPubKey.from_text(who)
        if agent not in c.keystore.keys:
            raise NotFound(f"agent {who} has no key in this keystore")
        return agent
    return c.get_app(who).agent


def _secret(text: str | None) -> bytes | None:
    """A secret as `zomehost grant` prints it, or as a call's result shows it (base64:…)."""
    if text is None:
        return None
    try:
        secret = bytes_from_text(text.strip().removeprefix(BYTES_PREFIX))
    except ValueError:
        secret = b""
    if len(secret) != SECRET_LEN:
        raise InvalidInput(
            f"--cap-secret takes a {SECRET_LEN}-byte secret in base64url, as `zomehost grant` "
            "prints it or as a call's result shows it (base64:…)"
        )
    return secret


@app.command()
def call(
    app_id: Annotated[str, typer.Argument(help="Installed app id.")],
    role: Annotated[str, typer.Argument(help="Role name in the app, or a clone's id (role.N).")],
    zome: Annotated[str, typer.Argument(help="Zome name.")],
    fn: Annotated[str, typer.Argument(help="Function name.")],
    payload: Annotated[
        str | None, typer.Argument(help="Input as JSON (hashes as u… text).")
    ] = None,
    as_: Annotated[
        str | None, typer.Option("--as", help="Call as another local agent (key or app id).")
    ] = None,
    cap_secret: Annotated[
        str | None,
        typer.Option(
            "--cap-secret",
            help="Capability secret to present: as `zomehost grant` prints it (base64url), "
            "or the base64:… text a call's result shows.",
        ),
    ] = None,
    conductor: ConductorOpt = None,
    home: HomeOpt = None,
) -> None:
    """Call a zome function and print its result as JSON."""
    value = _guard(lambda: parse_payload(payload))
    secret = _guard(lambda: _secret(cap_secret))
    if conductor is not None:
        from zomehost.cli.remote import call_through_conductor

        result = _guard(
            lambda: call_through_conductor(
                conductor, _home(home), app_id, role, zome, fn, value, as_, secret
            )
        )
        print(dumps(result))
        return
    with _conductor(home, through=True) as c:
        cell = c.cell_for(app_id, role)
        provenance = _provenance(c, as_, cell.id.agent)
        result = c.call_zome(ZomeCall(cell.id, zome, fn, pack(value), provenance, secret))
        print(dumps(result))


# -- chains -------------------------------------------------------------------------------
@app.command(context_settings={"allow_interspersed_args": True})
def chain(
    target: Annotated[
        list[str],
        typer.Argument(
            metavar="[verify] APP ROLE | migrate",
            help="`APP ROLE` prints the chain; `verify APP ROLE` checks it; `migrate` brings "
            "the home's chain store to the current format (also done on open).",
        ),
    ],
    entry_type: Annotated[
        list[str] | None, typer.Option("--entry-type", help="Only these entry types.")
    ] = None,
    action_type: Annotated[
        list[str] | None, typer.Option("--action-type", help="Only these action types.")
    ] = None,
    start: Annotated[int | None, typer.Option("--from", help="First sequence number.")] = None,
    end: Annotated[int | None, typer.Option("--to", help="Sequence number to stop before.")] = None,
    descending: Annotated[bool, typer.Option("--descending", help="Newest first.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print records as JSON.")] = False,
    home: HomeOpt = None,
) -> None:
    """Print a cell's source chain readably, `chain verify APP ROLE` to check it, or
    `chain migrate` to migrate the chain store (resumes where an interrupted run stopped)."""
    if target == ["migrate"]:
        h = _home(home)
        if not h.exists():
            _fail(f"{h.path} is not a zomehost home: run `zomehost init` first")
        cfg = _guard(h.config)
        _guard_home(h.lock)  # (a running daemon migrated it when it opened)
        try:
            _guard(lambda: Store(h.data_path, map_size=cfg.map_size, progress=print).close())
        finally:
            h.unlock()
        print(f"the chain store of {h.path} is in format {STORE_FORMAT}")
        return
    if len(target) == 3 and target[0] == "verify":
        with _conductor(home) as c:
            cell = c.cell_for(target[1], target[2])
            n = cell.chain.verify()
            print(
                f"chain of {target[1]}/{target[2]} is intact: {n} records, hashes, links, "
                "sequence and signatures verified"
            )
        return
    if len(target) != 2:
        _fail(
            "usage: zomehost chain APP ROLE  |  zomehost chain verify APP ROLE  |  "
            "zomehost chain migrate"
        )
    flt = _guard(
        lambda: ChainQueryFilter.from_wire(
            {
                "entry_type": entry_type or None,
                "action_type": action_type or None,
                "sequence_range": [start or 0, end if end is not None else 1 << 62]
                if start is not None or end is not None
                else None,
                "include_entries": True,
                "descending": descending,
            }
        )
    )
    with _conductor(home) as c:
        cell = c.cell_for(target[0], target[1])
        records = cell.chain.records(flt)
        if as_json:
            print(dumps([record_view(r.to_wire()) for r in records], pretty=True))
            return
        for r in records:
            a = r.action
            detail = ""
            if a.type in (ActionType.CREATE, ActionType.UPDATE) and r.entry is not None:
                content = record_view(r.to_wire())["entry"]["content"]
                detail = f" {a.entry_type}: {dumps(content)[:200]}"
            if a.type is ActionType.DELETE:
                detail = f" deletes {a.deletes_address}"
            if a.type is ActionType.UPDATE:
                detail += f" (updates {a.original_action_address})"
            print(f"#{a.action_seq:<4} {a.type.value:<20} {r.action_hash}{detail}")


# -- scheduled functions ------------------------------------------------------------------
@app.command()
def schedules(
    app_id: Annotated[str, typer.Argument(metavar="APP", help="The installed app.")],
    role: Annotated[str, typer.Argument(metavar="ROLE", help="The role (or clone) of the cell.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print them as JSON.")] = False,
    conductor: ConductorOpt = None,
    home: HomeOpt = None,
) -> None:
    """List a cell's scheduled functions, soonest first: when each runs next, and the
    schedule it returned last (from the home, or a running conductor with --conductor)."""
    if conductor is not None:
        from zomehost.cli.remote import schedules_through_conductor

        listed = _guard(lambda: schedules_through_conductor(conductor, _home(home), app_id, role))
    else:
        with _conductor(home, through=True) as c:
            listed = scheduled_functions(c, c.cell_id_for(app_id, role))
    if as_json:
        print(dumps(listed, pretty=True))
        return
    if not listed:
        print(f"{app_id}/{role} has no scheduled functions")
        return
    now = now_micros()
    for item in listed:
        print(schedule_line(item, now))


# -- capabilities -------------------------------------------------------------------------
def _parse_functions(text: str) -> GrantedFunctions:
    if text.strip() in ("*", "all", "All"):
        return GrantedFunctions(None)
    pairs = set()
    for item in text.split(","):
        zome, sep, fn = item.strip().partition(":")
        if not sep or not zome or not fn:
            raise InvalidInput(
                f"--functions takes zome:fn pairs separated by commas, got {shown(item)}"
            )
        pairs.add((zome, fn))
    return GrantedFunctions(frozenset(pairs))


def _functions_text(funcs: GrantedFunctions) -> str:
    """``all functions`` or ``notes:list_notes, notes:get_note`` (as --functions takes them)."""
    if funcs.listed is None:
        return "all functions"
    return ", ".join(f"{z}:{f}" for z, f in sorted(funcs.listed))


@app.command()
def grant(
    app_id: str,
    role: str,
    functions: Annotated[
        str, typer.Option("--functions", help="zome:fn,zome:fn,… or '*' for all.")
    ],
    assignee: Annotated[
        list[str] | None,
        typer.Option("--assignee", help="Agent key allowed to call (assigned grant); repeatable."),
    ] = None,
    transferable: Annotated[
        bool, typer.Option("--transferable", help="Anyone holding the secret may call.")
    ] = False,
    tag: Annotated[str, typer.Option("--tag", help="A label for the grant.")] = "cli",
    home: HomeOpt = None,
) -> None:
    """Grant a capability on APP/ROLE's chain; prints the secret (none for unrestricted)."""
    import os

    funcs = _guard(lambda: _parse_functions(functions))
    if assignee and transferable:
        _fail("--assignee and --transferable exclude each other")
    secret = os.urandom(SECRET_LEN) if (assignee or transferable) else None
    if assignee:
        access = _guard(
            lambda: CapAccess(
                AccessKind.ASSIGNED,
                secret,
                frozenset(AgentPubKey.from_text(a) for a in assignee),
            )
        )
    elif transferable:
        access = CapAccess(AccessKind.TRANSFERABLE, secret)
    else:
        access = CapAccess(AccessKind.UNRESTRICTED)
    with _conductor(home) as c:
        cell = c.cell_for(app_id, role)
        action = c.grant_capability(cell.id, ZomeCallCapGrant(tag, access, funcs))
        err.print(
            f"granted {access.kind.value} access to {_functions_text(funcs)} (grant {action})"
        )
        if secret is not None:
            print(bytes_text(secret))
        else:
            print(action)


@app.command()
def grants(
    app_id: str,
    role: str,
    include_revoked: Annotated[
        bool, typer.Option("--include-revoked", help="Show revoked grants too.")
    ] = False,
    home: HomeOpt = None,
) -> None:
    """List the capability grants on APP/ROLE's chain."""
    with _conductor(home) as c:
        cell = c.cell_for(app_id, role)
        for g in cell.chain.grants(include_revoked=include_revoked):
            access = g.grant.access
            who = ",".join(str(a) for a in sorted(access.assignees, key=lambda a: a.raw))
            state = "revoked" if g.revoked else "live"
            print(
                f"{g.action_hash}\t{state}\t{access.kind.value}\t{_functions_text(g.grant.functions)}"
                f"\ttag={g.grant.tag}" + (f"\tassignees={who}" if who else "")
            )


@app.command()
def revoke(
    app_id: str,
    role: str,
    grant_hash: Annotated[str, typer.Argument(help="Action hash of the grant.")],
    home: HomeOpt = None,
) -> None:
    """Revoke a capability grant at once (deletes it on the chain)."""
    with _conductor(home) as c:
        cell = c.cell_for(app_id, role)
        h = _text_hash(grant_hash, "grant hash")
        if not isinstance(h, ActionHash):
            _fail("the grant hash must be an action hash (uhCkk…)")
        c.revoke_capability(cell.id, h)  # type: ignore[arg-type]
        err.print(f"revoked grant {grant_hash}")


# -- daemon -------------------------------------------------------------------------------
@app.command()
def run(
    admin_port: Annotated[
        int | None,
        typer.Option(
            "--admin-port",
            help="Admin interface port on loopback (0 = any free port; default from the config).",
        ),
    ] = None,
    log_level: Annotated[
        str | None,
        typer.Option(
            "--log-level", help="Log level: debug, info, warning, error (default: warning, -v)."
        ),
    ] = None,
    home: HomeOpt = None,
) -> None:
    """Run the conductor: admin interface, app interfaces, peer network, until SIGINT/SIGTERM."""
    import logging

    from zomehost.runtime import daemon

    if log_level is not None:
        level = logging.getLevelName(log_level.upper())
        if not isinstance(level, int):
            _fail(f"--log-level must be debug, info, warning or error, not {shown(log_level)}")
        logging.getLogger().setLevel(level)
    h = _home(home)
    _guard_home(lambda: daemon.run(h.path, _passphrase(), admin_port))


from zomehost.cli.network import bootstrap as _bootstrap  # noqa: E402

app.command("bootstrap")(_bootstrap)

from zomehost.cli.relay import relay as _relay  # noqa: E402

app.command("relay")(_relay)

from zomehost.cli.scaffold import build as _build  # noqa: E402
from zomehost.cli.scaffold import new_cmd as _new_cmd  # noqa: E402
from zomehost.cli.scaffold import test as _test  # noqa: E402

app.add_typer(_new_cmd, name="new")
app.command("build")(_build)
app.command("test", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})(
    _test
)

from zomehost.cli.dev import dev as _dev  # noqa: E402

app.command("dev")(_dev)


def main() -> None:
    app()
