//! Hashing and encryption host functions (docs/abi.md, "Hashing and encryption").
//!
//! Encryption uses the cell's own agent key, held by the host's keystore: a zome never sees
//! a secret key. `box_encrypt` seals data for another agent (X25519 + XSalsa20-Poly1305,
//! the agents' X25519 keys being their Ed25519 agent keys' Curve25519 form); only that
//! agent's cells can `box_decrypt` it. `secretbox_encrypt` seals data that only this cell
//! (this agent in this DNA) can `secretbox_decrypt`. Decryption returns `None` for data
//! that was not sealed by that sender for this agent (or was altered).

use serde_derive::Serialize;

use crate::bytes::{ActionHash, AgentPubKey, Bytes, EntryHash};
use crate::host::host_call;
use crate::types::Action;
use crate::ExternResult;

/// The raw imports of this module (see `host::raw` for the calling convention).
pub mod raw {
    #[link(wasm_import_module = "zomehost")]
    extern "C" {
        pub fn hash_entry(ptr: i32, len: i32) -> i64;
        pub fn hash_action(ptr: i32, len: i32) -> i64;
        pub fn hash_blake2b(ptr: i32, len: i32) -> i64;
        pub fn box_encrypt(ptr: i32, len: i32) -> i64;
        pub fn box_decrypt(ptr: i32, len: i32) -> i64;
        pub fn secretbox_encrypt(ptr: i32, len: i32) -> i64;
        pub fn secretbox_decrypt(ptr: i32, len: i32) -> i64;
    }
}

#[derive(Serialize)]
struct HashEntryInput<'a> {
    entry_type: &'a str,
    entry: Bytes,
}

/// The entry hash that `create(entry_type, entry)` would write.
pub fn hash_entry<T: serde::Serialize + ?Sized>(
    entry_type: &str,
    entry: &T,
) -> ExternResult<EntryHash> {
    host_call(
        raw::hash_entry,
        &HashEntryInput {
            entry_type,
            entry: Bytes::encode(entry)?,
        },
    )
}

/// The hash of an action (a record's `action_hash` is `hash_action(&record.action)`).
pub fn hash_action(action: &Action) -> ExternResult<ActionHash> {
    host_call(raw::hash_action, action)
}

#[derive(Serialize)]
struct Blake2bInput {
    data: Bytes,
    size: u8,
}

/// The BLAKE2b digest of `data`, `size` bytes long (1 to 64).
pub fn hash_blake2b(data: impl AsRef<[u8]>, size: u8) -> ExternResult<Bytes> {
    host_call(
        raw::hash_blake2b,
        &Blake2bInput {
            data: Bytes::from(data.as_ref()),
            size,
        },
    )
}

#[derive(Serialize)]
struct BoxEncryptInput<'a> {
    recipient: &'a AgentPubKey,
    data: Bytes,
}

/// Encrypt `data` from this cell's agent to `recipient`: `nonce ‖ ciphertext`.
pub fn box_encrypt(recipient: &AgentPubKey, data: impl AsRef<[u8]>) -> ExternResult<Bytes> {
    host_call(
        raw::box_encrypt,
        &BoxEncryptInput {
            recipient,
            data: Bytes::from(data.as_ref()),
        },
    )
}

#[derive(Serialize)]
struct BoxDecryptInput<'a> {
    sender: &'a AgentPubKey,
    data: Bytes,
}

/// Decrypt what `sender` boxed for this cell's agent; `None` if it was not (or was altered).
pub fn box_decrypt(sender: &AgentPubKey, data: impl AsRef<[u8]>) -> ExternResult<Option<Bytes>> {
    host_call(
        raw::box_decrypt,
        &BoxDecryptInput {
            sender,
            data: Bytes::from(data.as_ref()),
        },
    )
}

#[derive(Serialize)]
struct SecretboxInput {
    data: Bytes,
}

/// Encrypt `data` so that only this cell can decrypt it: `nonce ‖ ciphertext`.
pub fn secretbox_encrypt(data: impl AsRef<[u8]>) -> ExternResult<Bytes> {
    host_call(
        raw::secretbox_encrypt,
        &SecretboxInput {
            data: Bytes::from(data.as_ref()),
        },
    )
}

/// Decrypt what this cell sealed with [`secretbox_encrypt`]; `None` otherwise.
pub fn secretbox_decrypt(data: impl AsRef<[u8]>) -> ExternResult<Option<Bytes>> {
    host_call(
        raw::secretbox_decrypt,
        &SecretboxInput {
            data: Bytes::from(data.as_ref()),
        },
    )
}
