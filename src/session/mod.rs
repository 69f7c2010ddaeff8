//! The per-object session machine, in layers with one seam each:
//! - [`engine`]: Engine.IO transport sessions (polling, WebSocket, upgrade, heartbeat);
//! - [`socketio`]: namespaces, binary reassembly, what a packet means in the connection state;
//! - [`app`]: what the object does with connections and events; [`gateway`] is the product
//!   (authentication, prompts), [`history`] the user's prompt history, [`conformance`] the reference handlers of the protocol suites;
//! - [`ownership`]: one connection per user and its Redis mirror; [`gate`]: the handover of a
//!   session from a gate to its user's object;
//! - [`core`]: the services the layers share (the outbound emit path, the close path) and
//!   [`Hub`], which feeds inputs through the layers.
//!
//! Inputs are requests, frames, timers and results; outputs are [`Action`]s for the shell. No
//! I/O, no clock: `now` is passed in.

pub mod app;
pub mod conformance;
mod core;
pub mod deferred;
pub mod engine;
pub mod expiry;
pub mod gate;
pub mod gateway;
pub mod history;
mod hub;
mod hub_push;
mod hub_store;
pub mod ids;
mod metering;
pub mod ownership;
pub mod prompts;
pub mod push;
pub mod reason;
pub mod recovery;
pub mod socketio;
pub mod timers;

#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};

pub use self::core::{Changes, Core};
pub use engine::{EioSession, Poll, Transport, Upgrade};
pub use gate::{Forward, Handover};
pub use hub::Hub;
pub use ownership::{Current, HubState};
pub use prompts::RunStats;
pub use reason::CloseReason;
pub use socketio::{HttpAuth, NsSocket, SioSession};

use crate::auth::JwtSettings;
use crate::config::{Config, HistoryConfig, Mirror, PromptConfig, RecoveryConfig};
use crate::log::Line;
use crate::mirror;
use crate::prompt::Job;
use crate::protocol::engineio::{Frame, HttpError};

/// Randomness, injected so tests are deterministic.
pub trait Ids {
    fn fill(&mut self, buf: &mut [u8]);
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub ping_interval: u64,
    pub ping_timeout: u64,
    pub max_payload: u64,
    pub connect_timeout: u64,
    pub conformance: bool,
    pub jwt: JwtSettings,
    pub mirror_on: bool,
    pub key_prefix: String,
    pub key_ttl_secs: u64,
    pub max_sessions: u64,
    pub connect_rate_per_minute: u64,
    pub prompt: PromptConfig,
    pub history: HistoryConfig,
    pub recovery: RecoveryConfig,
    /// How often at most the user's object flushes its metrics; `None`: metrics are off
    /// (see `Config::metrics_on`).
    pub metrics_flush_ms: Option<u64>,
    /// An Analytics Engine dataset is bound: connects and prompts also become data points.
    pub analytics: bool,
    /// The least level logged: lines below it are not even built.
    pub log_level: crate::log::Level,
}

impl Settings {
    pub fn from_config(c: &Config) -> Self {
        Settings {
            ping_interval: c.ping_interval_ms,
            ping_timeout: c.ping_timeout_ms,
            max_payload: c.max_payload_bytes,
            connect_timeout: c.connect_timeout_ms,
            conformance: c.conformance,
            jwt: c.jwt.clone(),
            mirror_on: matches!(c.mirror, Mirror::On(_)),
            key_prefix: c.key_prefix.clone(),
            key_ttl_secs: c.key_ttl_secs,
            max_sessions: c.max_sessions_per_user,
            connect_rate_per_minute: c.connect_rate_per_minute,
            prompt: c.prompt.clone(),
            history: c.history.clone(),
            recovery: c.recovery,
            metrics_flush_ms: c.metrics_on().then_some(c.metrics_flush_ms),
            analytics: false,
            log_level: c.log_level,
        }
    }
}

/// One Engine.IO session as stored: its transport half and, unless it is a bare Engine.IO
/// session, its Socket.IO half.
#[derive(Debug, Serialize, Deserialize)]
pub struct Session {
    pub eio: EioSession,
    pub sio: Option<SioSession>,
}

#[derive(Debug)]
pub enum Action {
    /// Frames for the session's WebSocket.
    Send {
        sid: String,
        frames: Vec<Frame>,
    },
    /// Close the session's WebSocket (the probe one too, while upgrading).
    Close {
        sid: String,
        code: u16,
        reason: String,
    },
    /// A waiting long-poll may answer now.
    Wake {
        sid: String,
    },
    /// Move a session to its user's object, then forward its requests there.
    Handover(Box<Handover>),
    Mirror(mirror::Op),
    /// Run this prompt (the machine already acknowledged it).
    Prompt(Job),
    /// Abort this prompt's upstream request (the machine already ended it).
    CancelPrompt(String),
    /// Work on the user's history table (the shell reports back with [`Hub::history_done`]).
    History(history::Op),
    /// Tell a room's object that a connection joins or leaves it (server push).
    Room(push::RoomOp),
    Log(Line),
    /// Send this batch of counts to a metrics object, then report with `metrics_flushed`.
    FlushMetrics(crate::metrics::Batch),
    /// A data point for the Analytics Engine dataset (only when one is bound).
    Analytics(crate::metrics::Point),
}

/// A request's answer and the actions it caused, which must run whatever the answer.
pub type Outcome<T> = (Result<T, HttpError>, Vec<Action>);
