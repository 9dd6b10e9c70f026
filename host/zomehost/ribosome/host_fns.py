"""The host functions of docs/abi.md, as plain functions of a call context and a value.

Each takes the decoded msgpack input and returns a msgpack-able value. Errors raised here
as :class:`ZomehostError` become the guest-visible ``{"Err": {kind, message}}``.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable
from typing import Any

from zomehost.core.action import (
    SYSTEM_ENTRY_TYPES,
    Action,
    Entry,
    SystemEntryType,
    hash_action_bytes,
    verify_signature,
)
from zomehost.core.capability import SECRET_LEN, CapClaim, StoredGrant, ZomeCallCapGrant
from zomehost.core.clock import now_micros
from zomehost.core.codec import pack, unpack
from zomehost.core.hash import ActionHash, AgentPubKey, CellId, HoloHash, any_hash
from zomehost.core.query import ChainQueryFilter
from zomehost.core.schedule import (
    MAX_FN_NAME_BYTES,
    MAX_SCHEDULES_PER_CELL,
    ScheduledFn,
    ScheduleWrite,
)
from zomehost.core.signal import Signal
from zomehost.errors import InvalidInput, LimitExceeded, NotFound, Unauthorized, ZomehostError
from zomehost.ribosome.context import CallContext

log = logging.getLogger("zomehost.zome")
MAX_RANDOM_BYTES = 65536
MAX_BLAKE2B_BYTES = hashlib.blake2b.MAX_DIGEST_SIZE  # 64
MAX_TRACES_PER_CALL = 1000  # trace lines one call may log; the rest are dropped
TRACE_LEVELS = {  # the ABI's trace levels as logging levels
    "trace": 5,
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "error": logging.ERROR,
}


MAX_ABORT_MESSAGE = 1024  # characters of a panic's text that go into the call's error
MAX_CLONE_CHANGES_PER_CALL = 16  # clone cells one call may create, enable, disable or delete


def _map(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidInput(f"{what}: input must be a map")
    return value


def _bytes(value: Any, what: str) -> bytes:
    if not isinstance(value, bytes):
        raise InvalidInput(f"{what} must be bytes")
    return value


def _hash(value: Any, what: str) -> HoloHash:
    try:
        return any_hash(_bytes(value, what))
    except ZomehostError as exc:
        raise InvalidInput(f"{what}: {exc.message}") from None


def _action_hash(value: Any, what: str) -> ActionHash:
    h = _hash(value, what)
    if not isinstance(h, ActionHash):
        raise InvalidInput(f"{what} must be an action hash")
    return h


def _agent(value: Any, what: str) -> AgentPubKey:
    h = _hash(value, what)
    if not isinstance(h, AgentPubKey):
        raise InvalidInput(f"{what} must be an agent key")
    return h


def _writable(ctx: CallContext, fn: str) -> None:
    if not ctx.writable:
        raise InvalidInput(f"{fn} is not allowed here (this callback cannot write)")
    if len(ctx.workspace.pending) >= ctx.limits.max_writes_per_call:
        raise LimitExceeded(f"a call may write at most {ctx.limits.max_writes_per_call} actions")


def _spend(ctx: CallContext, budget: str, amount: int, limit: int, what: str) -> None:
    """Charge ``amount`` to the call's ``budget``; past ``limit`` the call fails."""
    spent = ctx.usage.get(budget, 0) + amount
    if spent > limit:
        raise LimitExceeded(f"{what}: over the per-call limit of {limit} {budget}")
    ctx.usage[budget] = spent


def _write_entry(ctx: CallContext, entry: Entry) -> Entry:
    _spend(ctx, "write bytes", len(entry.content), ctx.limits.max_write_bytes_per_call, "entry")
    return entry


def _app_entry(ctx: CallContext, entry_type: Any, content: Any) -> Entry:
    if not isinstance(entry_type, str) or not entry_type or len(entry_type) > 128:
        raise InvalidInput("entry_type must be a non-empty string")
    if entry_type in SYSTEM_ENTRY_TYPES:
        raise InvalidInput(f"entry type {entry_type!r} is reserved for the host")
    content = _bytes(content, "entry")
    if len(content) > ctx.limits.max_entry_bytes:
        raise LimitExceeded(f"entry of {len(content)} bytes, limit {ctx.limits.max_entry_bytes}")
    return _write_entry(ctx, Entry(entry_type, content))


def _head(ctx: CallContext) -> Any:
    head = ctx.workspace.head()
    return head.to_wire() if head else None


def agent_info(ctx: CallContext, _: Any) -> Any:
    agent = ctx.cell.agent.raw
    return {"agent_initial_pubkey": agent, "agent_latest_pubkey": agent, "chain_head": _head(ctx)}


def dna_info(ctx: CallContext, _: Any) -> Any:
    d = ctx.dna
    return {
        "hash": d.hash.raw,
        "name": d.name,
        "properties": pack(d.properties),
        "network_seed": d.network_seed,
        "zome_names": list(d.zome_names),
    }


def zome_info(ctx: CallContext, _: Any) -> Any:
    return {"name": ctx.zome_name, "id": ctx.zome_index, "function_names": list(ctx.function_names)}


def call_info(ctx: CallContext, _: Any) -> Any:
    return {
        "provenance": ctx.provenance.raw,
        "zome_name": ctx.zome_name,
        "function_name": ctx.function_name,
        "as_at": ctx.workspace.base.to_wire() if ctx.workspace.base else None,
        "cap_grant": ctx.authorization.to_wire(),
    }


def _relaxed(v: dict[str, Any], fn: str) -> bool:
    """The write's ``chain_top_ordering``: ``Strict`` (the default) or ``Relaxed``."""
    ordering = v.get("chain_top_ordering")
    if ordering is None or ordering == "Strict":
        return False
    if ordering == "Relaxed":
        return True
    raise InvalidInput(f"{fn}: chain_top_ordering is 'Strict' or 'Relaxed'")


def create(ctx: CallContext, value: Any) -> Any:
    _writable(ctx, "create")
    v = _map(value, "create")
    entry = _app_entry(ctx, v.get("entry_type"), v.get("entry"))
    relaxed = _relaxed(v, "create")
    return ctx.workspace.create(entry, now_micros(), relaxed=relaxed).action_hash.raw


def get(ctx: CallContext, value: Any) -> Any:
    h = _hash(_map(value, "get").get("hash"), "get: hash")
    record = ctx.workspace.get(h)
    return record.to_wire() if record else None


def update(ctx: CallContext, value: Any) -> Any:
    _writable(ctx, "update")
    v = _map(value, "update")
    original = _action_hash(v.get("original_action"), "update: original_action")
    entry = _app_entry(ctx, v.get("entry_type"), v.get("entry"))
    orig = ctx.workspace.get(original)
    if orig is not None and orig.action.entry_type in SYSTEM_ENTRY_TYPES:
        raise InvalidInput("use update_cap_grant to update a capability grant")
    relaxed = _relaxed(v, "update")
    return ctx.workspace.update(original, entry, now_micros(), relaxed=relaxed).action_hash.raw


def delete(ctx: CallContext, value: Any) -> Any:
    _writable(ctx, "delete")
    v = _map(value, "delete")
    target = _action_hash(v.get("deletes_action"), "delete: deletes_action")
    relaxed = _relaxed(v, "delete")
    return ctx.workspace.delete(target, now_micros(), relaxed=relaxed).action_hash.raw


def query(ctx: CallContext, value: Any) -> Any:
    flt = ChainQueryFilter.from_wire(value)
    return [r.to_wire() for r in ctx.workspace.query(flt)]


def random_bytes(ctx: CallContext, value: Any) -> Any:
    if not isinstance(value, int) or not 0 <= value <= MAX_RANDOM_BYTES:
        raise InvalidInput(f"random_bytes takes a count from 0 to {MAX_RANDOM_BYTES}")
    return os.urandom(value)


def sys_time(ctx: CallContext, _: Any) -> Any:
    return now_micros()


def sign(ctx: CallContext, value: Any) -> Any:
    v = _map(value, "sign")
    key = _agent(v.get("key"), "sign: key")
    if key != ctx.cell.agent:
        raise InvalidInput("a zome may only sign with its own agent key")
    return ctx.services.sign(key, _bytes(v.get("data"), "sign: data"))


def verify_signature_fn(ctx: CallContext, value: Any) -> Any:
    v = _map(value, "verify_signature")
    key = _agent(v.get("key"), "verify_signature: key")
    sig = _bytes(v.get("signature"), "verify_signature: signature")
    return verify_signature(key, sig, _bytes(v.get("data"), "verify_signature: data"))


def hash_entry(ctx: CallContext, value: Any) -> Any:
    """The entry hash ``create`` would give this entry (docs/formats.md)."""
    v = _map(value, "hash_entry")
    entry_type = v.get("entry_type")
    if not isinstance(entry_type, str):
        raise InvalidInput("hash_entry: entry_type must be a string")
    return Entry(entry_type, _bytes(v.get("entry"), "hash_entry: entry")).hash.raw


def hash_action(ctx: CallContext, value: Any) -> Any:
    """The hash of an action as a record carries it (``Record.action``)."""
    return hash_action_bytes(Action.from_wire(value).encode()).raw


def hash_blake2b(ctx: CallContext, value: Any) -> Any:
    v = _map(value, "hash_blake2b")
    size = v.get("size", 32)
    if type(size) is not int or not 1 <= size <= MAX_BLAKE2B_BYTES:
        raise InvalidInput(f"hash_blake2b: size must be from 1 to {MAX_BLAKE2B_BYTES}")
    return hashlib.blake2b(_bytes(v.get("data"), "hash_blake2b: data"), digest_size=size).digest()


def box_encrypt(ctx: CallContext, value: Any) -> Any:
    """crypto_box from this cell's agent to ``recipient`` (core/agent_crypto.py)."""
    v = _map(value, "box_encrypt")
    recipient = _agent(v.get("recipient"), "box_encrypt: recipient")
    data = _bytes(v.get("data"), "box_encrypt: data")
    return ctx.services.crypto(ctx.cell.agent).box_encrypt(recipient, data)


def box_decrypt(ctx: CallContext, value: Any) -> Any:
    """The plaintext ``sender`` boxed for this cell's agent, or nil if it was not."""
    v = _map(value, "box_decrypt")
    sender = _agent(v.get("sender"), "box_decrypt: sender")
    data = _bytes(v.get("data"), "box_decrypt: data")
    return ctx.services.crypto(ctx.cell.agent).box_decrypt(sender, data)


def secretbox_encrypt(ctx: CallContext, value: Any) -> Any:
    """secretbox with this cell's own key (the agent's, per DNA): only this cell opens it."""
    data = _bytes(_map(value, "secretbox_encrypt").get("data"), "secretbox_encrypt: data")
    return ctx.services.crypto(ctx.cell.agent).secretbox_encrypt(ctx.cell.dna_hash.raw, data)


def secretbox_decrypt(ctx: CallContext, value: Any) -> Any:
    data = _bytes(_map(value, "secretbox_decrypt").get("data"), "secretbox_decrypt: data")
    return ctx.services.crypto(ctx.cell.agent).secretbox_decrypt(ctx.cell.dna_hash.raw, data)


def trace(ctx: CallContext, value: Any) -> Any:
    v = _map(value, "trace")
    if v.get("abort") is True:  # the SDK says why the instance is about to trap
        ctx.abort_message = str(v.get("msg", ""))[:MAX_ABORT_MESSAGE]
    level = v.get("level", "info")
    n = ctx.usage["traces"] = ctx.usage.get("traces", 0) + 1
    if n > MAX_TRACES_PER_CALL:
        return None  # a flood: dropped, the call goes on
    msg = str(v.get("msg", ""))[:4096]
    if n == MAX_TRACES_PER_CALL:
        msg += f" (trace limit of {MAX_TRACES_PER_CALL} lines reached: the rest are dropped)"
    ctx.services.trace(ctx, level if level in TRACE_LEVELS else "info", msg)
    return None


def _spend_signals(ctx: CallContext, count: int, size: int, what: str) -> None:
    lim = ctx.limits
    # signals that nested calls emitted were folded into ctx.signals: count them too
    ctx.usage["signals"] = max(ctx.usage.get("signals", 0), len(ctx.signals))
    _spend(ctx, "signals", count, lim.max_signals_per_call, what)
    _spend(ctx, "signal bytes", count * size, lim.max_signal_bytes_per_call, what)


def emit_signal(ctx: CallContext, value: Any) -> Any:
    payload = _bytes(value, "emit_signal payload")
    _spend_signals(ctx, 1, len(payload), "emit_signal")
    ctx.signals.append(Signal(ctx.cell, ctx.zome_name, payload))
    return None


def _secret(value: Any) -> bytes | None:
    if value is None:
        return None
    if not isinstance(value, bytes) or len(value) != SECRET_LEN:
        raise InvalidInput(f"a capability secret is {SECRET_LEN} bytes")
    return value


def _looks_out(ctx: CallContext) -> None:
    """A call out may come back into this cell with a workspace of its own (a bridge or
    another agent's call back, a remote peer's) and answer with what it read there: the
    call's base is read first, so nothing it learns of its chain is older than its base
    (a commit in between fails its strict writes, as a read through its workspace would)."""
    ctx.workspace.look()


def call(ctx: CallContext, value: Any) -> Any:
    v = _map(value, "call")
    zome, fn = v.get("zome_name"), v.get("fn_name")
    if not isinstance(zome, str) or not isinstance(fn, str):
        raise InvalidInput("call needs zome_name and fn_name")
    payload = _bytes(v.get("payload", b"\xc0"), "call: payload")
    _looks_out(ctx)
    return ctx.services.call(
        ctx, v.get("target", {"Local": None}), zome, fn, _secret(v.get("cap_secret")), payload
    ).to_abi()


def call_remote(ctx: CallContext, value: Any) -> Any:
    v = _map(value, "call_remote")
    zome, fn = v.get("zome_name"), v.get("fn_name")
    if not isinstance(zome, str) or not isinstance(fn, str):
        raise InvalidInput("call_remote needs zome_name and fn_name")
    timeout = v.get("timeout_ms")
    if timeout is not None and (not isinstance(timeout, int) or timeout <= 0):
        raise InvalidInput("timeout_ms must be a positive integer")
    _looks_out(ctx)
    return ctx.services.call_remote(
        ctx,
        _agent(v.get("agent"), "call_remote: agent"),
        zome,
        fn,
        _secret(v.get("cap_secret")),
        _bytes(v.get("payload", b"\xc0"), "call_remote: payload"),
        timeout,
    ).to_abi()


def send_remote_signal(ctx: CallContext, value: Any) -> Any:
    v = _map(value, "send_remote_signal")
    agents = v.get("agents")
    if not isinstance(agents, list):
        raise InvalidInput("send_remote_signal needs a list of agents")
    payload = _bytes(v.get("payload"), "payload")
    _spend_signals(ctx, len(agents), len(payload), "send_remote_signal")
    ctx.services.send_remote_signal(
        ctx, [_agent(a, "send_remote_signal: agent") for a in agents], payload
    )
    return None


def generate_cap_secret(ctx: CallContext, _: Any) -> Any:
    return os.urandom(SECRET_LEN)


def _system_entry(ctx: CallContext, kind: SystemEntryType, value: Any) -> Entry:
    return _write_entry(ctx, Entry(kind.value, pack(value)))


def create_cap_grant(ctx: CallContext, value: Any) -> Any:
    _writable(ctx, "create_cap_grant")
    grant = ZomeCallCapGrant.from_wire(value)
    entry = _system_entry(ctx, SystemEntryType.CAP_GRANT, grant.to_wire())
    return ctx.workspace.create(entry, now_micros()).action_hash.raw


def _grant_action(ctx: CallContext, value: Any, what: str) -> ActionHash:
    h = _action_hash(value, what)
    record = ctx.workspace.get(h)
    if record is None or record.action.entry_type != SystemEntryType.CAP_GRANT.value:
        raise NotFound(f"{what}: no capability grant {h} on this chain")
    return h


def update_cap_grant(ctx: CallContext, value: Any) -> Any:
    _writable(ctx, "update_cap_grant")
    v = _map(value, "update_cap_grant")
    original = _grant_action(ctx, v.get("original_action"), "update_cap_grant")
    grant = ZomeCallCapGrant.from_wire(v.get("grant"))
    entry = _system_entry(ctx, SystemEntryType.CAP_GRANT, grant.to_wire())
    return ctx.workspace.update(original, entry, now_micros()).action_hash.raw


def delete_cap_grant(ctx: CallContext, value: Any) -> Any:
    _writable(ctx, "delete_cap_grant")
    target = _grant_action(ctx, value, "delete_cap_grant")
    return ctx.workspace.delete(target, now_micros()).action_hash.raw


def create_cap_claim(ctx: CallContext, value: Any) -> Any:
    _writable(ctx, "create_cap_claim")
    claim = CapClaim.from_wire(value)
    entry = _system_entry(ctx, SystemEntryType.CAP_CLAIM, claim.to_wire())
    return ctx.workspace.create(entry, now_micros()).action_hash.raw


def capability_grants(ctx: CallContext, value: Any) -> Any:
    include_revoked = bool(_map(value or {}, "capability_grants").get("include_revoked", False))
    grants = {g.action_hash: g for g in ctx.workspace.grants(include_revoked=True)}
    # Fold in this call's own uncommitted grant changes.
    for r in ctx.workspace.pending:
        a = r.action
        for gone in (a.deletes_address, a.original_action_address):
            if gone is not None and gone in grants:
                g = grants[gone]
                grants[gone] = StoredGrant(g.action_hash, g.grant, True)
        if a.entry_type == SystemEntryType.CAP_GRANT.value and r.entry is not None:
            grant = ZomeCallCapGrant.from_wire(unpack(r.entry.content))
            grants[r.action_hash] = StoredGrant(r.action_hash, grant, False)
    return [
        {"action_hash": g.action_hash.raw, "grant": g.grant.to_wire(), "revoked": g.revoked}
        for g in grants.values()
        if include_revoked or not g.revoked
    ]


def capability_claims(ctx: CallContext, value: Any) -> Any:
    v = _map(value or {}, "capability_claims")
    grantor = _agent(v["grantor"], "grantor") if v.get("grantor") is not None else None
    tag = v.get("tag")
    flt = ChainQueryFilter(
        entry_type=frozenset({SystemEntryType.CAP_CLAIM.value}), include_entries=True
    )
    out = []
    for r in ctx.workspace.query(flt):
        if r.entry is None:
            continue
        claim = CapClaim.from_wire(unpack(r.entry.content))
        if (grantor is None or claim.grantor == grantor) and (tag is None or claim.tag == tag):
            out.append({"action_hash": r.action_hash.raw, "claim": claim.to_wire()})
    return out


def schedule(ctx: CallContext, value: Any) -> Any:
    """Schedule a function of the calling zome (marked schedulable) to run as the cell's
    author, first soon after this call commits (docs/abi.md, "Scheduled functions"). A
    function already scheduled keeps its schedule."""
    _writable(ctx, "schedule")
    if not isinstance(value, str) or not 0 < len(value.encode()) <= MAX_FN_NAME_BYTES:
        raise InvalidInput(
            "schedule takes the name of a function of the calling zome "
            f"(1 to {MAX_FN_NAME_BYTES} bytes)"
        )
    if value not in ctx.function_names:
        raise NotFound(f"zome {ctx.zome_name!r} has no function {value!r} to schedule")
    if value not in ctx.schedulable:
        raise InvalidInput(
            f"{ctx.zome_name}.{value} is not schedulable (export it with scheduled_fns! in "
            "Rust, @scheduled in AssemblyScript)"
        )
    writes = ctx.workspace.schedule_writes
    if any(w.zome == ctx.zome_name and w.fn == value for w in writes):
        return None
    if len(writes) >= MAX_SCHEDULES_PER_CELL:
        raise LimitExceeded(f"a cell may have at most {MAX_SCHEDULES_PER_CELL} scheduled functions")
    first = ScheduledFn(ctx.zome_name, value, None, now_micros())
    ctx.workspace.schedule(ScheduleWrite(ctx.zome_name, value, first, if_absent=True))
    return None


def _clone_change(ctx: CallContext, fn: str) -> None:
    """The rules every clone cell host function shares (docs/abi.md, "Clone cells")."""
    if not ctx.writable:
        raise InvalidInput(f"{fn} is not allowed here (this callback cannot write)")
    if not ctx.services.acts_for_agent(ctx):
        raise Unauthorized(
            f"{fn} needs the author capability (or the owner's signing credentials): "
            f"{ctx.provenance} called through a grant"
        )
    _spend(ctx, "clone cell changes", 1, MAX_CLONE_CHANGES_PER_CALL, fn)


def _cell_id(value: Any, what: str) -> CellId:
    try:
        return CellId.from_wire(value)
    except ZomehostError as exc:
        raise InvalidInput(f"{what}: {exc.message}") from None


def _optional(value: Any, kind: type, what: str) -> Any:
    if value is not None and not isinstance(value, kind):
        raise InvalidInput(f"{what} must be {kind.__name__} or nil")
    return value


def _clone_ref(value: Any, fn: str) -> str | CellId:
    """``CloneCellId``: a clone id (``role.N``) or the clone's cell id."""
    ref = _map(value, fn).get("clone_cell_id")
    return ref if isinstance(ref, str) else _cell_id(ref, f"{fn}: clone_cell_id")


def create_clone_cell(ctx: CallContext, value: Any) -> Any:
    v = _map(value, "create_clone_cell")
    of = _cell_id(v.get("cell_id"), "create_clone_cell: cell_id")
    m = _map(v.get("modifiers", {}), "create_clone_cell: modifiers")
    seed = _optional(m.get("network_seed"), str, "create_clone_cell: network_seed")
    raw = _optional(m.get("properties"), bytes, "create_clone_cell: properties")
    try:
        properties = None if raw is None else unpack(raw, what="properties")
    except ZomehostError as exc:
        raise InvalidInput(f"create_clone_cell: {exc.message}") from None
    name = _optional(v.get("name"), str, "create_clone_cell: name")
    proof = _optional(v.get("membrane_proof"), bytes, "create_clone_cell: membrane_proof")
    _clone_change(ctx, "create_clone_cell")
    return ctx.services.create_clone_cell(ctx, of, seed, properties, name, proof)


def disable_clone_cell(ctx: CallContext, value: Any) -> Any:
    ref = _clone_ref(value, "disable_clone_cell")
    _clone_change(ctx, "disable_clone_cell")
    ctx.services.set_clone_enabled(ctx, ref, False)
    return None


def enable_clone_cell(ctx: CallContext, value: Any) -> Any:
    ref = _clone_ref(value, "enable_clone_cell")
    _clone_change(ctx, "enable_clone_cell")
    return ctx.services.set_clone_enabled(ctx, ref, True)


def delete_clone_cell(ctx: CallContext, value: Any) -> Any:
    ref = _clone_ref(value, "delete_clone_cell")
    _clone_change(ctx, "delete_clone_cell")
    ctx.services.delete_clone_cell(ctx, ref)
    return None


HOST_FNS: dict[str, Callable[[CallContext, Any], Any]] = {
    "agent_info": agent_info,
    "dna_info": dna_info,
    "zome_info": zome_info,
    "call_info": call_info,
    "create": create,
    "get": get,
    "update": update,
    "delete": delete,
    "query": query,
    "random_bytes": random_bytes,
    "sys_time": sys_time,
    "sign": sign,
    "verify_signature": verify_signature_fn,
    "hash_entry": hash_entry,
    "hash_action": hash_action,
    "hash_blake2b": hash_blake2b,
    "box_encrypt": box_encrypt,
    "box_decrypt": box_decrypt,
    "secretbox_encrypt": secretbox_encrypt,
    "secretbox_decrypt": secretbox_decrypt,
    "trace": trace,
    "emit_signal": emit_signal,
    "call": call,
    "call_remote": call_remote,
    "send_remote_signal": send_remote_signal,
    "generate_cap_secret": generate_cap_secret,
    "create_cap_grant": create_cap_grant,
    "update_cap_grant": update_cap_grant,
    "delete_cap_grant": delete_cap_grant,
    "create_cap_claim": create_cap_claim,
    "capability_grants": capability_grants,
    "capability_claims": capability_claims,
    "schedule": schedule,
    "create_clone_cell": create_clone_cell,
    "disable_clone_cell": disable_clone_cell,
    "enable_clone_cell": enable_clone_cell,
    "delete_clone_cell": delete_clone_cell,
}
