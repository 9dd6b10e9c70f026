"""Run one zome export for a call context, and read its result envelope."""

from __future__ import annotations

from typing import Any

from zomehost.core.codec import unpack
from zomehost.errors import GuestError, LimitExceeded
from zomehost.ribosome import memory
from zomehost.ribosome.boundary import _active, select_boundary
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

        _check_nesting(f"{ctx.zome_name}.{export}")
        # The outermost call opens the call tree that every nested instance shares.
        tree = (
            None
            if memory.current()
            else memory.open_tree(self.engine.memory, ctx.limits.memory_bytes)
        )
        try:
            guest = self.boundary.guest_call(zm, ctx.limits, ctx.deadline, dispatch)
            try:
                raw = guest.invoke(export, payload)
            finally:
                # its memory goes now, even if an error's traceback keeps the call object
                guest.close()
        finally:
            if tree is not None:
                memory.close_tree(tree)
        envelope = unpack(raw, what=f"{ctx.zome_name}.{export} result")
        if isinstance(envelope, dict) and len(envelope) == 1:
            if "Ok" in envelope:
                return envelope["Ok"]
            if "Err" in envelope:
                err = envelope["Err"]
                text = err if isinstance(err, str) else repr(err)
                raise GuestError(f"{ctx.zome_name}.{export} returned an error: {text}")
        raise GuestError(f"{ctx.zome_name}.{export} returned a malformed result envelope")


def _check_nesting(what: str) -> None:
    """Bound the instances started while others run on this thread (nested calls, init,
    post_commit, local remote signals): every path counts, not just ``call``."""
    depth = len(_active.stack)
    if depth >= MAX_NESTED_INSTANCES:
        raise LimitExceeded(
            f"{what}: {depth} zome instances are already running nested on this thread "
            f"(limit {MAX_NESTED_INSTANCES}): runaway re-entrance?"
        )
