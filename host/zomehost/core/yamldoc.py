"""YAML documents people write (conductor-config.yaml, dna.yaml, happ.yaml), read safely.

PyYAML's safe loader still expands aliases: a 620-byte document of nested aliases grows into
gigabytes of Python objects (a "billion laughs"), and deep nesting recurses until Python's
recursion limit. None of zomehost's documents needs an alias, so an alias is refused where
it appears, nesting is bounded, and so is the file's size (a ``dna.yaml`` that is really
``/dev/zero`` is refused after 1 MiB).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from zomehost.core.files import read_bounded
from zomehost.errors import ZomehostError

MAX_BYTES = 1024 * 1024
MAX_DEPTH = 64


class YamlRefused(yaml.YAMLError):
    """A document that uses a construct zomehost refuses (an alias, deep nesting)."""


class _Loader(yaml.SafeLoader):
    """The safe loader, composing no alias and nesting at most MAX_DEPTH levels."""

    _depth = 0

    def _mark(self) -> str:
        return str(self.peek_event().start_mark)  # type: ignore[no-untyped-call]

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            raise YamlRefused(f"YAML aliases (*name) are not allowed{self._mark()}")
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise YamlRefused(f"nested deeper than {MAX_DEPTH} levels{self._mark()}")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def parse(text: str, what: str, error: type[ZomehostError]) -> Any:
    """The document in ``text``; ``error(f"{what}: …")`` when it is not acceptable YAML."""
    if len(text) > MAX_BYTES:
        raise error(f"{what}: over {MAX_BYTES} bytes")
    try:
        loader = _Loader(text)  # the reader refuses unprintable characters here already
        try:
            return loader.get_single_data()
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        raise error(f"{what}: not acceptable YAML: {_one_line(exc)}") from None


def read(path: Path, error: type[ZomehostError]) -> Any:
    """The document in the file at ``path``, read up to the size bound."""
    data = read_bounded(path, MAX_BYTES, error)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise error(f"{path}: not UTF-8 text") from None
    return parse(text, str(path), error)


def _one_line(exc: yaml.YAMLError) -> str:
    return " ".join(str(exc).split())


__all__ = ["MAX_BYTES", "MAX_DEPTH", "parse", "read"]
