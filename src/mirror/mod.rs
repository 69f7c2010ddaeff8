//! The Redis mirror of `ws:user:connection:<user-id>`, over Upstash's REST API.
//!
//! [`Plan`] decides what Redis should hold (pure, persisted with the session state);
//! [`Client`] speaks the REST protocol over any [`Transport`], so request building and reply
//! parsing are tested natively and the Worker plugs in `fetch`.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// Deletes the key only while it still holds the given socket id, so a replaced connection's
/// cleanup never erases its successor.
pub const COMPARE_AND_DELETE: &str =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end";

/// One write the shell should perform in the background.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    Set {
        seq: u64,
        key: String,
        value: String,
        ttl_secs: u64,
    },
    DeleteIf {
        seq: u64,
        key: String,
        value: String,
    },
}

impl Op {
    pub fn seq(&self) -> u64 {
        match self {
            Op::Set { seq, .. } | Op::DeleteIf { seq, .. } => *seq,
        }
    }

    pub fn command(&self) -> Value {
        match self {
            Op::Set {
                key,
                value,
                ttl_secs,
                ..
            } => json!(["SET", key, value, "EX", ttl_secs.to_string()]),
            Op::DeleteIf { key, value, .. } => json!(["EVAL", COMPARE_AND_DELETE, "1", key, value]),
        }
    }
}

/// Desired state of one user's key and the progress towards it. Only one write is in flight at
/// a time; a failed write is retried with backoff by re-applying the desired state, so the key
/// converges whatever happened in between.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Plan {
    key: String,
    ttl_secs: u64,
    desired: Option<String>,
    /// A socket id to compare-and-delete once nothing is desired.
    stale: Option<String>,
    converged: bool,
    next_at: Option<u64>,
    failures: u32,
    seq: u64,
    /// When the last value written expires in Redis; a delete after that has nothing to do.
    #[serde(default)]
    expires_at: Option<u64>,
    #[serde(skip)]
    in_flight: Option<(u64, Option<String>, Option<String>)>,
}

/// Retries back off from 0.5 s doubling to this cap while an outage is young...
const MAX_BACKOFF_MS: u64 = 5_000;
/// ...and after this many failures keep doubling up to the refresh interval, so an endpoint
/// that stays down does not wake every object every few seconds.
const FAST_RETRIES: u32 = 12;

impl Plan {
    pub fn new(key: String, ttl_secs: u64) -> Self {
        Plan {
            key,
            ttl_secs,
            converged: true,
            ..Default::default()
        }
    }

    pub fn desired(&self) -> Option<&str> {
        self.desired.as_deref()
    }

    pub fn is_converged(&self) -> bool {
        self.converged && self.in_flight.is_none()
    }

    /// After a reload nothing is in flight any more; finish whatever was unfinished, including
    /// a TTL refresh that was in flight (it left no deadline behind).
    pub fn resume(&mut self, now: u64) {
        let lost_refresh = self.desired.is_some() && self.next_at.is_none();
        if !self.converged || lost_refresh {
            self.next_at = Some(self.next_at.map_or(now, |t| t.min(now)));
        }
    }

    /// The user's current socket id changed (or the user left).
    pub fn set_current(&mut self, now: u64, socket_id: Option<String>) -> Option<Op> {
        if socket_id == self.desired {
            return None;
        }
        if socket_id.is_none() {
            self.stale = self.desired.take();
        } else {
            self.stale = None;
        }
        self.desired = socket_id;
        self.converged = false;
        if self.in_flight.is_some() {
            return None;
        }
        self.issue(now)
    }

    fn issue(&mut self, _now: u64) -> Option<Op> {
        self.next_at = None;
        let op = match (&self.desired, &self.stale) {
            (Some(v), _) => Op::Set {
                seq: self.seq + 1,
                key: self.key.clone(),
                value: v.clone(),
                ttl_secs: self.ttl_secs,
            },
            (None, Some(v)) => Op::DeleteIf {
                seq: self.seq + 1,
                key: self.key.clone(),
                value: v.clone(),
            },
            (None, None) => {
                self.converged = true;
                return None;
            }
        };
        self.seq += 1;
        self.in_flight = Some((self.seq, self.desired.clone(), self.stale.clone()));
        Some(op)
    }

    fn refresh_ms(&self) -> u64 {
        (self.ttl_secs * 1000 / 3).max(500)
    }

    /// A write finished; returns the next write when the desired state moved meanwhile.
    pub fn done(&mut self, now: u64, seq: u64, ok: bool) -> Option<Op> {
        let (in_seq, desired, stale) = self.in_flight.take()?;
        if in_seq != seq {
            self.in_flight = Some((in_seq, desired, stale));
            return None;
        }
        if !ok {
            self.failures += 1;
            self.converged = false;
            if self.desired.is_none() && self.expires_at.is_some_and(|t| now >= t) {
                // The key expired on its own: nothing is left to delete.
                self.stale = None;
                self.converged = true;
                self.next_at = None;
                return None;
            }
            self.next_at = Some(now + self.backoff_ms());
            return None;
        }
        self.failures = 0;
        if desired.is_some() {
            self.expires_at = Some(now + self.ttl_secs * 1000);
        }
        if desired == self.desired && (self.desired.is_some() || stale == self.stale) {
            if self.desired.is_none() {
                self.stale = None;
            }
            self.converged = true;
            self.next_at = self.desired.is_some().then(|| now + self.refresh_ms());
            None
        } else {
            self.issue(now)
        }
    }

    fn backoff_ms(&self) -> u64 {
        let doubled = 250u64 << self.failures.min(24);
        if self.failures <= FAST_RETRIES {
            doubled.min(MAX_BACKOFF_MS)
        } else {
            doubled.clamp(MAX_BACKOFF_MS, self.refresh_ms().max(MAX_BACKOFF_MS))
        }
    }

    pub fn deadline(&self) -> Option<u64> {
        if self.in_flight.is_some() {
            None
        } else {
            self.next_at
        }
    }

    /// A retry or a TTL refresh that is due.
    pub fn due(&mut self, now: u64) -> Option<Op> {
        match self.deadline() {
            Some(t) if t <= now => self.issue(now),
            _ => None,
        }
    }

    pub fn failures(&self) -> u32 {
        self.failures
    }
}

/// Errors of the REST client, kept apart so logs say where a failure happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The request never got an HTTP answer (network, DNS, timeout).
    Transport(String),
    /// An HTTP status other than 200 without a Redis error in the body (401, 5xx, ...).
    Http(u16, String),
    /// Redis refused the command (`{"error":"..."}`).
    Redis(String),
    /// The body was not the JSON the API promises.
    Decode(String),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Transport(e) => write!(f, "transport error: {e}"),
            Error::Http(s, b) => write!(f, "HTTP {s}: {b}"),
            Error::Redis(e) => write!(f, "redis error: {e}"),
            Error::Decode(e) => write!(f, "bad reply: {e}"),
        }
    }
}

/// One HTTP request to the REST API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    pub url: String,
    pub token: String,
    pub body: String,
}

/// How the client reaches the endpoint: `fetch` in the Worker, a fake in tests.
#[allow(async_fn_in_trait)]
pub trait Transport {
    /// Sends a POST with `Authorization: Bearer <token>` and a JSON body; returns status and body.
    async fn post(&self, req: HttpRequest) -> Result<(u16, String), String>;
}

#[derive(Deserialize)]
struct Reply {
    result: Option<Value>,
    error: Option<String>,
}

/// Parses a single-command reply.
pub fn parse_reply(status: u16, body: &str) -> Result<Value, Error> {
    let parsed: Result<Reply, _> = serde_json::from_str(body);
    match parsed {
        Ok(Reply { error: Some(e), .. }) => {
            if status == 401 || status == 403 || status >= 500 {
                Err(Error::Http(status, e))
            } else {
                Err(Error::Redis(e))
            }
        }
        Ok(Reply { result, .. }) if status == 200 => Ok(result.unwrap_or(Value::Null)),
        _ if status != 200 => Err(Error::Http(status, truncate(body))),
        Ok(_) => Ok(Value::Null),
        Err(e) => Err(Error::Decode(format!("{e}: {}", truncate(body)))),
    }
}

/// Parses a `/pipeline` reply: one result or error per command.
pub fn parse_pipeline(status: u16, body: &str) -> Result<Vec<Result<Value, Error>>, Error> {
    if status != 200 {
        return Err(parse_reply(status, body)
            .err()
            .unwrap_or(Error::Http(status, truncate(body))));
    }
    let items: Vec<Reply> = serde_json::from_str(body)
        .map_err(|e| Error::Decode(format!("{e}: {}", truncate(body))))?;
    Ok(items
        .into_iter()
        .map(|r| match r.error {
            Some(e) => Err(Error::Redis(e)),
            None => Ok(r.result.unwrap_or(Value::Null)),
        })
        .collect())
}

fn truncate(s: &str) -> String {
    s.chars().take(200).collect()
}

/// A typed client for the commands the gateway needs.
pub struct Client<T> {
    base: String,
    token: String,
    transport: T,
}

impl<T: Transport> Client<T> {
    pub fn new(base: &str, token: &str, transport: T) -> Self {
        Client {
            base: base.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
            transport,
        }
    }

    async fn send(&self, path: &str, body: Value) -> Result<(u16, String), Error> {
        self.transport
            .post(HttpRequest {
                url: format!("{}{}", self.base, path),
                token: self.token.clone(),
                body: body.to_string(),
            })
            .await
            .map_err(Error::Transport)
    }

    pub async fn command(&self, cmd: Value) -> Result<Value, Error> {
        let (status, body) = self.send("/", cmd).await?;
        parse_reply(status, &body)
    }

    pub async fn pipeline(&self, cmds: Vec<Value>) -> Result<Vec<Result<Value, Error>>, Error> {
        let (status, body) = self.send("/pipeline", Value::Array(cmds)).await?;
        parse_pipeline(status, &body)
    }

    pub async fn set_ex(&self, key: &str, value: &str, ttl_secs: u64) -> Result<(), Error> {
        match self
            .command(json!(["SET", key, value, "EX", ttl_secs.to_string()]))
            .await?
        {
            Value::String(s) if s == "OK" => Ok(()),
            other => Err(Error::Decode(format!("SET answered {other}"))),
        }
    }

    pub async fn get(&self, key: &str) -> Result<Option<String>, Error> {
        match self.command(json!(["GET", key])).await? {
            Value::Null => Ok(None),
            Value::String(s) => Ok(Some(s)),
            other => Err(Error::Decode(format!("GET answered {other}"))),
        }
    }

    pub async fn del(&self, key: &str) -> Result<u64, Error> {
        integer(self.command(json!(["DEL", key])).await?)
    }

    pub async fn expire(&self, key: &str, ttl_secs: u64) -> Result<bool, Error> {
        Ok(integer(
            self.command(json!(["EXPIRE", key, ttl_secs.to_string()]))
                .await?,
        )? == 1)
    }

    /// Remaining TTL in seconds; `-1` without expiry, `-2` when the key is missing.
    pub async fn ttl(&self, key: &str) -> Result<i64, Error> {
        match self.command(json!(["TTL", key])).await? {
            Value::Number(n) => n.as_i64().ok_or_else(|| Error::Decode(n.to_string())),
            other => Err(Error::Decode(format!("TTL answered {other}"))),
        }
    }

    /// Deletes `key` only while it holds `value`; true when it was deleted.
    pub async fn delete_if_equals(&self, key: &str, value: &str) -> Result<bool, Error> {
        Ok(integer(
            self.command(json!(["EVAL", COMPARE_AND_DELETE, "1", key, value]))
                .await?,
        )? == 1)
    }

    /// Performs a [`Plan`] write.
    pub async fn apply(&self, op: &Op) -> Result<(), Error> {
        match op {
            Op::Set {
                key,
                value,
                ttl_secs,
                ..
            } => self.set_ex(key, value, *ttl_secs).await,
            Op::DeleteIf { key, value, .. } => self.delete_if_equals(key, value).await.map(|_| ()),
        }
    }
}

fn integer(v: Value) -> Result<u64, Error> {
    v.as_u64()
        .ok_or_else(|| Error::Decode(format!("expected an integer, got {v}")))
}

#[cfg(test)]
mod tests;
