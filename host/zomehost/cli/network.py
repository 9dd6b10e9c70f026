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
    relay_port: Annotated[
        int | None,
        typer.Option("--relay-port", help="Also run a relay on this port (0 = any free port)."),
    ] = None,
) -> None:
    """Run a bootstrap service: conductors publish and look up signed agent infos per DNA."""
    from zomehost.network.bootstrap import serve

    for value, hint in ((port, "--port"), (relay_port, "--relay-port")):
        if value is not None and not 0 <= value <= 65535:
            raise typer.BadParameter("the port must be in 0..65535", param_hint=hint)
    try:
        asyncio.run(serve(host, port, relay_port=relay_port))
    except OSError as exc:
        typer.echo(f"error: cannot listen on {host}:{port}: {exc.strerror or exc}", err=True)
        raise typer.Exit(1) from None
