"""Run one zome export for a call context, and read its result envelope."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from zomehost.core.codec import unpack
from zomehost.core.limits import Limits
from zomehost.errors import GuestError, LimitExceeded, OutOfMemory
from zomehost.ribosome.boundary import Starting, _active, select_boundary
from zomehost.ribosome.context import CallContext
from zomehost.ribosome.engine import MAX_NESTED_INSTANCES, WasmEngine, ZomeModule
from zomehost.ribosome.host_fns import HOST_FNS


class Ribosome:
    def __init__(
        self, engine: WasmEngine, boundary: str | None = None, reuse: bool | None = None
    ) -> None:
        self.engine = engine
        self.boundary = select_boundary(engine, boundary, reuse)  # fast (default) or public

    def run(self, ctx: CallContext, zm: ZomeModule, export: str, payload: bytes) -> Any:
        """Run ``export`` in a fresh instance; return its ``Ok`` value or raise."""
        if len(payload) > ctx.limits.max_input_bytes:
            raise LimitExceeded(
                f"input of {len(payload)} bytes to {ctx.zome_name}.{export}, "
                f"limit {ctx.limits.max_input_bytes}"
            )

        def dispatch(name: str, payload: Any) -> Any:
            return HOST_FNS[name](ctx, payload)

        limits = _nested_limits(ctx.limits, f"{ctx.zome_name}.{export}")
        guest = self.boundary.guest_call(zm, limits, ctx.deadline, dispatch)
        raw = guest.invoke(export, payload)
        envelope = unpack(raw, what=f"{ctx.zome_name}.{export} result")
        if isinstance(envelope, dict) and len(envelope) == 1:
            if "Ok" in envelope:
                return envelope["Ok"]
            if "Err" in envelope:
                err = envelope["Err"]
                text = err if isinstance(err, str) else repr(err)
                raise GuestError(f"{ctx.zome_name}.{export} returned an error: {text}")
        raise GuestError(f"{ctx.zome_name}.{export} returned a malformed result envelope")


def _nested_limits(limits: Limits, what: str) -> Limits:
    """The limits of an instance started while others run on this thread (nested calls,
    init, post_commit, local remote signals): every path counts, not just ``call``, and
    the chain shares the outermost call's memory cap.
    """
    outer = _active.stack
    if not outer:
        return limits
    if len(outer) >= MAX_NESTED_INSTANCES:
        raise LimitExceeded(
            f"{what}: {len(outer)} zome instances are already running nested on this thread "
            f"(limit {MAX_NESTED_INSTANCES}): runaway re-entrance?"
        )
    calls = [g for g in outer if not isinstance(g, Starting)]  # none: no host fn starts
    left = calls[0].limits.memory_bytes - sum(g.memory_len() for g in calls)
    if left < 65536:
        raise OutOfMemory(f"{what}: the calls it is nested in use all of their memory cap")
    return limits if left >= limits.memory_bytes else replace(limits, memory_bytes=left)
