// Clone cells from a zome (docs/abi.md, "Clone cells"); the twins of the Rust SDK's
// clone.rs: createCloneCell, disableCloneCell, enableCloneCell, deleteCloneCell.
//
// A zome clones a cell of its own app (a role's DNA run again with another network seed or
// other properties: a new cell, with its own chain, for the same agent) and manages the
// clones of its own app only. Only the cell's author may: a call that came in through a
// capability grant is refused. The changes take effect at once, not with the call's commit.

import { Decoder, Encoder, MsgType } from "./msgpack";
import { callHost, HostFn, HostReply } from "./abi";
import { Result, Unit, UNIT } from "./result";
import { CellId, DnaHash, HoloHash, markKey, requireKeys } from "./types";

/** What to change in the clone's DNA (at least one, or it would be the role itself). */
export class DnaModifiersOpt {
  constructor(
    public network_seed: string | null = null,
    /** msgpack bytes of the clone's DNA properties */
    public properties: Uint8Array | null = null,
  ) {}

  static decode(d: Decoder): DnaModifiersOpt {
    const r = new DnaModifiersOpt();
    const n = d.readMapHeader();
    for (let i: u32 = 0; i < n && d.ok; i++) {
      const k = d.readString();
      if (k == "network_seed") r.network_seed = d.readNullableString();
      else if (k == "properties") r.properties = d.readNullableBin();
      else d.skip();
    }
    return r;
  }

  encode(e: Encoder): void {
    e.writeMapHeader(2);
    e.writeString("network_seed");
    e.writeNullableString(this.network_seed);
    e.writeString("properties");
    e.writeNullableBin(this.properties);
  }
}

const CREATE_KEYS: StaticArray<string> = ["cell_id", "modifiers", "membrane_proof", "name"];

/** Clone the DNA of `cell_id` (a cell of this app) with `modifiers`. */
export class CreateCloneCellInput {
  constructor(
    public cell_id: CellId,
    public modifiers: DnaModifiersOpt,
    public membrane_proof: Uint8Array | null = null,
    public name: string | null = null,
  ) {}

  static decode(d: Decoder): CreateCloneCellInput {
    const r = new CreateCloneCellInput(new CellId(), new DnaModifiersOpt());
    let seen: u32 = 0;
    const n = d.readMapHeader();
    for (let i: u32 = 0; i < n && d.ok; i++) {
      const k = d.readString();
      seen = markKey(d, seen, CREATE_KEYS, k);
      if (k == "cell_id") r.cell_id = CellId.decode(d);
      else if (k == "modifiers") r.modifiers = DnaModifiersOpt.decode(d);
      else if (k == "membrane_proof") r.membrane_proof = d.readNullableBin();
      else if (k == "name") r.name = d.readNullableString();
      else d.skip();
    }
    requireKeys(d, seen, CREATE_KEYS, 2);
    return r;
  }

  encode(e: Encoder): void {
    e.writeMapHeader(4);
    e.writeString("cell_id");
    this.cell_id.encode(e);
    e.writeString("modifiers");
    this.modifiers.encode(e);
    e.writeString("membrane_proof");
    e.writeNullableBin(this.membrane_proof);
    e.writeString("name");
    e.writeNullableString(this.name);
  }
}

const MODIFIERS_KEYS: StaticArray<string> = ["network_seed", "properties"];
const CLONED_CELL_KEYS: StaticArray<string> = [
  "cell_id", "clone_id", "original_dna_hash", "dna_modifiers", "name", "enabled",
];

/** A clone cell of this app. */
export class ClonedCell {
  cell_id: CellId = new CellId();
  /** `<role>.<index>`; an index is never reused within an app. */
  clone_id: string = "";
  original_dna_hash: DnaHash = new HoloHash(new Uint8Array(0));
  network_seed: string = "";
  /** msgpack bytes of the properties (msgpack nil when there are none) */
  properties: Uint8Array = new Uint8Array(0);
  name: string = "";
  enabled: bool = false;

  static decode(d: Decoder): ClonedCell {
    const r = new ClonedCell();
    let seen: u32 = 0;
    const n = d.readMapHeader();
    for (let i: u32 = 0; i < n && d.ok; i++) {
      const k = d.readString();
      seen = markKey(d, seen, CLONED_CELL_KEYS, k);
      if (k == "cell_id") r.cell_id = CellId.decode(d);
      else if (k == "clone_id") r.clone_id = d.readString();
      else if (k == "original_dna_hash") r.original_dna_hash = HoloHash.decode(d);
      else if (k == "dna_modifiers") r.decodeModifiers(d);
      else if (k == "name") r.name = d.readString();
      else if (k == "enabled") r.enabled = d.readBool();
      else d.skip();
    }
    requireKeys(d, seen, CLONED_CELL_KEYS);
    return r;
  }

  private decodeModifiers(d: Decoder): void {
    let seen: u32 = 0;
    const n = d.readMapHeader();
    for (let i: u32 = 0; i < n && d.ok; i++) {
      const k = d.readString();
      seen = markKey(d, seen, MODIFIERS_KEYS, k);
      if (k == "network_seed") this.network_seed = d.readString();
      else if (k == "properties") this.properties = d.readBin();
      else d.skip();
    }
    requireKeys(d, seen, MODIFIERS_KEYS);
  }

  /** The Holochain shape (`dna_modifiers: {network_seed, properties}`). */
  encode(e: Encoder): void {
    e.writeMapHeader(6);
    e.writeString("cell_id");
    this.cell_id.encode(e);
    e.writeString("clone_id");
    e.writeString(this.clone_id);
    e.writeString("original_dna_hash");
    this.original_dna_hash.encode(e);
    e.writeString("dna_modifiers");
    e.writeMapHeader(2);
    e.writeString("network_seed");
    e.writeString(this.network_seed);
    e.writeString("properties");
    e.writeBin(this.properties);
    e.writeString("name");
    e.writeString(this.name);
    e.writeString("enabled");
    e.writeBool(this.enabled);
  }
}

/** A clone, by its clone id (`role.N`) or by its cell id. */
export class CloneCellId {
  constructor(public clone_id: string | null = null, public cell_id: CellId | null = null) {}

  static cloneId(id: string): CloneCellId {
    return new CloneCellId(id, null);
  }

  static cellId(cell: CellId): CloneCellId {
    return new CloneCellId(null, cell);
  }

  static decode(d: Decoder): CloneCellId {
    if (d.peekType() == MsgType.Str) return CloneCellId.cloneId(d.readString());
    return CloneCellId.cellId(CellId.decode(d));
  }

  encode(e: Encoder): void {
    const id = this.clone_id;
    if (id !== null) e.writeString(id);
    else this.cell_id!.encode(e);
  }
}

function cloneCellIdInput(clone: CloneCellId): Encoder {
  const e = new Encoder(128);
  e.writeMapHeader(1);
  e.writeString("clone_cell_id");
  clone.encode(e);
  return e;
}

function clonedCellReply(reply: HostReply): Result<ClonedCell> {
  if (!reply.isOk) return reply.errorAs<ClonedCell>();
  return reply.finish<ClonedCell>(ClonedCell.decode(reply.decoder));
}

function nilReply(reply: HostReply): Result<Unit> {
  if (!reply.isOk) return reply.errorAs<Unit>();
  reply.decoder.readNil();
  return reply.finish<Unit>(UNIT);
}

/** Creates a clone cell of this app (with its genesis) and returns it, enabled. */
export function createCloneCell(input: CreateCloneCellInput): Result<ClonedCell> {
  const e = new Encoder(256);
  input.encode(e);
  return clonedCellReply(callHost(HostFn.create_clone_cell, e));
}

/** Stops a clone of this app (not the calling cell); its chain stays. */
export function disableCloneCell(clone: CloneCellId): Result<Unit> {
  return nilReply(callHost(HostFn.disable_clone_cell, cloneCellIdInput(clone)));
}

/** Starts a disabled clone of this app again. */
export function enableCloneCell(clone: CloneCellId): Result<ClonedCell> {
  return clonedCellReply(callHost(HostFn.enable_clone_cell, cloneCellIdInput(clone)));
}

/** Forgets a disabled clone of this app and erases its chain. */
export function deleteCloneCell(clone: CloneCellId): Result<Unit> {
  return nilReply(callHost(HostFn.delete_clone_cell, cloneCellIdInput(clone)));
}
