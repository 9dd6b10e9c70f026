//! blog: the ghost-writer blog of the calls-and-capabilities seed.
//!
//! Alice is an authority on octopi; Bob writes articles for her. Alice gives Bob an
//! **assigned** capability to call her `publish_post`, hands him the secret by remote-calling
//! his `receive_publish_post_permission` (which every agent opens to everyone with an
//! **unrestricted** grant written by `init`), and Bob's `publish_as` then remote-calls Alice's
//! `publish_post` with that secret: the post lands on Alice's chain, authored by Alice.
//!
//! | function | caller | input | output |
//! |---|---|---|---|
//! | `publish_post` | the author, or a holder of a grant | `{title, body}` | action hash of the post |
//! | `grant_publish_permission` | the grantor (Alice's UI) | `{ghost_writer, memo}` | `{grant_hash, secret}` |
//! | `receive_publish_post_permission` | anyone (unrestricted) | `{secret, memo}` | action hash of the claim |
//! | `get_publish_post_permissions` | the ghost writer's UI | nil | `[{claim_hash, grantor, memo}]` |
//! | `save_draft` | the ghost writer | `{title, body}` | action hash of the draft |
//! | `list_drafts` | anyone with access | nil | `[{hash, title, body}]` |
//! | `publish_as` | the ghost writer | `{draft, claim}` | `{"Ok": post hash}` or the failure, passed through: `{"Unauthorized": {…, reason}}`, `{"NetworkError": msg}`, `{"AuthenticationFailed": msg}`, `{"CallError": msg}` |
//! | `list_posts` | anyone with access | nil | `[{hash, title, body, author, published_at}]` |
//! | `list_my_grants` | the grantor | nil | `[{grant_hash, memo, ghost_writers, revoked}]` |
//! | `revoke_publish_permission` | the grantor | grant action hash | action hash of the delete |
//! | `set_author_profile` | the author | `{name, bio}` | action hash of the card on the **profile** cell |
//! | `author_profile` | the author | nil | `{name, bio}` or nil, from the **profile** cell |
//!
//! The author's card lives in a second DNA of the app (role `profile`, zome `profile`): the
//! last two functions, and `publish_post` for its signal's `byline`, reach it by **bridge
//! calls** (`call(CallTarget::Role("profile"), …)`): a call between two cells of the same
//! agent, which holds both cells' chain locks while it runs (docs/capabilities.md).
//!
//! Signals to the local UI:
//! * `{"type": "permission_received", "grantor", "memo", "claim_hash"}` (ghost writer's side),
//! * `{"type": "post_published", "hash", "title", "published_by", "byline"}` (the author's
//!   side; `published_by` is who made the call: the author or a ghost writer; `byline` the
//!   author's profile name, or nil before they set one).

use serde::{Deserialize, Serialize};
use zomehost_sdk::prelude::*;

/// Entry type of published posts (on the author's chain).
pub const POST: &str = "post";
/// Entry type of drafts (on the ghost writer's own chain, never published).
pub const DRAFT: &str = "draft";
/// The function others are granted access to.
pub const PUBLISH_POST: &str = "publish_post";
/// The function everyone may call to hand over a secret.
pub const RECEIVE_PERMISSION: &str = "receive_publish_post_permission";

/// A post or a draft, as stored on the chain.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Post {
    pub title: String,
    pub body: String,
}

// ---------------------------------------------------------------------------------------------
// Setup: open `receive_publish_post_permission` to everyone.

fn this_zome() -> ExternResult<String> {
    Ok(zome_info()?.name)
}

/// "This function is given an unrestricted capability at app install time, so anyone can
/// call anyone else's." `init` runs once per cell, before its first call.
fn init() -> ExternResult<InitCallbackResult> {
    let zome = this_zome()?;
    create_cap_grant(ZomeCallCapGrant {
        tag: "anyone may hand me a publishing permission".into(),
        access: CapAccess::Unrestricted,
        functions: GrantedFunctions::listed(&[(zome.as_str(), RECEIVE_PERMISSION)]),
    })?;
    Ok(InitCallbackResult::Pass)
}

// ---------------------------------------------------------------------------------------------
// The author's side

#[derive(Serialize)]
struct PostPublishedSignal<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    hash: &'a ActionHash,
    title: &'a str,
    published_by: &'a AgentPubKey,
    byline: Option<String>,
}

/// Write a post on this cell's chain. Called by the author's own UI, or remotely by a ghost
/// writer holding a grant: either way the post is the callee's, authored and signed by them.
fn publish_post(post: Post) -> ExternResult<ActionHash> {
    let caller = call_info()?.provenance;
    let hash = create(POST, &post)?;
    emit_signal(&PostPublishedSignal {
        kind: "post_published",
        hash: &hash,
        title: &post.title,
        published_by: &caller,
        byline: author_profile()?.map(|p| p.name),
    })?;
    Ok(hash)
}

#[derive(Deserialize)]
struct GrantInput {
    ghost_writer: AgentPubKey,
    memo: String,
}

#[derive(Serialize)]
struct GrantOutput {
    grant_hash: ActionHash,
    secret: CapSecret,
}

#[derive(Serialize)]
struct PermissionPayload<'a> {
    secret: &'a CapSecret,
    memo: &'a str,
}

/// Alice's UI: grant `ghost_writer` an assigned capability to call `publish_post`, then hand
/// them the secret by remote-calling their `receive_publish_post_permission`.
///
/// If the hand-over fails (they are offline, or refused it) this call fails and nothing is
/// written: no grant is left behind whose secret nobody holds.
fn grant_publish_permission(input: GrantInput) -> ExternResult<GrantOutput> {
    let me = agent_info()?.agent_initial_pubkey;
    if input.ghost_writer == me {
        return Err(WasmError::new(
            "InvalidInput",
            "you can publish your own posts: no permission needed",
        ));
    }
    let zome = this_zome()?;
    let secret = generate_cap_secret()?;
    let grant_hash = create_cap_grant(ZomeCallCapGrant {
        tag: input.memo.clone(),
        access: CapAccess::Assigned {
            secret: secret.clone(),
            assignees: vec![input.ghost_writer.clone()],
        },
        functions: GrantedFunctions::listed(&[(zome.as_str(), PUBLISH_POST)]),
    })?;
    let response = call_remote(
        input.ghost_writer.clone(),
        &zome,
        RECEIVE_PERMISSION,
        None,
        &PermissionPayload {
            secret: &secret,
            memo: &input.memo,
        },
        None,
    )?;
    match response {
        ZomeCallResponse::Ok(_) => Ok(GrantOutput { grant_hash, secret }),
        other => Err(WasmError::new(
            "CallError",
            format!(
                "could not hand the permission to {}: {}",
                input.ghost_writer,
                describe_failure(&other)
            ),
        )),
    }
}

#[derive(Serialize)]
struct GrantView {
    grant_hash: ActionHash,
    memo: String,
    ghost_writers: Vec<AgentPubKey>,
    revoked: bool,
}

/// The publishing permissions this agent has given (revoked ones too, flagged).
fn list_my_grants() -> ExternResult<Vec<GrantView>> {
    let zome = this_zome()?;
    let publish = (zome, PUBLISH_POST.to_string());
    let mut out = Vec::new();
    for record in capability_grants(true)? {
        // Only the grants `grant_publish_permission` writes: listed, naming publish_post.
        // (A client's signing-key grant covers All functions: it is not a ghost writer.)
        let covers_publish = match &record.grant.functions {
            GrantedFunctions::All => false,
            GrantedFunctions::Listed(pairs) => pairs.contains(&publish),
        };
        if !covers_publish {
            continue;
        }
        let ghost_writers = match &record.grant.access {
            CapAccess::Assigned { assignees, .. } => assignees.clone(),
            _ => Vec::new(),
        };
        out.push(GrantView {
            grant_hash: record.action_hash,
            memo: record.grant.tag,
            ghost_writers,
            revoked: record.revoked,
        });
    }
    Ok(out)
}

/// Alice's UI: withdraw a permission. From now on the secret no longer authorizes anything.
fn revoke_publish_permission(grant_hash: ActionHash) -> ExternResult<ActionHash> {
    let live = capability_grants(false)?;
    if !live.iter().any(|g| g.action_hash == grant_hash) {
        return Err(WasmError::new(
            "NotFound",
            format!("no live grant {} on this chain", grant_hash),
        ));
    }
    delete_cap_grant(grant_hash)
}

#[derive(Serialize)]
struct PostView {
    hash: ActionHash,
    title: String,
    body: String,
    author: AgentPubKey,
    published_at: Timestamp,
}

/// The posts on this agent's chain, oldest first.
fn list_posts() -> ExternResult<Vec<PostView>> {
    let records = query(ChainQueryFilter::new().entry_type(POST).include_entries(true))?;
    let mut out = Vec::new();
    for record in records {
        if let Some(post) = record.entry_as::<Post>()? {
            out.push(PostView {
                hash: record.action_hash.clone(),
                title: post.title,
                body: post.body,
                author: record.action.author.clone(),
                published_at: record.action.timestamp,
            });
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// The ghost writer's side

#[derive(Deserialize)]
struct ReceiveInput {
    secret: CapSecret,
    memo: String,
}

#[derive(Serialize)]
struct PermissionReceivedSignal<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    grantor: &'a AgentPubKey,
    memo: &'a str,
    claim_hash: &'a ActionHash,
}

/// Called remotely by a grantor (anyone may: unrestricted). Stores the secret as a capability
/// claim — grantor = the caller, as the conductor authenticated it — and tells the UI.
fn receive_publish_post_permission(input: ReceiveInput) -> ExternResult<ActionHash> {
    let grantor = call_info()?.provenance;
    let claim_hash = create_cap_claim(CapClaim {
        tag: input.memo.clone(),
        grantor: grantor.clone(),
        secret: input.secret,
    })?;
    emit_signal(&PermissionReceivedSignal {
        kind: "permission_received",
        grantor: &grantor,
        memo: &input.memo,
        claim_hash: &claim_hash,
    })?;
    Ok(claim_hash)
}

#[derive(Serialize)]
struct PermissionView {
    claim_hash: ActionHash,
    grantor: AgentPubKey,
    memo: String,
}

/// The "Publish As" dialog: every agent who has granted this one permission, with the memo.
fn get_publish_post_permissions() -> ExternResult<Vec<PermissionView>> {
    Ok(capability_claims(None, None)?
        .into_iter()
        .map(|c| PermissionView {
            claim_hash: c.action_hash,
            grantor: c.claim.grantor,
            memo: c.claim.tag,
        })
        .collect())
}

/// Keep a draft on this agent's own chain.
fn save_draft(draft: Post) -> ExternResult<ActionHash> {
    create(DRAFT, &draft)
}

#[derive(Serialize)]
struct DraftView {
    hash: ActionHash,
    title: String,
    body: String,
}

fn list_drafts() -> ExternResult<Vec<DraftView>> {
    let records = query(ChainQueryFilter::new().entry_type(DRAFT).include_entries(true))?;
    let mut out = Vec::new();
    for record in records {
        if let Some(draft) = record.entry_as::<Post>()? {
            out.push(DraftView {
                hash: record.action_hash,
                title: draft.title,
                body: draft.body,
            });
        }
    }
    Ok(out)
}

#[derive(Deserialize)]
struct PublishAsInput {
    draft: ActionHash,
    claim: ActionHash,
}

/// What `publish_as` returns: the outcome of the remote `publish_post`, with the post's hash
/// decoded on success and every failure passed through as the conductor reported it.
#[derive(Serialize)]
enum PublishAsResult {
    Ok(ActionHash),
    Unauthorized {
        zome_name: String,
        fn_name: String,
        cell_id: CellId,
        provenance: AgentPubKey,
        reason: String,
    },
    AuthenticationFailed(String),
    NetworkError(String),
    CallError(String),
}

/// Bob's "Publish" button: read the draft and the claim, and remote-call the grantor's
/// `publish_post` with the claim's secret.
fn publish_as(input: PublishAsInput) -> ExternResult<PublishAsResult> {
    let draft: Post = match get(input.draft.clone())? {
        Some(record) if record.entry_type() == Some(DRAFT) => record
            .entry_as()?
            .ok_or_else(|| WasmError::new("NotFound", "the draft has no entry"))?,
        _ => {
            return Err(WasmError::new(
                "NotFound",
                format!("no draft {} on this chain", input.draft),
            ))
        }
    };
    let claim = capability_claims(None, None)?
        .into_iter()
        .find(|c| c.action_hash == input.claim)
        .ok_or_else(|| {
            WasmError::new("NotFound", format!("no capability claim {}", input.claim))
        })?
        .claim;
    let zome = this_zome()?;
    let response = call_remote(
        claim.grantor,
        &zome,
        PUBLISH_POST,
        Some(claim.secret),
        &draft,
        None,
    )?;
    Ok(match response {
        ZomeCallResponse::Ok(bytes) => PublishAsResult::Ok(bytes.decode()?),
        ZomeCallResponse::Unauthorized {
            zome_name,
            fn_name,
            cell_id,
            provenance,
            reason,
        } => PublishAsResult::Unauthorized {
            zome_name,
            fn_name,
            cell_id,
            provenance,
            reason,
        },
        ZomeCallResponse::AuthenticationFailed(m) => PublishAsResult::AuthenticationFailed(m),
        ZomeCallResponse::NetworkError(m) => PublishAsResult::NetworkError(m),
        ZomeCallResponse::CallError(m) => PublishAsResult::CallError(m),
    })
}

// ---------------------------------------------------------------------------------------------
// The author's card, in the profile DNA: bridge calls

/// The role and zome of the profile DNA in this app (happ.yaml).
const PROFILE_ROLE: &str = "profile";
const PROFILE_ZOME: &str = "profile";

/// An author's card, as the profile zome stores it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Profile {
    pub name: String,
    pub bio: String,
}

/// Call `fn_name` of this agent's profile cell (a bridge call) and decode its result.
fn bridge<I: Serialize, O: serde::de::DeserializeOwned>(fn_name: &str, input: &I) -> ExternResult<O> {
    let target = CallTarget::Role(PROFILE_ROLE.into());
    match call(target, PROFILE_ZOME, fn_name, None, input)? {
        ZomeCallResponse::Ok(bytes) => bytes.decode(),
        failed => Err(WasmError::new(
            "CallError",
            format!("profile/{}: {}", fn_name, describe_failure(&failed)),
        )),
    }
}

/// Write the author's card on their profile cell (the profile chain, not the blog's).
fn set_author_profile(profile: Profile) -> ExternResult<ActionHash> {
    bridge("set_profile", &profile)
}

/// The author's card from their profile cell, or nil before they set one.
fn author_profile() -> ExternResult<Option<Profile>> {
    bridge("get_profile", &())
}

fn describe_failure(response: &ZomeCallResponse) -> String {
    match response {
        ZomeCallResponse::Ok(_) => "ok".into(),
        ZomeCallResponse::Unauthorized { reason, .. } => format!("Unauthorized: {}", reason),
        ZomeCallResponse::AuthenticationFailed(m) => format!("AuthenticationFailed: {}", m),
        ZomeCallResponse::NetworkError(m) => format!("NetworkError: {}", m),
        ZomeCallResponse::CallError(m) => format!("CallError: {}", m),
    }
}

zome_fns!(
    init,
    publish_post,
    grant_publish_permission,
    list_my_grants,
    revoke_publish_permission,
    list_posts,
    receive_publish_post_permission,
    get_publish_post_permissions,
    save_draft,
    list_drafts,
    publish_as,
    set_author_profile,
    author_profile,
);
