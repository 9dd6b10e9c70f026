// Typed wrappers: one per host function of docs/abi.md. Each encodes its input, calls the
// import, decodes the reply and returns Result<T>: Ok(value), or Err(WasmError) with the
// host's {kind, message} (or a DeserializeError if the reply did not decode).
//
// App data (entries, call payloads, signals) is passed as msgpack bytes (Uint8Array):
// build them with an Encoder (`new Encoder().writeString(s).finish()`) or encodeString().

import { Encoder } from "./msgpack";
import { callHost, HostFn, HostReply } from "./abi";
import { Result, Unit, UNIT } from "./result";
import {
  ActionHash,
  AgentInfo,
  AgentPubKey,
  AnyDhtHash,
  CallInfo,
  CallTarget,
  CapClaim,
  CapClaimRecord,
  CapGrantRecord,
  ChainQueryFilter,
  ChainTopOrdering,
  chainTopOrderingName,
  DnaInfo,
  encodeHashArray,
  HoloHash,
  Record,
  Timestamp,
  ZomeCallCapGrant,
  ZomeCallResponse,
  ZomeInfo,
} from "./types";

function nilInput(): Encoder {
  return new Encoder(8).writeNil();
}

function hashReply(reply: HostReply): Result<ActionHash> {
  if (!reply.isOk) return reply.errorAs<ActionHash>();
  return reply.finish<ActionHash>(HoloHash.decode(reply.decoder));
}

function binReply(reply: HostReply): Result<Uint8Array> {
  if (!reply.isOk) return reply.errorAs<Uint8Array>();
  return reply.finish<Uint8Array>(reply.decoder.readBin());
}

function nilReply(reply: HostReply): Result<Unit> {
  if (!reply.isOk) return reply.errorAs<Unit>();
  reply.decoder.readNil();
  return reply.finish<Unit>(UNIT);
}

// ---------------------------------------------------------------------------------------
// Info

/** The cell's agent and chain head. */
export function agentInfo(): Result<AgentInfo> {
  const reply = callHost(HostFn.agent_info, nilInput());
  if (!reply.isOk) return reply.errorAs<AgentInfo>();
  return reply.finish<AgentInfo>(AgentInfo.decode(reply.decoder));
}

/** The DNA's hash, name, properties (msgpack bytes), network seed and zome names. */
export function dnaInfo(): Result<DnaInfo> {
  const reply = callHost(HostFn.dna_info, nilInput());
  if (!reply.isOk) return reply.errorAs<DnaInfo>();
  return reply.finish<DnaInfo>(DnaInfo.decode(reply.decoder));
}

/** The running zome's name, index and exported functions. */
export function zomeInfo(): Result<ZomeInfo> {
  const reply = callHost(HostFn.zome_info, nilInput());
  if (!reply.isOk) return reply.errorAs<ZomeInfo>();
  return reply.finish<ZomeInfo>(ZomeInfo.decode(reply.decoder));
}

/** Who called, which function, the chain head at the start of the call, and the grant used. */
export function callInfo(): Result<CallInfo> {
  const reply = callHost(HostFn.call_info, nilInput());
  if (!reply.isOk) return reply.errorAs<CallInfo>();
  return reply.finish<CallInfo>(CallInfo.decode(reply.decoder));
}

// ---------------------------------------------------------------------------------------
// Source chain

// The ordering of this call's writes that name none (memory starts clean every call).
let callOrdering: ChainTopOrdering = ChainTopOrdering.Strict;

/**
 * The ordering of this call's writes from now on; each write may still pass its own.
 * See `ChainTopOrdering`.
 */
export function setChainTopOrdering(ordering: ChainTopOrdering): void {
  callOrdering = ordering;
}

function writeOrdering(e: Encoder, ordering: ChainTopOrdering): void {
  e.writeString("chain_top_ordering");
  e.writeString(chainTopOrderingName(ordering));
}

/** Writes an app entry of type `entryType` (content: msgpack bytes); returns the action hash. */
export function create(
  entryType: string,
  entry: Uint8Array,
  ordering: ChainTopOrdering = callOrdering,
): Result<ActionHash> {
  const e = new Encoder(<usize>entry.length + 96);
  e.writeMapHeader(3);
  e.writeString("entry_type");
  e.writeString(entryType);
  e.writeString("entry");
  e.writeBin(entry);
  writeOrdering(e, ordering);
  return hashReply(callHost(HostFn.create, e));
}


/**
 * The record of an action hash, or of the newest action that wrote an entry hash, on this
 * cell's own chain (this call's uncommitted writes included); null if not found.
 */
export function get(hash: AnyDhtHash): Result<Record | null> {
  const e = new Encoder(64);
  e.writeMapHeader(1);
  e.writeString("hash");
  hash.encode(e);
  const reply = callHost(HostFn.get, e);
  if (!reply.isOk) return reply.errorAs<Record | null>();
  return reply.finish<Record | null>(Record.decodeNullable(reply.decoder));
}

/** Writes a new version of the entry created by `originalAction`. */
export function update(
  originalAction: ActionHash,
  entryType: string,
  entry: Uint8Array,
  ordering: ChainTopOrdering = callOrdering,
): Result<ActionHash> {
  const e = new Encoder(<usize>entry.length + 160);
  e.writeMapHeader(4);
  e.writeString("original_action");
  originalAction.encode(e);
  e.writeString("entry_type");
  e.writeString(entryType);
  e.writeString("entry");
  e.writeBin(entry);
  writeOrdering(e, ordering);
  return hashReply(callHost(HostFn.update, e));
}

/** Marks the action `deletesAction` (a Create or Update) deleted. (Host function `delete`.) */
export function deleteAction(
  deletesAction: ActionHash,
  ordering: ChainTopOrdering = callOrdering,
): Result<ActionHash> {
  const e = new Encoder(96);
  e.writeMapHeader(2);
  e.writeString("deletes_action");
  deletesAction.encode(e);
  writeOrdering(e, ordering);
  return hashReply(callHost(HostFn.delete, e));
}

/** The records of this cell's chain that match `filter`. */
export function query(filter: ChainQueryFilter): Result<Record[]> {
  const e = new Encoder(128);
  filter.encode(e);
  const reply = callHost(HostFn.query, e);
  if (!reply.isOk) return reply.errorAs<Record[]>();
  return reply.finish<Record[]>(Record.decodeArray(reply.decoder));
}

// ---------------------------------------------------------------------------------------
// Utilities

/** `n` (at most 65536) cryptographically random bytes. */
export function randomBytes(n: u32): Result<Uint8Array> {
  return binReply(callHost(HostFn.random_bytes, new Encoder(8).writeU32(n)));
}

/** The host's clock: microseconds since the Unix epoch. */
export function sysTime(): Result<Timestamp> {
  const reply = callHost(HostFn.sys_time, nilInput());
  if (!reply.isOk) return reply.errorAs<Timestamp>();
  return reply.finish<Timestamp>(reply.decoder.readI64());
}

/** Signs `data` with `key` (only the cell's own agent key is allowed): 64 bytes. */
export function sign(key: AgentPubKey, data: Uint8Array): Result<Uint8Array> {
  const e = new Encoder(<usize>data.length + 64);
  e.writeMapHeader(2);
  e.writeString("key");
  key.encode(e);
  e.writeString("data");
  e.writeBin(data);
  return binReply(callHost(HostFn.sign, e));
}

/** Checks an Ed25519 signature of `data` by `key`. */
export function verifySignature(
  key: AgentPubKey,
  signature: Uint8Array,
  data: Uint8Array,
): Result<bool> {
  const e = new Encoder(<usize>data.length + 160);
  e.writeMapHeader(3);
  e.writeString("key");
  key.encode(e);
  e.writeString("signature");
  e.writeBin(signature);
  e.writeString("data");
  e.writeBin(data);
  const reply = callHost(HostFn.verify_signature, e);
  if (!reply.isOk) return reply.errorAs<bool>();
  return reply.finish<bool>(reply.decoder.readBool());
}

/** Logs `msg` through the host; `level` is "trace", "debug", "info", "warn" or "error". */
export function trace(level: string, msg: string): Result<Unit> {
  const e = new Encoder(<usize>msg.length + 32);
  e.writeMapHeader(2);
  e.writeString("level");
  e.writeString(level);
  e.writeString("msg");
  e.writeString(msg);
  return nilReply(callHost(HostFn.trace, e));
}

/** trace("debug", msg), ignoring errors. */
export function debug(msg: string): void {
  trace("debug", msg);
}

/** trace("info", msg), ignoring errors. */
export function info(msg: string): void {
  trace("info", msg);
}

/** trace("warn", msg), ignoring errors. */
export function warn(msg: string): void {
  trace("warn", msg);
}

/** trace("error", msg), ignoring errors. */
export function error(msg: string): void {
  trace("error", msg);
}

// ---------------------------------------------------------------------------------------
// Signals and calls

/** Sends a signal (msgpack bytes of the app's value) to the cell's local clients. */
export function emitSignal(signal: Uint8Array): Result<Unit> {
  const e = new Encoder(<usize>signal.length + 8);
  e.writeBin(signal);
  return nilReply(callHost(HostFn.emit_signal, e));
}

/**
 * Calls `zomeName/fnName` in the same cell (CallTarget.local()), another cell of the app
 * by role, or any cell of this agent by CellId. `payload`: msgpack bytes of the input.
 */
export function call(
  target: CallTarget,
  zomeName: string,
  fnName: string,
  capSecret: Uint8Array | null,
  payload: Uint8Array,
): Result<ZomeCallResponse> {
  const e = new Encoder(<usize>payload.length + 256);
  e.writeMapHeader(5);
  e.writeString("target");
  target.encode(e);
  e.writeString("zome_name");
  e.writeString(zomeName);
  e.writeString("fn_name");
  e.writeString(fnName);
  e.writeString("cap_secret");
  e.writeNullableBin(capSecret);
  e.writeString("payload");
  e.writeBin(payload);
  const reply = callHost(HostFn.call, e);
  if (!reply.isOk) return reply.errorAs<ZomeCallResponse>();
  return reply.finish<ZomeCallResponse>(ZomeCallResponse.decode(reply.decoder));
}

/**
 * Calls `zomeName/fnName` on another agent's cell of the same DNA. `timeoutMs < 0` sends
 * nil (the host's default timeout).
 */
export function callRemote(
  agent: AgentPubKey,
  zomeName: string,
  fnName: string,
  capSecret: Uint8Array | null,
  payload: Uint8Array,
  timeoutMs: i64 = -1,
): Result<ZomeCallResponse> {
  const e = new Encoder(<usize>payload.length + 256);
  e.writeMapHeader(6);
  e.writeString("agent");
  agent.encode(e);
  e.writeString("zome_name");
  e.writeString(zomeName);
  e.writeString("fn_name");
  e.writeString(fnName);
  e.writeString("cap_secret");
  e.writeNullableBin(capSecret);
  e.writeString("payload");
  e.writeBin(payload);
  e.writeString("timeout_ms");
  if (timeoutMs < 0) e.writeNil();
  else e.writeI64(timeoutMs);
  const reply = callHost(HostFn.call_remote, e);
  if (!reply.isOk) return reply.errorAs<ZomeCallResponse>();
  return reply.finish<ZomeCallResponse>(ZomeCallResponse.decode(reply.decoder));
}

/** Sends a signal (msgpack bytes) to other agents' cells (their recv_remote_signal). */
export function sendRemoteSignal(agents: AgentPubKey[], payload: Uint8Array): Result<Unit> {
  const e = new Encoder(<usize>payload.length + 48 * <usize>agents.length + 32);
  e.writeMapHeader(2);
  e.writeString("agents");
  encodeHashArray(e, agents);
  e.writeString("payload");
  e.writeBin(payload);
  return nilReply(callHost(HostFn.send_remote_signal, e));
}

// ---------------------------------------------------------------------------------------
// Capabilities

/** A fresh 64-byte secret for a Transferable or Assigned grant. */
export function generateCapSecret(): Result<Uint8Array> {
  return binReply(callHost(HostFn.generate_cap_secret, nilInput()));
}

/** Writes a capability grant to this chain. */
export function createCapGrant(grant: ZomeCallCapGrant): Result<ActionHash> {
  const e = new Encoder(256);
  grant.encode(e);
  return hashReply(callHost(HostFn.create_cap_grant, e));
}

/** Replaces the grant written by `originalAction` (the old one stops authorizing). */
export function updateCapGrant(originalAction: ActionHash, grant: ZomeCallCapGrant): Result<ActionHash> {
  const e = new Encoder(320);
  e.writeMapHeader(2);
  e.writeString("original_action");
  originalAction.encode(e);
  e.writeString("grant");
  grant.encode(e);
  return hashReply(callHost(HostFn.update_cap_grant, e));
}

/** Revokes the grant written by `actionHash`. */
export function deleteCapGrant(actionHash: ActionHash): Result<ActionHash> {
  const e = new Encoder(48);
  actionHash.encode(e);
  return hashReply(callHost(HostFn.delete_cap_grant, e));
}

/** Stores a claim (a secret received from a grantor) on this chain. */
export function createCapClaim(claim: CapClaim): Result<ActionHash> {
  const e = new Encoder(192);
  claim.encode(e);
  return hashReply(callHost(HostFn.create_cap_claim, e));
}

/** The grants on this chain (with `includeRevoked`, also the deleted/updated ones). */
export function capabilityGrants(includeRevoked: bool): Result<CapGrantRecord[]> {
  const e = new Encoder(32);
  e.writeMapHeader(1);
  e.writeString("include_revoked");
  e.writeBool(includeRevoked);
  const reply = callHost(HostFn.capability_grants, e);
  if (!reply.isOk) return reply.errorAs<CapGrantRecord[]>();
  const d = reply.decoder;
  const n = d.readArrayHeader();
  const out = new Array<CapGrantRecord>(0);
  for (let i: u32 = 0; i < n && d.ok; i++) out.push(CapGrantRecord.decode(d));
  return reply.finish<CapGrantRecord[]>(out);
}

/** The claims on this chain, optionally only those of one grantor and/or one tag. */
export function capabilityClaims(
  grantor: AgentPubKey | null,
  tag: string | null,
): Result<CapClaimRecord[]> {
  const e = new Encoder(96);
  e.writeMapHeader(2);
  e.writeString("grantor");
  HoloHash.encodeNullable(e, grantor);
  e.writeString("tag");
  e.writeNullableString(tag);
  const reply = callHost(HostFn.capability_claims, e);
  if (!reply.isOk) return reply.errorAs<CapClaimRecord[]>();
  const d = reply.decoder;
  const n = d.readArrayHeader();
  const out = new Array<CapClaimRecord>(0);
  for (let i: u32 = 0; i < n && d.ok; i++) out.push(CapClaimRecord.decode(d));
  return reply.finish<CapClaimRecord[]>(out);
}
