"""``zomehost new app|zome`` and ``zomehost build``: scaffold zomes and build them."""

from __future__ import annotations

import typer

new_cmd = typer.Typer(help="Scaffold a new app or zome.", no_args_is_help=True)


def build() -> None:
    """Build every zome of an app directory."""
    raise typer.Exit(1)
