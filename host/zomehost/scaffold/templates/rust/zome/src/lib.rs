//! {{zome_name}}: a zomehost zome in Rust (scaffolded by `zomehost new`).
//!
//! | function | input | output |
//! |---|---|---|
//! | `hello` | a name (string) | `"Hello, <name>"` |
//! | `create_note` | the note's text (string) | the action hash of the new note |
//! | `list_notes` | nothing | `[{hash, text}]`: every note on your chain, oldest first |
//! | `send_note` | `{to: agent, text}` | `true` when the agent's conductor took it, `false` when it is offline |
//! | `receive_note` | the text (anyone may call it) | nothing; the UI gets the signal `{type: "note", from, text}` |
//!
//! `init` runs once per agent, before its first call: it grants `receive_note` to everyone.
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

/// The function other agents call to send a note (granted to everyone by `init`).
const RECEIVE_NOTE: &str = "receive_note";

/// Runs once per agent: anyone may send this agent a note.
fn init() -> ExternResult<InitCallbackResult> {
    let zome = zome_info()?.name;
    create_cap_grant(ZomeCallCapGrant {
        tag: "anyone may send me notes".into(),
        access: CapAccess::Unrestricted,
        functions: GrantedFunctions::listed(&[(zome.as_str(), RECEIVE_NOTE)]),
    })?;
    Ok(InitCallbackResult::Pass)
}

#[derive(Deserialize)]
struct SendNote {
    to: AgentPubKey,
    text: String,
}

/// Sends `text` to another agent (a remote call into their `receive_note`): nothing is
/// written on either chain. `false` when their conductor cannot be reached.
fn send_note(input: SendNote) -> ExternResult<bool> {
    let zome = zome_info()?.name;
    match call_remote(input.to, &zome, RECEIVE_NOTE, None, &input.text, None)? {
        ZomeCallResponse::Ok(_) => Ok(true),
        ZomeCallResponse::NetworkError(_) => Ok(false),
        refused => Err(WasmError::guest(format!("receive_note failed: {:?}", refused))),
    }
}

/// What the recipient's UI gets for a note.
#[derive(Serialize)]
struct NoteSignal {
    #[serde(rename = "type")]
    kind: &'static str,
    from: AgentPubKey,
    text: String,
}

/// Called by other agents: hands the note to this agent's UI as a signal.
fn receive_note(text: String) -> ExternResult<()> {
    let from = call_info()?.provenance;
    emit_signal(&NoteSignal {
        kind: "note",
        from,
        text,
    })
}

// Export the functions as zome functions, under their own names.
zome_fns!(init, hello, create_note, list_notes, send_note, receive_note);
