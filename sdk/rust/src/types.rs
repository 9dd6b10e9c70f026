//! The shared types of docs/abi.md ("Shared types" and the host function tables).
//!
//! Field names and enum tagging follow the ABI exactly: structs are msgpack maps with
//! `snake_case` keys, enums are externally tagged (a unit variant is the string `"Name"`, a
//! variant with data is the one-entry map `{"Name": data}`), byte strings are `bin`.

use std::collections::BTreeMap;

use serde::de::{self, DeserializeOwned, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::ser::Serializer;
use serde_derive::{Deserialize, Serialize};

use crate::bytes::{ActionHash, AgentPubKey, Bytes, CapSecret, DnaHash, EntryHash, Signature};
use crate::value::Value;
use crate::WasmError;

/// Microseconds since the Unix epoch.
pub type Timestamp = i64;

// ---------------------------------------------------------------------------------------------
// Records

/// The kind of an action: the `"type"` key of an [`Action`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ActionType {
    Dna,
    AgentValidationPkg,
    InitZomesComplete,
    Create,
    Update,
    Delete,
}

impl ActionType {
    pub fn as_str(&self) -> &'static str {
        match self {
            ActionType::Dna => "Dna",
            ActionType::AgentValidationPkg => "AgentValidationPkg",
            ActionType::InitZomesComplete => "InitZomesComplete",
            ActionType::Create => "Create",
            ActionType::Update => "Update",
            ActionType::Delete => "Delete",
        }
    }
}

/// An action: a map with `"type"` plus the fields of docs/formats.md ("Actions").
///
/// The common fields (`author`, `timestamp`, `action_seq`, `prev_action`) and each type's
/// extra fields are typed; any other key (e.g. `membrane_proof` of `AgentValidationPkg`) is
/// kept in `extra`, so a record a zome decodes and re-encodes keeps all of its fields.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Action {
    #[serde(rename = "type")]
    pub action_type: ActionType,
    #[serde(default)]
    pub author: AgentPubKey,
    #[serde(default)]
    pub timestamp: Timestamp,
    #[serde(default)]
    pub action_seq: u32,
    /// The previous action (nil only for `Dna`).
    #[serde(default)]
    pub prev_action: Option<ActionHash>,
    /// `Create`/`Update`: the entry type name ("note", "CapGrant", "Agent", ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry_type: Option<String>,
    /// `Create`/`Update`: the hash of the entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry_hash: Option<EntryHash>,
    /// `Update`: the action it updates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_action_address: Option<ActionHash>,
    /// `Update`: the entry it updates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_entry_address: Option<EntryHash>,
    /// `Delete`: the action it deletes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletes_address: Option<ActionHash>,
    /// `Delete`: the entry of the action it deletes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletes_entry_address: Option<EntryHash>,
    /// `Dna`: the DNA hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dna_hash: Option<DnaHash>,
    /// Every other key of the action map, unchanged.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// An entry: its type name and its content (msgpack bytes).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub entry_type: String,
    pub content: Bytes,
}

impl Entry {
    /// Decode the content as an app entry (`T` as the zome serialized it).
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, WasmError> {
        crate::decode(&self.content.0)
    }
}

/// A signed action plus its entry (if it has one and it was asked for).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub action_hash: ActionHash,
    pub action: Action,
    pub signature: Signature,
    #[serde(default)]
    pub entry: Option<Entry>,
}

impl Record {
    /// Decode the entry as `T`: `Ok(None)` when the record has no entry.
    pub fn entry_as<T: DeserializeOwned>(&self) -> Result<Option<T>, WasmError> {
        match &self.entry {
            Some(entry) => entry.decode().map(Some),
            None => Ok(None),
        }
    }

    pub fn action_type(&self) -> ActionType {
        self.action.action_type
    }

    /// The entry type name, from the action or, failing that, from the entry.
    pub fn entry_type(&self) -> Option<&str> {
        self.action
            .entry_type
            .as_deref()
            .or_else(|| self.entry.as_ref().map(|e| e.entry_type.as_str()))
    }

    pub fn timestamp(&self) -> Timestamp {
        self.action.timestamp
    }
}

// ---------------------------------------------------------------------------------------------
// Cells and chain

/// `[dna_hash, agent_pub_key]`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct CellId(pub DnaHash, pub AgentPubKey);

impl CellId {
    pub fn dna_hash(&self) -> &DnaHash {
        &self.0
    }

    pub fn agent_pubkey(&self) -> &AgentPubKey {
        &self.1
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainHead {
    pub action: ActionHash,
    pub seq: u32,
    pub timestamp: Timestamp,
}

/// Filter for `query`. Every key is optional on the wire, and a missing or nil key reads as
/// absent: a nil list is `None`, a nil flag is `false` (docs/abi.md). Build one with the
/// methods: `ChainQueryFilter::new().entry_type("note").include_entries(true)`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ChainQueryFilter {
    /// `[start, end_exclusive]` of `action_seq`.
    pub sequence_range: Option<(u32, u32)>,
    pub entry_type: Option<Vec<String>>,
    pub action_type: Option<Vec<String>>,
    #[serde(deserialize_with = "nil_as_false")]
    pub include_entries: bool,
    #[serde(deserialize_with = "nil_as_false")]
    pub descending: bool,
    /// Only actions that wrote one of these entries.
    pub entry_hashes: Option<Vec<EntryHash>>,
}

/// A `bool | nil` flag: nil is `false` (a missing key is `false` through `#[serde(default)]`).
fn nil_as_false<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(<Option<bool> as serde::Deserialize>::deserialize(d)?.unwrap_or(false))
}

impl ChainQueryFilter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Only actions with `start <= action_seq < end_exclusive`.
    pub fn sequence_range(mut self, start: u32, end_exclusive: u32) -> Self {
        self.sequence_range = Some((start, end_exclusive));
        self
    }

    /// Add an entry type to match (several calls: any of them).
    pub fn entry_type(mut self, name: impl Into<String>) -> Self {
        self.entry_type.get_or_insert_with(Vec::new).push(name.into());
        self
    }

    /// Add an action type to match (several calls: any of them).
    pub fn action_type(mut self, action_type: ActionType) -> Self {
        self.action_type
            .get_or_insert_with(Vec::new)
            .push(action_type.as_str().to_string());
        self
    }

    pub fn include_entries(mut self, include: bool) -> Self {
        self.include_entries = include;
        self
    }

    pub fn descending(mut self) -> Self {
        self.descending = true;
        self
    }

    /// Add an entry hash to match (several calls: any of them).
    pub fn entry_hash(mut self, hash: EntryHash) -> Self {
        self.entry_hashes.get_or_insert_with(Vec::new).push(hash);
        self
    }
}

/// Whether a write needs the chain head it was made on (Holochain's `ChainTopOrdering`).
/// `Strict` (the default): if another call moved the head first, this call fails with
/// `HeadMoved` and writes nothing. `Relaxed`: the write does not depend on the head, and
/// is re-made on top of the new head at commit instead (new sequence number, new action
/// hash: a hash returned during the call may change). A call is rebased only if every one
/// of its writes is relaxed; capability grants and claims are always strict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChainTopOrdering {
    Strict,
    Relaxed,
}

impl ChainTopOrdering {
    pub fn as_str(&self) -> &'static str {
        match self {
            ChainTopOrdering::Strict => "Strict",
            ChainTopOrdering::Relaxed => "Relaxed",
        }
    }
}

impl Default for ChainTopOrdering {
    fn default() -> Self {
        ChainTopOrdering::Strict
    }
}

impl serde::Serialize for ChainTopOrdering {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

// ---------------------------------------------------------------------------------------------
// Info

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AgentInfo {
    pub agent_initial_pubkey: AgentPubKey,
    pub agent_latest_pubkey: AgentPubKey,
    pub chain_head: ChainHead,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DnaInfo {
    pub hash: DnaHash,
    pub name: String,
    /// msgpack bytes of the DNA properties: `dna_info()?.properties.decode::<MyProps>()`.
    pub properties: Bytes,
    pub network_seed: String,
    pub zome_names: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ZomeInfo {
    pub name: String,
    pub id: u32,
    pub function_names: Vec<String>,
}

/// How the current call was authorized.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum CapGrantInfo {
    /// The caller is the cell's own agent.
    ChainAuthor(AgentPubKey),
    /// A grant on this chain authorized a caller.
    RemoteAgent {
        action_hash: ActionHash,
        tag: String,
        access: CapAccess,
        functions: GrantedFunctions,
    },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CallInfo {
    pub provenance: AgentPubKey,
    pub zome_name: String,
    pub function_name: String,
    pub as_at: ChainHead,
    pub cap_grant: CapGrantInfo,
}

// ---------------------------------------------------------------------------------------------
// Capabilities

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CapAccess {
    /// Anyone may call (no secret).
    Unrestricted,
    /// Anyone holding the secret may call.
    Transferable { secret: CapSecret },
    /// Only the assignees, with the secret, may call.
    Assigned {
        secret: CapSecret,
        assignees: Vec<AgentPubKey>,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum GrantedFunctions {
    All,
    /// `[[zome_name, fn_name], ...]`
    Listed(Vec<(String, String)>),
}

impl GrantedFunctions {
    /// `GrantedFunctions::listed(&[("notes", "list_notes")])`
    pub fn listed(pairs: &[(&str, &str)]) -> Self {
        GrantedFunctions::Listed(
            pairs
                .iter()
                .map(|(z, f)| (z.to_string(), f.to_string()))
                .collect(),
        )
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZomeCallCapGrant {
    pub tag: String,
    pub access: CapAccess,
    pub functions: GrantedFunctions,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CapClaim {
    pub tag: String,
    pub grantor: AgentPubKey,
    pub secret: CapSecret,
}

/// One element of `capability_grants`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CapGrantRecord {
    pub action_hash: ActionHash,
    pub grant: ZomeCallCapGrant,
    pub revoked: bool,
}

/// One element of `capability_claims`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CapClaimRecord {
    pub action_hash: ActionHash,
    pub claim: CapClaim,
}

// ---------------------------------------------------------------------------------------------
// Calls

/// Which cell a `call` goes to.
///
/// On the wire: `{"Local": nil}` (the same cell), `{"Role": role_name}` (a cell of the same
/// app by role), `{"Cell": [dna_hash, agent]}`. The plain string `"Local"` is accepted when
/// decoding too.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallTarget {
    Local,
    Role(String),
    Cell(CellId),
}

impl serde::Serialize for CallTarget {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            CallTarget::Local => s.serialize_newtype_variant("CallTarget", 0, "Local", &()),
            CallTarget::Role(role) => s.serialize_newtype_variant("CallTarget", 1, "Role", role),
            CallTarget::Cell(cell) => s.serialize_newtype_variant("CallTarget", 2, "Cell", cell),
        }
    }
}

struct CallTargetVisitor;

impl<'de> Visitor<'de> for CallTargetVisitor {
    type Value = CallTarget;

    fn expecting(&self, f: &mut core::fmt::Formatter) -> core::fmt::Result {
        f.write_str(r#"{"Local": nil} | {"Role": str} | {"Cell": [dna_hash, agent]}"#)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<CallTarget, E> {
        match v {
            "Local" => Ok(CallTarget::Local),
            other => Err(E::unknown_variant(other, &["Local", "Role", "Cell"])),
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<CallTarget, A::Error> {
        let key: String = map
            .next_key()?
            .ok_or_else(|| de::Error::invalid_length(0, &self))?;
        let target = match key.as_str() {
            "Local" => {
                map.next_value::<IgnoredAny>()?;
                CallTarget::Local
            }
            "Role" => CallTarget::Role(map.next_value()?),
            "Cell" => CallTarget::Cell(map.next_value()?),
            other => return Err(de::Error::unknown_variant(other, &["Local", "Role", "Cell"])),
        };
        if map.next_key::<IgnoredAny>()?.is_some() {
            return Err(de::Error::invalid_length(2, &self));
        }
        Ok(target)
    }
}

impl<'de> serde::Deserialize<'de> for CallTarget {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(CallTargetVisitor)
    }
}

/// The outcome of `call` / `call_remote`. Failures are values, not traps.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ZomeCallResponse {
    /// msgpack bytes of the callee's `Ok` value.
    Ok(Bytes),
    Unauthorized {
        zome_name: String,
        fn_name: String,
        cell_id: CellId,
        provenance: AgentPubKey,
        reason: String,
    },
    AuthenticationFailed(String),
    NetworkError(String),
    /// The callee returned `Err` or trapped.
    CallError(String),
}

impl ZomeCallResponse {
    pub fn is_ok(&self) -> bool {
        matches!(self, ZomeCallResponse::Ok(_))
    }

    /// Decode the callee's `Ok` value; any other variant becomes a `WasmError` whose kind is
    /// the variant name.
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, WasmError> {
        match self {
            ZomeCallResponse::Ok(bytes) => bytes.decode(),
            ZomeCallResponse::Unauthorized {
                zome_name,
                fn_name,
                reason,
                ..
            } => Err(WasmError::new(
                "Unauthorized",
                format!("{}/{}: {}", zome_name, fn_name, reason),
            )),
            ZomeCallResponse::AuthenticationFailed(m) => {
                Err(WasmError::new("AuthenticationFailed", m.clone()))
            }
            ZomeCallResponse::NetworkError(m) => Err(WasmError::new("NetworkError", m.clone())),
            ZomeCallResponse::CallError(m) => Err(WasmError::new("CallError", m.clone())),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Callbacks

/// The `Ok` value of the `init` callback: `"Pass"` or `{"Fail": reason}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum InitCallbackResult {
    Pass,
    Fail(String),
}

/// Trace levels of the `trace` host function.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}
