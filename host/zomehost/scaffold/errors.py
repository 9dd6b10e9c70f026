"""Errors of scaffolding and building zomes."""

from __future__ import annotations

from zomehost.errors import ZomehostError


class ScaffoldError(ZomehostError):
    """Scaffolding or building cannot go on; the message says what to do."""

    kind = "ScaffoldError"


class BuildError(ScaffoldError):
    """A zome failed to compile. ``output`` holds the compiler's messages."""

    kind = "BuildError"

    def __init__(self, message: str, output: str = "") -> None:
        super().__init__(message)
        self.output = output
