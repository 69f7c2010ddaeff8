//! Scenario tests of the session machine, one file per layer, and their shared support: a
//! fixed clock origin, counting ids, and helpers that read the machine's actions.

use serde_json::{json, Value};

use super::*;
use crate::auth::{testing::sign, AuthError, JwtSettings};
use crate::mirror::Op;
use crate::prompt::Job;
use crate::protocol::engineio::{Frame, HttpError};

const SECRET: &str = "test-secret";
const T0: u64 = 1_800_000_000_000;

struct Counter(u8);
impl Ids for Counter {
    fn fill(&mut self, buf: &mut [u8]) {
        self.0 = self.0.wrapping_add(1);
        buf.fill(self.0);
    }
}

fn settings() -> Settings {
    Settings {
        ping_interval: 25_000,
        ping_timeout: 20_000,
        max_payload: 1_000_000,
        connect_timeout: 45_000,
        conformance: false,
        jwt: JwtSettings {
            secret: Some(SECRET.into()),
            leeway_secs: 30,
            ..Default::default()
        },
        log_level: crate::log::Level::Debug,
        mirror_on: true,
        key_prefix: "ws:user:connection:".into(),
        key_ttl_secs: 3600,
        max_sessions: 8,
        connect_rate_per_minute: 0,
        prompt: prompt_config(),
        history: crate::config::Config::from_lookup(|_| None)
            .expect("defaults")
            .history,
        recovery: crate::config::RecoveryConfig {
            max_disconnection_ms: 0,
            max_events: 1000,
            max_bytes: 1 << 20,
        },
        // The flush timer would be the earliest deadline; `metrics` tests turn it on.
        metrics_flush_ms: None,
        analytics: false,
    }
}

/// The default prompt settings with the rate and in-flight limits off (tests of the limits
/// turn them on).
fn prompt_config() -> crate::config::PromptConfig {
    let mut p = crate::config::Config::from_lookup(|_| None)
        .expect("defaults")
        .prompt;
    p.rate_per_minute = 0;
    p.max_prompts_in_flight = 0;
    p
}

fn hub_for(owner: Option<&str>, s: Settings) -> Hub {
    let mut h = Hub::new(s, Box::new(Counter(0)));
    if let Some(o) = owner {
        assert!(h.claim_owner(o));
    }
    h
}

fn token(user: &str) -> String {
    sign(SECRET, json!({"sub": user, "exp": T0 / 1000 + 3600}))
}

fn texts(actions: &[Action], sid: &str) -> Vec<String> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send { sid: s, frames } if s == sid => Some(frames.clone()),
            _ => None,
        })
        .flatten()
        .filter_map(|f| match f {
            Frame::Text(t) => Some(t),
            Frame::Binary(_) => None,
        })
        .collect()
}

fn closed(actions: &[Action], sid: &str) -> bool {
    actions
        .iter()
        .any(|a| matches!(a, Action::Close { sid: s, .. } if s == sid))
}

fn mirror_ops(actions: &[Action]) -> Vec<Op> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Mirror(op) => Some(op.clone()),
            _ => None,
        })
        .collect()
}

fn prompt_job(actions: &[Action]) -> Option<Job> {
    actions.iter().find_map(|a| match a {
        Action::Prompt(j) => Some(j.clone()),
        _ => None,
    })
}

fn ws(h: &mut Hub, sid: &str, auth: HttpAuth) {
    h.open(T0, sid, Transport::WebSocket, auth);
}

fn frame(h: &mut Hub, sid: &str, text: &str) -> Vec<Action> {
    h.ws_frame(T0 + 1, sid, Frame::Text(text.into()))
}

fn connect_ack(actions: &[Action], sid: &str) -> Option<String> {
    texts(actions, sid).iter().find_map(|t| {
        let v: Value = serde_json::from_str(t.strip_prefix("40")?).ok()?;
        v["sid"].as_str().map(str::to_owned)
    })
}

fn connect_error_code(actions: &[Action], sid: &str) -> Option<String> {
    texts(actions, sid).iter().find_map(|t| {
        let v: Value = serde_json::from_str(t.strip_prefix("44")?).ok()?;
        v["data"]["code"].as_str().map(str::to_owned)
    })
}

/// Alice connected over polling on session "p", with a GET waiting.
fn polling_connected_and_waiting() -> Hub {
    let mut h = hub_for(Some("alice"), settings());
    h.open(T0, "p", Transport::Polling, HttpAuth::User("alice".into()));
    h.post_begin(T0, "p").0.unwrap();
    h.post(T0, "p", "40").0.unwrap();
    let (Ok(Poll::Ready(ack)), _) = h.poll_begin(T0, "p") else {
        panic!("the CONNECT answer is queued")
    };
    assert!(ack.starts_with("40{"), "{ack}");
    assert_eq!(h.poll_begin(T0, "p").0.unwrap(), Poll::Wait);
    h
}

mod conformance;
mod deferred;
mod engine;
mod expiry;
mod gate;
mod gateway;
mod history;
mod metrics;
mod ownership;
mod prompts;
mod push;
mod recovery;
mod recovery_push;
mod socketio;
