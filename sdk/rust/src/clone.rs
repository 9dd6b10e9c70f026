//! Clone cells from a zome (docs/abi.md, "Clone cells"): Holochain's `create_clone_cell`,
//! `disable_clone_cell`, `enable_clone_cell` and `delete_clone_cell`.
//!
//! A zome clones a cell of its own app (a role's DNA run again with another network seed or
//! other properties: a new cell, with its own chain, for the same agent) and manages the
//! clones of its own app only. Only the cell's author may: a call that came in through a
//! capability grant is refused. The changes take effect at once, not with the call's commit.

use serde_derive::{Deserialize, Serialize};

use crate::bytes::{Bytes, DnaHash};
use crate::host::host_call;
use crate::types::CellId;
use crate::value::Value;
use crate::ExternResult;

/// The raw imports of this module (see `host::raw` for the calling convention).
pub mod raw {
    #[link(wasm_import_module = "zomehost")]
    extern "C" {
        pub fn create_clone_cell(ptr: i32, len: i32) -> i64;
        pub fn disable_clone_cell(ptr: i32, len: i32) -> i64;
        pub fn enable_clone_cell(ptr: i32, len: i32) -> i64;
        pub fn delete_clone_cell(ptr: i32, len: i32) -> i64;
    }
}

/// What to change in the clone's DNA (at least one, or it would be the role itself).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DnaModifiersOpt {
    pub network_seed: Option<String>,
    /// msgpack bytes of the clone's DNA properties (`Bytes::encode(&props)?`).
    pub properties: Option<Bytes>,
}

/// Clone the DNA of `cell_id` (a cell of this app) with `modifiers`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CreateCloneCellInput {
    pub cell_id: CellId,
    pub modifiers: DnaModifiersOpt,
    pub membrane_proof: Option<Bytes>,
    pub name: Option<String>,
}

/// The modifiers a clone was made with.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DnaModifiers {
    pub network_seed: String,
    /// msgpack bytes of the properties (msgpack nil when there are none).
    pub properties: Bytes,
}

/// A clone cell of this app.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClonedCell {
    pub cell_id: CellId,
    /// `<role>.<index>`; an index is never reused within an app.
    pub clone_id: String,
    pub original_dna_hash: DnaHash,
    pub dna_modifiers: DnaModifiers,
    pub name: String,
    pub enabled: bool,
}

/// A clone, by its clone id or by its cell id.
#[derive(Clone, Debug, PartialEq)]
pub enum CloneCellId {
    CloneId(String),
    CellId(CellId),
}

impl serde::Serialize for CloneCellId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            CloneCellId::CloneId(id) => s.serialize_str(id),
            CloneCellId::CellId(cell) => cell.serialize(s),
        }
    }
}

impl<'de> serde::Deserialize<'de> for CloneCellId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        match Value::deserialize(d)? {
            Value::Str(id) => Ok(CloneCellId::CloneId(id)),
            other => crate::decode_value(other)
                .map(CloneCellId::CellId)
                .map_err(|e| D::Error::custom(e.message)),
        }
    }
}

/// Which clone to disable, enable or delete.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DisableCloneCellInput {
    pub clone_cell_id: CloneCellId,
}

pub type EnableCloneCellInput = DisableCloneCellInput;
pub type DeleteCloneCellInput = DisableCloneCellInput;

/// Create a clone cell of this app (with its genesis) and return it, enabled.
pub fn create_clone_cell(input: CreateCloneCellInput) -> ExternResult<ClonedCell> {
    host_call(raw::create_clone_cell, &input)
}

/// Stop a clone of this app (not the calling cell); its chain stays.
pub fn disable_clone_cell(input: DisableCloneCellInput) -> ExternResult<()> {
    host_call(raw::disable_clone_cell, &input)
}

/// Start a disabled clone of this app again.
pub fn enable_clone_cell(input: EnableCloneCellInput) -> ExternResult<ClonedCell> {
    host_call(raw::enable_clone_cell, &input)
}

/// Forget a disabled clone of this app and erase its chain.
pub fn delete_clone_cell(input: DeleteCloneCellInput) -> ExternResult<()> {
    host_call(raw::delete_clone_cell, &input)
}
