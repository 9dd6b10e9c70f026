// The ABI glue (docs/abi.md): allocator exports, the abort handler, calling host
// functions, and running exported zome functions.

import { Decoder, Encoder, MsgType } from "./msgpack";
import { Err, Ok, Outcome, Result, WasmError } from "./result";
import * as raw from "./imports";

export { __zh_alloc, __zh_free } from "./alloc";

// ---------------------------------------------------------------------------------------
// abort

let aborting = false;

/**
 * The abort handler zomes are compiled with (`--use abort=~lib/@zomehost/sdk/assembly/abi/zhAbort`):
 * sends the message and its place through the `trace` host function (level "error",
 * `abort: true`: the host logs it and puts it in the call's error), then traps.
 * A failed assert, an out-of-bounds array access, Result.value on an Err... all end here.
 */
export function zhAbort(
  message: string | null = null,
  fileName: string | null = null,
  lineNumber: u32 = 0,
  columnNumber: u32 = 0,
): void {
  // An abort while aborting (e.g. out of memory while encoding the message) just traps.
  if (!aborting) {
    aborting = true;
    let text = "aborted: " + (message === null ? "(no message)" : message);
    if (fileName !== null) {
      text += " at " + fileName + ":" + lineNumber.toString() + ":" + columnNumber.toString();
    }
    const e = new Encoder(<usize>text.length + 32);
    e.writeMapHeader(3);
    e.writeString("level");
    e.writeString("error");
    e.writeString("msg");
    e.writeString(text);
    e.writeString("abort");
    e.writeBool(true);
    const ret = raw.trace(e.ptr, e.len);
    // the reply block is ours; free it (the instance is about to trap anyway)
    const rptr = <usize>(ret >> 32);
    if (rptr != 0) heap.free(rptr);
    e.free();
  }
  unreachable();
}

// ---------------------------------------------------------------------------------------
// Host functions

/** Every host function of docs/abi.md. */
export enum HostFn {
  agent_info = 0,
  dna_info = 1,
  zome_info = 2,
  call_info = 3,
  create = 4,
  get = 5,
  update = 6,
  delete = 7,
  query = 8,
  random_bytes = 9,
  sys_time = 10,
  sign = 11,
  verify_signature = 12,
  trace = 13,
  emit_signal = 14,
  call = 15,
  call_remote = 16,
  send_remote_signal = 17,
  generate_cap_secret = 18,
  create_cap_grant = 19,
  update_cap_grant = 20,
  delete_cap_grant = 21,
  create_cap_claim = 22,
  capability_grants = 23,
  capability_claims = 24,
  hash_entry = 25,
  hash_action = 26,
  hash_blake2b = 27,
  box_encrypt = 28,
  box_decrypt = 29,
  secretbox_encrypt = 30,
  secretbox_decrypt = 31,
  schedule = 32,
  create_clone_cell = 33,
  disable_clone_cell = 34,
  enable_clone_cell = 35,
  delete_clone_cell = 36,
}

/** The import name of a host function. */
export function hostFnName(f: HostFn): string {
  switch (f) {
    case HostFn.agent_info: return "agent_info";
    case HostFn.dna_info: return "dna_info";
    case HostFn.zome_info: return "zome_info";
    case HostFn.call_info: return "call_info";
    case HostFn.create: return "create";
    case HostFn.get: return "get";
    case HostFn.update: return "update";
    case HostFn.delete: return "delete";
    case HostFn.query: return "query";
    case HostFn.random_bytes: return "random_bytes";
    case HostFn.sys_time: return "sys_time";
    case HostFn.sign: return "sign";
    case HostFn.verify_signature: return "verify_signature";
    case HostFn.trace: return "trace";
    case HostFn.emit_signal: return "emit_signal";
    case HostFn.call: return "call";
    case HostFn.call_remote: return "call_remote";
    case HostFn.send_remote_signal: return "send_remote_signal";
    case HostFn.generate_cap_secret: return "generate_cap_secret";
    case HostFn.create_cap_grant: return "create_cap_grant";
    case HostFn.update_cap_grant: return "update_cap_grant";
    case HostFn.delete_cap_grant: return "delete_cap_grant";
    case HostFn.create_cap_claim: return "create_cap_claim";
    case HostFn.capability_grants: return "capability_grants";
    case HostFn.capability_claims: return "capability_claims";
    case HostFn.hash_entry: return "hash_entry";
    case HostFn.hash_action: return "hash_action";
    case HostFn.hash_blake2b: return "hash_blake2b";
    case HostFn.box_encrypt: return "box_encrypt";
    case HostFn.box_decrypt: return "box_decrypt";
    case HostFn.secretbox_encrypt: return "secretbox_encrypt";
    case HostFn.secretbox_decrypt: return "secretbox_decrypt";
    case HostFn.schedule: return "schedule";
    case HostFn.create_clone_cell: return "create_clone_cell";
    case HostFn.disable_clone_cell: return "disable_clone_cell";
    case HostFn.enable_clone_cell: return "enable_clone_cell";
    case HostFn.delete_clone_cell: return "delete_clone_cell";
  }
  return "unknown";
}

function invokeRaw(f: HostFn, ptr: usize, len: usize): u64 {
  switch (f) {
    case HostFn.agent_info: return raw.agent_info(ptr, len);
    case HostFn.dna_info: return raw.dna_info(ptr, len);
    case HostFn.zome_info: return raw.zome_info(ptr, len);
    case HostFn.call_info: return raw.call_info(ptr, len);
    case HostFn.create: return raw.create(ptr, len);
    case HostFn.get: return raw.get(ptr, len);
    case HostFn.update: return raw.update(ptr, len);
    case HostFn.delete: return raw.delete_(ptr, len);
    case HostFn.query: return raw.query(ptr, len);
    case HostFn.random_bytes: return raw.random_bytes(ptr, len);
    case HostFn.sys_time: return raw.sys_time(ptr, len);
    case HostFn.sign: return raw.sign(ptr, len);
    case HostFn.verify_signature: return raw.verify_signature(ptr, len);
    case HostFn.trace: return raw.trace(ptr, len);
    case HostFn.emit_signal: return raw.emit_signal(ptr, len);
    case HostFn.call: return raw.call(ptr, len);
    case HostFn.call_remote: return raw.call_remote(ptr, len);
    case HostFn.send_remote_signal: return raw.send_remote_signal(ptr, len);
    case HostFn.generate_cap_secret: return raw.generate_cap_secret(ptr, len);
    case HostFn.create_cap_grant: return raw.create_cap_grant(ptr, len);
    case HostFn.update_cap_grant: return raw.update_cap_grant(ptr, len);
    case HostFn.delete_cap_grant: return raw.delete_cap_grant(ptr, len);
    case HostFn.create_cap_claim: return raw.create_cap_claim(ptr, len);
    case HostFn.capability_grants: return raw.capability_grants(ptr, len);
    case HostFn.capability_claims: return raw.capability_claims(ptr, len);
    case HostFn.hash_entry: return raw.hash_entry(ptr, len);
    case HostFn.hash_action: return raw.hash_action(ptr, len);
    case HostFn.hash_blake2b: return raw.hash_blake2b(ptr, len);
    case HostFn.box_encrypt: return raw.box_encrypt(ptr, len);
    case HostFn.box_decrypt: return raw.box_decrypt(ptr, len);
    case HostFn.secretbox_encrypt: return raw.secretbox_encrypt(ptr, len);
    case HostFn.secretbox_decrypt: return raw.secretbox_decrypt(ptr, len);
    case HostFn.schedule: return raw.schedule(ptr, len);
    case HostFn.create_clone_cell: return raw.create_clone_cell(ptr, len);
    case HostFn.disable_clone_cell: return raw.disable_clone_cell(ptr, len);
    case HostFn.enable_clone_cell: return raw.enable_clone_cell(ptr, len);
    case HostFn.delete_clone_cell: return raw.delete_clone_cell(ptr, len);
  }
  abort("unknown host function");
  return 0;
}

/**
 * A host function's reply, decoded as far as the envelope. Owns the reply block until
 * `finish` / `free`.
 */
export class HostReply {
  /** The error of an `{"Err": ...}` envelope (or of a malformed reply); null on Ok. */
  error: WasmError | null = null;

  constructor(
    /** The reply block (0 once freed). */
    public ptr: usize,
    public len: usize,
    /** Positioned at the Ok value. */
    public decoder: Decoder,
    public fn: HostFn,
  ) {}

  @inline get isOk(): bool {
    return this.error === null;
  }

  /** Frees the reply block. */
  free(): void {
    if (this.ptr != 0) heap.free(this.ptr);
    this.ptr = 0;
  }

  /**
   * Ends decoding of the Ok value: checks that the decoder read exactly one value
   * without error, frees the block, and returns `Ok(value)` or a DeserializeError.
   */
  finish<T>(value: T): Result<T> {
    const d = this.decoder;
    d.expectEnd();
    this.free();
    if (!d.ok) {
      return Err<T>(new WasmError(
        "DeserializeError",
        "result of " + hostFnName(this.fn) + " could not be decoded: " + d.error!,
      ));
    }
    return Ok<T>(value);
  }

  /** The error as a Result of any type (frees the block). */
  errorAs<T>(): Result<T> {
    this.free();
    return Err<T>(this.error!);
  }
}

/**
 * Calls host function `f` with the msgpack input in `input` (freed here), and decodes
 * the reply envelope. On Ok, `reply.decoder` is positioned at the value; on Err,
 * `reply.error` holds `{kind, message}` and the block is already freed.
 */
export function callHost(f: HostFn, input: Encoder): HostReply {
  const ret = invokeRaw(f, input.ptr, input.len);
  input.free();
  const ptr = <usize>(ret >> 32);
  const len = <usize>(ret & 0xffffffff);
  const d = new Decoder(ptr, len);
  const reply = new HostReply(ptr, len, d, f);
  const n = d.readMapHeader();
  if (d.ok && n != 1) d.fail("the envelope map has " + n.toString() + " entries, not 1");
  const tag = d.readString();
  if (d.ok && tag == "Ok") return reply;
  if (d.ok && tag == "Err") {
    reply.error = decodeHostError(d);
    reply.free();
    return reply;
  }
  if (d.ok) d.fail("the envelope key is \"" + tag + "\", not \"Ok\" or \"Err\"");
  reply.error = new WasmError(
    "DeserializeError",
    "reply of " + hostFnName(f) + " is not a result envelope: " + d.error!,
  );
  reply.free();
  return reply;
}

/** `{kind, message}` (or any other value, as an Internal error). */
function decodeHostError(d: Decoder): WasmError {
  let kind = "Internal";
  let message = "";
  if (d.peekType() == MsgType.Map) {
    const n = d.readMapHeader();
    for (let i: u32 = 0; i < n && d.ok; i++) {
      const k = d.readString();
      if (k == "kind" && d.peekType() == MsgType.Str) kind = d.readString();
      else if (k == "message" && d.peekType() == MsgType.Str) message = d.readString();
      else d.skip();
    }
  } else if (d.peekType() == MsgType.Str) {
    message = d.readString();
  } else {
    d.skip();
    message = "(an error value that is neither {kind, message} nor a string)";
  }
  if (!d.ok) message = "(undecodable error: " + d.error! + ")";
  return new WasmError(kind, message);
}

/**
 * Calls host function `f` with already-encoded msgpack `input`; returns the msgpack bytes
 * of the Ok value, or the host's error. For host functions without a typed wrapper, or
 * to pass data through untouched.
 */
export function callHostBytes(f: HostFn, input: Uint8Array): Result<Uint8Array> {
  const e = new Encoder(<usize>input.length);
  e.writeRaw(input);
  const reply = callHost(f, e);
  if (!reply.isOk) return reply.errorAs<Uint8Array>();
  return reply.finish<Uint8Array>(reply.decoder.readRaw());
}

// ---------------------------------------------------------------------------------------
// Exported zome functions

/** The body of a zome function: read the input, write one output value, say how it went. */
export type ZomeHandler = (input: Decoder, output: Encoder) => Outcome;

/**
 * Runs a zome function by the ABI: wraps the input block in a Decoder, calls `handler`,
 * frees the input block, and returns `(ptr << 32) | len` of the result envelope:
 *
 * - `{"Ok": value}` with the one value the handler wrote to `output` (nil if none);
 * - `{"Err": "DeserializeError: input of <name> could not be decoded: ..."}` if the input
 *   decoder recorded an error (a missing field, a type mismatch or truncation while the
 *   handler read it), the Rust SDK's text; without `name`, `input could not be decoded`;
 * - `{"Err": error.toString()}` if the handler returned a failure.
 *
 * `name` is the function's export name (AssemblyScript cannot know it by itself).
 *
 *     export function echo(ptr: usize, len: usize): u64 {
 *       return zomeFn(ptr, len, (input: Decoder, output: Encoder): Outcome => {
 *         output.writeString(input.readString());
 *         return ok();
 *       }, "echo");
 *     }
 */
export function zomeFn(ptr: usize, len: usize, handler: ZomeHandler, name: string = ""): u64 {
  const input = new Decoder(ptr, len);
  const out = beginEnvelope();
  const mark = out.len;
  const outcome = handler(input, out);
  return endEnvelope(ptr, input, out, mark, outcome, name);
}

/** An encoder holding `{"Ok": ` (the value comes next). */
export function beginEnvelope(): Encoder {
  const out = new Encoder(256);
  out.writeMapHeader(1);
  out.writeString("Ok");
  return out;
}

/**
 * Frees the input block and finishes the envelope (see zomeFn); returns the ABI value.
 * `mark` is `out.len` right after beginEnvelope(); `name` the function's name, for the
 * input error's text.
 */
export function endEnvelope(
  inputPtr: usize,
  input: Decoder,
  out: Encoder,
  mark: usize,
  outcome: Outcome,
  name: string = "",
): u64 {
  heap.free(inputPtr); // the guest owns the input block
  input.start = input.pos = input.end = 0;
  const inputError = input.error;
  if (inputError !== null) {
    const what = name.length > 0 ? "input of " + name : "input";
    writeErr(out, "DeserializeError: " + what + " could not be decoded: " + inputError);
  } else if (outcome.error !== null) {
    writeErr(out, outcome.error!.toString());
  } else if (out.len == mark) {
    out.writeNil();
  }
  return out.release();
}

function writeErr(out: Encoder, message: string): void {
  out.reset();
  out.writeMapHeader(1);
  out.writeString("Err");
  out.writeString(message);
}
