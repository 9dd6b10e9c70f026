//! notes: the first zomehost app. Each agent keeps notes on their own source chain.
//!
//! A note is created once, may be updated many times (each update points at the version it
//! replaces) and deleted. A note's *history* is its create plus every update that leads back
//! to it; deleting any version deletes the note.
//!
//! | function | input | output |
//! |---|---|---|
//! | `create_note` | `{title, body}` | action hash of the note |
//! | `get_note` | action hash of any version | `{hash, original, title, body, created_at, updated_at}` of the latest version, or nil |
//! | `update_note` | `{original, title, body}` | action hash of the new version |
//! | `delete_note` | action hash of any version | action hash of the delete |
//! | `list_notes` | nil | `[{hash, title, body}]`, latest versions, oldest note first |
//!
//! `create_note` emits the signal `{"type": "note_created", "hash", "title", "body"}`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use zomehost_sdk::prelude::*;

/// The entry type of notes on the chain.
pub const NOTE: &str = "note";

/// The entry: what is stored on the chain.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Note {
    pub title: String,
    pub body: String,
}

#[derive(Deserialize)]
pub struct CreateNoteInput {
    pub title: String,
    pub body: String,
}

#[derive(Deserialize)]
pub struct UpdateNoteInput {
    /// Any version of the note (usually the latest).
    pub original: ActionHash,
    pub title: String,
    pub body: String,
}

/// A note as `get_note` returns it.
#[derive(Serialize)]
pub struct NoteDetail {
    /// The latest version's action hash.
    pub hash: ActionHash,
    /// The action hash of the note's create.
    pub original: ActionHash,
    pub title: String,
    pub body: String,
    /// When the note was created (µs since the Unix epoch).
    pub created_at: i64,
    /// When the latest version was written (µs since the Unix epoch).
    pub updated_at: i64,
}

/// A note as `list_notes` returns it.
#[derive(Serialize)]
pub struct NoteView {
    pub hash: ActionHash,
    pub title: String,
    pub body: String,
}

#[derive(Serialize)]
struct NoteCreatedSignal<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    hash: &'a ActionHash,
    title: &'a str,
    body: &'a str,
}

pub fn create_note(input: CreateNoteInput) -> ExternResult<ActionHash> {
    let note = Note {
        title: input.title,
        body: input.body,
    };
    let hash = create(NOTE, &note)?;
    emit_signal(&NoteCreatedSignal {
        kind: "note_created",
        hash: &hash,
        title: &note.title,
        body: &note.body,
    })?;
    Ok(hash)
}

pub fn get_note(hash: ActionHash) -> ExternResult<Option<NoteDetail>> {
    let index = NoteIndex::load()?;
    Ok(index.latest_of(&hash).map(|(root, latest)| {
        let (created_at, updated_at) = (index.versions[root].timestamp, latest.timestamp);
        NoteDetail {
            hash: latest.hash.clone(),
            original: root.clone(),
            title: latest.note.title.clone(),
            body: latest.note.body.clone(),
            created_at,
            updated_at,
        }
    }))
}

pub fn update_note(input: UpdateNoteInput) -> ExternResult<ActionHash> {
    let index = NoteIndex::load()?;
    if index.latest_of(&input.original).is_none() {
        return Err(WasmError::new(
            "NotFound",
            format!("no live note with version {}", input.original),
        ));
    }
    update(
        input.original,
        NOTE,
        &Note {
            title: input.title,
            body: input.body,
        },
    )
}

pub fn delete_note(hash: ActionHash) -> ExternResult<ActionHash> {
    let index = NoteIndex::load()?;
    if index.latest_of(&hash).is_none() {
        return Err(WasmError::new(
            "NotFound",
            format!("no live note with version {}", hash),
        ));
    }
    delete(hash)
}

pub fn list_notes() -> ExternResult<Vec<NoteView>> {
    let index = NoteIndex::load()?;
    let mut out = Vec::new();
    for root in index.roots.iter() {
        if let Some((_, latest)) = index.latest_of(root) {
            out.push(NoteView {
                hash: latest.hash.clone(),
                title: latest.note.title.clone(),
                body: latest.note.body.clone(),
            });
        }
    }
    Ok(out)
}

zome_fns!(create_note, get_note, update_note, delete_note, list_notes);

// ---------------------------------------------------------------------------------------------
// The index of notes, rebuilt from the chain on each call (chains are small and local).

struct Version {
    hash: ActionHash,
    seq: u32,
    timestamp: i64,
    /// The version this one updates (`None` for the create).
    updates: Option<ActionHash>,
    note: Note,
}

/// One note: its create and the state of its history.
struct NoteState {
    /// The latest version (highest sequence number).
    latest: ActionHash,
    /// Some version of the note was deleted.
    deleted: bool,
}

struct NoteIndex {
    versions: BTreeMap<ActionHash, Version>,
    /// For every version: the create it descends from.
    root: BTreeMap<ActionHash, ActionHash>,
    /// Creates in chain order.
    roots: Vec<ActionHash>,
    notes: BTreeMap<ActionHash, NoteState>,
}

impl NoteIndex {
    fn load() -> ExternResult<Self> {
        // Ascending chain order: a version always comes after the one it updates.
        let records = query(ChainQueryFilter::new().entry_type(NOTE).include_entries(true))?;
        let mut versions = BTreeMap::new();
        let mut root = BTreeMap::new();
        let mut roots = Vec::new();
        let mut notes: BTreeMap<ActionHash, NoteState> = BTreeMap::new();
        for record in records {
            let updates = match record.action.action_type {
                ActionType::Create => None,
                ActionType::Update => record.action.original_action_address.clone(),
                _ => continue,
            };
            let note: Note = match record.entry_as()? {
                Some(note) => note,
                None => continue,
            };
            let hash = record.action_hash;
            let note_root = match &updates {
                None => {
                    roots.push(hash.clone());
                    hash.clone()
                }
                Some(previous) => match root.get(previous) {
                    Some(r) => ActionHash::clone(r),
                    // An update of something that is not a note: not part of any note.
                    None => continue,
                },
            };
            let seq = record.action.action_seq;
            let state = notes.entry(note_root.clone()).or_insert_with(|| NoteState {
                latest: hash.clone(),
                deleted: false,
            });
            if versions
                .get(&state.latest)
                .map_or(true, |v: &Version| seq >= v.seq)
            {
                state.latest = hash.clone();
            }
            root.insert(hash.clone(), note_root);
            versions.insert(
                hash.clone(),
                Version {
                    hash,
                    seq,
                    timestamp: record.action.timestamp,
                    updates,
                    note,
                },
            );
        }
        for delete in query(ChainQueryFilter::new().action_type(ActionType::Delete))? {
            let target = delete.action.deletes_address.as_ref();
            if let Some(note_root) = target.and_then(|t| root.get(t)) {
                if let Some(state) = notes.get_mut(note_root) {
                    state.deleted = true;
                }
            }
        }
        Ok(NoteIndex {
            versions,
            root,
            roots,
            notes,
        })
    }

    /// For any version of a live note: its create and its latest version. `None` if there is
    /// no such note or one of its versions was deleted.
    fn latest_of(&self, hash: &ActionHash) -> Option<(&ActionHash, &Version)> {
        let (root, state) = self.notes.get_key_value(self.root.get(hash)?)?;
        if state.deleted {
            return None;
        }
        let latest = self.versions.get(&state.latest)?;
        debug_assert!(latest.updates.is_some() || &latest.hash == root);
        Some((root, latest))
    }
}
