// Hashing and encryption host functions (docs/abi.md, "Hashing and encryption"); the twins
// of the Rust SDK's crypto.rs.
//
// Encryption uses the cell's own agent key, held by the host's keystore: a zome never sees
// a secret key. boxEncrypt seals data for another agent (X25519 + XSalsa20-Poly1305; an
// agent's X25519 key is its Ed25519 agent key's Curve25519 form), which only that agent's
// cells can boxDecrypt. secretboxEncrypt seals data that only this cell (this agent in this
// DNA) can secretboxDecrypt. Decryption gives null for data that was not sealed by that
// sender for this agent, or was altered.

import { Encoder } from "./msgpack";
import { callHost, HostFn, HostReply } from "./abi";
import { Result } from "./result";
import { Action, ActionHash, AgentPubKey, EntryHash, HoloHash } from "./types";

function hashReply(reply: HostReply): Result<HoloHash> {
  if (!reply.isOk) return reply.errorAs<HoloHash>();
  return reply.finish<HoloHash>(HoloHash.decode(reply.decoder));
}

function binReply(reply: HostReply): Result<Uint8Array> {
  if (!reply.isOk) return reply.errorAs<Uint8Array>();
  return reply.finish<Uint8Array>(reply.decoder.readBin());
}

function nullableBinReply(reply: HostReply): Result<Uint8Array | null> {
  if (!reply.isOk) return reply.errorAs<Uint8Array | null>();
  return reply.finish<Uint8Array | null>(reply.decoder.readNullableBin());
}

/** The entry hash that create(entryType, entry) would write (entry: msgpack bytes). */
export function hashEntry(entryType: string, entry: Uint8Array): Result<EntryHash> {
  const e = new Encoder(<usize>entry.length + 64);
  e.writeMapHeader(2);
  e.writeString("entry_type");
  e.writeString(entryType);
  e.writeString("entry");
  e.writeBin(entry);
  return hashReply(callHost(HostFn.hash_entry, e));
}

/** The hash of an action (a record's action_hash is hashAction(record.action)). */
export function hashAction(action: Action): Result<ActionHash> {
  const e = new Encoder(256);
  action.encode(e);
  return hashReply(callHost(HostFn.hash_action, e));
}

/** The BLAKE2b digest of `data`, `size` bytes long (1 to 64). */
export function hashBlake2b(data: Uint8Array, size: u32 = 32): Result<Uint8Array> {
  const e = new Encoder(<usize>data.length + 32);
  e.writeMapHeader(2);
  e.writeString("data");
  e.writeBin(data);
  e.writeString("size");
  e.writeU64(<u64>size);
  return binReply(callHost(HostFn.hash_blake2b, e));
}

/** Encrypts `data` from this cell's agent to `recipient`: nonce ‖ ciphertext. */
export function boxEncrypt(recipient: AgentPubKey, data: Uint8Array): Result<Uint8Array> {
  const e = new Encoder(<usize>data.length + 80);
  e.writeMapHeader(2);
  e.writeString("recipient");
  recipient.encode(e);
  e.writeString("data");
  e.writeBin(data);
  return binReply(callHost(HostFn.box_encrypt, e));
}

/** Decrypts what `sender` boxed for this cell's agent; null if it was not (or was altered). */
export function boxDecrypt(sender: AgentPubKey, data: Uint8Array): Result<Uint8Array | null> {
  const e = new Encoder(<usize>data.length + 80);
  e.writeMapHeader(2);
  e.writeString("sender");
  sender.encode(e);
  e.writeString("data");
  e.writeBin(data);
  return nullableBinReply(callHost(HostFn.box_decrypt, e));
}

/** Encrypts `data` so that only this cell can decrypt it: nonce ‖ ciphertext. */
export function secretboxEncrypt(data: Uint8Array): Result<Uint8Array> {
  const e = new Encoder(<usize>data.length + 16);
  e.writeMapHeader(1);
  e.writeString("data");
  e.writeBin(data);
  return binReply(callHost(HostFn.secretbox_encrypt, e));
}

/** Decrypts what this cell sealed with secretboxEncrypt; null otherwise. */
export function secretboxDecrypt(data: Uint8Array): Result<Uint8Array | null> {
  const e = new Encoder(<usize>data.length + 16);
  e.writeMapHeader(1);
  e.writeString("data");
  e.writeBin(data);
  return nullableBinReply(callHost(HostFn.secretbox_decrypt, e));
}
