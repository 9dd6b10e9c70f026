"""Run one zome export for a call context, and read its result envelope."""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from zomehost.core import on_loop
from zomehost.errors import ConductorError, LimitExceeded, Timeout, Trap
from zomehost.ribosome import fastpath, memory, nativepath
from zomehost.ribosome.boundary import Boundary, WasmBoundary, active_calls
from zomehost.ribosome.context import CallContext
from zomehost.ribosome.engine import MAX_NESTED_INSTANCES, WasmEngine, ZomeModule
from zomehost.ribosome.host_fns import HOST_FNS

log = logging.getLogger("zomehost.ribosome")


class Ribosome:
    def __init__(
        self, engine: WasmEngine, boundary: str | None = None, reuse: bool | None = None
    ) -> None:
        self.engine = engine
        # native (default), fast or public
        self.boundary = select_boundary(engine, boundary, reuse)

    def run(self, ctx: CallContext, zm: ZomeModule, export: str, payload: bytes) -> Any:
        """Run ``export`` in a fresh instance; return its ``Ok`` value or raise."""
        limits = ctx.limits
        if len(payload) > limits.max_input_bytes:
            raise LimitExceeded(
                f"input of {len(payload)} bytes to {ctx.zome_name}.{export}, "
                f"limit {limits.max_input_bytes}"
            )

        def dispatch(name: str, payload: Any) -> Any:
            return HOST_FNS[name](ctx, payload)

        deadline = ctx.deadline
        attempt = on_loop.current()
        if attempt is not None:  # on the event loop: only what it may do, for a moment

            def dispatch(name: str, payload: Any) -> Any:
                if name not in on_loop.LOOP_SAFE:
                    on_loop.refuse(f"host function {name}")
                return HOST_FNS[name](ctx, payload)

            deadline = attempt.until = min(deadline, time.monotonic() + on_loop.BUDGET_S)

        if len(active_calls.stack) >= MAX_NESTED_INSTANCES:
            raise _too_deep(f"{ctx.zome_name}.{export}")
        # The outermost call opens the call tree that every nested instance shares.
        tree = memory.enter(self.engine.memory, limits.memory_bytes)
        try:
            return self.boundary.run(
                zm, limits, deadline, dispatch, export, payload, f"{ctx.zome_name}.{export}"
            )
        except Trap as exc:
            if attempt is not None and attempt.why is not None:  # stopped for the loop's sake
                on_loop.refuse(attempt.why)
            raise Trap(_trap_text(ctx, export, exc.message)) from None
        except Timeout:
            if attempt is not None and deadline < ctx.deadline:  # the loop's limit, not its own
                on_loop.refuse(
                    f"{ctx.zome_name}.{export} running past {on_loop.BUDGET_S} s", late=True
                )
            raise
        finally:
            if tree is not None:
                memory.leave(tree)


def _too_deep(what: str) -> LimitExceeded:
    """Instances started while others run on this thread (nested calls, init, post_commit,
    local remote signals) are bounded: every path counts, not just ``call``."""
    return LimitExceeded(
        f"{what}: {len(active_calls.stack)} zome instances are already running nested on "
        f"this thread (limit {MAX_NESTED_INSTANCES}): runaway re-entrance?"
    )


def _trap_text(ctx: CallContext, export: str, message: str) -> str:
    """``zome.fn`` and, when the guest said why it aborts (a panic), its words first."""
    name = f"{ctx.zome_name}.{export}"
    text = name + message.removeprefix(export) if message.startswith(export) else message
    if ctx.abort_message:
        return f"{name}: {ctx.abort_message} ({text.removeprefix(name).lstrip(': ')})"
    return text


BOUNDARY_ENV = "ZOMEHOST_BOUNDARY"
BOUNDARY_KINDS = ("native", "fast", "public")
_said: set[str] = set()  # fallbacks already logged (once per process each)


def _fallback(kind: str, reason: str, to: str) -> None:
    if kind not in _said:
        _said.add(kind)
        log.warning("%s wasm boundary unavailable (%s): using the %s one", kind, reason, to)


def select_boundary(
    engine: WasmEngine, kind: str | None = None, reuse: bool | None = None
) -> WasmBoundary:
    """The boundary for ``engine``: ``kind`` (or ``$ZOMEHOST_BOUNDARY``), default ``native``;
    ``reuse``: instance reuse on the native and fast paths (None: ``$ZOMEHOST_INSTANCE_REUSE``).

    ``native`` is :mod:`zomehost.ribosome.nativepath` (the call in a C extension),
    ``fast`` is :mod:`zomehost.ribosome.fastpath` (wasmtime's C API through ctypes),
    ``public`` is :mod:`zomehost.ribosome.boundary` (wasmtime-py's public API). All have
    the same interface and give the same results (tests/ribosome/test_boundary_parity.py).
    When the chosen one cannot run here (the extension is not built, another wasmtime
    version, missing C symbols) this falls back to the next one and says why in the log,
    once per process.
    """
    wanted = (kind or os.environ.get(BOUNDARY_ENV) or "native").strip().lower()
    if wanted not in BOUNDARY_KINDS:
        raise ConductorError(
            f"unknown wasm boundary {wanted!r} (${BOUNDARY_ENV}): use one of "
            f"{', '.join(BOUNDARY_KINDS)}"
        )
    if wanted == "native":
        reason = nativepath.unavailable()
        if reason is None:
            return nativepath.Boundary(engine, reuse)
        wanted = "fast" if fastpath.unavailable() is None else "public"
        _fallback("native", reason, "ctypes" if wanted == "fast" else "public-API")
    if wanted == "fast":
        reason = fastpath.unavailable()
        if reason is None:
            return fastpath.Boundary(engine, reuse)
        _fallback("fast", reason, "public-API")
    return Boundary(engine)
