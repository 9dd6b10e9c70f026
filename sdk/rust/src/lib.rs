//! # zomehost_sdk
//!
//! The guest side of zomehost's zome ABI (`docs/abi.md` in the repository): the allocator
//! exports, the host function imports with typed wrappers, the shared types, and macros
//! that export plain Rust functions as zome functions.
//!
//! ```ignore
//! use zomehost_sdk::prelude::*;
//!
//! #[derive(Serialize, Deserialize)]
//! struct Note { title: String, body: String }
//!
//! fn create_note(note: Note) -> ExternResult<ActionHash> {
//!     create("note", &note)
//! }
//!
//! zome_fns!(create_note);
//! ```
//!
//! See `sdk/rust/README.md` for the guide.

pub mod bytes;
pub mod clone;
pub mod crypto;
pub mod export;
#[cfg(target_arch = "wasm32")]
pub mod heap;
pub mod host;
pub mod mem;
pub mod schedule;
pub mod types;
pub mod value;

use core::fmt;

/// Every zome built with the SDK allocates through [`heap::ZomeHeap`] (see its doc).
#[cfg(target_arch = "wasm32")]
#[global_allocator]
static HEAP: heap::ZomeHeap = heap::ZomeHeap::new();

pub use crate::bytes::{
    ActionHash, AgentPubKey, AnyDhtHash, Bytes, CapSecret, DnaHash, EntryHash, Signature,
};
pub use crate::clone::{
    create_clone_cell, delete_clone_cell, disable_clone_cell, enable_clone_cell, CloneCellId,
    ClonedCell, CreateCloneCellInput, DeleteCloneCellInput, DisableCloneCellInput, DnaModifiers,
    DnaModifiersOpt, EnableCloneCellInput,
};
pub use crate::crypto::{
    box_decrypt, box_encrypt, hash_action, hash_blake2b, hash_entry, secretbox_decrypt,
    secretbox_encrypt,
};
pub use crate::host::*;
pub use crate::schedule::{schedule, Schedule};
pub use crate::types::*;
pub use crate::value::{DeError, Value};

/// Re-exports for the zome authors' `use zomehost_sdk::prelude::*;`.
pub mod prelude {
    pub use crate::bytes::{
        ActionHash, AgentPubKey, AnyDhtHash, Bytes, CapSecret, DnaHash, EntryHash, Signature,
    };
    pub use crate::clone::{
        create_clone_cell, delete_clone_cell, disable_clone_cell, enable_clone_cell,
        CloneCellId, ClonedCell, CreateCloneCellInput, DeleteCloneCellInput,
        DisableCloneCellInput, DnaModifiers, DnaModifiersOpt, EnableCloneCellInput,
    };
    pub use crate::crypto::{
        box_decrypt, box_encrypt, hash_action, hash_blake2b, hash_entry, secretbox_decrypt,
        secretbox_encrypt,
    };
    pub use crate::host::{
        agent_info, call, call_bytes, call_info, call_remote, call_remote_bytes,
        capability_claims, capability_grants, create, create_cap_claim, create_cap_grant,
        create_with_ordering, delete, delete_cap_grant, delete_with_ordering, dna_info,
        emit_signal, emit_signal_bytes, generate_cap_secret, get, query, random_bytes,
        send_remote_signal, set_chain_top_ordering, sign, sign_data, sys_time, update,
        update_cap_grant, update_with_ordering, verify_signature, verify_signature_data,
        zome_info,
    };
    pub use crate::schedule::{schedule, Schedule};
    pub use crate::types::*;
    pub use crate::value::Value;
    pub use crate::{decode, decode_value, encode, ExternResult, WasmError};
    pub use crate::{
        debug, error, info, init_callback, post_commit_callback, recv_remote_signal_callback,
        scheduled_fns, trace, warn, zome_fn_as, zome_fns,
    };
}

/// An error from a host function (`kind` is one of the ABI's `Err.kind` values, e.g.
/// `NotFound`, `Unauthorized`, `ChainError`) or from the guest itself (`kind`
/// `SerializeError`, `DeserializeError`, `Guest`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WasmError {
    pub kind: String,
    pub message: String,
}

impl WasmError {
    pub fn new(kind: impl Into<String>, message: impl Into<String>) -> Self {
        WasmError {
            kind: kind.into(),
            message: message.into(),
        }
    }

    /// An error raised by the zome's own logic.
    pub fn guest(message: impl Into<String>) -> Self {
        WasmError::new("Guest", message)
    }
}

impl fmt::Display for WasmError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        if self.kind == "Guest" {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.kind, self.message)
        }
    }
}

impl std::error::Error for WasmError {}

impl From<WasmError> for String {
    fn from(e: WasmError) -> String {
        e.to_string()
    }
}

impl From<String> for WasmError {
    fn from(message: String) -> Self {
        WasmError::guest(message)
    }
}

impl From<&str> for WasmError {
    fn from(message: &str) -> Self {
        WasmError::guest(message)
    }
}

/// What zome functions and host wrappers return.
pub type ExternResult<T> = Result<T, WasmError>;

/// msgpack-encode `value` with field names (structs as maps), as the ABI requires.
pub fn encode<T: serde::Serialize + ?Sized>(value: &T) -> ExternResult<Vec<u8>> {
    rmp_serde::to_vec_named(value).map_err(|e| WasmError::new("SerializeError", e.to_string()))
}

/// msgpack-decode `bytes` as `T`.
///
/// The bytes are parsed into a [`Value`] first and `T` is read from that: one copy of the
/// msgpack parser for the whole zome instead of one per type (see `value.rs`).
pub fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> ExternResult<T> {
    let value = Value::from_msgpack(bytes)
        .map_err(|e| WasmError::new("DeserializeError", e.to_string()))?;
    decode_value(value)
}

/// Read a `T` out of an already decoded [`Value`].
pub fn decode_value<T: serde::de::DeserializeOwned>(value: Value) -> ExternResult<T> {
    T::deserialize(value).map_err(|e| WasmError::new("DeserializeError", e.to_string()))
}

/// Send a panic's message and place to the host before the instance traps (`trace` with
/// `abort: true`): it is logged, and it is the error the caller gets. Every exported
/// function calls this first; calling it again does nothing.
pub fn install_panic_hook() {
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            let _ = host::trace_abort(&info.to_string());
        }));
    });
}

/// `trace!(Level::Info, "x = {}", x)`: log a formatted message through the host.
#[macro_export]
macro_rules! trace {
    ($level:expr, $($arg:tt)+) => {{
        let _ = $crate::host::trace($level, &format!($($arg)+));
    }};
}

/// `debug!("x = {}", x)`
#[macro_export]
macro_rules! debug {
    ($($arg:tt)+) => { $crate::trace!($crate::types::Level::Debug, $($arg)+) };
}

/// `info!("x = {}", x)`
#[macro_export]
macro_rules! info {
    ($($arg:tt)+) => { $crate::trace!($crate::types::Level::Info, $($arg)+) };
}

/// `warn!("x = {}", x)`
#[macro_export]
macro_rules! warn {
    ($($arg:tt)+) => { $crate::trace!($crate::types::Level::Warn, $($arg)+) };
}

/// `error!("x = {}", x)`
#[macro_export]
macro_rules! error {
    ($($arg:tt)+) => { $crate::trace!($crate::types::Level::Error, $($arg)+) };
}
