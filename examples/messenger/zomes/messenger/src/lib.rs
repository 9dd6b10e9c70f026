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
//!
//! Signals to the recipient's UI: `{"type": "message", "from", "text", "sent_at",
//! "received_at"}` and `{"type": "nudge", "from", "text"}`.

use serde::{Deserialize, Serialize};
use zomehost_sdk::prelude::*;

const RECEIVE_MESSAGE: &str = "receive_message";
const PING: &str = "ping";
const RECV_REMOTE_SIGNAL: &str = "recv_remote_signal";

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
);
