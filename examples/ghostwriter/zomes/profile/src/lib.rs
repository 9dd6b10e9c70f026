//! profile: an author's card (display name and bio), in its own DNA next to the blog.
//!
//! The blog zome of the same app reaches it by **bridge calls** — `call(CallTarget::Role(
//! "profile"), …)`, a cell calling another cell of the same agent — which lock both cells'
//! chains for the call (docs/capabilities.md, "Bridge calls lock both chains"). Only the
//! agent itself (its other cells, its own clients) may call it: there are no grants.
//!
//! | function | input | output |
//! |---|---|---|
//! | `set_profile` | `{name, bio}` | action hash of the profile entry |
//! | `get_profile` | nil | `{name, bio}` or nil (the newest one written) |

use serde::{Deserialize, Serialize};
use zomehost_sdk::prelude::*;

/// Entry type of the cards (on this DNA's chain only).
pub const PROFILE: &str = "profile";

/// An author's card.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Profile {
    pub name: String,
    pub bio: String,
}

/// Write a new card; the newest one is the profile.
fn set_profile(profile: Profile) -> ExternResult<ActionHash> {
    if profile.name.trim().is_empty() {
        return Err(WasmError::new("InvalidInput", "a profile needs a name"));
    }
    create(PROFILE, &profile)
}

/// The newest card, or nil before the first `set_profile`.
fn get_profile() -> ExternResult<Option<Profile>> {
    let newest = query(ChainQueryFilter {
        entry_type: Some(vec![PROFILE.into()]),
        include_entries: true,
        descending: true,
        ..Default::default()
    })?;
    match newest.first() {
        Some(record) => record.entry_as(),
        None => Ok(None),
    }
}

zome_fns!(set_profile, get_profile);
