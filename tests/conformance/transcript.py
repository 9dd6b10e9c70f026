"""Transcripts of scenario runs, normalised so that two languages' runs compare equal.

Only values that legitimately differ between two runs are replaced:

* hashes (39-byte HoloHashes, as bytes or as ``u…`` text): fresh agents, and actions that
  hash their timestamp, differ on every run. Each distinct hash becomes a label
  (``<agent:alice>``, ``<Action#3>``) given in order of first appearance, so the *identity*
  structure stays compared: the same hash in two places gets the same label in both runs;
* 64-byte values (signatures, capability secrets): ``<bytes64#n>``, the same way;
* ``timestamp`` fields: ``<timestamp>`` (scenarios check ordering themselves);
* trap backtraces (``in func[419] <- func[309]``) and guest memory sizes in error texts:
  they depend on each compiler's code and memory layout;
* the detail of an input ``DeserializeError`` (see :data:`DESERIALIZE_DETAIL`): the Rust
  SDK reports serde's text (``input of echo could not be decoded: invalid type: integer
  `5`, expected a string``), the AssemblyScript SDK its decoder's (``input of echo could
  not be decoded: msgpack: expected str, found int (0x5) (at byte 0)``). The kind, the
  function named, and the fact that the call failed before any guest logic ran are still
  compared.

msgpack bytes (call results inside a ``ZomeCallResponse``, entry contents, properties,
signal payloads) are decoded and normalised recursively, with a flag that says whether the
bytes were the shortest encoding (so a difference in how each SDK encodes still shows).
Random bytes are recorded by the scenarios as their length.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import msgpack

from zomehost.core.hash import HoloHash, any_hash
from zomehost.errors import ZomehostError

HASH_TEXT = re.compile(r"(?<![A-Za-z0-9_-])u[A-Za-z0-9_-]{52}(?![A-Za-z0-9_-])")
BACKTRACE = re.compile(r" in func\[\d+\](?: <- func\[\d+\])*")
MEMORY_SIZE = re.compile(r"guest memory \(\d+ bytes\)")
DESERIALIZE_DETAIL = re.compile(r"DeserializeError: input of (\w+) could not be decoded: .*")
# a guest's own words for why it traps: a Rust panic and an AssemblyScript abort say the same
RUST_PANIC = re.compile(r"panicked at '(.*)', \S+:\d+:\d+")


class Normalizer:
    """Replace the values that differ run to run with stable labels (see the module doc)."""

    def __init__(self) -> None:
        self.labels: dict[bytes, str] = {}
        self.counts: Counter[str] = Counter()

    def name(self, raw: bytes, label: str) -> None:
        """Give a known hash (an agent, the DNA) a readable label."""
        self.labels[bytes(raw)] = f"<{label}>"

    def _label(self, raw: bytes, kind: str) -> str:
        label = self.labels.get(raw)
        if label is None:
            self.counts[kind] += 1
            label = self.labels[raw] = f"<{kind}#{self.counts[kind]}>"
        return label

    def _hash_kind(self, raw: bytes) -> str | None:
        if len(raw) != 39:
            return None
        try:
            return any_hash(raw).hash_type.name.title()
        except ZomehostError:
            return None

    def text(self, s: str) -> str:
        def hash_text(m: re.Match[str]) -> str:
            try:
                raw = HoloHash.from_text(m.group(0)).raw
            except ZomehostError:
                return m.group(0)
            kind = self._hash_kind(raw)
            return self._label(raw, kind) if kind else m.group(0)

        s = HASH_TEXT.sub(hash_text, s)
        s = BACKTRACE.sub("", s)
        s = RUST_PANIC.sub(r"aborted: \1", s)
        s = MEMORY_SIZE.sub("guest memory (<size>)", s)
        return DESERIALIZE_DETAIL.sub(
            r"DeserializeError: input of \1 could not be decoded: <detail>", s
        )

    def bytes_(self, b: bytes) -> Any:
        kind = self._hash_kind(b)
        if kind is not None:
            return self._label(b, kind)
        if len(b) == 64:
            return self._label(b, "bytes64")
        try:
            value = msgpack.unpackb(b, raw=False, strict_map_key=False)
        except Exception:
            return {"bin": b.hex()}
        shortest = msgpack.packb(value, use_bin_type=True) == b
        return {"msgpack": self(value), "shortest": shortest}

    def __call__(self, value: Any, key: str | None = None) -> Any:
        if isinstance(value, dict):
            return {k: self(v, k if isinstance(k, str) else None) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self(v) for v in value]
        if isinstance(value, bytes | bytearray | memoryview):
            return self.bytes_(bytes(value))
        if isinstance(value, str):
            return self.text(value)
        if key == "timestamp" and isinstance(value, int):
            return "<timestamp>"
        return value


class Raised:
    """What a call raised (the transcript holds its normalised kind and message)."""

    def __init__(self, exc: ZomehostError) -> None:
        self.exc = exc
        self.kind = type(exc).__name__
        self.message = exc.message

    def __repr__(self) -> str:
        return f"Raised({self.kind}: {self.message})"


class Transcript:
    """The steps of one scenario run: ``(label, normalised value)``."""

    def __init__(self) -> None:
        self.norm = Normalizer()
        self.steps: list[tuple[str, Any]] = []

    def note(self, label: str, value: Any) -> Any:
        """Record a value (normalised); return it unchanged."""
        self.steps.append((label, self.norm(value)))
        return value

    def call(self, label: str, app: Any, zome: str, fn: str, payload: Any = None, **kw: Any) -> Any:
        """Call the probe and record the result, or what it raised (returned as Raised)."""
        try:
            value = app.call(zome, fn, payload, **kw)
        except ZomehostError as exc:
            raised = Raised(exc)
            self.steps.append(
                (label, {"raised": raised.kind, "message": self.norm.text(exc.message)})
            )
            return raised
        self.note(label, value)
        return value

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for label, value in self.steps:
            assert label not in out, f"duplicate step label {label!r}"
            out[label] = value
        return out
