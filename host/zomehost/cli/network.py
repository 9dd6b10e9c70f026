"""``zomehost bootstrap``: run a bootstrap service for peer discovery (docs/network.md)."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer


def bootstrap(
    port: Annotated[
        int, typer.Option("--port", help="TCP port to listen on (0 = any free port).")
    ] = 0,
    host: Annotated[str, typer.Option("--host", help="Address to bind.")] = "127.0.0.1",
) -> None:
    """Run a bootstrap service: conductors publish and look up signed agent infos per DNA."""
    from zomehost.network.bootstrap import serve

    if not 0 <= port <= 65535:
        raise typer.BadParameter("the port must be in 0..65535", param_hint="--port")
    try:
        asyncio.run(serve(host, port))
    except OSError as exc:
        typer.echo(f"error: cannot listen on {host}:{port}: {exc.strerror or exc}", err=True)
        raise typer.Exit(1) from None
