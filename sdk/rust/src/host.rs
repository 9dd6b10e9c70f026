//! Host functions: the raw imports from module `zomehost` and their typed wrappers.
//!
//! Each raw import has the shape `(ptr: i32, len: i32) -> i64`: the guest passes msgpack
//! input it keeps owning; the host returns `(ptr << 32) | len` of a result envelope
//! `{"Ok": value} | {"Err": {"kind", "message"}}` that it allocated through `__zh_alloc`
//! and that the guest now owns (docs/abi.md, "Host imports").

use core::sync::atomic::{AtomicBool, Ordering as AtomicOrdering};

use serde::de::DeserializeOwned;
use serde::ser::Serialize;
use serde_derive::Serialize;

use crate::bytes::{
    ActionHash, AgentPubKey, AnyDhtHash, Bytes, CapSecret, Signature,
};
use crate::mem;
use crate::types::*;
use crate::value::Value;
use crate::{ExternResult, WasmError};

/// The raw imports, one per row of the host function table of docs/abi.md. Prefer the
/// typed wrappers; these are here for tests of the host's pointer checks.
pub mod raw {
    #[link(wasm_import_module = "zomehost")]
    extern "C" {
        pub fn agent_info(ptr: i32, len: i32) -> i64;
        pub fn dna_info(ptr: i32, len: i32) -> i64;
        pub fn zome_info(ptr: i32, len: i32) -> i64;
        pub fn call_info(ptr: i32, len: i32) -> i64;
        pub fn create(ptr: i32, len: i32) -> i64;
        pub fn get(ptr: i32, len: i32) -> i64;
        pub fn update(ptr: i32, len: i32) -> i64;
        pub fn delete(ptr: i32, len: i32) -> i64;
        pub fn query(ptr: i32, len: i32) -> i64;
        pub fn random_bytes(ptr: i32, len: i32) -> i64;
        pub fn sys_time(ptr: i32, len: i32) -> i64;
        pub fn sign(ptr: i32, len: i32) -> i64;
        pub fn verify_signature(ptr: i32, len: i32) -> i64;
        pub fn trace(ptr: i32, len: i32) -> i64;
        pub fn emit_signal(ptr: i32, len: i32) -> i64;
        pub fn call(ptr: i32, len: i32) -> i64;
        pub fn call_remote(ptr: i32, len: i32) -> i64;
        pub fn send_remote_signal(ptr: i32, len: i32) -> i64;
        pub fn generate_cap_secret(ptr: i32, len: i32) -> i64;
        pub fn create_cap_grant(ptr: i32, len: i32) -> i64;
        pub fn update_cap_grant(ptr: i32, len: i32) -> i64;
        pub fn delete_cap_grant(ptr: i32, len: i32) -> i64;
        pub fn create_cap_claim(ptr: i32, len: i32) -> i64;
        pub fn capability_grants(ptr: i32, len: i32) -> i64;
        pub fn capability_claims(ptr: i32, len: i32) -> i64;
    }
}

type RawHostFn = unsafe extern "C" fn(i32, i32) -> i64;

fn host_error(err: Value) -> WasmError {
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
    match (text(err.get("kind")), text(err.get("message")), err) {
        (Some(kind), message, _) => WasmError::new(kind, message.unwrap_or_default()),
        (None, _, Value::Str(m)) => WasmError::new("Internal", m),
        (None, _, _) => WasmError::new("Internal", "the host returned an error of unknown shape"),
    }
}

/// Call a raw host function with `input` (encoded with field names) and decode its result.
pub fn host_call<I, O>(f: RawHostFn, input: &I) -> ExternResult<O>
where
    I: Serialize + ?Sized,
    O: DeserializeOwned,
{
    let bytes = crate::encode(input)?;
    // SAFETY: the pointer and length describe `bytes`, alive for the whole call.
    let ret = unsafe { f(bytes.as_ptr() as i32, bytes.len() as i32) };
    drop(bytes);
    let (ptr, len) = mem::split(ret);
    // SAFETY: the host allocated the result block through `__zh_alloc(len)`; we own it now.
    let out = unsafe { mem::take(ptr, len) };
    let envelope = Value::from_msgpack(&out).map_err(|e| {
        WasmError::new("DeserializeError", format!("host result is not msgpack: {}", e))
    })?;
    drop(out);
    match envelope {
        Value::Map(mut entries) if entries.len() == 1 => {
            let (tag, value) = entries.pop().expect("one entry");
            match tag.as_str() {
                Some("Ok") => crate::decode_value(value).map_err(|e| {
                    WasmError::new("DeserializeError", format!("host result: {}", e.message))
                }),
                Some("Err") => Err(host_error(value)),
                _ => Err(WasmError::new("DeserializeError", "host result is not an envelope")),
            }
        }
        _ => Err(WasmError::new("DeserializeError", "host result is not an envelope")),
    }
}

// ---------------------------------------------------------------------------------------------
// Info

/// The cell's agent and chain head.
pub fn agent_info() -> ExternResult<AgentInfo> {
    host_call(raw::agent_info, &())
}

/// The DNA's hash, name, properties, network seed and zome names.
pub fn dna_info() -> ExternResult<DnaInfo> {
    host_call(raw::dna_info, &())
}

/// The running zome's name, index and exported functions.
pub fn zome_info() -> ExternResult<ZomeInfo> {
    host_call(raw::zome_info, &())
}

/// Who called, which function, the chain head at the start of the call, and the grant used.
pub fn call_info() -> ExternResult<CallInfo> {
    host_call(raw::call_info, &())
}

// ---------------------------------------------------------------------------------------------
// Source chain

// The ordering of this call's writes that name none (`set_chain_top_ordering`). An
// instance starts every call from a clean memory, so this never outlives its call.
static CALL_RELAXED: AtomicBool = AtomicBool::new(false);

/// The ordering of this call's writes from now on (each write may still choose its own
/// with the `*_with_ordering` functions). See [`ChainTopOrdering`].
pub fn set_chain_top_ordering(ordering: ChainTopOrdering) {
    CALL_RELAXED.store(ordering == ChainTopOrdering::Relaxed, AtomicOrdering::Relaxed);
}

fn call_ordering() -> ChainTopOrdering {
    if CALL_RELAXED.load(AtomicOrdering::Relaxed) {
        ChainTopOrdering::Relaxed
    } else {
        ChainTopOrdering::Strict
    }
}

#[derive(Serialize)]
struct CreateInput<'a> {
    entry_type: &'a str,
    entry: Bytes,
    chain_top_ordering: ChainTopOrdering,
}

/// Write an app entry of type `entry_type` (e.g. `"note"`); returns the new action's hash.
pub fn create<T: Serialize + ?Sized>(entry_type: &str, entry: &T) -> ExternResult<ActionHash> {
    create_with_ordering(entry_type, entry, call_ordering())
}

/// `create` with the ordering of this write ([`ChainTopOrdering`]).
pub fn create_with_ordering<T: Serialize + ?Sized>(
    entry_type: &str,
    entry: &T,
    chain_top_ordering: ChainTopOrdering,
) -> ExternResult<ActionHash> {
    host_call(
        raw::create,
        &CreateInput {
            entry_type,
            entry: Bytes::encode(entry)?,
            chain_top_ordering,
        },
    )
}

#[derive(Serialize)]
struct GetInput {
    hash: AnyDhtHash,
}

/// The record of an action hash, or of the newest action that wrote an entry hash, on this
/// cell's own chain (this call's uncommitted writes included). `None` if not found.
pub fn get(hash: impl Into<AnyDhtHash>) -> ExternResult<Option<Record>> {
    host_call(raw::get, &GetInput { hash: hash.into() })
}

#[derive(Serialize)]
struct UpdateInput<'a> {
    original_action: ActionHash,
    entry_type: &'a str,
    entry: Bytes,
    chain_top_ordering: ChainTopOrdering,
}

/// Write a new version of the entry created by `original_action`.
pub fn update<T: Serialize + ?Sized>(
    original_action: ActionHash,
    entry_type: &str,
    entry: &T,
) -> ExternResult<ActionHash> {
    update_with_ordering(original_action, entry_type, entry, call_ordering())
}

/// `update` with the ordering of this write ([`ChainTopOrdering`]).
pub fn update_with_ordering<T: Serialize + ?Sized>(
    original_action: ActionHash,
    entry_type: &str,
    entry: &T,
    chain_top_ordering: ChainTopOrdering,
) -> ExternResult<ActionHash> {
    host_call(
        raw::update,
        &UpdateInput {
            original_action,
            entry_type,
            entry: Bytes::encode(entry)?,
            chain_top_ordering,
        },
    )
}

#[derive(Serialize)]
struct DeleteInput {
    deletes_action: ActionHash,
    chain_top_ordering: ChainTopOrdering,
}

/// Mark the action `deletes_action` (a Create or Update) deleted.
pub fn delete(deletes_action: ActionHash) -> ExternResult<ActionHash> {
    delete_with_ordering(deletes_action, call_ordering())
}

/// `delete` with the ordering of this write ([`ChainTopOrdering`]).
pub fn delete_with_ordering(
    deletes_action: ActionHash,
    chain_top_ordering: ChainTopOrdering,
) -> ExternResult<ActionHash> {
    let input = DeleteInput {
        deletes_action,
        chain_top_ordering,
    };
    host_call(raw::delete, &input)
}

/// The records of this cell's chain that match `filter`.
pub fn query(filter: ChainQueryFilter) -> ExternResult<Vec<Record>> {
    host_call(raw::query, &filter)
}

// ---------------------------------------------------------------------------------------------
// Utilities

/// `n` (at most 65536) cryptographically random bytes.
pub fn random_bytes(n: u32) -> ExternResult<Bytes> {
    host_call(raw::random_bytes, &n)
}

/// The host's clock: microseconds since the Unix epoch.
pub fn sys_time() -> ExternResult<Timestamp> {
    host_call(raw::sys_time, &())
}

#[derive(Serialize)]
struct SignInput<'a> {
    key: &'a AgentPubKey,
    data: Bytes,
}

/// Sign `data` with `key` (only the cell's own agent key is allowed).
pub fn sign(key: &AgentPubKey, data: impl AsRef<[u8]>) -> ExternResult<Signature> {
    host_call(
        raw::sign,
        &SignInput {
            key,
            data: Bytes::from(data.as_ref()),
        },
    )
}

/// Sign the msgpack encoding of `value` (what [`verify_signature_data`] checks).
pub fn sign_data<T: Serialize + ?Sized>(key: &AgentPubKey, value: &T) -> ExternResult<Signature> {
    sign(key, crate::encode(value)?)
}

#[derive(Serialize)]
struct VerifyInput<'a> {
    key: &'a AgentPubKey,
    signature: &'a Signature,
    data: Bytes,
}

/// Check an Ed25519 signature of `data` by `key`.
pub fn verify_signature(
    key: &AgentPubKey,
    signature: &Signature,
    data: impl AsRef<[u8]>,
) -> ExternResult<bool> {
    host_call(
        raw::verify_signature,
        &VerifyInput {
            key,
            signature,
            data: Bytes::from(data.as_ref()),
        },
    )
}

/// Check a signature made with [`sign_data`] over the msgpack encoding of `value`.
pub fn verify_signature_data<T: Serialize + ?Sized>(
    key: &AgentPubKey,
    signature: &Signature,
    value: &T,
) -> ExternResult<bool> {
    verify_signature(key, signature, crate::encode(value)?)
}

#[derive(Serialize)]
struct TraceInput<'a> {
    level: Level,
    msg: &'a str,
    /// true: `msg` says why the instance is about to trap (a panic): the host puts it in
    /// the call's error
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    abort: bool,
}

/// Log `msg` at `level` through the host. See also the `trace!`, `debug!`, `info!`, `warn!`
/// and `error!` macros.
pub fn trace(level: Level, msg: &str) -> ExternResult<()> {
    host_call(raw::trace, &TraceInput { level, msg, abort: false })
}

/// Tell the host why the instance is about to trap (the panic hook does): logged at level
/// error, and the text of the error every caller gets.
pub fn trace_abort(msg: &str) -> ExternResult<()> {
    host_call(
        raw::trace,
        &TraceInput {
            level: Level::Error,
            msg,
            abort: true,
        },
    )
}

// ---------------------------------------------------------------------------------------------
// Signals and calls

/// Send `signal` (any serializable value) to the cell's local clients.
pub fn emit_signal<T: Serialize + ?Sized>(signal: &T) -> ExternResult<()> {
    emit_signal_bytes(Bytes::encode(signal)?)
}

/// Send already-encoded msgpack bytes as a signal (e.g. a payload received unchanged).
pub fn emit_signal_bytes(signal: Bytes) -> ExternResult<()> {
    host_call(raw::emit_signal, &signal)
}

#[derive(Serialize)]
struct CallInput<'a> {
    target: &'a CallTarget,
    zome_name: &'a str,
    fn_name: &'a str,
    cap_secret: Option<&'a CapSecret>,
    payload: Bytes,
}

/// Call `zome_name/fn_name` in the same cell (`CallTarget::Local`), another cell of the app
/// by role, or any cell of this agent by `CellId`. `payload` is the callee's input.
pub fn call<I: Serialize + ?Sized>(
    target: CallTarget,
    zome_name: &str,
    fn_name: &str,
    cap_secret: Option<CapSecret>,
    payload: &I,
) -> ExternResult<ZomeCallResponse> {
    call_bytes(target, zome_name, fn_name, cap_secret, Bytes::encode(payload)?)
}

/// [`call`] with a payload that is already msgpack bytes.
pub fn call_bytes(
    target: CallTarget,
    zome_name: &str,
    fn_name: &str,
    cap_secret: Option<CapSecret>,
    payload: Bytes,
) -> ExternResult<ZomeCallResponse> {
    host_call(
        raw::call,
        &CallInput {
            target: &target,
            zome_name,
            fn_name,
            cap_secret: cap_secret.as_ref(),
            payload,
        },
    )
}

#[derive(Serialize)]
struct CallRemoteInput<'a> {
    agent: &'a AgentPubKey,
    zome_name: &'a str,
    fn_name: &'a str,
    cap_secret: Option<&'a CapSecret>,
    payload: Bytes,
    timeout_ms: Option<u64>,
}

/// Call `zome_name/fn_name` on another agent's cell of the same DNA. `timeout_ms: None` uses
/// the host's default.
pub fn call_remote<I: Serialize + ?Sized>(
    agent: AgentPubKey,
    zome_name: &str,
    fn_name: &str,
    cap_secret: Option<CapSecret>,
    payload: &I,
    timeout_ms: Option<u64>,
) -> ExternResult<ZomeCallResponse> {
    call_remote_bytes(agent, zome_name, fn_name, cap_secret, Bytes::encode(payload)?, timeout_ms)
}

/// [`call_remote`] with a payload that is already msgpack bytes.
pub fn call_remote_bytes(
    agent: AgentPubKey,
    zome_name: &str,
    fn_name: &str,
    cap_secret: Option<CapSecret>,
    payload: Bytes,
    timeout_ms: Option<u64>,
) -> ExternResult<ZomeCallResponse> {
    host_call(
        raw::call_remote,
        &CallRemoteInput {
            agent: &agent,
            zome_name,
            fn_name,
            cap_secret: cap_secret.as_ref(),
            payload,
            timeout_ms,
        },
    )
}

#[derive(Serialize)]
struct RemoteSignalInput<'a> {
    agents: &'a [AgentPubKey],
    payload: Bytes,
}

/// Send `signal` to other agents' cells (their `recv_remote_signal`); fire and forget.
pub fn send_remote_signal<T: Serialize + ?Sized>(
    agents: Vec<AgentPubKey>,
    signal: &T,
) -> ExternResult<()> {
    host_call(
        raw::send_remote_signal,
        &RemoteSignalInput {
            agents: &agents,
            payload: Bytes::encode(signal)?,
        },
    )
}

// ---------------------------------------------------------------------------------------------
// Capabilities

/// A fresh 64-byte secret for a Transferable or Assigned grant.
pub fn generate_cap_secret() -> ExternResult<CapSecret> {
    host_call(raw::generate_cap_secret, &())
}

/// Write a capability grant to this chain.
pub fn create_cap_grant(grant: ZomeCallCapGrant) -> ExternResult<ActionHash> {
    host_call(raw::create_cap_grant, &grant)
}

#[derive(Serialize)]
struct UpdateGrantInput<'a> {
    original_action: ActionHash,
    grant: &'a ZomeCallCapGrant,
}

/// Replace the grant written by `original_action` (the old one stops authorizing).
pub fn update_cap_grant(
    original_action: ActionHash,
    grant: ZomeCallCapGrant,
) -> ExternResult<ActionHash> {
    host_call(
        raw::update_cap_grant,
        &UpdateGrantInput {
            original_action,
            grant: &grant,
        },
    )
}

/// Revoke the grant written by `action_hash`.
pub fn delete_cap_grant(action_hash: ActionHash) -> ExternResult<ActionHash> {
    host_call(raw::delete_cap_grant, &action_hash)
}

/// Store a claim (a secret received from a grantor) on this chain.
pub fn create_cap_claim(claim: CapClaim) -> ExternResult<ActionHash> {
    host_call(raw::create_cap_claim, &claim)
}

#[derive(Serialize)]
struct GrantsInput {
    include_revoked: bool,
}

/// The grants on this chain (with `include_revoked`, also the deleted/updated ones).
pub fn capability_grants(include_revoked: bool) -> ExternResult<Vec<CapGrantRecord>> {
    host_call(raw::capability_grants, &GrantsInput { include_revoked })
}

#[derive(Serialize)]
struct ClaimsInput<'a> {
    grantor: Option<&'a AgentPubKey>,
    tag: Option<&'a str>,
}

/// The claims on this chain, optionally only those of one grantor and/or one tag.
pub fn capability_claims(
    grantor: Option<AgentPubKey>,
    tag: Option<&str>,
) -> ExternResult<Vec<CapClaimRecord>> {
    host_call(
        raw::capability_claims,
        &ClaimsInput {
            grantor: grantor.as_ref(),
            tag,
        },
    )
}
