// Helpers the @serializable transform's generated code calls (bin/serializable.mjs); see
// README.md, "Typed classes". A zome author does not call them directly.

import { Decoder, Encoder } from "./msgpack";

/** An array: its header, then each item by `write`. */
export function writeArrayOf<T>(e: Encoder, items: T[], write: (e: Encoder, item: T) => void): void {
  e.writeArrayHeader(<u32>items.length);
  for (let i = 0; i < items.length; i++) write(e, unchecked(items[i]));
}

/** An array whose items `read` decodes (stops at the decoder's first error). */
export function readArrayOf<T>(d: Decoder, read: (d: Decoder) => T): T[] {
  const n = d.readArrayHeader();
  const out = new Array<T>();
  for (let i: u32 = 0; i < n && d.ok; i++) out.push(read(d));
  return out;
}

/**
 * An object of class T with every field zero/null, its constructor not run: what a
 * generated `decode` fills field by field (as serde builds a struct from its fields).
 */
// @ts-ignore: decorator
@inline export function blankOf<T>(): T {
  return changetype<T>(__new(offsetof<T>(), idof<T>()));
}

/**
 * A decoder over an empty map: a missing field of a class type gets `decode(emptyMap())`,
 * an object whose own fields have their defaults (the input has failed already; the
 * object only keeps the zome from reading nulls).
 */
export function emptyMap(): Decoder {
  const bytes = new Uint8Array(1);
  bytes[0] = 0x80;
  return Decoder.fromBytes(bytes);
}
