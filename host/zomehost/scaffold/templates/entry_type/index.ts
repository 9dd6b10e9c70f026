
/** The entry type `{{entry_type}}` (added by `zomehost new entry-type`). */
const {{const_name}} = "{{entry_type}}";

/** Reads a `{{entry_type}}` map {{{field_list}}} and writes it to `out` (after `hash`, if any). */
function {{copy_fn}}(from: Decoder, out: Encoder, hash: HoloHash | null): string | null {
{{as_locals}}  let seen: u32 = 0;
  const n = from.readMapHeader();
  for (let k: u32 = 0; k < n && from.ok; k++) {
    const key = from.readString();
{{as_reads}}    else from.skip();
  }
  if (!from.ok) return "a {{entry_type}} could not be decoded";
  if (seen != {{all_seen}}) return "a {{entry_type}} needs {{{field_list}}}";
  out.writeMapHeader({{field_count}} + (hash === null ? 0 : 1));
  if (hash !== null) {
    out.writeString("hash");
    hash.encode(out);
  }
{{as_writes}}  return null;
}

/** Writes a `{{entry_type}}` entry {{{field_list}}} on the agent's source chain; returns its action hash. */
export function {{create_fn}}(ptr: usize, len: usize): u64 {
  return zomeFn(ptr, len, (input: Decoder, out: Encoder): Outcome => {
    const entry = new Encoder();
    const problem = {{copy_fn}}(input, entry, null);
    if (!input.ok) return ok(); // zomeFn reports the input error to the caller
    if (problem !== null) return fail(problem);
    const r = create({{const_name}}, entry.finish());
    if (r.isErr) return r.propagate();
    r.value.encode(out);
    return ok();
  }, "{{create_fn}}");
}

/** Every `{{entry_type}}` on the agent's source chain, oldest first: [{hash, {{field_list}}}]. */
export function {{list_fn}}(ptr: usize, len: usize): u64 {
  return zomeFn(ptr, len, (input: Decoder, out: Encoder): Outcome => {
    const r = query(new ChainQueryFilter().entryType({{const_name}}).includeEntries());
    if (r.isErr) return r.propagate();
    const records = r.value;
    let count: u32 = 0;
    for (let i = 0; i < records.length; i++) if (records[i].entry !== null) count++;
    out.writeArrayHeader(count);
    for (let i = 0; i < records.length; i++) {
      const entry = records[i].entry;
      if (entry === null) continue;
      const problem = {{copy_fn}}(Decoder.fromBytes(entry.content), out, records[i].action_hash);
      if (problem !== null) return fail(problem);
    }
    return ok();
  }, "{{list_fn}}");
}
