// {{zome_name}}: a zomehost zome in AssemblyScript (scaffolded by `zomehost new`).
//
// | function      | input                    | output                                       |
// |---------------|--------------------------|----------------------------------------------|
// | `hello`       | a name (string)          | "Hello, <name>"                              |
// | `create_note` | the note's text (string) | the action hash of the new note              |
// | `list_notes`  | nothing                  | [{hash, text}]: every note on your chain     |
//
// Build with `zomehost build` at the app's root. The SDK's API is described in
// {{sdk_as}}/README.md.
//
// A zome function is an export `(ptr: usize, len: usize) => u64` whose body runs through
// zomeFn: the handler reads its input from a Decoder, writes one output value to an
// Encoder and returns ok() or fail("message"). The last argument, the function's name,
// goes into the error for an input that cannot be decoded:
// "DeserializeError: input of <name> could not be decoded: ...".
//
// A class marked @serializable gets `encode(e)` and `static decode(d)`: a msgpack map of
// its fields (keys in snake_case), the shape a Rust zome's serde struct has.

import {
  AgentPubKey,
  CapAccess,
  ChainQueryFilter,
  Decoder,
  Encoder,
  GrantedFunctions,
  HoloHash,
  InitCallbackResult,
  Outcome,
  ZomeCallCapGrant,
  ZomeCallResponseKind,
  ZomeFnName,
  callInfo,
  callRemote,
  create,
  createCapGrant,
  emitSignal,
  fail,
  initCallback,
  ok,
  query,
  zomeFn,
  zomeInfo,
} from "@zomehost/sdk";

// Every zome exports the allocator the host uses to pass data in and out.
export { __zh_alloc, __zh_free } from "@zomehost/sdk";

/** The entry type of notes on the source chain. */
const NOTE = "note";

/** A note entry: {text}. */
@serializable
class Note {
  text: string = "";
}

/** An item of list_notes' answer: {hash, text}. */
@serializable
class NoteItem {
  hash: HoloHash = new HoloHash(new Uint8Array(0));
  text: string = "";
}

/** send_note's input: {to, text}. */
@serializable
class SendNote {
  to: AgentPubKey = new HoloHash(new Uint8Array(0));
  text: string = "";
}

/** The signal a received note raises: {type, from, text}. */
@serializable
class NoteSignal {
  type: string = "note";
  from: AgentPubKey = new HoloHash(new Uint8Array(0));
  text: string = "";
}

/** hello("world") -> "Hello, world" */
export function hello(ptr: usize, len: usize): u64 {
  return zomeFn(ptr, len, (input: Decoder, out: Encoder): Outcome => {
    const name = input.readString();
    if (!input.ok) return ok(); // zomeFn reports the input error to the caller
    out.writeString("Hello, " + name);
    return ok();
  }, "hello");
}

/** Writes a `note` entry {text} on the agent's source chain; returns its action hash. */
export function create_note(ptr: usize, len: usize): u64 {
  return zomeFn(ptr, len, (input: Decoder, out: Encoder): Outcome => {
    const text = input.readString();
    if (!input.ok) return ok();
    if (text.length == 0) return fail("a note needs some text");
    const note = new Note();
    note.text = text;
    const entry = new Encoder();
    note.encode(entry);
    const r = create(NOTE, entry.finish());
    if (r.isErr) return r.propagate(); // the host's error, as the call's error
    r.value.encode(out);
    return ok();
  }, "create_note");
}

/** Every note on the agent's source chain, oldest first: [{hash, text}]. */
export function list_notes(ptr: usize, len: usize): u64 {
  return zomeFn(ptr, len, (input: Decoder, out: Encoder): Outcome => {
    const r = query(new ChainQueryFilter().entryType(NOTE).includeEntries());
    if (r.isErr) return r.propagate();
    const records = r.value;
    const items = new Array<NoteItem>();
    for (let i = 0; i < records.length; i++) {
      const entry = records[i].entry;
      if (entry === null) continue;
      const d = Decoder.fromBytes(entry.content);
      const note = Note.decode(d);
      if (!d.ok) return fail("a note entry could not be read: " + d.error!);
      const item = new NoteItem();
      item.hash = records[i].action_hash;
      item.text = note.text;
      items.push(item);
    }
    out.writeArrayHeader(<u32>items.length);
    for (let i = 0; i < items.length; i++) items[i].encode(out);
    return ok();
  }, "list_notes");
}

/** The function other agents call to send a note (granted to everyone by `init`). */
const RECEIVE_NOTE = "receive_note";

/** Runs once per agent: anyone may send this agent a note. */
export function init(ptr: usize, len: usize): u64 {
  return initCallback(ptr, len, (): InitCallbackResult => {
    const zome = zomeInfo();
    if (zome.isErr) return InitCallbackResult.Fail(zome.err.message);
    const grant = new ZomeCallCapGrant(
      "anyone may send me notes",
      CapAccess.unrestricted(),
      GrantedFunctions.listedFunctions([new ZomeFnName(zome.value.name, RECEIVE_NOTE)]),
    );
    const r = createCapGrant(grant);
    if (r.isErr) return InitCallbackResult.Fail(r.err.message);
    return InitCallbackResult.Pass();
  });
}

/**
 * Sends {to, text}'s text to another agent (a remote call into their `receive_note`):
 * nothing is written on either chain. false when their conductor cannot be reached.
 */
export function send_note(ptr: usize, len: usize): u64 {
  return zomeFn(ptr, len, (input: Decoder, out: Encoder): Outcome => {
    const send = SendNote.decode(input);
    if (!input.ok) return ok(); // e.g. "missing field `to`", reported by zomeFn
    const zome = zomeInfo();
    if (zome.isErr) return zome.propagate();
    const payload = new Encoder().writeString(send.text).finish();
    const r = callRemote(send.to, zome.value.name, RECEIVE_NOTE, null, payload);
    if (r.isErr) return r.propagate();
    const response = r.value;
    if (response.isOk) out.writeBool(true);
    else if (response.kind == ZomeCallResponseKind.NetworkError) out.writeBool(false);
    else return fail("receive_note failed: " + response.variant + ": " + response.message);
    return ok();
  }, "send_note");
}

/** Called by other agents: hands the note to this agent's UI as a signal {type, from, text}. */
export function receive_note(ptr: usize, len: usize): u64 {
  return zomeFn(ptr, len, (input: Decoder, out: Encoder): Outcome => {
    const text = input.readString();
    if (!input.ok) return ok();
    const call = callInfo();
    if (call.isErr) return call.propagate();
    const note = new NoteSignal();
    note.from = call.value.provenance;
    note.text = text;
    const signal = new Encoder();
    note.encode(signal);
    const r = emitSignal(signal.finish());
    if (r.isErr) return r.propagate();
    out.writeNil();
    return ok();
  }, "receive_note");
}
