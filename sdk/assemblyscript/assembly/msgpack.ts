// MessagePack codec for zomehost zomes (spec: https://github.com/msgpack/msgpack/blob/master/spec.md).
//
// Encoder: writes into one growable block of raw heap memory (heap.alloc / heap.realloc),
// never into GC-managed objects, so a finished zome result can be handed to the host
// without a copy (see Encoder.release). Integers are written in their shortest form and
// strings as str8/16/32 (like Python's msgpack with use_bin_type=True and rmp-serde), so
// equal values give equal bytes.
//
// Decoder: reads from a (ptr, len) window without copying it. AssemblyScript has no
// exceptions, so errors are sticky: the first type mismatch, truncation or invalid
// UTF-8 records a message in `decoder.error` (with the byte offset); later reads return
// zero values and consume nothing. Check `decoder.ok` (zomeFn does it for you).

// ---------------------------------------------------------------------------------------
// Types

/** The kind of the next value, as seen by Decoder.peekType(). */
export enum MsgType {
  Nil = 0,
  Bool = 1,
  Int = 2,
  Float = 3,
  Str = 4,
  Bin = 5,
  Array = 6,
  Map = 7,
  Ext = 8,
  /** 0xc1: never used by msgpack; a decoder error. */
  Invalid = 9,
  /** no more bytes (or the decoder is in error). */
  End = 10,
}

/** The msgpack type of a leading byte. */
export function msgTypeOf(b: u32): MsgType {
  if (b <= 0x7f) return MsgType.Int; // positive fixint
  if (b <= 0x8f) return MsgType.Map; // fixmap
  if (b <= 0x9f) return MsgType.Array; // fixarray
  if (b <= 0xbf) return MsgType.Str; // fixstr
  if (b >= 0xe0) return MsgType.Int; // negative fixint
  switch (b) {
    case 0xc0: return MsgType.Nil;
    case 0xc2:
    case 0xc3: return MsgType.Bool;
    case 0xc4:
    case 0xc5:
    case 0xc6: return MsgType.Bin;
    case 0xc7:
    case 0xc8:
    case 0xc9:
    case 0xd4:
    case 0xd5:
    case 0xd6:
    case 0xd7:
    case 0xd8: return MsgType.Ext;
    case 0xca:
    case 0xcb: return MsgType.Float;
    case 0xcc:
    case 0xcd:
    case 0xce:
    case 0xcf:
    case 0xd0:
    case 0xd1:
    case 0xd2:
    case 0xd3: return MsgType.Int;
    case 0xd9:
    case 0xda:
    case 0xdb: return MsgType.Str;
    case 0xdc:
    case 0xdd: return MsgType.Array;
    case 0xde:
    case 0xdf: return MsgType.Map;
  }
  return MsgType.Invalid; // 0xc1
}

/** A human name for a MsgType, used in error messages. */
export function msgTypeName(t: MsgType): string {
  switch (t) {
    case MsgType.Nil: return "nil";
    case MsgType.Bool: return "bool";
    case MsgType.Int: return "int";
    case MsgType.Float: return "float";
    case MsgType.Str: return "str";
    case MsgType.Bin: return "bin";
    case MsgType.Array: return "array";
    case MsgType.Map: return "map";
    case MsgType.Ext: return "ext";
    case MsgType.Invalid: return "invalid byte 0xc1";
  }
  return "end of input";
}

/** An ext value: application-defined type code and its data. */
export class Ext {
  constructor(public type: i8, public data: Uint8Array) {}
}

// ---------------------------------------------------------------------------------------
// Encoder

/**
 * Writes msgpack into a growable raw heap block.
 *
 * The block is not GC-managed: finish with exactly one of `finish()` (copy out as a
 * Uint8Array and free the block), `release()` (hand the block to the host as
 * `(ptr << 32) | len`; the host frees it with `__zh_free`) or `free()`.
 * An encoder that is simply dropped leaks its block until the instance ends.
 */
export class Encoder {
  /** start of the raw block */
  ptr: usize;
  /** bytes written */
  len: usize = 0;
  /** capacity of the block */
  cap: usize;

  constructor(initialCapacity: usize = 64) {
    const cap = initialCapacity < 8 ? <usize>8 : initialCapacity;
    this.ptr = heap.alloc(cap);
    this.cap = cap;
  }

  /** Makes room for `n` more bytes. */
  @inline ensure(n: usize): void {
    if (this.len + n > this.cap) this.grow(n);
  }

  private grow(n: usize): void {
    let cap = this.cap << 1;
    const need = this.len + n;
    if (cap < need) cap = need;
    this.ptr = heap.realloc(this.ptr, cap);
    this.cap = cap;
  }

  @inline private put8(b: u32): void {
    store<u8>(this.ptr + this.len, <u8>b);
    this.len += 1;
  }

  @inline private put16(v: u32): void {
    store<u16>(this.ptr + this.len, bswap<u16>(<u16>v));
    this.len += 2;
  }

  @inline private put32(v: u32): void {
    store<u32>(this.ptr + this.len, bswap<u32>(v));
    this.len += 4;
  }

  @inline private put64(v: u64): void {
    store<u64>(this.ptr + this.len, bswap<u64>(v));
    this.len += 8;
  }

  writeNil(): Encoder {
    this.ensure(1);
    this.put8(0xc0);
    return this;
  }

  writeBool(v: bool): Encoder {
    this.ensure(1);
    this.put8(v ? 0xc3 : 0xc2);
    return this;
  }

  /** Any unsigned integer, in its shortest form. */
  writeU64(v: u64): Encoder {
    this.ensure(9);
    if (v < 0x80) {
      this.put8(<u32>v);
    } else if (v <= 0xff) {
      this.put8(0xcc);
      this.put8(<u32>v);
    } else if (v <= 0xffff) {
      this.put8(0xcd);
      this.put16(<u32>v);
    } else if (v <= 0xffffffff) {
      this.put8(0xce);
      this.put32(<u32>v);
    } else {
      this.put8(0xcf);
      this.put64(v);
    }
    return this;
  }

  /** Any signed integer, in its shortest form (non-negative values use the uint forms). */
  writeI64(v: i64): Encoder {
    if (v >= 0) return this.writeU64(<u64>v);
    this.ensure(9);
    if (v >= -32) {
      this.put8(<u32>(<u8>v));
    } else if (v >= -128) {
      this.put8(0xd0);
      this.put8(<u32>(<u8>v));
    } else if (v >= -32768) {
      this.put8(0xd1);
      this.put16(<u32>(<u16>v));
    } else if (v >= -2147483648) {
      this.put8(0xd2);
      this.put32(<u32>v);
    } else {
      this.put8(0xd3);
      this.put64(<u64>v);
    }
    return this;
  }

  @inline writeI32(v: i32): Encoder { return this.writeI64(<i64>v); }
  @inline writeU32(v: u32): Encoder { return this.writeU64(<u64>v); }
  @inline writeI16(v: i16): Encoder { return this.writeI64(<i64>v); }
  @inline writeU16(v: u16): Encoder { return this.writeU64(<u64>v); }
  @inline writeI8(v: i8): Encoder { return this.writeI64(<i64>v); }
  @inline writeU8(v: u8): Encoder { return this.writeU64(<u64>v); }

  writeF32(v: f32): Encoder {
    this.ensure(5);
    this.put8(0xca);
    this.put32(reinterpret<u32>(v));
    return this;
  }

  writeF64(v: f64): Encoder {
    this.ensure(9);
    this.put8(0xcb);
    this.put64(reinterpret<u64>(v));
    return this;
  }

  /** A str header for `n` bytes of UTF-8 (write the bytes yourself with writeRawPtr). */
  writeStrHeader(n: u32): Encoder {
    this.ensure(5);
    if (n < 32) {
      this.put8(0xa0 | n);
    } else if (n <= 0xff) {
      this.put8(0xd9);
      this.put8(n);
    } else if (n <= 0xffff) {
      this.put8(0xda);
      this.put16(n);
    } else {
      this.put8(0xdb);
      this.put32(n);
    }
    return this;
  }

  /** A string as UTF-8 (unpaired surrogates become U+FFFD, so the output is valid UTF-8). */
  writeString(s: string): Encoder {
    const n = <u32>String.UTF8.byteLength(s);
    this.writeStrHeader(n);
    this.ensure(n);
    String.UTF8.encodeUnsafe(
      changetype<usize>(s), s.length, this.ptr + this.len, false, String.UTF8.ErrorMode.REPLACE,
    );
    this.len += n;
    return this;
  }

  /** A bin header for `n` bytes (write the bytes yourself with writeRawPtr). */
  writeBinHeader(n: u32): Encoder {
    this.ensure(5);
    if (n <= 0xff) {
      this.put8(0xc4);
      this.put8(n);
    } else if (n <= 0xffff) {
      this.put8(0xc5);
      this.put16(n);
    } else {
      this.put8(0xc6);
      this.put32(n);
    }
    return this;
  }

  /** Bytes as msgpack bin. */
  writeBin(b: Uint8Array): Encoder {
    const n = <u32>b.length;
    this.writeBinHeader(n);
    this.writeRawPtr(b.dataStart, n);
    return this;
  }

  /** `len` bytes at `ptr` as msgpack bin. */
  writeBinPtr(ptr: usize, len: u32): Encoder {
    this.writeBinHeader(len);
    this.writeRawPtr(ptr, len);
    return this;
  }

  writeArrayHeader(n: u32): Encoder {
    this.ensure(5);
    if (n < 16) {
      this.put8(0x90 | n);
    } else if (n <= 0xffff) {
      this.put8(0xdc);
      this.put16(n);
    } else {
      this.put8(0xdd);
      this.put32(n);
    }
    return this;
  }

  /** A map header for `n` key/value pairs (then write key, value, key, value...). */
  writeMapHeader(n: u32): Encoder {
    this.ensure(5);
    if (n < 16) {
      this.put8(0x80 | n);
    } else if (n <= 0xffff) {
      this.put8(0xde);
      this.put16(n);
    } else {
      this.put8(0xdf);
      this.put32(n);
    }
    return this;
  }

  writeExt(type: i8, data: Uint8Array): Encoder {
    const n = <u32>data.length;
    this.ensure(6);
    if (n == 1) this.put8(0xd4);
    else if (n == 2) this.put8(0xd5);
    else if (n == 4) this.put8(0xd6);
    else if (n == 8) this.put8(0xd7);
    else if (n == 16) this.put8(0xd8);
    else if (n <= 0xff) {
      this.put8(0xc7);
      this.put8(n);
    } else if (n <= 0xffff) {
      this.put8(0xc8);
      this.put16(n);
    } else {
      this.put8(0xc9);
      this.put32(n);
    }
    this.put8(<u32>(<u8>type));
    this.writeRawPtr(data.dataStart, n);
    return this;
  }

  /** Convenience: a string, or nil for null. */
  writeNullableString(s: string | null): Encoder {
    if (s === null) return this.writeNil();
    return this.writeString(s);
  }

  /** Convenience: bin, or nil for null. */
  writeNullableBin(b: Uint8Array | null): Encoder {
    if (b === null) return this.writeNil();
    return this.writeBin(b);
  }

  /** Appends already-encoded msgpack (one or more whole values). */
  writeRaw(bytes: Uint8Array): Encoder {
    this.writeRawPtr(bytes.dataStart, <u32>bytes.length);
    return this;
  }

  /** Appends `len` raw bytes from `ptr`. */
  writeRawPtr(ptr: usize, len: usize): Encoder {
    this.ensure(len);
    memory.copy(this.ptr + this.len, ptr, len);
    this.len += len;
    return this;
  }

  /** Forgets everything written; keeps the block. */
  reset(): void {
    this.len = 0;
  }

  /** Truncates to `len` bytes (for rewinding to a mark). */
  truncate(len: usize): void {
    if (len < this.len) this.len = len;
  }

  /** A copy of the bytes written so far; the encoder stays usable. */
  toBytes(): Uint8Array {
    const out = new Uint8Array(<i32>this.len);
    memory.copy(out.dataStart, this.ptr, this.len);
    return out;
  }

  /** The bytes written, as a Uint8Array; frees the block (the encoder is done). */
  finish(): Uint8Array {
    const out = this.toBytes();
    this.free();
    return out;
  }

  /**
   * Gives the block away as `(ptr << 32) | len` (the ABI's return value) and empties the
   * encoder. The receiver frees it with heap.free / `__zh_free`.
   */
  release(): u64 {
    const r = (<u64>this.ptr << 32) | <u64>this.len;
    this.ptr = 0;
    this.cap = 0;
    this.len = 0;
    return r;
  }

  /** Frees the block; the encoder must not be used afterwards. */
  free(): void {
    if (this.ptr != 0) heap.free(this.ptr);
    this.ptr = 0;
    this.cap = 0;
    this.len = 0;
  }
}

// ---------------------------------------------------------------------------------------
// Decoder

/**
 * Reads msgpack from `[ptr, ptr + len)` without copying the window.
 *
 * Errors are sticky (see the file comment): after a failure `ok` is false, `error` says
 * what and where, and every further read returns a zero value.
 */
export class Decoder {
  /** start of the window */
  start: usize;
  /** read position */
  pos: usize;
  /** end of the window (exclusive) */
  end: usize;
  /** the first error, or null */
  error: string | null = null;
  /** keeps a GC-managed source alive while we read its bytes */
  private owner: Uint8Array | null = null;

  constructor(ptr: usize, len: usize) {
    this.start = ptr;
    this.pos = ptr;
    this.end = ptr + len;
  }

  /** A decoder over a Uint8Array (kept alive while the decoder lives). */
  static fromBytes(bytes: Uint8Array): Decoder {
    const d = new Decoder(bytes.dataStart, <usize>bytes.length);
    d.owner = bytes;
    return d;
  }

  /** True while no error has occurred. */
  @inline get ok(): bool {
    return this.error === null;
  }

  /** Byte offset of the read position from the start of the window. */
  @inline get offset(): usize {
    return this.pos - this.start;
  }

  /** Bytes not read yet. */
  @inline get remaining(): usize {
    return this.end - this.pos;
  }

  /** True when every byte has been read. */
  @inline get atEnd(): bool {
    return this.pos >= this.end;
  }

  /** Records an error (only the first one is kept) and returns false. */
  fail(message: string): bool {
    if (this.error === null) {
      this.error = message + " (at byte " + this.offset.toString() + ")";
    }
    return false;
  }

  /** Fails unless every byte has been read. */
  expectEnd(): bool {
    if (this.error !== null) return false;
    if (this.pos != this.end) {
      return this.fail("msgpack: " + this.remaining.toString() + " trailing bytes after the value");
    }
    return true;
  }

  @inline private has(n: usize): bool {
    if (this.error !== null) return false;
    if (this.end - this.pos < n) {
      return this.fail(
        "msgpack: truncated input: needs " + n.toString() + " more bytes, " +
        this.remaining.toString() + " left",
      );
    }
    return true;
  }

  @inline private get8(): u32 {
    const v = <u32>load<u8>(this.pos);
    this.pos += 1;
    return v;
  }

  @inline private get16(): u32 {
    const v = <u32>bswap<u16>(load<u16>(this.pos));
    this.pos += 2;
    return v;
  }

  @inline private get32(): u32 {
    const v = bswap<u32>(load<u32>(this.pos));
    this.pos += 4;
    return v;
  }

  @inline private get64(): u64 {
    const v = bswap<u64>(load<u64>(this.pos));
    this.pos += 8;
    return v;
  }

  /** The next byte without consuming it (0xc1 at the end or in error). */
  peekByte(): u32 {
    if (this.error !== null || this.pos >= this.end) return 0xc1;
    return <u32>load<u8>(this.pos);
  }

  /** The type of the next value without consuming it. */
  peekType(): MsgType {
    if (this.error !== null || this.pos >= this.end) return MsgType.End;
    return msgTypeOf(<u32>load<u8>(this.pos));
  }

  /** True if the next value is nil. */
  isNil(): bool {
    return this.peekByte() == 0xc0;
  }

  /** True if the next value is a negative integer. */
  isNegativeInt(): bool {
    const b = this.peekByte();
    if (b >= 0xe0) return true;
    if (this.error !== null) return false;
    switch (b) {
      case 0xd0: return this.has(2) && <i8>load<u8>(this.pos, 1) < 0;
      case 0xd1: return this.has(3) && <i16>bswap<u16>(load<u16>(this.pos, 1)) < 0;
      case 0xd2: return this.has(5) && <i32>bswap<u32>(load<u32>(this.pos, 1)) < 0;
      case 0xd3: return this.has(9) && <i64>bswap<u64>(load<u64>(this.pos, 1)) < 0;
    }
    return false;
  }

  private mismatch(expected: string): bool {
    if (this.error !== null) return false;
    if (this.pos >= this.end) {
      return this.fail("msgpack: truncated input: expected " + expected + ", found end of input");
    }
    const b = <u32>load<u8>(this.pos);
    return this.fail(
      "msgpack: expected " + expected + ", found " + msgTypeName(msgTypeOf(b)) +
      " (0x" + b.toString(16) + ")",
    );
  }

  /** Consumes a nil if the next value is nil; returns whether it did. */
  tryReadNil(): bool {
    if (this.peekByte() == 0xc0) {
      this.pos += 1;
      return true;
    }
    return false;
  }

  /** Reads a nil. */
  readNil(): void {
    if (!this.tryReadNil()) this.mismatch("nil");
  }

  readBool(): bool {
    const b = this.peekByte();
    if (b == 0xc3) {
      this.pos += 1;
      return true;
    }
    if (b == 0xc2) {
      this.pos += 1;
      return false;
    }
    this.mismatch("bool");
    return false;
  }

  // Integer reading: `intNeg` tells whether the value is negative; `intBits` holds it as
  // two's complement (negative) or as the unsigned value.
  private intNeg: bool = false;
  private intBits: u64 = 0;

  private readIntParts(expected: string): bool {
    const b = this.peekByte();
    if (this.error !== null) return false;
    if (b <= 0x7f) {
      this.pos += 1;
      this.intNeg = false;
      this.intBits = <u64>b;
      return true;
    }
    if (b >= 0xe0) {
      this.pos += 1;
      this.intNeg = true;
      this.intBits = <u64>(<i64>(<i8>b));
      return true;
    }
    let v: i64 = 0;
    let unsigned = false;
    switch (b) {
      case 0xcc: if (!this.has(2)) return false; this.pos++; v = <i64>this.get8(); unsigned = true; break;
      case 0xcd: if (!this.has(3)) return false; this.pos++; v = <i64>this.get16(); unsigned = true; break;
      case 0xce: if (!this.has(5)) return false; this.pos++; v = <i64>this.get32(); unsigned = true; break;
      case 0xcf: {
        if (!this.has(9)) return false;
        this.pos++;
        this.intNeg = false;
        this.intBits = this.get64();
        return true;
      }
      case 0xd0: if (!this.has(2)) return false; this.pos++; v = <i64>(<i8>this.get8()); break;
      case 0xd1: if (!this.has(3)) return false; this.pos++; v = <i64>(<i16>this.get16()); break;
      case 0xd2: if (!this.has(5)) return false; this.pos++; v = <i64>(<i32>this.get32()); break;
      case 0xd3: if (!this.has(9)) return false; this.pos++; v = <i64>this.get64(); break;
      default: return this.mismatch(expected);
    }
    this.intNeg = !unsigned && v < 0;
    this.intBits = <u64>v;
    return true;
  }

  /** Reads any integer that fits in i64. */
  readI64(): i64 {
    if (!this.readIntParts("int")) return 0;
    if (!this.intNeg && this.intBits > <u64>i64.MAX_VALUE) {
      this.fail("msgpack: integer " + this.intBits.toString() + " does not fit in i64");
      return 0;
    }
    return <i64>this.intBits;
  }

  /** Reads any non-negative integer (up to u64 max). */
  readU64(): u64 {
    if (!this.readIntParts("unsigned int")) return 0;
    if (this.intNeg) {
      this.fail("msgpack: expected unsigned int, found negative " + (<i64>this.intBits).toString());
      return 0;
    }
    return this.intBits;
  }

  private readSignedIn(min: i64, max: i64, name: string): i64 {
    const at = this.pos;
    const v = this.readI64();
    if (this.error !== null) return 0;
    if (v < min || v > max) {
      this.pos = at;
      this.fail("msgpack: integer " + v.toString() + " does not fit in " + name);
      return 0;
    }
    return v;
  }

  private readUnsignedIn(max: u64, name: string): u64 {
    const at = this.pos;
    const v = this.readU64();
    if (this.error !== null) return 0;
    if (v > max) {
      this.pos = at;
      this.fail("msgpack: integer " + v.toString() + " does not fit in " + name);
      return 0;
    }
    return v;
  }

  readI32(): i32 { return <i32>this.readSignedIn(i32.MIN_VALUE, i32.MAX_VALUE, "i32"); }
  readI16(): i16 { return <i16>this.readSignedIn(i16.MIN_VALUE, i16.MAX_VALUE, "i16"); }
  readI8(): i8 { return <i8>this.readSignedIn(i8.MIN_VALUE, i8.MAX_VALUE, "i8"); }
  readU32(): u32 { return <u32>this.readUnsignedIn(u32.MAX_VALUE, "u32"); }
  readU16(): u16 { return <u16>this.readUnsignedIn(u16.MAX_VALUE, "u16"); }
  readU8(): u8 { return <u8>this.readUnsignedIn(u8.MAX_VALUE, "u8"); }

  /** Reads a float32 or float64 as f64. */
  readF64(): f64 {
    const b = this.peekByte();
    if (b == 0xcb) {
      if (!this.has(9)) return 0;
      this.pos += 1;
      return reinterpret<f64>(this.get64());
    }
    if (b == 0xca) {
      if (!this.has(5)) return 0;
      this.pos += 1;
      return <f64>reinterpret<f32>(this.get32());
    }
    this.mismatch("float");
    return 0;
  }

  /** Reads a float32 (or a float64, rounded). */
  readF32(): f32 {
    return <f32>this.readF64();
  }

  /** Reads a str header: the byte length of the UTF-8 that follows (checked present). */
  readStrHeader(): u32 {
    const b = this.peekByte();
    let n: u32 = 0;
    if (b >= 0xa0 && b <= 0xbf) {
      this.pos += 1;
      n = b & 0x1f;
    } else if (b == 0xd9) {
      if (!this.has(2)) return 0;
      this.pos += 1;
      n = this.get8();
    } else if (b == 0xda) {
      if (!this.has(3)) return 0;
      this.pos += 1;
      n = this.get16();
    } else if (b == 0xdb) {
      if (!this.has(5)) return 0;
      this.pos += 1;
      n = this.get32();
    } else {
      this.mismatch("str");
      return 0;
    }
    if (!this.has(n)) return 0;
    return n;
  }

  /** Reads a str (UTF-8 is validated). */
  readString(): string {
    const at = this.pos;
    const n = this.readStrHeader();
    if (this.error !== null) return "";
    if (!utf8Valid(this.pos, n)) {
      this.pos = at;
      this.fail("msgpack: str is not valid UTF-8");
      return "";
    }
    const s = String.UTF8.decodeUnsafe(this.pos, n);
    this.pos += n;
    return s;
  }

  /** Reads a str, or nil as null. */
  readNullableString(): string | null {
    if (this.tryReadNil()) return null;
    return this.readString();
  }

  /** Reads a bin header: the byte length that follows (checked present). */
  readBinHeader(): u32 {
    const b = this.peekByte();
    let n: u32 = 0;
    if (b == 0xc4) {
      if (!this.has(2)) return 0;
      this.pos += 1;
      n = this.get8();
    } else if (b == 0xc5) {
      if (!this.has(3)) return 0;
      this.pos += 1;
      n = this.get16();
    } else if (b == 0xc6) {
      if (!this.has(5)) return 0;
      this.pos += 1;
      n = this.get32();
    } else {
      this.mismatch("bin");
      return 0;
    }
    if (!this.has(n)) return 0;
    return n;
  }

  /** Reads a bin into a new Uint8Array. */
  readBin(): Uint8Array {
    const n = this.readBinHeader();
    if (this.error !== null) return new Uint8Array(0);
    const out = new Uint8Array(<i32>n);
    memory.copy(out.dataStart, this.pos, n);
    this.pos += n;
    return out;
  }

  /** Reads a bin, or nil as null. */
  readNullableBin(): Uint8Array | null {
    if (this.tryReadNil()) return null;
    return this.readBin();
  }

  /** Reads an array header: the number of elements that follow. */
  readArrayHeader(): u32 {
    const b = this.peekByte();
    let n: u32 = 0;
    if (b >= 0x90 && b <= 0x9f) {
      this.pos += 1;
      n = b & 0x0f;
    } else if (b == 0xdc) {
      if (!this.has(3)) return 0;
      this.pos += 1;
      n = this.get16();
    } else if (b == 0xdd) {
      if (!this.has(5)) return 0;
      this.pos += 1;
      n = this.get32();
    } else {
      this.mismatch("array");
      return 0;
    }
    // every element takes at least one byte: reject impossible counts before any loop
    if (!this.has(n)) return 0;
    return n;
  }

  /** Reads a map header: the number of key/value pairs that follow. */
  readMapHeader(): u32 {
    const b = this.peekByte();
    let n: u32 = 0;
    if (b >= 0x80 && b <= 0x8f) {
      this.pos += 1;
      n = b & 0x0f;
    } else if (b == 0xde) {
      if (!this.has(3)) return 0;
      this.pos += 1;
      n = this.get16();
    } else if (b == 0xdf) {
      if (!this.has(5)) return 0;
      this.pos += 1;
      n = this.get32();
    } else {
      this.mismatch("map");
      return 0;
    }
    if (!this.has(<usize>n << 1)) return 0;
    return n;
  }

  /** Reads an ext value. */
  readExt(): Ext {
    const b = this.peekByte();
    let n: u32 = 0;
    let hdr: u32 = 1;
    switch (b) {
      case 0xd4: n = 1; break;
      case 0xd5: n = 2; break;
      case 0xd6: n = 4; break;
      case 0xd7: n = 8; break;
      case 0xd8: n = 16; break;
      case 0xc7: {
        if (!this.has(2)) return new Ext(0, new Uint8Array(0));
        n = <u32>load<u8>(this.pos, 1);
        hdr = 2;
        break;
      }
      case 0xc8: {
        if (!this.has(3)) return new Ext(0, new Uint8Array(0));
        n = <u32>bswap<u16>(load<u16>(this.pos, 1));
        hdr = 3;
        break;
      }
      case 0xc9: {
        if (!this.has(5)) return new Ext(0, new Uint8Array(0));
        n = bswap<u32>(load<u32>(this.pos, 1));
        hdr = 5;
        break;
      }
      default: {
        this.mismatch("ext");
        return new Ext(0, new Uint8Array(0));
      }
    }
    if (!this.has(<usize>hdr + 1 + n)) return new Ext(0, new Uint8Array(0));
    this.pos += hdr;
    const type = <i8>this.get8();
    const data = new Uint8Array(<i32>n);
    memory.copy(data.dataStart, this.pos, n);
    this.pos += n;
    return new Ext(type, data);
  }

  /** Skips one whole value (iteratively: hostile nesting cannot overflow the stack). */
  skip(): void {
    let pending: u64 = 1;
    while (pending > 0) {
      if (this.error !== null) return;
      pending--;
      const b = this.peekByte();
      if (this.pos >= this.end) {
        this.mismatch("a value");
        return;
      }
      let body: usize = 0; // bytes after the header byte
      if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) {
        body = 0;
      } else if (b <= 0x8f) {
        pending += <u64>(b & 0x0f) << 1;
      } else if (b <= 0x9f) {
        pending += <u64>(b & 0x0f);
      } else if (b <= 0xbf) {
        body = b & 0x1f;
      } else {
        switch (b) {
          case 0xcc: case 0xd0: body = 1; break;
          case 0xcd: case 0xd1: body = 2; break;
          case 0xce: case 0xd2: case 0xca: body = 4; break;
          case 0xcf: case 0xd3: case 0xcb: body = 8; break;
          case 0xd4: body = 2; break;
          case 0xd5: body = 3; break;
          case 0xd6: body = 5; break;
          case 0xd7: body = 9; break;
          case 0xd8: body = 17; break;
          case 0xc4: case 0xd9: {
            if (!this.has(2)) return;
            body = 1 + <usize>load<u8>(this.pos, 1);
            break;
          }
          case 0xc5: case 0xda: {
            if (!this.has(3)) return;
            body = 2 + <usize>bswap<u16>(load<u16>(this.pos, 1));
            break;
          }
          case 0xc6: case 0xdb: {
            if (!this.has(5)) return;
            body = 4 + <usize>bswap<u32>(load<u32>(this.pos, 1));
            break;
          }
          case 0xc7: {
            if (!this.has(2)) return;
            body = 2 + <usize>load<u8>(this.pos, 1);
            break;
          }
          case 0xc8: {
            if (!this.has(3)) return;
            body = 3 + <usize>bswap<u16>(load<u16>(this.pos, 1));
            break;
          }
          case 0xc9: {
            if (!this.has(5)) return;
            body = 5 + <usize>bswap<u32>(load<u32>(this.pos, 1));
            break;
          }
          case 0xdc: {
            if (!this.has(3)) return;
            pending += <u64>bswap<u16>(load<u16>(this.pos, 1));
            body = 2;
            break;
          }
          case 0xdd: {
            if (!this.has(5)) return;
            pending += <u64>bswap<u32>(load<u32>(this.pos, 1));
            body = 4;
            break;
          }
          case 0xde: {
            if (!this.has(3)) return;
            pending += <u64>bswap<u16>(load<u16>(this.pos, 1)) << 1;
            body = 2;
            break;
          }
          case 0xdf: {
            if (!this.has(5)) return;
            pending += <u64>bswap<u32>(load<u32>(this.pos, 1)) << 1;
            body = 4;
            break;
          }
          default: {
            this.fail("msgpack: invalid byte 0xc1");
            return;
          }
        }
      }
      if (!this.has(1 + body)) return;
      this.pos += 1 + body;
      // each pending value needs at least one byte
      if (pending > <u64>this.remaining) {
        this.fail(
          "msgpack: truncated input: " + pending.toString() + " more values announced, " +
          this.remaining.toString() + " bytes left",
        );
        return;
      }
    }
  }

  /** The encoded bytes of the next whole value, copied (for pass-through fields). */
  readRaw(): Uint8Array {
    const at = this.pos;
    this.skip();
    if (this.error !== null) return new Uint8Array(0);
    const n = this.pos - at;
    const out = new Uint8Array(<i32>n);
    memory.copy(out.dataStart, at, n);
    return out;
  }
}

// ---------------------------------------------------------------------------------------
// UTF-8 validation (RFC 3629: no overlongs, no surrogates, max U+10FFFF)

export function utf8Valid(ptr: usize, len: usize): bool {
  const end = ptr + len;
  let p = ptr;
  while (p < end) {
    // fast path: 8 ASCII bytes at a time
    if (end - p >= 8 && (load<u64>(p) & 0x8080808080808080) == 0) {
      p += 8;
      continue;
    }
    const c = <u32>load<u8>(p);
    if (c < 0x80) {
      p += 1;
      continue;
    }
    if (c < 0xc2) return false; // continuation byte or overlong 2-byte lead
    if (c < 0xe0) {
      if (end - p < 2) return false;
      if ((<u32>load<u8>(p, 1) & 0xc0) != 0x80) return false;
      p += 2;
      continue;
    }
    if (c < 0xf0) {
      if (end - p < 3) return false;
      const c1 = <u32>load<u8>(p, 1);
      const c2 = <u32>load<u8>(p, 2);
      if ((c1 & 0xc0) != 0x80 || (c2 & 0xc0) != 0x80) return false;
      if (c == 0xe0 && c1 < 0xa0) return false; // overlong
      if (c == 0xed && c1 >= 0xa0) return false; // surrogate
      p += 3;
      continue;
    }
    if (c < 0xf5) {
      if (end - p < 4) return false;
      const c1 = <u32>load<u8>(p, 1);
      const c2 = <u32>load<u8>(p, 2);
      const c3 = <u32>load<u8>(p, 3);
      if ((c1 & 0xc0) != 0x80 || (c2 & 0xc0) != 0x80 || (c3 & 0xc0) != 0x80) return false;
      if (c == 0xf0 && c1 < 0x90) return false; // overlong
      if (c == 0xf4 && c1 >= 0x90) return false; // > U+10FFFF
      p += 4;
      continue;
    }
    return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------
// Helpers for app payloads ("serialized bytes")

/** msgpack bytes of a string. */
export function encodeString(s: string): Uint8Array {
  return new Encoder(<usize>s.length + 8).writeString(s).finish();
}

/** msgpack bytes of an integer. */
export function encodeI64(v: i64): Uint8Array {
  return new Encoder(16).writeI64(v).finish();
}

/** msgpack bytes of nil. */
export function encodeNil(): Uint8Array {
  return new Encoder(8).writeNil().finish();
}
