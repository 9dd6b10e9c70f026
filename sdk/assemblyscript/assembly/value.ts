// A generic msgpack value tree: for data whose shape is not known at compile time
// (dynamic app payloads, pass-through fields, tests). Typed code should read and write
// with Decoder/Encoder directly: it allocates far less.

import { Decoder, Encoder, MsgType } from "./msgpack";

export enum ValueKind {
  Nil = 0,
  Bool = 1,
  /** a signed integer (every integer that fits in i64) */
  Int = 2,
  /** an unsigned integer above i64.MAX_VALUE */
  UInt = 3,
  Float32 = 4,
  Float64 = 5,
  Str = 6,
  Bin = 7,
  Array = 8,
  Map = 9,
  Ext = 10,
}

/** Nesting deeper than this is refused by Value.decode (the wasm stack is small). */
export const MAX_VALUE_DEPTH: i32 = 256;

export class Value {
  kind: ValueKind = ValueKind.Nil;
  boolValue: bool = false;
  /** Int: the value; UInt: the bits */
  intValue: i64 = 0;
  floatValue: f64 = 0;
  strValue: string = "";
  /** Bin and Ext data */
  bytesValue: Uint8Array | null = null;
  extType: i8 = 0;
  /** Array elements, or Map values */
  items: Value[] | null = null;
  /** Map keys (parallel to items) */
  keys: Value[] | null = null;

  static nil(): Value {
    return new Value();
  }

  static bool(v: bool): Value {
    const r = new Value();
    r.kind = ValueKind.Bool;
    r.boolValue = v;
    return r;
  }

  static int(v: i64): Value {
    const r = new Value();
    r.kind = ValueKind.Int;
    r.intValue = v;
    return r;
  }

  static uint(v: u64): Value {
    const r = new Value();
    r.kind = v > <u64>i64.MAX_VALUE ? ValueKind.UInt : ValueKind.Int;
    r.intValue = <i64>v;
    return r;
  }

  static f32(v: f32): Value {
    const r = new Value();
    r.kind = ValueKind.Float32;
    r.floatValue = <f64>v;
    return r;
  }

  static f64(v: f64): Value {
    const r = new Value();
    r.kind = ValueKind.Float64;
    r.floatValue = v;
    return r;
  }

  static str(v: string): Value {
    const r = new Value();
    r.kind = ValueKind.Str;
    r.strValue = v;
    return r;
  }

  static bin(v: Uint8Array): Value {
    const r = new Value();
    r.kind = ValueKind.Bin;
    r.bytesValue = v;
    return r;
  }

  static array(items: Value[]): Value {
    const r = new Value();
    r.kind = ValueKind.Array;
    r.items = items;
    return r;
  }

  /** A map from parallel key and value lists (order is kept). */
  static map(keys: Value[], values: Value[]): Value {
    assert(keys.length == values.length, "Value.map: keys and values differ in length");
    const r = new Value();
    r.kind = ValueKind.Map;
    r.keys = keys;
    r.items = values;
    return r;
  }

  static ext(type: i8, data: Uint8Array): Value {
    const r = new Value();
    r.kind = ValueKind.Ext;
    r.extType = type;
    r.bytesValue = data;
    return r;
  }

  @inline get isNil(): bool {
    return this.kind == ValueKind.Nil;
  }

  /** Number of array elements or map pairs (0 for other kinds). */
  get length(): i32 {
    const items = this.items;
    return items === null ? 0 : items.length;
  }

  /** The map value under the string key `key`, or null. */
  get(key: string): Value | null {
    if (this.kind != ValueKind.Map) return null;
    const keys = this.keys!;
    for (let i = 0; i < keys.length; i++) {
      const k = unchecked(keys[i]);
      if (k.kind == ValueKind.Str && k.strValue == key) return unchecked(this.items![i]);
    }
    return null;
  }

  /** Reads one value; on error (see decoder.error) returns nil. */
  static decode(d: Decoder): Value {
    return decodeAt(d, 0);
  }

  /** The value from msgpack bytes; null if they are not exactly one valid value. */
  static fromBytes(bytes: Uint8Array): Value | null {
    const d = Decoder.fromBytes(bytes);
    const v = decodeAt(d, 0);
    d.expectEnd();
    return d.ok ? v : null;
  }

  /** Writes the value (integers in their shortest form; floats keep their width). */
  encode(e: Encoder): void {
    switch (this.kind) {
      case ValueKind.Nil: e.writeNil(); break;
      case ValueKind.Bool: e.writeBool(this.boolValue); break;
      case ValueKind.Int: e.writeI64(this.intValue); break;
      case ValueKind.UInt: e.writeU64(<u64>this.intValue); break;
      case ValueKind.Float32: e.writeF32(<f32>this.floatValue); break;
      case ValueKind.Float64: e.writeF64(this.floatValue); break;
      case ValueKind.Str: e.writeString(this.strValue); break;
      case ValueKind.Bin: e.writeBin(this.bytesValue!); break;
      case ValueKind.Ext: e.writeExt(this.extType, this.bytesValue!); break;
      case ValueKind.Array: {
        const items = this.items!;
        e.writeArrayHeader(<u32>items.length);
        for (let i = 0; i < items.length; i++) unchecked(items[i]).encode(e);
        break;
      }
      case ValueKind.Map: {
        const keys = this.keys!;
        const items = this.items!;
        e.writeMapHeader(<u32>keys.length);
        for (let i = 0; i < keys.length; i++) {
          unchecked(keys[i]).encode(e);
          unchecked(items[i]).encode(e);
        }
        break;
      }
    }
  }

  /** msgpack bytes of the value. */
  toBytes(): Uint8Array {
    const e = new Encoder();
    this.encode(e);
    return e.finish();
  }
}

function decodeAt(d: Decoder, depth: i32): Value {
  const t = d.peekType();
  switch (t) {
    case MsgType.Nil: {
      d.readNil();
      return Value.nil();
    }
    case MsgType.Bool: return Value.bool(d.readBool());
    case MsgType.Int: {
      if (d.isNegativeInt()) return Value.int(d.readI64());
      return Value.uint(d.readU64());
    }
    case MsgType.Float: {
      if (d.peekByte() == 0xca) return Value.f32(d.readF32());
      return Value.f64(d.readF64());
    }
    case MsgType.Str: return Value.str(d.readString());
    case MsgType.Bin: return Value.bin(d.readBin());
    case MsgType.Ext: {
      const x = d.readExt();
      return Value.ext(x.type, x.data);
    }
    case MsgType.Array: {
      if (depth >= MAX_VALUE_DEPTH) {
        d.fail("msgpack: nesting deeper than " + MAX_VALUE_DEPTH.toString());
        return Value.nil();
      }
      const n = <i32>d.readArrayHeader();
      const items = new Array<Value>(0);
      for (let i = 0; i < n; i++) {
        if (!d.ok) break;
        items.push(decodeAt(d, depth + 1));
      }
      return Value.array(items);
    }
    case MsgType.Map: {
      if (depth >= MAX_VALUE_DEPTH) {
        d.fail("msgpack: nesting deeper than " + MAX_VALUE_DEPTH.toString());
        return Value.nil();
      }
      const n = <i32>d.readMapHeader();
      const keys = new Array<Value>(0);
      const items = new Array<Value>(0);
      for (let i = 0; i < n; i++) {
        if (!d.ok) break;
        keys.push(decodeAt(d, depth + 1));
        items.push(decodeAt(d, depth + 1));
      }
      return Value.map(keys, items);
    }
    case MsgType.Invalid: {
      d.fail("msgpack: invalid byte 0xc1");
      return Value.nil();
    }
  }
  if (d.ok) d.fail("msgpack: truncated input: expected a value, found end of input");
  return Value.nil();
}
