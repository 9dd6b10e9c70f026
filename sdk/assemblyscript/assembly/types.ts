// The shared types of docs/abi.md, with their msgpack encoding.
//
// Field names are the ABI's snake_case keys, so what you read here is what is on the
// wire. Structs are maps; enums are externally tagged (a unit variant is the string
// "Name", a variant with data the one-entry map {"Name": data}); byte strings are bin.
//
// Decoding is as strict as the Rust SDK (serde): keys may come in any order and unknown
// keys are skipped, but a required key that is missing, a known key given twice, or a
// value of the wrong msgpack type is a decoder error ("missing field `tag`", "duplicate
// field `tag`", "msgpack: expected str, found int"). Only the keys the ABI makes optional
// may be absent: Record.entry, the fields of Action other than `type`, and every key of
// ChainQueryFilter. Nothing is filled in with a default: the value a failed decode
// returns is incomplete and must not be used (zomeFn and the host function wrappers turn
// the decoder error into a DeserializeError). Capability values start out granting
// nothing (GrantedFunctions.Listed [], CapAccess.Assigned to nobody), so even an
// unchecked failed decode cannot widen access.
// Every class has `encode(e: Encoder)` and `static decode(d: Decoder)`.

import { Decoder, Encoder, MsgType } from "./msgpack";

// ---------------------------------------------------------------------------------------
// Hashes and helpers

const B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/**
 * A HoloHash: 3-byte type prefix + 32-byte core + 4-byte location = 39 bytes (docs/formats.md).
 * The SDK does not validate hashes it decodes; the host checks every hash it receives.
 */
export class HoloHash {
  constructor(public bytes: Uint8Array) {}

  static decode(d: Decoder): HoloHash {
    return new HoloHash(d.readBin());
  }

  /** A hash, or nil as null. */
  static decodeNullable(d: Decoder): HoloHash | null {
    if (d.tryReadNil()) return null;
    return new HoloHash(d.readBin());
  }

  encode(e: Encoder): void {
    e.writeBin(this.bytes);
  }

  static encodeNullable(e: Encoder, h: HoloHash | null): void {
    if (h === null) e.writeNil();
    else e.writeBin(h.bytes);
  }

  @inline get length(): i32 {
    return this.bytes.length;
  }

  equals(other: HoloHash | null): bool {
    if (other === null) return false;
    const a = this.bytes;
    const b = other.bytes;
    if (a.length != b.length) return false;
    return memory.compare(a.dataStart, b.dataStart, <usize>a.length) == 0;
  }

  /** The kind from the prefix: Agent, Entry, NetId, DhtOp, Action, Wasm, Dna, External or "". */
  get hashType(): string {
    const b = this.bytes;
    if (b.length < 3 || b[0] != 0x84 || b[2] != 0x24) return "";
    switch (b[1]) {
      case 0x20: return "Agent";
      case 0x21: return "Entry";
      case 0x22: return "NetId";
      case 0x24: return "DhtOp";
      case 0x29: return "Action";
      case 0x2a: return "Wasm";
      case 0x2d: return "Dna";
      case 0x2f: return "External";
    }
    return "";
  }

  /** The text form: "u" + base64url without padding (e.g. "uhCAk..." for an agent). */
  toString(): string {
    const b = this.bytes;
    const n = b.length;
    let out = "u";
    let i = 0;
    for (; i + 3 <= n; i += 3) {
      const v = (<u32>b[i] << 16) | (<u32>b[i + 1] << 8) | <u32>b[i + 2];
      out += B64URL.charAt(v >> 18) + B64URL.charAt((v >> 12) & 63) +
        B64URL.charAt((v >> 6) & 63) + B64URL.charAt(v & 63);
    }
    if (n - i == 1) {
      const v = <u32>b[i] << 16;
      out += B64URL.charAt(v >> 18) + B64URL.charAt((v >> 12) & 63);
    } else if (n - i == 2) {
      const v = (<u32>b[i] << 16) | (<u32>b[i + 1] << 8);
      out += B64URL.charAt(v >> 18) + B64URL.charAt((v >> 12) & 63) + B64URL.charAt((v >> 6) & 63);
    }
    return out;
  }
}

export type AgentPubKey = HoloHash;
export type ActionHash = HoloHash;
export type EntryHash = HoloHash;
export type DnaHash = HoloHash;
/** An action hash or an entry hash. */
export type AnyDhtHash = HoloHash;

function emptyHash(): HoloHash {
  return new HoloHash(new Uint8Array(0));
}

/** Microseconds since the Unix epoch. */
export type Timestamp = i64;

export function decodeHashArray(d: Decoder): HoloHash[] {
  const n = d.readArrayHeader();
  const out = new Array<HoloHash>(0);
  for (let i: u32 = 0; i < n && d.ok; i++) out.push(HoloHash.decode(d));
  return out;
}

export function encodeHashArray(e: Encoder, hashes: HoloHash[]): void {
  e.writeArrayHeader(<u32>hashes.length);
  for (let i = 0; i < hashes.length; i++) e.writeBin(unchecked(hashes[i]).bytes);
}

export function decodeStringArray(d: Decoder): string[] {
  const n = d.readArrayHeader();
  const out = new Array<string>(0);
  for (let i: u32 = 0; i < n && d.ok; i++) out.push(d.readString());
  return out;
}

export function encodeStringArray(e: Encoder, items: string[]): void {
  e.writeArrayHeader(<u32>items.length);
  for (let i = 0; i < items.length; i++) e.writeString(unchecked(items[i]));
}

// Externally tagged enums: readEnumTag returns the variant name; `enumHasData` tells
// whether its data follows (map form) or not (string form).
let enumHasData = false;

/** Reads the tag of an externally tagged enum (see `enumTagHasData`). */
export function readEnumTag(d: Decoder): string {
  const t = d.peekType();
  if (t == MsgType.Str) {
    enumHasData = false;
    return d.readString();
  }
  if (t == MsgType.Map) {
    const n = d.readMapHeader();
    if (n != 1) {
      d.fail("an enum variant with data is a one-entry map, found " + n.toString() + " entries");
      return "";
    }
    enumHasData = true;
    return d.readString();
  }
  d.fail("expected an enum (str or one-entry map), found " + (t == MsgType.End ? "end of input" : "another type"));
  enumHasData = false;
  return "";
}

/** Whether the tag just read by readEnumTag was the map form (its data comes next). */
export function enumTagHasData(): bool {
  return enumHasData;
}

function unknownVariant(d: Decoder, what: string, tag: string): void {
  if (d.ok) d.fail("unknown " + what + " variant \"" + tag + "\"");
}

/** The data of a unit variant sent in map form (`{"All": nil}`): nil, as serde takes it. */
function readUnitVariantData(d: Decoder, hasData: bool): void {
  if (hasData) d.readNil();
}

// Struct maps. A decoder keeps a bit set `seen` over its list of known keys: `markKey`
// after reading each key, `requireKeys` after the map. The required keys come first in
// the list.

/**
 * Marks key `k` as read: returns `seen` with the bit of `k`'s index in `keys` set (unchanged
 * for an unknown key). A key read twice fails `d` ("duplicate field `k`", as serde).
 */
export function markKey(d: Decoder, seen: u32, keys: StaticArray<string>, k: string): u32 {
  for (let i = 0; i < keys.length; i++) {
    if (unchecked(keys[i]) == k) {
      const bit: u32 = <u32>1 << <u32>i;
      if ((seen & bit) != 0 && d.ok) d.fail("duplicate field `" + k + "`");
      return seen | bit;
    }
  }
  return seen;
}

/**
 * Fails `d` ("missing field `name`", as serde) for the first of the first `required` keys
 * (all of them if negative) whose bit is not in `seen`.
 */
export function requireKeys(
  d: Decoder,
  seen: u32,
  keys: StaticArray<string>,
  required: i32 = -1,
): void {
  if (!d.ok) return;
  const n = required < 0 ? keys.length : required;
  for (let i = 0; i < n; i++) {
    if ((seen & (<u32>1 << <u32>i)) == 0) {
      d.fail("missing field `" + unchecked(keys[i]) + "`");
      return;
    }
  }
}

const ENTRY_KEYS: StaticArray<string> = ["entry_type", "content"];
const ACTION_KEYS: StaticArray<string> = [
  "type", // required
  "author", "timestamp", "action_seq", "prev_action", "dna_hash", "membrane_proof",
  "entry_type", "entry_hash", "original_action_address", "original_entry_address",
  "deletes_address", "deletes_entry_address",
];
const RECORD_KEYS: StaticArray<string> = ["action_hash", "action", "signature", "entry"];
const CHAIN_HEAD_KEYS: StaticArray<string> = ["action", "seq", "timestamp"];
const FILTER_KEYS: StaticArray<string> = [
  "sequence_range", "entry_type", "action_type", "include_entries", "descending",
  "entry_hashes",
];
const AGENT_INFO_KEYS: StaticArray<string> = [
  "agent_initial_pubkey", "agent_latest_pubkey", "chain_head",
];
const DNA_INFO_KEYS: StaticArray<string> = [
  "hash", "name", "properties", "network_seed", "zome_names",
];
const ZOME_INFO_KEYS: StaticArray<string> = ["name", "id", "function_names"];
const REMOTE_AGENT_KEYS: StaticArray<string> = ["action_hash", "tag", "access", "functions"];
const CALL_INFO_KEYS: StaticArray<string> = [
  "provenance", "zome_name", "function_name", "as_at", "cap_grant",
];
const TRANSFERABLE_KEYS: StaticArray<string> = ["secret"];
const ASSIGNED_KEYS: StaticArray<string> = ["secret", "assignees"];
const GRANT_KEYS: StaticArray<string> = ["tag", "access", "functions"];
const CLAIM_KEYS: StaticArray<string> = ["tag", "grantor", "secret"];
const GRANT_RECORD_KEYS: StaticArray<string> = ["action_hash", "grant", "revoked"];
const CLAIM_RECORD_KEYS: StaticArray<string> = ["action_hash", "claim"];
const UNAUTHORIZED_KEYS: StaticArray<string> = [
  "zome_name", "fn_name", "cell_id", "provenance", "reason",
];

const ACTION_TYPES: StaticArray<string> = [
  "Dna", "AgentValidationPkg", "InitZomesComplete", "Create", "Update", "Delete",
];

// ---------------------------------------------------------------------------------------
// Records

/** An entry: its type name and its content (msgpack bytes of the app's value). */
export class Entry {
  constructor(public entry_type: string = "", public content: Uint8Array = new Uint8Array(0)) {}

  static decode(d: Decoder): Entry {
    const r = new Entry();
    let seen: u32 = 0;
    const n = d.readMapHeader();
    for (let i: u32 = 0; i < n && d.ok; i++) {
      const k = d.readString();
      seen = markKey(d, seen, ENTRY_KEYS, k);
      if (k == "entry_type") r.entry_type = d.readString();
      else if (k == "content") r.content = d.readBin();
      else d.skip();
    }
    requireKeys(d, seen, ENTRY_KEYS);
    return r;
  }

  static decodeNullable(d: Decoder): Entry | null {
    if (d.tryReadNil()) return null;
    return Entry.decode(d);
  }

  encode(e: Encoder): void {
    e.writeMapHeader(2);
    e.writeString("entry_type");
    e.writeString(this.entry_type);
    e.writeString("content");
    e.writeBin(this.content);
  }

  /** A Decoder over the content (read the app's value with it). */
  contentDecoder(): Decoder {
    return Decoder.fromBytes(this.content);
  }
}

/**
 * An action: the map of docs/formats.md, with `type` one of Dna | AgentValidationPkg |
 * InitZomesComplete | Create | Update | Delete.
 *
 * `type` is required (one of the six). The other known fields may be absent (null, or 0),
 * and the optional hashes and `entry_type` nil, but a value of the wrong type is a decoder
 * error, as in the Rust SDK (`membrane_proof` is kept when it is a bin and skipped
 * otherwise). `raw` keeps the exact bytes received, and `encode` writes them back
 * unchanged, so a record passed through a zome keeps every field (and its hash still
 * matches).
 */
export class Action {
  /** The encoded action as received (null for an action built in the zome). */
  raw: Uint8Array | null = null;
  type: string = "";
  author: AgentPubKey | null = null;
  timestamp: Timestamp = 0;
  action_seq: u32 = 0;
  prev_action: ActionHash | null = null;
  /** Dna */
  dna_hash: DnaHash | null = null;
  /** AgentValidationPkg */
  membrane_proof: Uint8Array | null = null;
  /** Create / Update */
  entry_type: string | null = null;
  entry_hash: EntryHash | null = null;
  /** Update */
  original_action_address: ActionHash | null = null;
  original_entry_address: EntryHash | null = null;
  /** Delete */
  deletes_address: ActionHash | null = null;
  deletes_entry_address: EntryHash | null = null;

  static decode(d: Decoder): Action {
    const r = new Action();
    const at = d.pos;
    let seen: u32 = 0;
    const n = d.readMapHeader();
    for (let i: u32 = 0; i < n && d.ok; i++) {
      const k = d.readString();
      seen = markKey(d, seen, ACTION_KEYS, k);
      if (k == "type") {
        r.type = d.readString();
        if (d.ok && !ACTION_TYPES.includes(r.type)) {
          d.fail("unknown action type \"" + r.type + "\"");
        }
      } else if (k == "author") r.author = HoloHash.decode(d);
      else if (k == "timestamp") r.timestamp = d.readI64();
      else if (k == "action_seq") r.action_seq = d.readU32();
      else if (k == "prev_action") r.prev_action = HoloHash.decodeNullable(d);
      else if (k == "entry_type") r.entry_type = d.readNullableString();
      else if (k == "membrane_proof" && d.peekType() == MsgType.Bin) r.membrane_proof = d.readBin();
      else if (k == "dna_hash") r.dna_hash = HoloHash.decodeNullable(d);
      else if (k == "entry_hash") r.entry_hash = HoloHash.decodeNullable(d);
      else if (k == "original_action_address") r.original_action_address = HoloHash.decodeNullable(d);
      else if (k == "original_entry_address") r.original_entry_address = HoloHash.decodeNullable(d);
      else if (k == "deletes_address") r.deletes_address = HoloHash.decodeNullable(d);
      else if (k == "deletes_entry_address") r.deletes_entry_address = HoloHash.decodeNullable(d);
      else d.skip();
    }
    requireKeys(d, seen, ACTION_KEYS, 1);
    if (d.ok) {
      const len = d.pos - at;
      const raw = new Uint8Array(<i32>len);
      memory.copy(raw.dataStart, at, len);
      r.raw = raw;
    }
    return r;
  }

  /** Writes `raw` if the action was decoded, else the fields that are set. */
  encode(e: Encoder): void {
    const raw = this.raw;
    if (raw !== null) {
      e.writeRaw(raw);
      return;
    }
    let n: u32 = 5;
    if (this.dna_hash !== null) n++;
    if (this.membrane_proof !== null) n++;
    if (this.entry_type !== null) n++;
    if (this.entry_hash !== null) n++;
    if (this.original_action_address !== null) n++;
    if (this.original_entry_address !== null) n++;
    if (this.deletes_address !== null) n++;
    if (this.deletes_entry_address !== null) n++;
    e.writeMapHeader(n);
    e.writeString("type");
    e.writeString(this.type);
    e.writeString("author");
    HoloHash.encodeNullable(e, this.author);
    e.writeString("timestamp");
    e.writeI64(this.timestamp);
    e.writeString("action_seq");
    e.writeU32(this.action_seq);
    e.writeString("prev_action");
    HoloHash.encodeNullable(e, this.prev_action);
    if (this.dna_hash !== null) {
      e.writeString("dna_hash");
      this.dna_hash!.encode(e);
    }
    if (this.membrane_proof !== null) {
      e.writeString("membrane_proof");
      e.writeBin(this.membrane_proof!);
    }
    if (this.entry_type !== null) {
      e.writeString("entry_type");
      e.writeString(this.entry_type!);
    }
    if (this.entry_hash !== null) {
      e.writeString("entry_hash");
      this.entry_hash!.encode(e);
    }
    if (this.original_action_address !== null) {
      e.writeString("original_action_address");
      this.original_action_address!.encode(e);
    }
    if (this.original_entry_address !== null) {
      e.writeString("original_entry_address");
      this.original_entry_address!.encode(e);
    }
    if (this.deletes_address !== null) {
      e.writeString("deletes_address");
      this.deletes_address!.encode(e);
    }
    if (this.deletes_entry_address !== null) {
      e.writeString("deletes_entry_address");
      this.deletes_entry_address!.encode(e);
    }
  }
}

/** A signed action plus its entry (if it has one and it was asked for). */
export class Record {
  action_hash: ActionHash = emptyHash();
  action: Action = new Action();
  signature: Uint8Array = new Uint8Array(0);
  entry: Entry | null = null;

  static decode(d: Decoder): Record {
    const r = new Record();
    let seen: u32 = 0;
    const n = d.readMapHeader();
    for (let i: u32 = 0; i < n && d.ok; i++) {
      const k = d.readString();
      seen = markKey(d, seen, RECORD_KEYS, k);
      if (k == "action_hash") r.action_hash = HoloHash.decode(d);
      else if (k == "action") r.action = Action.decode(d);
      else if (k == "signature") r.signature = d.readBin();
      else if (k == "entry") r.entry = Entry.decodeNullable(d);
      else d.skip();
    }
    requireKeys(d, seen, RECORD_KEYS, 3); // `entry` may be absent (null)
    return r;
  }

  static decodeNullable(d: Decoder): Record | null {
    if (d.tryReadNil()) return null;
    return Record.decode(d);
  }

  static decodeArray(d: Decoder): Record[] {
    const n = d.readArrayHeader();
    const out = new Array<Record>(0);
    for (let i: u32 = 0; i < n && d.ok; i++) out.push(Record.decode(d));
    return out;
  }

  static encodeArray(e: Encoder, records: Record[]): void {
    e.writeArrayHeader(<u32>records.length);
    for (let i = 0; i < records.length; i++) unchecked(records[i]).encode(e);
  }

  encode(e: Encoder): void {
    e.writeMapHeader(4);
    e.writeString("action_hash");
    this.action_hash.encode(e);
    e.writeString("action");
    this.action.encode(e);
    e.writeString("signature");
    e.writeBin(this.signature);
    e.writeString("entry");
    const entry = this.entry;
    if (entry === null) e.writeNil();
    else entry.encode(e);
  }

  /** The entry type name, from the action or, failing that, from the entry. */
  get entryType(): string | null {
    const t = this.action.entry_type;
    if (t !== null) return t;
    const entry = this.entry;
    return entry === null ? null : entry.entry_type;
  }
}

// ---------------------------------------------------------------------------------------
// Cells and chain

/** `[dna_hash, agent_pub_key]` on the wire. */
export class CellId {
  constructor(public dna_hash: DnaHash = emptyHash(), public agent_pub_key: AgentPubKey = emptyHash()) {}

  static decode(d: Decoder): CellId {
    const r = new CellId();
    const n = d.readArrayHeader();
    if (d.ok && n != 2) {
      d.fail("a CellId is [dna_hash, agent_pub_key], found " + n.toString() + " elements");
      return r;
    }
    r.dna_hash = HoloHash.decode(d);
    r.agent_pub_key = HoloHash.decode(d);
    return r;
  }

  encode(e: Encoder): void {
    e.writeArrayHeader(2);
    this.dna_hash.encode(e);
    this.agent_pub_key.encode(e);
  }
}

export class ChainHead {
  action: ActionHash = emptyHash();
  seq: u32 = 0;
  timestamp: Timestamp = 0;

  /** A chain head, or nil as null (an empty chain). */
  static decodeNullable(d: Decoder): ChainHead | null {
    if (d.tryReadNil()) return null;
    return ChainHead.decode(d);
  }

  static encodeNullable(e: Encoder, h: ChainHead | null): void {
    if (h === null) e.writeNil();
    else h.encode(e);
  }

  static decode(d: Decoder): ChainHead {
    const r = new ChainHead();
    let seen: u32 = 0;
    const n = d.readMapHeader();
    for (let i: u32 = 0; i < n && d.ok; i++) {
      const k = d.readString();
      seen = markKey(d, seen, CHAIN_HEAD_KEYS, k);
      if (k == "action") r.action = HoloHash.decode(d);
      else if (k == "seq") r.seq = d.readU32();
      else if (k == "timestamp") r.timestamp = d.readI64();
      else d.skip();
    }
    requireKeys(d, seen, CHAIN_HEAD_KEYS);
    return r;
  }

  encode(e: Encoder): void {
    e.writeMapHeader(3);
    e.writeString("action");
    this.action.encode(e);
    e.writeString("seq");
    e.writeU32(this.seq);
    e.writeString("timestamp");
    e.writeI64(this.timestamp);
  }
}

/**
 * The filter of `query`. Every key is optional on the wire, and nil is the same as absent
 * (no restriction; false for the flags). `decode` also takes a nil filter as "no filter".
 * A value of the wrong type, or a key given twice, is a decoder error. `encode` writes all
 * six (null lists as nil).
 *
 *     const f = new ChainQueryFilter();
 *     f.entry_type = ["note"];
 *     f.include_entries = true;
 */
export class ChainQueryFilter {
  /** `[start, end_exclusive]` of action_seq, or null for all. */
  sequence_range: u32[] | null = null;
  entry_type: string[] | null = null;
  action_type: string[] | null = null;
  include_entries: bool = false;
  descending: bool = false;
  /** Only actions that wrote one of these entries, or null for any. */
  entry_hashes: EntryHash[] | null = null;

  /** Only actions with `start <= action_seq < endExclusive`. */
  sequenceRange(start: u32, endExclusive: u32): ChainQueryFilter {
    this.sequence_range = [start, endExclusive];
    return this;
  }

  /** Adds an entry type to match (several: any of them). */
  entryType(name: string): ChainQueryFilter {
    let list = this.entry_type;
    if (list === null) this.entry_type = list = new Array<string>(0);
    list.push(name);
    return this;
  }

  /** Adds an action type to match ("Create", "Update", ...; several: any of them). */
  actionType(name: string): ChainQueryFilter {
    let list = this.action_type;
    if (list === null) this.action_type = list = new Array<string>(0);
    list.push(name);
    return this;
  }

  includeEntries(include: bool = true): ChainQueryFilter {
    this.include_entries = include;
    return this;
  }

  descendingOrder(descending: bool = true): ChainQueryFilter {
    this.descending = descending;
    return this;
  }

  /** Adds an entry hash to match (several: any of them). */
  entryHash(hash: EntryHash): ChainQueryFilter {
    let list = this.entry_hashes;
    if (list === null) this.entry_hashes = list = new Array<EntryHash>(0);
    list.push(hash);
    return this;
  }

  static decode(d: Decoder): ChainQueryFilter {
    const r = new ChainQueryFilter();
    if (d.tryReadNil()) return r;
    let seen: u32 = 0;
    const n = d.readMapHeader();
    for (let i: u32 = 0; i < n && d.ok; i++) {
      const k = d.readString();
      seen = markKey(d, seen, FILTER_KEYS, k);
      if (k == "sequence_range") {
        if (!d.tryReadNil()) {
          const m = d.readArrayHeader();
          if (d.ok && m != 2) {
            d.fail("sequence_range is [start, end_exclusive], found " + m.toString() + " elements");
          }
          const start = d.readU32();
          const end = d.readU32();
          r.sequence_range = [start, end];
        }
      } else if (k == "entry_type") {
        if (!d.tryReadNil()) r.entry_type = decodeStringArray(d);
      } else if (k == "action_type") {
        if (!d.tryReadNil()) r.action_type = decodeStringArray(d);
      } else if (k == "include_entries") r.include_entries = d.tryReadNil() ? false : d.readBool();
      else if (k == "descending") r.descending = d.tryReadNil() ? false : d.readBool();
      else if (k == "entry_hashes") {
        if (!d.tryReadNil()) {
          const m = d.readArrayHeader();
          const list = new Array<EntryHash>(0);
          for (let j: u32 = 0; j < m && d.ok; j++) list.push(HoloHash.decode(d));
          r.entry_hashes = list;
        }
      } else d.skip();
    }
    return r;
  }

  encode(e: Encoder): void {
    e.writeMapHeader(6);
    e.writeString("sequence_range");
    const range = this.sequence_range;
    if (range === null) e.writeNil();
    else {
      e.writeArrayHeader(2);
      e.writeU32(range[0]);
      e.writeU32(range[1]);
    }
    e.writeString("entry_type");
    const et = this.entry_type;
    if (et === null) e.writeNil();
    else encodeStringArray(e, et);
    e.writeString("action_type");
    const at = this.action_type;
    if (at === null) e.writeNil();
    else encodeStringArray(e, at);
    e.writeString("include_entries");
    e.writeBool(this.include_entries);
    e.writeString("descending");
    e.writeBool(this.descending);
    e.writeString("entry_hashes");
    const eh = this.entry_hashes;
    if (eh === null) e.writeNil();
    else encodeHashArray(e, eh);
  }
}

/**
 * Whether a write needs the chain head it was made on (Holochain's `ChainTopOrdering`).
 * `Strict` (the default): if another call moved the head first, the call fails with
 * `HeadMoved` and writes nothing. `Relaxed`: the write does not depend on the head and is
 * re-made on top of the new head at commit (new sequence number and action hash: a hash
 * returned during the call may change). A call is rebased only if all its writes are
 * relaxed; capability grants and claims are always strict.
 */
export enum ChainTopOrdering {
  Strict = 0,
  Relaxed = 1,
}

/** The wire name of an ordering ("Strict" | "Relaxed"). */
export function chainTopOrderingName(o: ChainTopOrdering): string {
  return o == ChainTopOrdering.Relaxed ? "Relaxed" : "Strict";
}

// ---------------------------------------------------------------------------------------
// Info

export class AgentInfo {
  agent_initial_pubkey: AgentPubKey = emptyHash();
  agent_latest_pubkey: AgentPubKey = emptyHash();
  /** null while the chain is empty (the host sends nil) */
  chain_head: ChainHead | null = null;

  static decode(d: Decoder): AgentInfo {
    const r = new AgentInfo();
    let seen: u32 = 0;
    const n = d.readMapHeader();
    for (let i: u32 = 0; i < n && d.ok; i++) {
      const k = d.readString();
      seen = markKey(d, seen, AGENT_INFO_KEYS, k);
      if (k == "agent_initial_pubkey") r.agent_initial_pubkey = HoloHash.decode(d);
      else if (k == "agent_latest_pubkey") r.agent_latest_pubkey = HoloHash.decode(d);
      else if (k == "chain_head") r.chain_head = ChainHead.decodeNullable(d);
      else d.skip();
    }
    requireKeys(d, seen, AGENT_INFO_KEYS); // chain_head is required, though it may be nil
    return r;
  }

  encode(e: Encoder): void {
    e.writeMapHeader(3);
    e.writeString("agent_initial_pubkey");
    this.agent_initial_pubkey.encode(e);
    e.writeString("agent_latest_pubkey");
    this.agent_latest_pubkey.encode(e);
    e.writeString("chain_head");
    ChainHead.encodeNullable(e, this.chain_head);
  }
}

export class DnaInfo {
  hash: DnaHash = emptyHash();
  name: string = "";
  /** msgpack bytes of the DNA properties */
  properties: Uint8Array = new Uint8Array(0);
  network_seed: string = "";
  zome_names: string[] = [];

  static decode(d: Decoder): DnaInfo {
    const r = new DnaInfo();
    let seen: u32 = 0;
    const n = d.readMapHeader();
    for (let i: u32 = 0; i < n && d.ok; i++) {
      const k = d.readString();
      seen = markKey(d, seen, DNA_INFO_KEYS, k);
      if (k == "hash") r.hash = HoloHash.decode(d);
      else if (k == "name") r.name = d.readString();
      else if (k == "properties") r.properties = d.readBin();
      else if (k == "network_seed") r.network_seed = d.readString();
      else if (k == "zome_names") r.zome_names = decodeStringArray(d);
      else d.skip();
    }
    requireKeys(d, seen, DNA_INFO_KEYS);
    return r;
  }

  encode(e: Encoder): void {
    e.writeMapHeader(5);
    e.writeString("hash");
    this.hash.encode(e);
    e.writeString("name");
    e.writeString(this.name);
    e.writeString("properties");
    e.writeBin(this.properties);
    e.writeString("network_seed");
    e.writeString(this.network_seed);
    e.writeString("zome_names");
    encodeStringArray(e, this.zome_names);
  }
}

export class ZomeInfo {
  name: string = "";
  id: u32 = 0;
  function_names: string[] = [];

  static decode(d: Decoder): ZomeInfo {
    const r = new ZomeInfo();
    let seen: u32 = 0;
    const n = d.readMapHeader();
    for (let i: u32 = 0; i < n && d.ok; i++) {
      const k = d.readString();
      seen = markKey(d, seen, ZOME_INFO_KEYS, k);
      if (k == "name") r.name = d.readString();
      else if (k == "id") r.id = d.readU32();
      else if (k == "function_names") r.function_names = decodeStringArray(d);
      else d.skip();
    }
    requireKeys(d, seen, ZOME_INFO_KEYS);
    return r;
  }

  encode(e: Encoder): void {
    e.writeMapHeader(3);
    e.writeString("name");
    e.writeString(this.name);
    e.writeString("id");
    e.writeU32(this.id);
    e.writeString("function_names");
    encodeStringArray(e, this.function_names);
  }
}

export enum CapGrantInfoKind {
  /** The caller is the cell's own agent. */
  ChainAuthor = 0,
  /** A grant on this chain authorized the caller. */
  RemoteAgent = 1,
}

/**
 * How the current call was authorized (call_info's `cap_grant`):
 * `{"ChainAuthor": agent}` | `{"RemoteAgent": {action_hash, tag, access, functions}}`.
 */
export class CapGrantInfo {
  kind: CapGrantInfoKind = CapGrantInfoKind.ChainAuthor;
  /** ChainAuthor: the author */
  agent: AgentPubKey | null = null;
  /** RemoteAgent: the grant's action, tag, access and functions */
  action_hash: ActionHash | null = null;
  tag: string = "";
  access: CapAccess | null = null;
  functions: GrantedFunctions | null = null;

  static decode(d: Decoder): CapGrantInfo {
    const r = new CapGrantInfo();
    const tag = readEnumTag(d);
    if (!d.ok) return r;
    if (tag == "ChainAuthor" && enumTagHasData()) {
      r.kind = CapGrantInfoKind.ChainAuthor;
      r.agent = HoloHash.decode(d);
    } else if (tag == "RemoteAgent" && enumTagHasData()) {
      r.kind = CapGrantInfoKind.RemoteAgent;
      let seen: u32 = 0;
      const n = d.readMapHeader();
      for (let i: u32 = 0; i < n && d.ok; i++) {
        const k = d.readString();
        seen = markKey(d, seen, REMOTE_AGENT_KEYS, k);
        if (k == "action_hash") r.action_hash = HoloHash.decode(d);
        else if (k == "tag") r.tag = d.readString();
        else if (k == "access") r.access = CapAccess.decode(d);
        else if (k == "functions") r.functions = GrantedFunctions.decode(d);
        else d.skip();
      }
      requireKeys(d, seen, REMOTE_AGENT_KEYS);
    } else unknownVariant(d, "CapGrantInfo", tag);
    return r;
  }

  encode(e: Encoder): void {
    e.writeMapHeader(1);
    if (this.kind == CapGrantInfoKind.ChainAuthor) {
      e.writeString("ChainAuthor");
      HoloHash.encodeNullable(e, this.agent);
      return;
    }
    e.writeString("RemoteAgent");
    e.writeMapHeader(4);
    e.writeString("action_hash");
    HoloHash.encodeNullable(e, this.action_hash);
    e.writeString("tag");
    e.writeString(this.tag);
    e.writeString("access");
    const access = this.access;
    if (access === null) e.writeString("Unrestricted");
    else access.encode(e);
    e.writeString("functions");
    const functions = this.functions;
    if (functions === null) e.writeString("All");
    else functions.encode(e);
  }
}

export class CallInfo {
  provenance: AgentPubKey = emptyHash();
  zome_name: string = "";
  function_name: string = "";
  /** the chain head when the call started (null for an empty chain) */
  as_at: ChainHead | null = null;
  cap_grant: CapGrantInfo = new CapGrantInfo();

  static decode(d: Decoder): CallInfo {
    const r = new CallInfo();
    let seen: u32 = 0;
    const n = d.readMapHeader();
    for (let i: u32 = 0; i < n && d.ok; i++) {
      const k = d.readString();
      seen = markKey(d, seen, CALL_INFO_KEYS, k);
      if (k == "provenance") r.provenance = HoloHash.decode(d);
      else if (k == "zome_name") r.zome_name = d.readString();
      else if (k == "function_name") r.function_name = d.readString();
      else if (k == "as_at") r.as_at = ChainHead.decodeNullable(d);
      else if (k == "cap_grant") r.cap_grant = CapGrantInfo.decode(d);
      else d.skip();
    }
    requireKeys(d, seen, CALL_INFO_KEYS); // as_at is required, though it may be nil
    return r;
  }

  encode(e: Encoder): void {
    e.writeMapHeader(5);
    e.writeString("provenance");
    this.provenance.encode(e);
    e.writeString("zome_name");
    e.writeString(this.zome_name);
    e.writeString("function_name");
    e.writeString(this.function_name);
    e.writeString("as_at");
    ChainHead.encodeNullable(e, this.as_at);
    e.writeString("cap_grant");
    this.cap_grant.encode(e);
  }
}

// ---------------------------------------------------------------------------------------
// Capabilities

export enum CapAccessKind {
  /** Anyone may call (no secret). */
  Unrestricted = 0,
  /** Anyone holding the secret may call. */
  Transferable = 1,
  /** Only the assignees, with the secret, may call. */
  Assigned = 2,
}

/**
 * `"Unrestricted"` | `{"Transferable": {"secret": bin(64)}}` |
 * `{"Assigned": {"secret": bin(64), "assignees": [agent]}}`
 */
export class CapAccess {
  constructor(
    public kind: CapAccessKind = CapAccessKind.Unrestricted,
    public secret: Uint8Array | null = null,
    public assignees: AgentPubKey[] = [],
  ) {}

  static unrestricted(): CapAccess {
    return new CapAccess(CapAccessKind.Unrestricted);
  }

  static transferable(secret: Uint8Array): CapAccess {
    return new CapAccess(CapAccessKind.Transferable, secret);
  }

  static assigned(secret: Uint8Array, assignees: AgentPubKey[]): CapAccess {
    return new CapAccess(CapAccessKind.Assigned, secret, assignees);
  }

  /**
   * Strict: `"Unrestricted"` (or `{"Unrestricted": nil}`), or a Transferable/Assigned map
   * with every field. Until it succeeds the value is Assigned to nobody with no secret.
   */
  static decode(d: Decoder): CapAccess {
    const r = new CapAccess(CapAccessKind.Assigned);
    const tag = readEnumTag(d);
    if (!d.ok) return r;
    const hasData = enumTagHasData();
    if (tag == "Unrestricted") {
      readUnitVariantData(d, hasData);
      if (d.ok) r.kind = CapAccessKind.Unrestricted;
      return r;
    }
    if ((tag == "Transferable" || tag == "Assigned") && hasData) {
      const assigned = tag == "Assigned";
      const keys = assigned ? ASSIGNED_KEYS : TRANSFERABLE_KEYS;
      let seen: u32 = 0;
      let secret: Uint8Array | null = null;
      let assignees: AgentPubKey[] = [];
      const n = d.readMapHeader();
      for (let i: u32 = 0; i < n && d.ok; i++) {
        const k = d.readString();
        seen = markKey(d, seen, keys, k);
        if (k == "secret") secret = d.readBin();
        else if (k == "assignees" && assigned) assignees = decodeHashArray(d);
        else d.skip();
      }
      requireKeys(d, seen, keys);
      if (d.ok) {
        r.kind = assigned ? CapAccessKind.Assigned : CapAccessKind.Transferable;
        r.secret = secret;
        r.assignees = assignees;
      }
      return r;
    }
    unknownVariant(d, "CapAccess", tag);
    return r;
  }

  encode(e: Encoder): void {
    if (this.kind == CapAccessKind.Unrestricted) {
      e.writeString("Unrestricted");
      return;
    }
    e.writeMapHeader(1);
    if (this.kind == CapAccessKind.Transferable) {
      e.writeString("Transferable");
      e.writeMapHeader(1);
      e.writeString("secret");
      e.writeNullableBin(this.secret);
      return;
    }
    e.writeString("Assigned");
    e.writeMapHeader(2);
    e.writeString("secret");
    e.writeNullableBin(this.secret);
    e.writeString("assignees");
    encodeHashArray(e, this.assignees);
  }
}

/** One `[zome_name, fn_name]` pair of GrantedFunctions.Listed. */
export class ZomeFnName {
  constructor(public zome: string, public fn: string) {}
}

/** `"All"` | `{"Listed": [[zome, fn], ...]}` */
export class GrantedFunctions {
  constructor(public all: bool = true, public listed: ZomeFnName[] = []) {}

  static allFunctions(): GrantedFunctions {
    return new GrantedFunctions(true);
  }

  static listedFunctions(fns: ZomeFnName[]): GrantedFunctions {
    return new GrantedFunctions(false, fns);
  }

  /**
   * Strict: `"All"` (or `{"All": nil}`) or `{"Listed": [[zome, fn], ...]}`. Until it
   * succeeds the value is Listed with no function.
   */
  static decode(d: Decoder): GrantedFunctions {
    const r = new GrantedFunctions(false);
    const tag = readEnumTag(d);
    if (!d.ok) return r;
    const hasData = enumTagHasData();
    if (tag == "All") {
      readUnitVariantData(d, hasData);
      if (d.ok) r.all = true;
      return r;
    }
    if (tag == "Listed" && hasData) {
      const n = d.readArrayHeader();
      for (let i: u32 = 0; i < n && d.ok; i++) {
        const m = d.readArrayHeader();
        if (d.ok && m != 2) d.fail("a listed function is [zome_name, fn_name]");
        const zome = d.readString();
        const fn = d.readString();
        r.listed.push(new ZomeFnName(zome, fn));
      }
      return r;
    }
    unknownVariant(d, "GrantedFunctions", tag);
    return r;
  }

  encode(e: Encoder): void {
    if (this.all) {
      e.writeString("All");
      return;
    }
    e.writeMapHeader(1);
    e.writeString("Listed");
    const fns = this.listed;
    e.writeArrayHeader(<u32>fns.length);
    for (let i = 0; i < fns.length; i++) {
      const f = unchecked(fns[i]);
      e.writeArrayHeader(2);
      e.writeString(f.zome);
      e.writeString(f.fn);
    }
  }
}

export class ZomeCallCapGrant {
  constructor(
    public tag: string = "",
    public access: CapAccess = new CapAccess(),
    public functions: GrantedFunctions = new GrantedFunctions(),
  ) {}

  /**
   * Strict: `tag`, `access` and `functions` are all required (a grant is never completed
   * with defaults). Until it succeeds the value grants no function to nobody.
   */
  static decode(d: Decoder): ZomeCallCapGrant {
    const r = new ZomeCallCapGrant(
      "",
      new CapAccess(CapAccessKind.Assigned),
      new GrantedFunctions(false),
    );
    let seen: u32 = 0;
    const n = d.readMapHeader();
    for (let i: u32 = 0; i < n && d.ok; i++) {
      const k = d.readString();
      seen = markKey(d, seen, GRANT_KEYS, k);
      if (k == "tag") r.tag = d.readString();
      else if (k == "access") r.access = CapAccess.decode(d);
      else if (k == "functions") r.functions = GrantedFunctions.decode(d);
      else d.skip();
    }
    requireKeys(d, seen, GRANT_KEYS);
    return r;
  }

  encode(e: Encoder): void {
    e.writeMapHeader(3);
    e.writeString("tag");
    e.writeString(this.tag);
    e.writeString("access");
    this.access.encode(e);
    e.writeString("functions");
    this.functions.encode(e);
  }
}

export class CapClaim {
  constructor(
    public tag: string = "",
    public grantor: AgentPubKey = emptyHash(),
    public secret: Uint8Array = new Uint8Array(0),
  ) {}

  static decode(d: Decoder): CapClaim {
    const r = new CapClaim();
    let seen: u32 = 0;
    const n = d.readMapHeader();
    for (let i: u32 = 0; i < n && d.ok; i++) {
      const k = d.readString();
      seen = markKey(d, seen, CLAIM_KEYS, k);
      if (k == "tag") r.tag = d.readString();
      else if (k == "grantor") r.grantor = HoloHash.decode(d);
      else if (k == "secret") r.secret = d.readBin();
      else d.skip();
    }
    requireKeys(d, seen, CLAIM_KEYS);
    return r;
  }

  encode(e: Encoder): void {
    e.writeMapHeader(3);
    e.writeString("tag");
    e.writeString(this.tag);
    e.writeString("grantor");
    this.grantor.encode(e);
    e.writeString("secret");
    e.writeBin(this.secret);
  }
}

/** One element of `capability_grants`. */
export class CapGrantRecord {
  action_hash: ActionHash = emptyHash();
  grant: ZomeCallCapGrant = new ZomeCallCapGrant();
  revoked: bool = false;

  static decode(d: Decoder): CapGrantRecord {
    const r = new CapGrantRecord();
    let seen: u32 = 0;
    const n = d.readMapHeader();
    for (let i: u32 = 0; i < n && d.ok; i++) {
      const k = d.readString();
      seen = markKey(d, seen, GRANT_RECORD_KEYS, k);
      if (k == "action_hash") r.action_hash = HoloHash.decode(d);
      else if (k == "grant") r.grant = ZomeCallCapGrant.decode(d);
      else if (k == "revoked") r.revoked = d.readBool();
      else d.skip();
    }
    requireKeys(d, seen, GRANT_RECORD_KEYS);
    return r;
  }

  encode(e: Encoder): void {
    e.writeMapHeader(3);
    e.writeString("action_hash");
    this.action_hash.encode(e);
    e.writeString("grant");
    this.grant.encode(e);
    e.writeString("revoked");
    e.writeBool(this.revoked);
  }
}

/** One element of `capability_claims`. */
export class CapClaimRecord {
  action_hash: ActionHash = emptyHash();
  claim: CapClaim = new CapClaim();

  static decode(d: Decoder): CapClaimRecord {
    const r = new CapClaimRecord();
    let seen: u32 = 0;
    const n = d.readMapHeader();
    for (let i: u32 = 0; i < n && d.ok; i++) {
      const k = d.readString();
      seen = markKey(d, seen, CLAIM_RECORD_KEYS, k);
      if (k == "action_hash") r.action_hash = HoloHash.decode(d);
      else if (k == "claim") r.claim = CapClaim.decode(d);
      else d.skip();
    }
    requireKeys(d, seen, CLAIM_RECORD_KEYS);
    return r;
  }

  encode(e: Encoder): void {
    e.writeMapHeader(2);
    e.writeString("action_hash");
    this.action_hash.encode(e);
    e.writeString("claim");
    this.claim.encode(e);
  }
}

// ---------------------------------------------------------------------------------------
// Calls

export enum CallTargetKind {
  /** the same cell */
  Local = 0,
  /** a cell of the same app, by role name */
  Role = 1,
  /** any cell of this agent, by CellId */
  Cell = 2,
}

/** `{"Local": nil}` | `{"Role": str}` | `{"Cell": [dna_hash, agent]}` (the string "Local" is read too). */
export class CallTarget {
  constructor(
    public kind: CallTargetKind = CallTargetKind.Local,
    public role: string = "",
    public cell: CellId | null = null,
  ) {}

  static local(): CallTarget {
    return new CallTarget(CallTargetKind.Local);
  }

  static role(role: string): CallTarget {
    return new CallTarget(CallTargetKind.Role, role);
  }

  static cellId(cell: CellId): CallTarget {
    return new CallTarget(CallTargetKind.Cell, "", cell);
  }

  static decode(d: Decoder): CallTarget {
    const r = new CallTarget();
    const tag = readEnumTag(d);
    if (!d.ok) return r;
    const hasData = enumTagHasData();
    if (tag == "Local") {
      if (hasData) d.skip();
    } else if (tag == "Role" && hasData) {
      r.kind = CallTargetKind.Role;
      r.role = d.readString();
    } else if (tag == "Cell" && hasData) {
      r.kind = CallTargetKind.Cell;
      r.cell = CellId.decode(d);
    } else unknownVariant(d, "CallTarget", tag);
    return r;
  }

  encode(e: Encoder): void {
    e.writeMapHeader(1);
    if (this.kind == CallTargetKind.Local) {
      e.writeString("Local");
      e.writeNil();
    } else if (this.kind == CallTargetKind.Role) {
      e.writeString("Role");
      e.writeString(this.role);
    } else {
      e.writeString("Cell");
      const cell = this.cell;
      if (cell === null) e.writeNil();
      else cell.encode(e);
    }
  }
}

export enum ZomeCallResponseKind {
  Ok = 0,
  Unauthorized = 1,
  AuthenticationFailed = 2,
  NetworkError = 3,
  /** the callee returned Err or trapped */
  CallError = 4,
}

/**
 * The outcome of `call` / `call_remote`. Failures are values, not traps:
 * `{"Ok": bin}` | `{"Unauthorized": {zome_name, fn_name, cell_id, provenance, reason}}` |
 * `{"AuthenticationFailed": str}` | `{"NetworkError": str}` | `{"CallError": str}`.
 */
export class ZomeCallResponse {
  kind: ZomeCallResponseKind = ZomeCallResponseKind.Ok;
  /** Ok: msgpack bytes of the callee's Ok value */
  payload: Uint8Array = new Uint8Array(0);
  /** AuthenticationFailed / NetworkError / CallError: the message; Unauthorized: reason */
  message: string = "";
  /** Unauthorized */
  zome_name: string = "";
  fn_name: string = "";
  cell_id: CellId | null = null;
  provenance: AgentPubKey | null = null;

  @inline get isOk(): bool {
    return this.kind == ZomeCallResponseKind.Ok;
  }

  /** The variant name: "Ok", "Unauthorized", ... */
  get variant(): string {
    switch (this.kind) {
      case ZomeCallResponseKind.Ok: return "Ok";
      case ZomeCallResponseKind.Unauthorized: return "Unauthorized";
      case ZomeCallResponseKind.AuthenticationFailed: return "AuthenticationFailed";
      case ZomeCallResponseKind.NetworkError: return "NetworkError";
    }
    return "CallError";
  }

  /** A Decoder over the Ok payload (the callee's value). */
  payloadDecoder(): Decoder {
    return Decoder.fromBytes(this.payload);
  }

  static decode(d: Decoder): ZomeCallResponse {
    const r = new ZomeCallResponse();
    const tag = readEnumTag(d);
    if (!d.ok) return r;
    if (!enumTagHasData()) {
      unknownVariant(d, "ZomeCallResponse", tag);
      return r;
    }
    if (tag == "Ok") {
      r.kind = ZomeCallResponseKind.Ok;
      r.payload = d.readBin();
    } else if (tag == "Unauthorized") {
      r.kind = ZomeCallResponseKind.Unauthorized;
      let seen: u32 = 0;
      const n = d.readMapHeader();
      for (let i: u32 = 0; i < n && d.ok; i++) {
        const k = d.readString();
        seen = markKey(d, seen, UNAUTHORIZED_KEYS, k);
        if (k == "zome_name") r.zome_name = d.readString();
        else if (k == "fn_name") r.fn_name = d.readString();
        else if (k == "cell_id") r.cell_id = CellId.decode(d);
        else if (k == "provenance") r.provenance = HoloHash.decode(d);
        else if (k == "reason") r.message = d.readString();
        else d.skip();
      }
      requireKeys(d, seen, UNAUTHORIZED_KEYS);
    } else if (tag == "AuthenticationFailed") {
      r.kind = ZomeCallResponseKind.AuthenticationFailed;
      r.message = d.readString();
    } else if (tag == "NetworkError") {
      r.kind = ZomeCallResponseKind.NetworkError;
      r.message = d.readString();
    } else if (tag == "CallError") {
      r.kind = ZomeCallResponseKind.CallError;
      r.message = d.readString();
    } else unknownVariant(d, "ZomeCallResponse", tag);
    return r;
  }

  encode(e: Encoder): void {
    e.writeMapHeader(1);
    e.writeString(this.variant);
    switch (this.kind) {
      case ZomeCallResponseKind.Ok: {
        e.writeBin(this.payload);
        break;
      }
      case ZomeCallResponseKind.Unauthorized: {
        e.writeMapHeader(5);
        e.writeString("zome_name");
        e.writeString(this.zome_name);
        e.writeString("fn_name");
        e.writeString(this.fn_name);
        e.writeString("cell_id");
        const cell = this.cell_id;
        if (cell === null) e.writeNil();
        else cell.encode(e);
        e.writeString("provenance");
        HoloHash.encodeNullable(e, this.provenance);
        e.writeString("reason");
        e.writeString(this.message);
        break;
      }
      default: e.writeString(this.message);
    }
  }
}

// ---------------------------------------------------------------------------------------
// Callbacks

/** The Ok value of the `init` callback: `"Pass"` or `{"Fail": reason}`. */
export class InitCallbackResult {
  constructor(public pass: bool, public reason: string = "") {}

  static Pass(): InitCallbackResult {
    return new InitCallbackResult(true);
  }

  static Fail(reason: string): InitCallbackResult {
    return new InitCallbackResult(false, reason);
  }

  encode(e: Encoder): void {
    if (this.pass) {
      e.writeString("Pass");
      return;
    }
    e.writeMapHeader(1);
    e.writeString("Fail");
    e.writeString(this.reason);
  }
}
