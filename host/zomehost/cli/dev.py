"""``zomehost dev``: rebuild an app's zomes on save and swap them into a running conductor.

The authoring loop Holochain lacks: edit a zome, save, and the app's next call runs the new
code, its chains, grants and DNA hash untouched (``update_coordinators``,
docs/conductor-api.md). Every ``--interval`` seconds it looks at the newest modification
time of the app's zome sources and wasm; after a change it builds as ``zomehost build``
does, then sends each zome whose wasm changed to every role of the app whose DNA has it.
A failed build is printed and the running code stays.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from zomehost.cli.render import os_error_text, shown
from zomehost.errors import ZomehostError

err = Console(stderr=True, highlight=False, soft_wrap=True, markup=False)


async def swap(url: str, app_id: str, zomes: dict[str, bytes]) -> list[str]:
    """Send ``zomes`` to each role of ``app_id`` whose DNA has them; ``role: zome`` swapped."""
    from zomehost.client import AdminClient
    from zomehost.core.hash import CellId

    done: list[str] = []
    async with await AdminClient.connect(url, origin="zomehost-cli") as admin:
        apps = await admin.list_apps()
        info = next((a for a in apps if a["installed_app_id"] == app_id), None)
        if info is None:
            raise ZomehostError(f"no app {shown(app_id)} on the conductor at {url}")
        for role, cells in info["cell_info"].items():
            cell = next((c for c in cells if c["type"] == "provisioned"), None)
            if cell is None:
                continue
            cell_id = CellId.from_wire(cell["value"]["cell_id"])
            names = {z[0] for z in (await admin.get_dna_definition(cell_id))["coordinator_zomes"]}
            mine = {n: w for n, w in zomes.items() if n in names}
            if mine:
                await admin.update_coordinators(cell_id, mine)
                done += [f"{role}: {n}" for n in sorted(mine)]
    return done


def dev(
    ctx: typer.Context,
    directory: Annotated[Path, typer.Argument(help="The app directory (with happ.yaml).")] = Path(
        "."
    ),
    app_id: Annotated[str, typer.Option("--app-id", help="The installed app to update.")] = "",
    conductor: Annotated[
        str,
        typer.Option(
            "--conductor", help="ws://host:port of the admin interface, or 'auto' (run.json)."
        ),
    ] = "auto",
    interval: Annotated[float, typer.Option("--interval", help="Seconds between looks.")] = 0.5,
    rounds: Annotated[
        int, typer.Option("--rounds", help="Stop after this many looks (0: until Ctrl-C).")
    ] = 0,
    home: Annotated[Path | None, typer.Option("--home", help="Conductor home directory.")] = None,
) -> None:
    """Watch an app's zomes: rebuild on save and swap them into the running conductor."""
    from zomehost.cli.remote import conductor_url
    from zomehost.conductor.home import Home, default_home
    from zomehost.scaffold.build import _newest, build_app, plan
    from zomehost.scaffold.errors import BuildError

    if not app_id:
        err.print("error: --app-id is required")
        raise typer.Exit(1)
    try:
        home = home or (ctx.parent.params.get("home") if ctx.parent else None)
        url = conductor_url(conductor, Home(home or default_home()))
    except ZomehostError as exc:
        err.print(f"error: {exc.message}")
        raise typer.Exit(1) from None
    sent: dict[str, bytes] = {}
    last = -1.0
    looks = 0
    err.print(f"watching {directory} for app {app_id} on {url} (Ctrl-C stops)")
    try:
        while rounds == 0 or looks < rounds:
            looks += 1
            try:
                p = plan(directory)
                watched = [z.source for z in p.zomes if z.lang is not None]
                watched += [o for z in p.zomes for o in z.outputs]
                if _newest(watched) != last:
                    build_app(directory, echo=lambda line: err.print(line, markup=False))
                    last = _newest(watched)  # after the build: its own outputs do not count
                    wasm = {z.name: z.outputs[0].read_bytes() for z in p.zomes if z.outputs}
                    changed = {n: w for n, w in wasm.items() if sent.get(n) != w}
                    if changed:
                        for line in asyncio.run(swap(url, app_id, changed)):
                            err.print(f"swapped {line}")
                        sent.update(changed)
            except (BuildError, ZomehostError, OSError) as exc:
                message = exc.message if isinstance(exc, ZomehostError) else os_error_text(exc)
                err.print(f"error: {message} (the running code stays)", markup=False)
            time.sleep(interval)
    except KeyboardInterrupt:
        err.print("stopped")
