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
    const entry = new Encoder().writeMapHeader(1).writeString("text").writeString(text).finish();
    const r = create(NOTE, entry);
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
    let count: u32 = 0;
    for (let i = 0; i < records.length; i++) if (records[i].entry !== null) count++;
    out.writeArrayHeader(count);
    for (let i = 0; i < records.length; i++) {
      const entry = records[i].entry;
      if (entry === null) continue;
      // read the note back: a map {text}
      let text = "";
      const d = Decoder.fromBytes(entry.content);
      const n = d.readMapHeader();
      for (let k: u32 = 0; k < n && d.ok; k++) {
        if (d.readString() == "text") text = d.readString();
        else d.skip();
      }
      out.writeMapHeader(2);
      out.writeString("hash");
      records[i].action_hash.encode(out);
      out.writeString("text");
      out.writeString(text);
    }
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
    let to: AgentPubKey | null = null;
    let text = "";
    const n = input.readMapHeader();
    for (let k: u32 = 0; k < n && input.ok; k++) {
      const key = input.readString();
      if (key == "to") to = HoloHash.decode(input);
      else if (key == "text") text = input.readString();
      else input.skip();
    }
    if (!input.ok) return ok();
    if (to === null) return fail("send_note needs {to, text}");
    const zome = zomeInfo();
    if (zome.isErr) return zome.propagate();
    const payload = new Encoder().writeString(text).finish();
    const r = callRemote(to, zome.value.name, RECEIVE_NOTE, null, payload);
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
    const signal = new Encoder();
    signal.writeMapHeader(3);
    signal.writeString("type").writeString("note");
    signal.writeString("from");
    call.value.provenance.encode(signal);
    signal.writeString("text").writeString(text);
    const r = emitSignal(signal.finish());
    if (r.isErr) return r.propagate();
    out.writeNil();
    return ok();
  }, "receive_note");
}
