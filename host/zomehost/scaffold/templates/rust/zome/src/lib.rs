//! {{zome_name}}: a zomehost zome in Rust (scaffolded by `zomehost new`).
//!
//! | function | input | output |
//! |---|---|---|
//! | `hello` | a name (string) | `"Hello, <name>"` |
//! | `create_note` | the note's text (string) | the action hash of the new note |
//! | `list_notes` | nothing | `[{hash, text}]`: every note on your chain, oldest first |
//!
//! Build with `zomehost build` at the app's root. The SDK's API is described in
//! {{sdk_rust}}/README.md.

use serde::{Deserialize, Serialize};
use zomehost_sdk::prelude::*;

/// The entry type of notes on the source chain.
const NOTE: &str = "note";

/// What a note entry holds on the chain.
#[derive(Serialize, Deserialize)]
struct Note {
    text: String,
}

/// A note as `list_notes` returns it.
#[derive(Serialize)]
struct NoteView {
    hash: ActionHash,
    text: String,
}

/// `hello("world")` -> `"Hello, world"`
fn hello(name: String) -> ExternResult<String> {
    Ok(format!("Hello, {}", name))
}

/// Writes a `note` entry on the agent's source chain and returns its action hash.
fn create_note(text: String) -> ExternResult<ActionHash> {
    if text.is_empty() {
        return Err(WasmError::guest("a note needs some text"));
    }
    create(NOTE, &Note { text })
}

/// Every note on the agent's source chain, oldest first.
fn list_notes() -> ExternResult<Vec<NoteView>> {
    let records = query(
        ChainQueryFilter::new()
            .entry_type(NOTE)
            .include_entries(true),
    )?;
    let mut notes = Vec::new();
    for record in records {
        if let Some(note) = record.entry_as::<Note>()? {
            notes.push(NoteView {
                hash: record.action_hash,
                text: note.text,
            });
        }
    }
    Ok(notes)
}

// Export the functions as zome functions, under their own names.
zome_fns!(hello, create_note, list_notes);
