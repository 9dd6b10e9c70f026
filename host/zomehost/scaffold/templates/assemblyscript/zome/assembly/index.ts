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
  ChainQueryFilter,
  Decoder,
  Encoder,
  Outcome,
  create,
  fail,
  ok,
  query,
  zomeFn,
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
