"""``zomehost relay``: run a relay service for conductors behind NAT (docs/network.md)."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer


def relay(
    port: Annotated[
        int, typer.Option("--port", help="TCP port to listen on (0 = any free port).")
    ] = 0,
    host: Annotated[str, typer.Option("--host", help="Address to bind.")] = "127.0.0.1",
    max_clients: Annotated[
        int, typer.Option("--max-clients", min=1, help="Conductors that may register at once.")
    ] = 1000,
    bytes_per_s: Annotated[
        int,
        typer.Option("--bytes-per-s", min=1, help="Relayed bytes per second per conductor."),
    ] = 1024 * 1024,
) -> None:
    """Run a relay: conductors that cannot be dialled register here, callers reach them
    through it over the same end-to-end encrypted session (the relay sees ciphertext only)."""
    from zomehost.network.relay import RelayLimits, serve

    if not 0 <= port <= 65535:
        raise typer.BadParameter("the port must be in 0..65535", param_hint="--port")
    limits = RelayLimits(max_clients=max_clients, bytes_per_s=bytes_per_s)
    try:
        asyncio.run(serve(host, port, limits))
    except OSError as exc:
        typer.echo(f"error: cannot listen on {host}:{port}: {exc.strerror or exc}", err=True)
        raise typer.Exit(1) from None
