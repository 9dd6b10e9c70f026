"""Help text in the shell's words: ``--force``, ``--home PATH``, ``APP_ID``, not typer's
``<bool>``, ``<path>``, ``<str>``, ``{app_id}`` (what typer 0.29 prints from the Python types).

The root group (:class:`Group`) rewrites every command's parameters once, before it parses
anything: a flag shows no type, an option shows its metavar (``TEXT``, ``PATH``, ``INTEGER``
unless a command names a better one), an argument shows its upper-case name. typer has no
setting for this; its parameter classes are subclassed, nothing else changes.
"""

from __future__ import annotations

import inspect
from typing import Any

import typer
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

_LABELS = {"str": "TEXT", "int": "INTEGER", "float": "NUMBER"}


def _type_label(param: TyperOption) -> str:
    """``TEXT``, ``INTEGER``, ``NUMBER``, ``PATH`` (click's names) for a value's type."""
    if param.type_descriptor.is_path:
        return "PATH"
    bare = param.bare_type().removeprefix("list[").removesuffix("]")
    return _LABELS.get(bare, bare.upper())


class _Argument(TyperArgument):
    @property
    def display_name_raw(self) -> str:
        return self.metavar or (self.name or "value").upper()

    def _usage_display_name(self) -> str:
        many = self.nargs != 1 and self.metavar is None
        name = self.display_name_raw + ("..." if many else "")
        return name if self.required else f"[{name}]"

    def display_type_rich(self, ctx: Any) -> str | None:
        return None


class _Option(TyperOption):
    def display_type_rich(self, ctx: Any) -> str | None:
        if self.is_flag or self.count:
            return None
        label = self.metavar or _type_label(self)
        return f"{label}..." if self.nargs != 1 else label


def _plain(param: object) -> None:
    if type(param) is TyperArgument:
        param.__class__ = _Argument  # same state, other rendering
    elif type(param) is TyperOption:
        param.__class__ = _Option


def _one_line_summary(command: TyperCommand | TyperGroup) -> None:
    """A command's line in its group's list: the first paragraph of its help as one line
    (typer keeps the docstring's line breaks there, mid-sentence)."""
    if command.short_help is None and command.help:
        first = inspect.cleandoc(command.help).split("\n\n")[0]
        command.short_help = " ".join(first.split())


def plain_help(command: TyperCommand | TyperGroup) -> None:
    """Render ``command`` and every command under it with plain help types."""
    _one_line_summary(command)
    for param in command.params:
        _plain(param)
    help_option = command.get_help_option(typer.Context(command))
    if help_option is not None:
        _plain(help_option)
    if isinstance(command, TyperGroup):
        for sub in command.commands.values():
            if isinstance(sub, TyperCommand | TyperGroup):
                plain_help(sub)


class Group(TyperGroup):
    """The root group: plain help for the whole tree before it runs."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        plain_help(self)
        return super().main(*args, **kwargs)


__all__ = ["Group", "TyperCommand", "plain_help"]
