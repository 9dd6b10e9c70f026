//! messenger: private, off-the-record messages between agents (the node-to-node messaging seed).
//!
//! Nothing is ever written for a message: not on the sender's chain, not on the recipient's,
//! not on any shared store. A message is a remote call into the recipient's
//! `receive_message`, which hands it to the recipient's UI as a signal and answers with a
//! receipt; the sender gets that receipt — or the failure (`NetworkError` when the recipient
//! is offline) — as the result of `send_message`. The only writes of this zome are the ones
//! `init` makes once per agent: one unrestricted grant that lets anyone reach the inbox.
//!
//! The text travels encrypted end to end at the zome level too, on top of the conductors'
//! Noise sessions: `send_message` seals it for the recipient with `box_encrypt` (X25519 +
//! XSalsa20-Poly1305 between the two agent keys, held by each conductor's keystore: the
//! zome never sees a secret key), and `receive_message` opens it with `box_decrypt`, which
//! also proves the caller sealed it. A relay or a peer conductor sees only ciphertext.
//!
//! | function | caller | input | output |
//! |---|---|---|---|
//! | `send_message` | the sender's UI | `{to, text}` | `{"Ok": {received_at}}` or the failure: `{"NetworkError": msg}`, `{"Unauthorized": {…}}`, `{"AuthenticationFailed": msg}`, `{"CallError": msg}` |
//! | `receive_message` | anyone (unrestricted) | `{sealed, sent_at}` (`sealed`: the text boxed for the recipient by the caller) | `{received_at}` |
//! | `ping_agent` | the sender's UI | agent | `{"Ok": {reply, timestamp, round_trip_us}}` or the failure as above |
//! | `ping` | anyone (unrestricted) | nil | `{reply: "pong", timestamp}` |
//! | `nudge` | the sender's UI | `{to: [agent], text}` | nil (fire and forget: a remote signal) |
//! | `recv_remote_signal` | anyone (unrestricted) | the nudge | — |
//! | `send_to_each` | the sender's UI | `{to: [agent], text}` | `[{to, delivery}]`, each delivery as `send_message`'s |
//! | `create_room` | the inviter's UI | `{name, members: [agent]}` | `{cell_id, clone_id, name, network_seed, invited: [{to, delivery}]}` |
//! | `receive_invitation` | anyone (unrestricted) | `{sealed, sent_at}` (the invitation boxed for the invitee) | `{received_at}` |
//! | `join_room` | the invitee's UI | `{name, network_seed}` | the room's `ClonedCell` |
//!
//! Signals to the recipient's UI: `{"type": "message", "from", "text", "sent_at",
//! "received_at"}`, `{"type": "nudge", "from", "text"}` and `{"type": "invitation", "from",
//! "name", "network_seed", "members"}`.
//!
//! **Private rooms** are clone cells: a room is this DNA cloned with a fresh random network
//! seed, so its DNA hash — its network — is its own, and only the agents who know the seed
//! can join it. `create_room` (on the main cell) clones the cell with `create_clone_cell`
//! and sends the seed to each member over the private messages above, sealed for them;
//! a member's UI then joins with `join_room` (or the client API's `createCloneCell`): the
//! invitation itself cannot make the clone, since it arrives through a grant and only the
//! cell's author may create clones. In a room cell, `send_message` and `send_to_each`
//! reach only the room's members: the call goes to the recipient's cell of the room's DNA,
//! which a non-member does not have (`NetworkError`). Nothing is written for a room either,
//! besides the clone's own genesis and its `init` grant.

use serde::{Deserialize, Serialize};
use zomehost_sdk::prelude::*;

const RECEIVE_MESSAGE: &str = "receive_message";
const PING: &str = "ping";
const RECV_REMOTE_SIGNAL: &str = "recv_remote_signal";
const RECEIVE_INVITATION: &str = "receive_invitation";
const ROOM_SEED_BYTES: u32 = 16;

fn this_zome() -> ExternResult<String> {
    Ok(zome_info()?.name)
}

/// Open the inbox, the ping and the signal callback to every agent of the DNA.
fn init() -> ExternResult<InitCallbackResult> {
    let zome = this_zome()?;
    create_cap_grant(ZomeCallCapGrant {
        tag: "anyone may message me".into(),
        access: CapAccess::Unrestricted,
        functions: GrantedFunctions::listed(&[
            (zome.as_str(), RECEIVE_MESSAGE),
            (zome.as_str(), PING),
            (zome.as_str(), RECV_REMOTE_SIGNAL),
            (zome.as_str(), RECEIVE_INVITATION),
        ]),
    })?;
    Ok(InitCallbackResult::Pass)
}

/// Why the callee's conductor refused a call (the `Unauthorized` of a `ZomeCallResponse`).
#[derive(Serialize)]
struct Refusal {
    zome_name: String,
    fn_name: String,
    cell_id: CellId,
    provenance: AgentPubKey,
    reason: String,
}

/// The outcome of a remote call, with the callee's value decoded on success and every
/// failure passed through as the conductor reported it (same wire shape as
/// `ZomeCallResponse`: `{"Ok": value}`, `{"Unauthorized": {…}}`, `{"NetworkError": msg}`, …).
#[derive(Serialize)]
enum Delivery<T> {
    Ok(T),
    Unauthorized(Refusal),
    AuthenticationFailed(String),
    NetworkError(String),
    CallError(String),
}

impl<T> Delivery<T> {
    /// Transform the delivered value; failures pass through unchanged.
    fn map<U>(self, f: impl FnOnce(T) -> U) -> Delivery<U> {
        match self {
            Delivery::Ok(value) => Delivery::Ok(f(value)),
            Delivery::Unauthorized(refusal) => Delivery::Unauthorized(refusal),
            Delivery::AuthenticationFailed(m) => Delivery::AuthenticationFailed(m),
            Delivery::NetworkError(m) => Delivery::NetworkError(m),
            Delivery::CallError(m) => Delivery::CallError(m),
        }
    }
}

impl<T: serde::de::DeserializeOwned> Delivery<T> {
    fn from_response(response: ZomeCallResponse) -> ExternResult<Self> {
        Ok(match response {
            ZomeCallResponse::Ok(bytes) => Delivery::Ok(bytes.decode()?),
            ZomeCallResponse::Unauthorized {
                zome_name,
                fn_name,
                cell_id,
                provenance,
                reason,
            } => Delivery::Unauthorized(Refusal {
                zome_name,
                fn_name,
                cell_id,
                provenance,
                reason,
            }),
            ZomeCallResponse::AuthenticationFailed(m) => Delivery::AuthenticationFailed(m),
            ZomeCallResponse::NetworkError(m) => Delivery::NetworkError(m),
            ZomeCallResponse::CallError(m) => Delivery::CallError(m),
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Messages

#[derive(Deserialize)]
struct SendInput {
    to: AgentPubKey,
    text: String,
}

/// A message on the wire: the UTF-8 text sealed by the sender for the recipient.
#[derive(Serialize, Deserialize)]
struct Message {
    sealed: Bytes,
    sent_at: Timestamp,
}

#[derive(Serialize, Deserialize)]
struct Receipt {
    received_at: Timestamp,
}

/// Send `text` to `to`, directly and privately; wait for their receipt.
fn send_message(input: SendInput) -> ExternResult<Delivery<Receipt>> {
    let zome = this_zome()?;
    let message = Message {
        sealed: box_encrypt(&input.to, input.text.as_bytes())?,
        sent_at: sys_time()?,
    };
    let response = call_remote(input.to, &zome, RECEIVE_MESSAGE, None, &message, None)?;
    Delivery::from_response(response)
}

#[derive(Serialize)]
struct MessageSignal<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    from: &'a AgentPubKey,
    text: &'a str,
    sent_at: Timestamp,
    received_at: Timestamp,
}

/// The inbox (anyone may call it). The message goes to the UI as a signal and nowhere else;
/// one the caller did not seal for this agent is refused.
fn receive_message(message: Message) -> ExternResult<Receipt> {
    let from = call_info()?.provenance;
    let opened = box_decrypt(&from, &message.sealed)?.ok_or_else(|| {
        WasmError::new("InvalidInput", "the message was not sealed for me by its sender")
    })?;
    let text = String::from_utf8(opened.0)
        .map_err(|_| WasmError::new("InvalidInput", "the message text is not UTF-8"))?;
    let received_at = sys_time()?;
    emit_signal(&MessageSignal {
        kind: "message",
        from: &from,
        text: &text,
        sent_at: message.sent_at,
        received_at,
    })?;
    Ok(Receipt { received_at })
}

#[derive(Deserialize)]
struct SendEachInput {
    to: Vec<AgentPubKey>,
    text: String,
}

/// The outcome of sending to one agent.
#[derive(Serialize)]
struct Sent {
    to: AgentPubKey,
    delivery: Delivery<Receipt>,
}

/// Send `text` to each of `to` (in a room: to each member's cell of the room).
fn send_to_each(input: SendEachInput) -> ExternResult<Vec<Sent>> {
    let mut out = Vec::with_capacity(input.to.len());
    for to in input.to {
        let delivery = send_message(SendInput {
            to: to.clone(),
            text: input.text.clone(),
        })?;
        out.push(Sent { to, delivery });
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Private rooms: clones of this DNA with their own network seed

#[derive(Deserialize)]
struct CreateRoomInput {
    name: String,
    members: Vec<AgentPubKey>,
}

/// What an invitee needs to join: the room's seed (sealed for them on the wire).
#[derive(Serialize, Deserialize)]
struct Invitation {
    name: String,
    network_seed: String,
    members: Vec<AgentPubKey>,
}

#[derive(Serialize)]
struct Room {
    cell_id: CellId,
    clone_id: String,
    name: String,
    network_seed: String,
    invited: Vec<Sent>,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{:02x}", b)).collect()
}

/// Make a room (a clone of this cell with a fresh random network seed) and invite `members`
/// over private messages; each invitation's delivery comes back as `send_message`'s does.
fn create_room(input: CreateRoomInput) -> ExternResult<Room> {
    let me = agent_info()?.agent_initial_pubkey;
    let network_seed = format!("room-{}", hex(&random_bytes(ROOM_SEED_BYTES)?.0));
    let room = create_clone_cell(CreateCloneCellInput {
        cell_id: CellId(dna_info()?.hash, me.clone()),
        modifiers: DnaModifiersOpt {
            network_seed: Some(network_seed.clone()),
            properties: None,
        },
        membrane_proof: None,
        name: Some(input.name.clone()),
    })?;
    let mut everyone = vec![me];
    everyone.extend(input.members.iter().cloned());
    let invitation = encode(&Invitation {
        name: input.name.clone(),
        network_seed: network_seed.clone(),
        members: everyone,
    })?;
    let zome = this_zome()?;
    let mut invited = Vec::with_capacity(input.members.len());
    for to in input.members {
        let sealed = Message {
            sealed: box_encrypt(&to, &invitation)?,
            sent_at: sys_time()?,
        };
        let response = call_remote(to.clone(), &zome, RECEIVE_INVITATION, None, &sealed, None)?;
        invited.push(Sent {
            to,
            delivery: Delivery::from_response(response)?,
        });
    }
    Ok(Room {
        cell_id: room.cell_id,
        clone_id: room.clone_id,
        name: input.name,
        network_seed,
        invited,
    })
}

#[derive(Serialize)]
struct InvitationSignal<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    from: &'a AgentPubKey,
    name: &'a str,
    network_seed: &'a str,
    members: &'a [AgentPubKey],
}

/// An invitation (anyone may send one): it goes to the UI, which may join the room. Joining
/// is the invitee's own call: a zome reached through a grant cannot create clones.
fn receive_invitation(message: Message) -> ExternResult<Receipt> {
    let from = call_info()?.provenance;
    let opened = box_decrypt(&from, &message.sealed)?.ok_or_else(|| {
        WasmError::new("InvalidInput", "the invitation was not sealed for me by its sender")
    })?;
    let invitation: Invitation = opened.decode()?;
    emit_signal(&InvitationSignal {
        kind: "invitation",
        from: &from,
        name: &invitation.name,
        network_seed: &invitation.network_seed,
        members: &invitation.members,
    })?;
    Ok(Receipt {
        received_at: sys_time()?,
    })
}

#[derive(Deserialize)]
struct JoinRoomInput {
    name: String,
    network_seed: String,
}

/// Join a room: the same clone as the inviter's (same seed, so the same DNA and network).
fn join_room(input: JoinRoomInput) -> ExternResult<ClonedCell> {
    let me = agent_info()?.agent_initial_pubkey;
    create_clone_cell(CreateCloneCellInput {
        cell_id: CellId(dna_info()?.hash, me),
        modifiers: DnaModifiersOpt {
            network_seed: Some(input.network_seed),
            properties: None,
        },
        membrane_proof: None,
        name: Some(input.name),
    })
}

// ---------------------------------------------------------------------------------------------
// Ping

#[derive(Serialize, Deserialize)]
struct Pong {
    reply: String,
    timestamp: Timestamp,
}

/// Anyone may ping: the answer is "pong" and this agent's clock.
fn ping() -> ExternResult<Pong> {
    Ok(Pong {
        reply: "pong".into(),
        timestamp: sys_time()?,
    })
}

#[derive(Serialize)]
struct PingResult {
    reply: String,
    timestamp: Timestamp,
    round_trip_us: i64,
}

/// Ping another agent and time the round trip.
fn ping_agent(agent: AgentPubKey) -> ExternResult<Delivery<PingResult>> {
    let zome = this_zome()?;
    let started = sys_time()?;
    let response = call_remote(agent, &zome, PING, None, &(), None)?;
    let round_trip_us = sys_time()? - started;
    Ok(
        Delivery::<Pong>::from_response(response)?.map(|pong| PingResult {
            reply: pong.reply,
            timestamp: pong.timestamp,
            round_trip_us,
        }),
    )
}

// ---------------------------------------------------------------------------------------------
// Nudges: fire-and-forget remote signals

#[derive(Deserialize)]
struct NudgeInput {
    to: Vec<AgentPubKey>,
    text: String,
}

#[derive(Serialize, Deserialize)]
struct Nudge {
    text: String,
}

/// Send a remote signal to each of `to`; nothing waits for an answer.
fn nudge(input: NudgeInput) -> ExternResult<()> {
    send_remote_signal(input.to, &Nudge { text: input.text })
}

#[derive(Serialize)]
struct NudgeSignal<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    from: &'a AgentPubKey,
    text: &'a str,
}

fn recv_remote_signal(payload: Bytes) -> ExternResult<()> {
    let from = call_info()?.provenance;
    let nudge: Nudge = payload.decode()?;
    emit_signal(&NudgeSignal {
        kind: "nudge",
        from: &from,
        text: &nudge.text,
    })
}

zome_fns!(
    init,
    send_message,
    receive_message,
    ping,
    ping_agent,
    nudge,
    recv_remote_signal,
    send_to_each,
    create_room,
    receive_invitation,
    join_room,
);
