// msgpack_echo_as: decodes any msgpack value into a generic Value tree with the SDK's
// Decoder and re-encodes it with its Encoder: `echo(x)` returns `{"Ok": x}`. Used by
// tests/sdk_as/test_msgpack_roundtrip.py. Imports nothing (see asconfig.json: abort traps
// without logging), so a bare wasmtime instance can run it.

import { Decoder, Encoder, Outcome, Value, ok, zomeFn } from "@zomehost/sdk";

export { __zh_alloc, __zh_free } from "@zomehost/sdk";

export function echo(ptr: usize, len: usize): u64 {
  return zomeFn(ptr, len, (input: Decoder, output: Encoder): Outcome => {
    const v = Value.decode(input);
    input.expectEnd();
    if (input.ok) v.encode(output);
    return ok();
  });
}

/** Skips the input value (exercises Decoder.skip) and returns its encoded length. */
export function skip_len(ptr: usize, len: usize): u64 {
  return zomeFn(ptr, len, (input: Decoder, output: Encoder): Outcome => {
    input.skip();
    input.expectEnd();
    output.writeU64(<u64>input.offset);
    return ok();
  });
}
