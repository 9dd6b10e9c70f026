// probe_as: the AssemblyScript twin of the Rust probe zome (zomes/probe/src/lib.rs), for the
// conformance suite: the same function names, inputs, outputs and errors, so that results
// seen from Python compare equal between the two.
//
// Every zome function is exported as `(ptr: usize, len: usize) => u64` and runs its body
// through zomeFn, named, so that input errors read as the Rust SDK's ("input of make_grant
// could not be decoded: ..."; see sdk/assemblyscript/README.md). The SDK's decoders refuse
// missing fields (as serde does), so shared types are decoded straight from the input.

import {
  AgentPubKey,
  CallTarget,
  CapClaim,
  ChainQueryFilter,
  ChainTopOrdering,
  Decoder,
  Encoder,
  HoloHash,
  InitCallbackResult,
  Outcome,
  Record,
  ZomeCallCapGrant,
  agentInfo,
  call,
  callInfo,
  callRemote,
  capabilityClaims,
  capabilityGrants,
  create,
  createCapClaim,
  createCapGrant,
  deleteAction,
  deleteCapGrant,
  dnaInfo,
  emitSignal,
  fail,
  failWith,
  generateCapSecret,
  get,
  info,
  initCallback,
  ok,
  postCommitCallback,
  query,
  randomBytes,
  recvRemoteSignalCallback,
  sendRemoteSignal,
  setChainTopOrdering,
  sign,
  sysTime,
  update,
  updateCapGrant,
  verifySignature,
  zomeFn,
  zomeInfo,
  decodeHashArray,
  hashEntry,
  hashAction,
  hashBlake2b,
  boxEncrypt,
  boxDecrypt,
  secretboxEncrypt,
  secretboxDecrypt,
  Schedule,
  schedule,
  CellId,
  CloneCellId,
  CreateCloneCellInput,
  DnaModifiersOpt,
  createCloneCell,
  disableCloneCell,
  enableCloneCell,
  deleteCloneCell,
} from "@zomehost/sdk";
import { create as rawCreate } from "@zomehost/sdk/assembly/imports";

export { __zh_alloc, __zh_free } from "@zomehost/sdk";

/** The entry type the probe writes when the caller does not name one. */
const PROBE_ENTRY_TYPE = "probe";

/** msgpack of nil: the default of optional `payload`/`value` fields. */
function nilBytes(): Uint8Array {
  const b = new Uint8Array(1);
  b[0] = 0xc0;
  return b;
}

/** Fails the input decoder (a DeserializeError for the caller) for a missing key. */
function missing(d: Decoder, field: string): void {
  if (d.ok) d.fail("missing field `" + field + "`");
}

// ---------------------------------------------------------------------------------------
// Info

export function whoami(ptr: usize, len: usize): u64 {
  return zomeFn(ptr, len, (input: Decoder, out: Encoder): Outcome => {
    const r = agentInfo();
    if (r.isErr) return r.propagate();
    r.value.encode(out);
    return ok();
  }, "whoami");
}

export function dna(ptr: usize, len: usize): u64 {
  return zomeFn(ptr, len, (input: Decoder, out: Encoder): Outcome => {
    const r = dnaInfo();
    if (r.isErr) return r.propagate();
    r.value.encode(out);
    return ok();
  }, "dna");
}

export function zome(ptr: usize, len: usize): u64 {
  return zomeFn(ptr, len, (input: Decoder, out: Encoder): Outcome => {
    const r = zomeInfo();
    if (r.isErr) return r.propagate();
    r.value.encode(out);
    return ok();
  }, "zome");
}

export function caller(ptr: usize, len: usize): u64 {
  return zomeFn(ptr, len, (input: Decoder, out: Encoder): Outcome => {
    const r = callInfo();
    if (r.isErr) return r.propagate();
    r.value.encode(out);
    return ok();
  }, "caller");
}

// ---------------------------------------------------------------------------------------
// Source chain

/** `{entry_type?: str, value: any, relaxed?: bool}` -> action hash */
export function create_entry(ptr: usize, len: usize): u64 {
  return zomeFn(ptr, len, (input: Decoder, out: Encoder): Outcome => {
    let entryType: string | null = null;
    let value: Uint8Array | null = null;
    let ordering = ChainTopOrdering.Strict;
    const n = input.readMapHeader();
    for (let i: u32 = 0; i < n && input.ok; i++) {
      const k = input.readString();
      if (k == "entry_type") entryType = input.readNullableString();
      else if (k == "value") value = input.readRaw();
      else if (k == "relaxed") {
        if (input.readBool()) ordering = ChainTopOrdering.Relaxed;
      } else input.skip();
    }
    if (value === null) missing(input, "value");
    if (!input.ok) return ok(); // zomeFn reports the input error
    const r = create(entryType === null ? PROBE_ENTRY_TYPE : entryType, value!, ordering);
    if (r.isErr) return r.propagate();
    r.value.encode(out);
    return ok();
  }, "create_entry");
}

/** count -> [action hash]: `count` creates, all relaxed (the SDK's per-call ordering) */
export function create_relaxed_batch(ptr: usize, len: usize): u64 {
  return zomeFn(ptr, len, (input: Decoder, out: Encoder): Outcome => {
    const count = input.readU32();
    if (!input.ok) return ok();
    setChainTopOrdering(ChainTopOrdering.Relaxed);
    out.writeArrayHeader(count);
    for (let i: u32 = 0; i < count; i++) {
      const v = new Encoder(8);
      v.writeU32(i);
      const r = create(PROBE_ENTRY_TYPE, v.finish());
      if (r.isErr) return r.propagate();
      r.value.encode(out);
    }
    return ok();
  }, "create_relaxed_batch");
}

/** hash -> Record | nil */
export function get_record(ptr: usize, len: usize): u64 {
  return zomeFn(ptr, len, (input: Decoder, out: Encoder): Outcome => {
    const hash = HoloHash.decode(input);
    if (!input.ok) return ok();
    const r = get(hash);
    if (r.isErr) return r.propagate();
    const record = r.value;
    if (record === null) out.writeNil();
    else record.encode(out);
    return ok();
  }, "get_record");
}

/** `{original: hash, entry_type?: str, value: any}` -> action hash */
export function update_entry(ptr: usize, len: usize): u64 {
  return zomeFn(ptr, len, (input: Decoder, out: Encoder): Outcome => {
    let original: HoloHash | null = null;
    let entryType: string | null = null;
    let value: Uint8Array | null = null;
    const n = input.readMapHeader();
    for (let i: u32 = 0; i < n && input.ok; i++) {
      const k = input.readString();
      if (k == "original") original = HoloHash.decode(input);
      else if (k == "entry_type") entryType = input.readNullableString();
      else if (k == "value") value = input.readRaw();
      else input.skip();
    }
    if (original === null) missing(input, "original");
    if (value === null) missing(input, "value");
    if (!input.ok) return ok();
    const r = update(original!, entryType === null ? PROBE_ENTRY_TYPE : entryType, value!);
    if (r.isErr) return r.propagate();
    r.value.encode(out);
    return ok();
  }, "update_entry");
}

/** action hash -> action hash of the Delete */
export function delete_entry(ptr: usize, len: usize): u64 {
  return zomeFn(ptr, len, (input: Decoder, out: Encoder): Outcome => {
    const hash = HoloHash.decode(input);
    if (!input.ok) return ok();
    const r = deleteAction(hash);
    if (r.isErr) return r.propagate();
    r.value.encode(out);
    return ok();
  }, "delete_entry");
}

/** ChainQueryFilter -> [Record] */
export function query_chain(ptr: usize, len: usize): u64 {
  return zomeFn(ptr, len, (input: Decoder, out: Encoder): Outcome => {
    const filter = ChainQueryFilter.decode(input);
    if (!input.ok) return ok();
    const r = query(filter);
    if (r.isErr) return r.propagate();
    Record.encodeArray(out, r.value);
    return ok();
  }, "query_chain");
}

// ---------------------------------------------------------------------------------------
// Utilities

/** n -> bin(n) */
export function random(ptr: usize, len: usize): u64 {
  return zomeFn(ptr, len, (input: Decoder, out: Encoder): Outcome => {
    const n = input.readU32();
    if (!input.ok) return ok();
    const r = randomBytes(n);
    if (r.isErr) return r.propagate();
    out.writeBin(r.value);
    return ok();
  }, "random");
}

/** nil -> i64 (µs since the epoch) */
export function now(ptr: usize, len: usize): u64 {
  return zomeFn(ptr, len, (input: Decoder, out: Encoder): Outcome => {
    const r = sysTime();
    if (r.isErr) return r.propagate();
    out.writeI64(r.value);
    return ok();
  }, "now");
}

/** bin -> bin(64): a signature by the cell's agent (agent_initial_pubkey) */
export function sign_data(ptr: usize, len: usize): u64 {
  return zomeFn(ptr, len, (input: Decoder, out: Encoder): Outcome => {
    const data = input.readBin();
    if (!input.ok) return ok();
    const me = agentInfo();
    if (me.isErr) return me.propagate();
    const r = sign(me.value.agent_initial_pubkey, data);
    if (r.isErr) return r.propagate();
    out.writeBin(r.value);
    return ok();
  }, "sign_data");
}

/** `{key, signature, data}` -> bool */
export function verify(ptr: usize, len: usize): u64 {
  return zomeFn(ptr, len, (input: Decoder, out: Encoder): Outcome => {
    let key: AgentPubKey | null = null;
    let signature: Uint8Array | null = null;
    let data: Uint8Array | null = null;
    const n = input.readMapHeader();
    for (let i: u32 = 0; i < n && input.ok; i++) {
      const k = input.readString();
      if (k == "key") key = HoloHash.decode(input);
      else if (k == "signature") signature = input.readBin();
      else if (k == "data") data = input.readBin();
      else input.skip();
    }
    if (key === null) missing(input, "key");
    if (signature === null) missing(input, "signature");
    if (data === null) missing(input, "data");
    if (!input.ok) return ok();
    const r = verifySignature(key!, signature!, data!);
    if (r.isErr) return r.propagate();
    out.writeBool(r.value);
    return ok();
  }, "verify");
}

/** str -> nil (logged at level info) */
export function log(ptr: usize, len: usize): u64 {
  return zomeFn(ptr, len, (input: Decoder, out: Encoder): Outcome => {
    const msg = input.readString();
    if (!input.ok) return ok();
    info(msg);
    return ok();
  }, "log");
}

/** any -> nil (emits the value as a signal) */
export function signal(ptr: usize, len: usize): u64 {
  return zomeFn(ptr, len, (input: Decoder, out: Encoder): Outcome => {
    const value = input.readRaw();
    if (!input.ok) return ok();
    const r = emitSignal(value);
    if (r.isErr) return r.propagate();
    return ok();
  }, "signal");
}

/** str -> str */
export function echo(ptr: usize, len: usize): u64 {
  return zomeFn(ptr, len, (input: Decoder, out: Encoder): Outcome => {
    const s = input.readString();
    if (!input.ok) return ok();
    out.writeString(s);
    return ok();
  }, "echo");
}

let spinCounter: u64 = 0;

/** str -> str: reads the chain's head, unless `mode` asks to create, signal, log or spin
 * (a function the host learns is a fast read, then one call of it does more) */
export function read_or(ptr: usize, len: usize): u64 {
  return zomeFn(ptr, len, (input: Decoder, out: Encoder): Outcome => {
    const mode = input.readString();
    if (!input.ok) return ok();
    const value = new Encoder().writeString(mode).finish();
    if (mode == "create") {
      const r = create(PROBE_ENTRY_TYPE, value);
      if (r.isErr) return r.propagate();
    } else if (mode == "signal") {
      const r = emitSignal(value);
      if (r.isErr) return r.propagate();
    } else if (mode == "log") {
      info("read_or logs once");
    } else if (mode == "spin") {
      while (true) {
        spinCounter = spinCounter + 1;
      }
    } else {
      const r = agentInfo();
      if (r.isErr) return r.propagate();
    }
    out.writeString(mode);
    return ok();
  }, "read_or");
}

// ---------------------------------------------------------------------------------------
// Failures

/** any -> creates a "probe" entry, then returns Err "deliberate failure" */
export function create_then_fail(ptr: usize, len: usize): u64 {
  return zomeFn(ptr, len, (input: Decoder, out: Encoder): Outcome => {
    const value = input.readRaw();
    if (!input.ok) return ok();
    const r = create(PROBE_ENTRY_TYPE, value);
    if (r.isErr) return r.propagate();
    return fail("deliberate failure");
  }, "create_then_fail");
}

/** any -> creates a "probe" entry, then traps */
export function create_then_panic(ptr: usize, len: usize): u64 {
  return zomeFn(ptr, len, (input: Decoder, out: Encoder): Outcome => {
    const value = input.readRaw();
    if (!input.ok) return ok();
    const r = create(PROBE_ENTRY_TYPE, value);
    if (r.isErr) return r.propagate();
    abort("deliberate panic after create");
    return ok();
  }, "create_then_panic");
}

/** Passes an out-of-bounds input pointer to `create`: the host must trap the call. */
export function bad_pointer(ptr: usize, len: usize): u64 {
  return zomeFn(ptr, len, (input: Decoder, out: Encoder): Outcome => {
    const ret = rawCreate(<usize>0xfffffff0, 1000);
    return fail("the host accepted an out-of-bounds pointer (returned 0x" + ret.toString(16) + ")");
  }, "bad_pointer");
}

/** Loops forever (the host's time limit must stop it). */
export function spin(ptr: usize, len: usize): u64 {
  return zomeFn(ptr, len, (input: Decoder, out: Encoder): Outcome => {
    while (true) {
      // a store to a global is a side effect the optimizer keeps
      spinCounter = spinCounter + 1;
    }
    return ok();
  }, "spin");
}

// ---------------------------------------------------------------------------------------
// Calls and signals

/** Reads an optional `payload: any` as msgpack bytes (nil when absent). */
function readPayload(d: Decoder): Uint8Array {
  return d.readRaw();
}

/** `{target, zome_name, fn_name, cap_secret?, payload?: any}` -> ZomeCallResponse */
export function call_other(ptr: usize, len: usize): u64 {
  return zomeFn(ptr, len, (input: Decoder, out: Encoder): Outcome => {
    let target: CallTarget | null = null;
    let zomeName: string | null = null;
    let fnName: string | null = null;
    let capSecret: Uint8Array | null = null;
    let payload = nilBytes();
    const n = input.readMapHeader();
    for (let i: u32 = 0; i < n && input.ok; i++) {
      const k = input.readString();
      if (k == "target") target = CallTarget.decode(input);
      else if (k == "zome_name") zomeName = input.readString();
      else if (k == "fn_name") fnName = input.readString();
      else if (k == "cap_secret") capSecret = input.readNullableBin();
      else if (k == "payload") payload = readPayload(input);
      else input.skip();
    }
    if (target === null) missing(input, "target");
    if (zomeName === null) missing(input, "zome_name");
    if (fnName === null) missing(input, "fn_name");
    if (!input.ok) return ok();
    const r = call(target!, zomeName!, fnName!, capSecret, payload);
    if (r.isErr) return r.propagate();
    r.value.encode(out);
    return ok();
  }, "call_other");
}

/** `{agent, zome_name, fn_name, cap_secret?, payload?: any, timeout_ms?}` -> ZomeCallResponse */
export function call_remote_fn(ptr: usize, len: usize): u64 {
  return zomeFn(ptr, len, (input: Decoder, out: Encoder): Outcome => {
    let agent: AgentPubKey | null = null;
    let zomeName: string | null = null;
    let fnName: string | null = null;
    let capSecret: Uint8Array | null = null;
    let payload = nilBytes();
    let timeoutMs: i64 = -1;
    const n = input.readMapHeader();
    for (let i: u32 = 0; i < n && input.ok; i++) {
      const k = input.readString();
      if (k == "agent") agent = HoloHash.decode(input);
      else if (k == "zome_name") zomeName = input.readString();
      else if (k == "fn_name") fnName = input.readString();
      else if (k == "cap_secret") capSecret = input.readNullableBin();
      else if (k == "payload") payload = readPayload(input);
      else if (k == "timeout_ms") {
        if (!input.tryReadNil()) {
          const t = input.readU64();
          timeoutMs = t > <u64>i64.MAX_VALUE ? i64.MAX_VALUE : <i64>t;
        }
      } else input.skip();
    }
    if (agent === null) missing(input, "agent");
    if (zomeName === null) missing(input, "zome_name");
    if (fnName === null) missing(input, "fn_name");
    if (!input.ok) return ok();
    const r = callRemote(agent!, zomeName!, fnName!, capSecret, payload, timeoutMs);
    if (r.isErr) return r.propagate();
    r.value.encode(out);
    return ok();
  }, "call_remote_fn");
}

/** `{agents: [agent], value: any}` -> nil */
export function remote_signal(ptr: usize, len: usize): u64 {
  return zomeFn(ptr, len, (input: Decoder, out: Encoder): Outcome => {
    let agents: AgentPubKey[] | null = null;
    let value: Uint8Array | null = null;
    const n = input.readMapHeader();
    for (let i: u32 = 0; i < n && input.ok; i++) {
      const k = input.readString();
      if (k == "agents") agents = decodeHashArray(input);
      else if (k == "value") value = input.readRaw();
      else input.skip();
    }
    if (agents === null) missing(input, "agents");
    if (value === null) missing(input, "value");
    if (!input.ok) return ok();
    const r = sendRemoteSignal(agents!, value!);
    if (r.isErr) return r.propagate();
    return ok();
  }, "remote_signal");
}

/**
 * `{value: any, zome_name, fn_name, payload?: any}`: writes a "probe" entry, then calls
 * another zome of this cell (one shared workspace: both commit or neither).
 */
export function create_and_call(ptr: usize, len: usize): u64 {
  return zomeFn(ptr, len, (input: Decoder, out: Encoder): Outcome => {
    let value: Uint8Array | null = null;
    let zomeName: string | null = null;
    let fnName: string | null = null;
    let payload = nilBytes();
    const n = input.readMapHeader();
    for (let i: u32 = 0; i < n && input.ok; i++) {
      const k = input.readString();
      if (k == "value") value = input.readRaw();
      else if (k == "zome_name") zomeName = input.readString();
      else if (k == "fn_name") fnName = input.readString();
      else if (k == "payload") payload = readPayload(input);
      else if (k == "relaxed") {
        if (input.readBool()) setChainTopOrdering(ChainTopOrdering.Relaxed);
      } else input.skip();
    }
    if (value === null) missing(input, "value");
    if (zomeName === null) missing(input, "zome_name");
    if (fnName === null) missing(input, "fn_name");
    if (!input.ok) return ok();
    const created = create(PROBE_ENTRY_TYPE, value!);
    if (created.isErr) return created.propagate();
    const r = call(CallTarget.local(), zomeName!, fnName!, null, payload);
    if (r.isErr) return r.propagate();
    r.value.encode(out);
    return ok();
  }, "create_and_call");
}

// ---------------------------------------------------------------------------------------
// Capabilities

/** nil -> bin(64) */
export function new_secret(ptr: usize, len: usize): u64 {
  return zomeFn(ptr, len, (input: Decoder, out: Encoder): Outcome => {
    const r = generateCapSecret();
    if (r.isErr) return r.propagate();
    out.writeBin(r.value);
    return ok();
  }, "new_secret");
}

/** ZomeCallCapGrant -> action hash */
export function make_grant(ptr: usize, len: usize): u64 {
  return zomeFn(ptr, len, (input: Decoder, out: Encoder): Outcome => {
    const grant = ZomeCallCapGrant.decode(input); // strict: every field is required
    if (!input.ok) return ok();
    const r = createCapGrant(grant);
    if (r.isErr) return r.propagate();
    r.value.encode(out);
    return ok();
  }, "make_grant");
}

/** `{original_action, grant}` -> action hash */
export function update_grant(ptr: usize, len: usize): u64 {
  return zomeFn(ptr, len, (input: Decoder, out: Encoder): Outcome => {
    let original: HoloHash | null = null;
    let grant: ZomeCallCapGrant | null = null;
    const n = input.readMapHeader();
    for (let i: u32 = 0; i < n && input.ok; i++) {
      const k = input.readString();
      if (k == "original_action") original = HoloHash.decode(input);
      else if (k == "grant") grant = ZomeCallCapGrant.decode(input);
      else input.skip();
    }
    if (original === null) missing(input, "original_action");
    if (grant === null) missing(input, "grant");
    if (!input.ok) return ok();
    const r = updateCapGrant(original!, grant!);
    if (r.isErr) return r.propagate();
    r.value.encode(out);
    return ok();
  }, "update_grant");
}

/** action hash -> action hash */
export function delete_grant(ptr: usize, len: usize): u64 {
  return zomeFn(ptr, len, (input: Decoder, out: Encoder): Outcome => {
    const hash = HoloHash.decode(input);
    if (!input.ok) return ok();
    const r = deleteCapGrant(hash);
    if (r.isErr) return r.propagate();
    r.value.encode(out);
    return ok();
  }, "delete_grant");
}

/** CapClaim -> action hash */
export function make_claim(ptr: usize, len: usize): u64 {
  return zomeFn(ptr, len, (input: Decoder, out: Encoder): Outcome => {
    const claim = CapClaim.decode(input); // strict: every field is required
    if (!input.ok) return ok();
    const r = createCapClaim(claim);
    if (r.isErr) return r.propagate();
    r.value.encode(out);
    return ok();
  }, "make_claim");
}

/** include_revoked: bool -> [{action_hash, grant, revoked}] */
export function list_grants(ptr: usize, len: usize): u64 {
  return zomeFn(ptr, len, (input: Decoder, out: Encoder): Outcome => {
    const includeRevoked = input.readBool();
    if (!input.ok) return ok();
    const r = capabilityGrants(includeRevoked);
    if (r.isErr) return r.propagate();
    const grants = r.value;
    out.writeArrayHeader(<u32>grants.length);
    for (let i = 0; i < grants.length; i++) grants[i].encode(out);
    return ok();
  }, "list_grants");
}

/** `{grantor?: agent, tag?: str}` (or nil) -> [{action_hash, claim}] */
export function list_claims(ptr: usize, len: usize): u64 {
  return zomeFn(ptr, len, (input: Decoder, out: Encoder): Outcome => {
    let grantor: AgentPubKey | null = null;
    let tag: string | null = null;
    if (!input.tryReadNil()) {
      const n = input.readMapHeader();
      for (let i: u32 = 0; i < n && input.ok; i++) {
        const k = input.readString();
        if (k == "grantor") grantor = HoloHash.decodeNullable(input);
        else if (k == "tag") tag = input.readNullableString();
        else input.skip();
      }
    }
    if (!input.ok) return ok();
    const r = capabilityClaims(grantor, tag);
    if (r.isErr) return r.propagate();
    const claims = r.value;
    out.writeArrayHeader(<u32>claims.length);
    for (let i = 0; i < claims.length; i++) claims[i].encode(out);
    return ok();
  }, "list_claims");
}

// ---------------------------------------------------------------------------------------
// Hashing and encryption

function writeNullableBin(out: Encoder, b: Uint8Array | null): void {
  if (b === null) out.writeNil();
  else out.writeBin(b);
}

/** `{entry_type: str, value: any}` -> entry hash */
export function entry_hash_of(ptr: usize, len: usize): u64 {
  return zomeFn(ptr, len, (input: Decoder, out: Encoder): Outcome => {
    let entryType: string | null = null;
    let value: Uint8Array | null = null;
    const n = input.readMapHeader();
    for (let i: u32 = 0; i < n && input.ok; i++) {
      const k = input.readString();
      if (k == "entry_type") entryType = input.readString();
      else if (k == "value") value = input.readRaw();
      else input.skip();
    }
    if (entryType === null) missing(input, "entry_type");
    if (value === null) missing(input, "value");
    if (!input.ok) return ok();
    const r = hashEntry(entryType!, value!);
    if (r.isErr) return r.propagate();
    r.value.encode(out);
    return ok();
  }, "entry_hash_of");
}

/** action hash -> the hash recomputed from the record's decoded action | nil */
export function action_hash_of(ptr: usize, len: usize): u64 {
  return zomeFn(ptr, len, (input: Decoder, out: Encoder): Outcome => {
    const hash = HoloHash.decode(input);
    if (!input.ok) return ok();
    const r = get(hash);
    if (r.isErr) return r.propagate();
    const record = r.value;
    if (record === null) {
      out.writeNil();
      return ok();
    }
    const h = hashAction(record.action);
    if (h.isErr) return h.propagate();
    h.value.encode(out);
    return ok();
  }, "action_hash_of");
}

/** `{data: bin, size: int}` -> bin(size) */
export function blake2b(ptr: usize, len: usize): u64 {
  return zomeFn(ptr, len, (input: Decoder, out: Encoder): Outcome => {
    let data: Uint8Array | null = null;
    let size: u32 = 0;
    let sized = false;
    const n = input.readMapHeader();
    for (let i: u32 = 0; i < n && input.ok; i++) {
      const k = input.readString();
      if (k == "data") data = input.readBin();
      else if (k == "size") {
        size = input.readU8();
        sized = true;
      } else input.skip();
    }
    if (data === null) missing(input, "data");
    if (!sized) missing(input, "size");
    if (!input.ok) return ok();
    const r = hashBlake2b(data!, size);
    if (r.isErr) return r.propagate();
    out.writeBin(r.value);
    return ok();
  }, "blake2b");
}

/** `{recipient: agent, data: bin}` -> bin (nonce ‖ box) */
export function seal_for(ptr: usize, len: usize): u64 {
  return zomeFn(ptr, len, (input: Decoder, out: Encoder): Outcome => {
    let recipient: AgentPubKey | null = null;
    let data: Uint8Array | null = null;
    const n = input.readMapHeader();
    for (let i: u32 = 0; i < n && input.ok; i++) {
      const k = input.readString();
      if (k == "recipient") recipient = HoloHash.decode(input);
      else if (k == "data") data = input.readBin();
      else input.skip();
    }
    if (recipient === null) missing(input, "recipient");
    if (data === null) missing(input, "data");
    if (!input.ok) return ok();
    const r = boxEncrypt(recipient!, data!);
    if (r.isErr) return r.propagate();
    out.writeBin(r.value);
    return ok();
  }, "seal_for");
}

/** `{sender: agent, data: bin}` -> bin | nil */
export function open_from(ptr: usize, len: usize): u64 {
  return zomeFn(ptr, len, (input: Decoder, out: Encoder): Outcome => {
    let sender: AgentPubKey | null = null;
    let data: Uint8Array | null = null;
    const n = input.readMapHeader();
    for (let i: u32 = 0; i < n && input.ok; i++) {
      const k = input.readString();
      if (k == "sender") sender = HoloHash.decode(input);
      else if (k == "data") data = input.readBin();
      else input.skip();
    }
    if (sender === null) missing(input, "sender");
    if (data === null) missing(input, "data");
    if (!input.ok) return ok();
    const r = boxDecrypt(sender!, data!);
    if (r.isErr) return r.propagate();
    writeNullableBin(out, r.value);
    return ok();
  }, "open_from");
}

/** bin -> bin (nonce ‖ secretbox) */
export function seal_own(ptr: usize, len: usize): u64 {
  return zomeFn(ptr, len, (input: Decoder, out: Encoder): Outcome => {
    const data = input.readBin();
    if (!input.ok) return ok();
    const r = secretboxEncrypt(data);
    if (r.isErr) return r.propagate();
    out.writeBin(r.value);
    return ok();
  }, "seal_own");
}

/** bin -> bin | nil */
export function open_own(ptr: usize, len: usize): u64 {
  return zomeFn(ptr, len, (input: Decoder, out: Encoder): Outcome => {
    const data = input.readBin();
    if (!input.ok) return ok();
    const r = secretboxDecrypt(data);
    if (r.isErr) return r.propagate();
    writeNullableBin(out, r.value);
    return ok();
  }, "open_own");
}

// ---------------------------------------------------------------------------------------
// Scheduling (the full set of cases is in zomes/ticker_as)

/** Schedules function `name` of this zome. */
export function schedule_fn(ptr: usize, len: usize): u64 {
  return zomeFn(ptr, len, (input: Decoder, out: Encoder): Outcome => {
    const r = schedule(input.readString());
    if (r.isErr) return r.propagate();
    return ok();
  }, "schedule_fn");
}

/** A scheduled function: signals "scheduled_ping" once. */
@scheduled
export function scheduled_ping(last: Schedule | null): Schedule | null {
  emitSignal(new Encoder().writeString("scheduled_ping").finish());
  return null;
}

// ---------------------------------------------------------------------------------------
// Typed values: @serializable classes (their serde twins are in the Rust probe;
// tests/sdk_as/test_typed_classes.py compares the two byte for byte)

@serializable
class Inner {
  label: string = "";
  weight: f64 = 0;
}

@serializable
class Typed {
  title: string = "";
  count: i32 = 0;
  bigCount: u64 = 0;
  ratio: f32 = 0;
  done: bool = false;
  blob: Uint8Array = new Uint8Array(0);
  author: AgentPubKey | null = null;
  tags: string[] = [];
  inner: Inner = new Inner();
  inners: Array<Inner> = [];
  note: string | null = null;
  maybe: Inner | null = null;
  matrix: i32[][] = [];
}

@serializable
class TypedVia {
  zome: string = "";
  value: Typed = new Typed();
}

/** Decodes the input as Typed and encodes it again. */
export function typed_roundtrip(ptr: usize, len: usize): u64 {
  return zomeFn(ptr, len, (input: Decoder, out: Encoder): Outcome => {
    Typed.decode(input).encode(out);
    return ok();
  }, "typed_roundtrip");
}

/**
 * Encodes `value` as Typed, has zome `zome` of this cell round-trip it (typed_roundtrip),
 * and decodes its answer as Typed.
 */
export function typed_via(ptr: usize, len: usize): u64 {
  return zomeFn(ptr, len, (input: Decoder, out: Encoder): Outcome => {
    const via = TypedVia.decode(input);
    if (!input.ok) return ok();
    const e = new Encoder(256);
    via.value.encode(e);
    const r = call(CallTarget.local(), via.zome, "typed_roundtrip", null, e.finish());
    if (r.isErr) return r.propagate();
    if (!r.value.isOk) return fail(r.value.variant + ": " + r.value.message);
    const d = r.value.payloadDecoder();
    const back = Typed.decode(d);
    if (!d.ok) return fail("DeserializeError: " + d.error!);
    back.encode(out);
    return ok();
  }, "typed_via");
}

// ---------------------------------------------------------------------------------------
// Clone cells

/** CreateCloneCellInput -> ClonedCell */
export function clone_cell(ptr: usize, len: usize): u64 {
  return zomeFn(ptr, len, (input: Decoder, out: Encoder): Outcome => {
    const request = CreateCloneCellInput.decode(input);
    if (!input.ok) return ok();
    const r = createCloneCell(request);
    if (r.isErr) return r.propagate();
    r.value.encode(out);
    return ok();
  }, "clone_cell");
}

/** `{clone_cell_id: "role.N" | CellId}` */
function decodeCloneRef(input: Decoder): CloneCellId | null {
  let ref: CloneCellId | null = null;
  const n = input.readMapHeader();
  for (let i: u32 = 0; i < n && input.ok; i++) {
    const k = input.readString();
    if (k == "clone_cell_id") ref = CloneCellId.decode(input);
    else input.skip();
  }
  if (ref === null) missing(input, "clone_cell_id");
  return ref;
}

/** `{clone_cell_id}` -> nil */
export function disable_clone(ptr: usize, len: usize): u64 {
  return zomeFn(ptr, len, (input: Decoder, out: Encoder): Outcome => {
    const ref = decodeCloneRef(input);
    if (!input.ok) return ok();
    const r = disableCloneCell(ref!);
    if (r.isErr) return r.propagate();
    out.writeNil();
    return ok();
  }, "disable_clone");
}

/** `{clone_cell_id}` -> ClonedCell */
export function enable_clone(ptr: usize, len: usize): u64 {
  return zomeFn(ptr, len, (input: Decoder, out: Encoder): Outcome => {
    const ref = decodeCloneRef(input);
    if (!input.ok) return ok();
    const r = enableCloneCell(ref!);
    if (r.isErr) return r.propagate();
    r.value.encode(out);
    return ok();
  }, "enable_clone");
}

/** `{clone_cell_id}` -> nil */
export function delete_clone(ptr: usize, len: usize): u64 {
  return zomeFn(ptr, len, (input: Decoder, out: Encoder): Outcome => {
    const ref = decodeCloneRef(input);
    if (!input.ok) return ok();
    const r = deleteCloneCell(ref!);
    if (r.isErr) return r.propagate();
    out.writeNil();
    return ok();
  }, "delete_clone");
}

/** A runaway: `{cell_id, prefix, count}` -> count, creating `count` clones in one call
 * (seeds `<prefix>-<i>`); stops at the first error. */
export function clone_many(ptr: usize, len: usize): u64 {
  return zomeFn(ptr, len, (input: Decoder, out: Encoder): Outcome => {
    let cell: CellId | null = null;
    let prefix: string | null = null;
    let count: u32 = 0;
    let hasCount = false;
    const n = input.readMapHeader();
    for (let i: u32 = 0; i < n && input.ok; i++) {
      const k = input.readString();
      if (k == "cell_id") cell = CellId.decode(input);
      else if (k == "prefix") prefix = input.readString();
      else if (k == "count") { count = input.readU32(); hasCount = true; }
      else input.skip();
    }
    if (cell === null) missing(input, "cell_id");
    if (prefix === null) missing(input, "prefix");
    if (!hasCount) missing(input, "count");
    if (!input.ok) return ok();
    for (let i: u32 = 0; i < count; i++) {
      const seed = prefix! + "-" + i.toString();
      const r = createCloneCell(new CreateCloneCellInput(cell!, new DnaModifiersOpt(seed)));
      if (r.isErr) return r.propagate();
    }
    out.writeU32(count);
    return ok();
  }, "clone_many");
}

// ---------------------------------------------------------------------------------------
// Callbacks

export function init(ptr: usize, len: usize): u64 {
  return initCallback(ptr, len, (): InitCallbackResult => InitCallbackResult.Pass());
}

/** Emits the signal `{"post_commit": number of records committed}`. */
export function post_commit(ptr: usize, len: usize): u64 {
  return postCommitCallback(ptr, len, (records: Record[]): Outcome => {
    const e = new Encoder(24);
    e.writeMapHeader(1);
    e.writeString("post_commit");
    e.writeU32(<u32>records.length);
    const r = emitSignal(e.finish());
    if (r.isErr) return failWith(r.err);
    return ok();
  });
}

/** Emits the received payload, unchanged, as a local signal. */
export function recv_remote_signal(ptr: usize, len: usize): u64 {
  return recvRemoteSignalCallback(ptr, len, (payload: Uint8Array): Outcome => {
    const r = emitSignal(payload);
    if (r.isErr) return r.propagate();
    return ok();
  });
}
