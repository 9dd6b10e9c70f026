//! The probe: a test zome with one zome function per host function (docs/abi.md), plus
//! functions that fail, panic, spin or pass bad pointers, for the host's tests.

use serde::{Deserialize, Serialize};
use zomehost_sdk::prelude::*;

/// The entry type the probe writes when the caller does not name one.
const PROBE_ENTRY_TYPE: &str = "probe";

// ---------------------------------------------------------------------------------------------
// Info

fn whoami() -> ExternResult<AgentInfo> {
    agent_info()
}

fn dna() -> ExternResult<DnaInfo> {
    dna_info()
}

fn zome() -> ExternResult<ZomeInfo> {
    zome_info()
}

fn caller() -> ExternResult<CallInfo> {
    call_info()
}

// ---------------------------------------------------------------------------------------------
// Source chain

#[derive(Deserialize)]
struct CreateEntryInput {
    #[serde(default)]
    entry_type: Option<String>,
    value: Value,
    /// relaxed chain top ordering for this write
    #[serde(default)]
    relaxed: bool,
}

fn create_entry(input: CreateEntryInput) -> ExternResult<ActionHash> {
    let entry_type = input.entry_type.as_deref().unwrap_or(PROBE_ENTRY_TYPE);
    let ordering = if input.relaxed {
        ChainTopOrdering::Relaxed
    } else {
        ChainTopOrdering::Strict
    };
    create_with_ordering(entry_type, &input.value, ordering)
}

/// `count` creates in one call, all relaxed (the SDK's per-call ordering).
fn create_relaxed_batch(count: u32) -> ExternResult<Vec<ActionHash>> {
    set_chain_top_ordering(ChainTopOrdering::Relaxed);
    (0..count).map(|i| create(PROBE_ENTRY_TYPE, &i)).collect()
}

fn get_record(hash: AnyDhtHash) -> ExternResult<Option<Record>> {
    get(hash)
}

#[derive(Deserialize)]
struct UpdateEntryInput {
    original: ActionHash,
    #[serde(default)]
    entry_type: Option<String>,
    value: Value,
}

fn update_entry(input: UpdateEntryInput) -> ExternResult<ActionHash> {
    let entry_type = input.entry_type.as_deref().unwrap_or(PROBE_ENTRY_TYPE);
    update(input.original, entry_type, &input.value)
}

fn delete_entry(hash: ActionHash) -> ExternResult<ActionHash> {
    delete(hash)
}

/// The filter of docs/abi.md: every key optional, a nil key the same as absent (a nil flag
/// is false), and a nil filter no filter.
fn query_chain(filter: Option<ChainQueryFilter>) -> ExternResult<Vec<Record>> {
    query(filter.unwrap_or_default())
}

// ---------------------------------------------------------------------------------------------
// Utilities

fn random(n: u32) -> ExternResult<Bytes> {
    random_bytes(n)
}

fn now() -> ExternResult<i64> {
    sys_time()
}

fn sign_data(data: Bytes) -> ExternResult<Signature> {
    let me = agent_info()?.agent_initial_pubkey;
    sign(&me, &data)
}

#[derive(Deserialize)]
struct VerifyInput {
    key: AgentPubKey,
    signature: Signature,
    data: Bytes,
}

fn verify(input: VerifyInput) -> ExternResult<bool> {
    verify_signature(&input.key, &input.signature, &input.data)
}

fn log(msg: String) -> ExternResult<()> {
    info!("{}", msg);
    Ok(())
}

fn signal(value: Value) -> ExternResult<()> {
    emit_signal(&value)
}

fn echo(s: String) -> ExternResult<String> {
    Ok(s)
}

/// Reads the chain's head, unless ``mode`` asks for more: a function the host learns is a
/// fast read, then one call of it creates, signals, logs or spins (the event loop's tests).
fn read_or(mode: String) -> ExternResult<String> {
    match mode.as_str() {
        "create" => {
            create(PROBE_ENTRY_TYPE, &mode)?;
        }
        "signal" => emit_signal(&mode)?,
        "log" => info!("read_or logs once"),
        "spin" => spin()?,
        _ => {
            agent_info()?;
        }
    }
    Ok(mode)
}

// ---------------------------------------------------------------------------------------------
// Failures

fn create_then_fail(value: Value) -> ExternResult<ActionHash> {
    create(PROBE_ENTRY_TYPE, &value)?;
    Err(WasmError::guest("deliberate failure"))
}

fn create_then_panic(value: Value) -> ExternResult<ActionHash> {
    create(PROBE_ENTRY_TYPE, &value)?;
    panic!("deliberate panic after create");
}

/// Pass an out-of-bounds input pointer to a host function: the host must trap the call.
fn bad_pointer() -> ExternResult<()> {
    let ret = unsafe { zomehost_sdk::host::raw::create(0xFFFF_FFF0u32 as i32, 1000) };
    Err(WasmError::guest(format!(
        "the host accepted an out-of-bounds pointer (returned {:#x})",
        ret
    )))
}

/// Loop forever (the host's time limit must stop it).
fn spin() -> ExternResult<()> {
    let mut counter: u64 = 0;
    loop {
        // A volatile write is a side effect the optimizer cannot remove.
        counter = counter.wrapping_add(1);
        unsafe { core::ptr::write_volatile(&mut counter, counter) };
    }
}

// ---------------------------------------------------------------------------------------------
// Calls and signals

#[derive(Deserialize)]
struct CallOtherInput {
    target: CallTarget,
    zome_name: String,
    fn_name: String,
    #[serde(default)]
    cap_secret: Option<CapSecret>,
    #[serde(default)]
    payload: Value,
}

fn call_other(input: CallOtherInput) -> ExternResult<ZomeCallResponse> {
    call(
        input.target,
        &input.zome_name,
        &input.fn_name,
        input.cap_secret,
        &input.payload,
    )
}

#[derive(Deserialize)]
struct CallRemoteInput {
    agent: AgentPubKey,
    zome_name: String,
    fn_name: String,
    #[serde(default)]
    cap_secret: Option<CapSecret>,
    #[serde(default)]
    payload: Value,
    #[serde(default)]
    timeout_ms: Option<u64>,
}

fn call_remote_fn(input: CallRemoteInput) -> ExternResult<ZomeCallResponse> {
    call_remote(
        input.agent,
        &input.zome_name,
        &input.fn_name,
        input.cap_secret,
        &input.payload,
        input.timeout_ms,
    )
}

#[derive(Deserialize)]
struct RemoteSignalInput {
    agents: Vec<AgentPubKey>,
    value: Value,
}

fn remote_signal(input: RemoteSignalInput) -> ExternResult<()> {
    send_remote_signal(input.agents, &input.value)
}

#[derive(Deserialize)]
struct CreateAndCallInput {
    value: Value,
    zome_name: String,
    fn_name: String,
    #[serde(default)]
    payload: Value,
    /// relaxed chain top ordering for the whole call
    #[serde(default)]
    relaxed: bool,
}

/// Write an entry, then call another zome of this cell: the two share one workspace, so
/// either both commit or neither does.
fn create_and_call(input: CreateAndCallInput) -> ExternResult<ZomeCallResponse> {
    if input.relaxed {
        set_chain_top_ordering(ChainTopOrdering::Relaxed);
    }
    create(PROBE_ENTRY_TYPE, &input.value)?;
    call(
        CallTarget::Local,
        &input.zome_name,
        &input.fn_name,
        None,
        &input.payload,
    )
}

// ---------------------------------------------------------------------------------------------
// Capabilities

fn new_secret() -> ExternResult<CapSecret> {
    generate_cap_secret()
}

fn make_grant(grant: ZomeCallCapGrant) -> ExternResult<ActionHash> {
    create_cap_grant(grant)
}

#[derive(Deserialize)]
struct UpdateGrantInput {
    original_action: ActionHash,
    grant: ZomeCallCapGrant,
}

fn update_grant(input: UpdateGrantInput) -> ExternResult<ActionHash> {
    update_cap_grant(input.original_action, input.grant)
}

fn delete_grant(action_hash: ActionHash) -> ExternResult<ActionHash> {
    delete_cap_grant(action_hash)
}

fn make_claim(claim: CapClaim) -> ExternResult<ActionHash> {
    create_cap_claim(claim)
}

fn list_grants(include_revoked: bool) -> ExternResult<Vec<CapGrantRecord>> {
    capability_grants(include_revoked)
}

/// `{grantor?: agent | nil, tag?: str | nil}`, or nil for no filter (docs/abi.md:
/// capability_claims' grantor and tag are optional).
#[derive(Deserialize, Default)]
#[serde(default)]
struct ListClaimsInput {
    grantor: Option<AgentPubKey>,
    tag: Option<String>,
}

fn list_claims(input: Option<ListClaimsInput>) -> ExternResult<Vec<CapClaimRecord>> {
    let input = input.unwrap_or_default();
    capability_claims(input.grantor, input.tag.as_deref())
}

// ---------------------------------------------------------------------------------------------
// Callbacks

fn init() -> ExternResult<InitCallbackResult> {
    Ok(InitCallbackResult::Pass)
}

#[derive(Serialize)]
struct PostCommitSignal {
    post_commit: usize,
}

// ---------------------------------------------------------------------------------------------
// Hashing and encryption

#[derive(Deserialize)]
struct HashEntryFnInput {
    entry_type: String,
    value: Value,
}

fn entry_hash_of(input: HashEntryFnInput) -> ExternResult<EntryHash> {
    hash_entry(&input.entry_type, &input.value)
}

/// The hash of the action of the record at `hash`, recomputed from its decoded action.
fn action_hash_of(hash: ActionHash) -> ExternResult<Option<ActionHash>> {
    match get(hash)? {
        Some(record) => hash_action(&record.action).map(Some),
        None => Ok(None),
    }
}

#[derive(Deserialize)]
struct Blake2bFnInput {
    data: Bytes,
    size: u8,
}

fn blake2b(input: Blake2bFnInput) -> ExternResult<Bytes> {
    hash_blake2b(&input.data, input.size)
}

#[derive(Deserialize)]
struct SealForInput {
    recipient: AgentPubKey,
    data: Bytes,
}

fn seal_for(input: SealForInput) -> ExternResult<Bytes> {
    box_encrypt(&input.recipient, &input.data)
}

#[derive(Deserialize)]
struct OpenFromInput {
    sender: AgentPubKey,
    data: Bytes,
}

fn open_from(input: OpenFromInput) -> ExternResult<Option<Bytes>> {
    box_decrypt(&input.sender, &input.data)
}

fn seal_own(data: Bytes) -> ExternResult<Bytes> {
    secretbox_encrypt(&data)
}

fn open_own(data: Bytes) -> ExternResult<Option<Bytes>> {
    secretbox_decrypt(&data)
}

// ---------------------------------------------------------------------------------------------
// Clone cells

fn clone_cell(input: CreateCloneCellInput) -> ExternResult<ClonedCell> {
    create_clone_cell(input)
}

fn disable_clone(input: DisableCloneCellInput) -> ExternResult<()> {
    disable_clone_cell(input)
}

fn enable_clone(input: EnableCloneCellInput) -> ExternResult<ClonedCell> {
    enable_clone_cell(input)
}

fn delete_clone(input: DeleteCloneCellInput) -> ExternResult<()> {
    delete_clone_cell(input)
}

#[derive(Deserialize)]
struct CloneManyInput {
    cell_id: CellId,
    prefix: String,
    count: u32,
}

/// A runaway: `count` clones in one call, seeds `<prefix>-<i>`; stops at the first error.
fn clone_many(input: CloneManyInput) -> ExternResult<u32> {
    for i in 0..input.count {
        create_clone_cell(CreateCloneCellInput {
            cell_id: input.cell_id.clone(),
            modifiers: DnaModifiersOpt {
                network_seed: Some(format!("{}-{}", input.prefix, i)),
                properties: None,
            },
            membrane_proof: None,
            name: None,
        })?;
    }
    Ok(input.count)
}

fn post_commit(records: Vec<Record>) -> ExternResult<()> {
    emit_signal(&PostCommitSignal {
        post_commit: records.len(),
    })
}

fn recv_remote_signal(payload: Bytes) -> ExternResult<()> {
    emit_signal_bytes(payload)
}

// ---------------------------------------------------------------------------------------------
// Typed values: the serde side of the AssemblyScript SDK's @serializable classes (its twin
// is probe_as's `Typed`; tests/sdk_as/test_typed_classes.py compares the two byte for byte)

#[derive(Serialize, Deserialize)]
struct Inner {
    label: String,
    weight: f64,
}

#[derive(Serialize, Deserialize)]
struct Typed {
    title: String,
    count: i32,
    big_count: u64,
    ratio: f32,
    done: bool,
    blob: Bytes,
    author: Option<AgentPubKey>,
    tags: Vec<String>,
    inner: Inner,
    inners: Vec<Inner>,
    note: Option<String>,
    maybe: Option<Inner>,
    matrix: Vec<Vec<i32>>,
}

/// Decode the input as `Typed` and encode it again.
fn typed_roundtrip(value: Typed) -> ExternResult<Typed> {
    Ok(value)
}

#[derive(Serialize, Deserialize)]
struct TypedVia {
    zome: String,
    value: Typed,
}

/// Encode `value` as `Typed`, have zome `zome` of this cell round-trip it
/// (`typed_roundtrip`), and decode its answer as `Typed`.
fn typed_via(input: TypedVia) -> ExternResult<Typed> {
    call(CallTarget::Local, &input.zome, "typed_roundtrip", None, &input.value)?.decode()
}

// ---------------------------------------------------------------------------------------------
// Scheduling (the full set of cases is in zomes/ticker)

/// Schedule function `name` of this zome.
fn schedule_fn(name: String) -> ExternResult<()> {
    schedule(&name)
}

/// A scheduled function: signals "scheduled_ping" once.
fn scheduled_ping(_last: Option<Schedule>) -> Option<Schedule> {
    let _ = emit_signal("scheduled_ping");
    None
}

scheduled_fns!(scheduled_ping);

zome_fns!(
    schedule_fn,
    typed_roundtrip,
    typed_via,
    whoami,
    dna,
    zome,
    caller,
    create_entry,
    create_relaxed_batch,
    get_record,
    update_entry,
    delete_entry,
    query_chain,
    random,
    now,
    sign_data,
    verify,
    log,
    signal,
    echo,
    read_or,
    create_then_fail,
    create_then_panic,
    bad_pointer,
    spin,
    call_other,
    call_remote_fn,
    remote_signal,
    create_and_call,
    new_secret,
    make_grant,
    update_grant,
    delete_grant,
    make_claim,
    list_grants,
    list_claims,
    entry_hash_of,
    action_hash_of,
    blake2b,
    seal_for,
    open_from,
    seal_own,
    open_own,
    clone_cell,
    disable_clone,
    enable_clone,
    delete_clone,
    clone_many,
    init,
    post_commit,
    recv_remote_signal,
);
