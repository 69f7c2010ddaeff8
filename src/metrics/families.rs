//! The metric families the gateway exposes: names, help texts, types and, for labelled
//! families, the fixed set of label values. A value outside its set is counted as `other`, so
//! what a metrics object stores stays bounded whatever reaches it.

/// How a family is exposed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// One metric family.
#[derive(Debug)]
pub struct Family {
    pub name: &'static str,
    pub help: &'static str,
    pub kind: Kind,
    /// The label's name and every value it can take (for labelled counters).
    pub label: Option<(&'static str, &'static [&'static str])>,
}

/// A label value outside a family's set.
pub const OTHER: &str = "other";

/// Refusal codes of a CONNECT (besides `ok`): the auth codes, the connect limit, a second
/// CONNECT on a relayed socket, a namespace the gateway does not serve.
const CONNECT_RESULTS: &[&str] = &[
    "ok",
    "TOKEN_MISSING",
    "TOKEN_INVALID",
    "TOKEN_EXPIRED",
    "TOKEN_MISMATCH",
    "SERVER_MISCONFIGURED",
    "RATE_LIMITED",
    "RECONNECT_REQUIRED",
    "INVALID_NAMESPACE",
    OTHER,
];

/// See `CloseReason::label`, plus `client_disconnect` (the client left the namespace).
const DISCONNECT_REASONS: &[&str] = &[
    "client_disconnect",
    "client_close",
    "transport_close",
    "ping_timeout",
    "transport_parse_error",
    "parse_error",
    "payload_too_large",
    "message_too_big",
    "overlapping_get",
    "overlapping_post",
    "connect_timeout",
    "invalid_packet",
    "replaced",
    "too_many_refusals",
    "too_many_sessions",
    "queue_overflow",
    "too_many_packets",
    "resumed",
    "token_expired",
    OTHER,
];

const PROMPT_OUTCOMES: &[&str] = &[
    "OK",
    "INVALID_PROMPT",
    "PROMPT_TOO_LARGE",
    "TOO_MANY_PROMPTS",
    "RATE_LIMITED",
    "PROMPT_CANCELLED",
    "PROMPT_TIMEOUT",
    "UPSTREAM_FAILED",
    "UPSTREAM_BUSY",
    "PROMPT_INTERRUPTED",
    OTHER,
];

pub const CONNECTIONS_ACTIVE: &str = "gateway_connections_active";
pub const CONNECTS: &str = "gateway_connects_total";
pub const DISCONNECTS: &str = "gateway_disconnects_total";
pub const REPLACEMENTS: &str = "gateway_replacements_total";
pub const RECOVERIES: &str = "gateway_recoveries_total";
pub const PROMPTS: &str = "gateway_prompts_total";
pub const PROMPT_DURATION: &str = "gateway_prompt_duration_seconds";
pub const PROMPT_FIRST_CHUNK: &str = "gateway_prompt_first_chunk_seconds";
pub const RATE_LIMITED: &str = "gateway_rate_limited_total";
pub const MIRROR_FAILURES: &str = "gateway_mirror_failures_total";
pub const PUSHES: &str = "gateway_pushes_total";

/// Every family, in the order they are exposed.
pub const FAMILIES: &[Family] = &[
    Family {
        name: CONNECTIONS_ACTIVE,
        help: "Accepted Socket.IO connections on the main namespace now.",
        kind: Kind::Gauge,
        label: None,
    },
    Family {
        name: CONNECTS,
        help: "CONNECT packets answered, by result: ok or the refusal code.",
        kind: Kind::Counter,
        label: Some(("result", CONNECT_RESULTS)),
    },
    Family {
        name: DISCONNECTS,
        help: "Connections on the main namespace that ended, by reason.",
        kind: Kind::Counter,
        label: Some(("reason", DISCONNECT_REASONS)),
    },
    Family {
        name: REPLACEMENTS,
        help: "Connections replaced by a newer connection of the same user.",
        kind: Kind::Counter,
        label: None,
    },
    Family {
        name: RECOVERIES,
        help: "Connection state recovery attempts, by result.",
        kind: Kind::Counter,
        label: Some(("result", &["recovered", "fresh"])),
    },
    Family {
        name: PROMPTS,
        help: "Prompts finished or refused, by outcome: OK or the terminal or rejection code.",
        kind: Kind::Counter,
        label: Some(("outcome", PROMPT_OUTCOMES)),
    },
    Family {
        name: PROMPT_DURATION,
        help: "Time from an accepted prompt to its terminal event.",
        kind: Kind::Histogram,
        label: None,
    },
    Family {
        name: PROMPT_FIRST_CHUNK,
        help: "Time from an accepted prompt to the first byte from its upstream.",
        kind: Kind::Histogram,
        label: None,
    },
    Family {
        name: RATE_LIMITED,
        help: "Requests refused by a rate limit, by kind.",
        kind: Kind::Counter,
        label: Some(("kind", &["prompt", "connect", "handshake"])),
    },
    Family {
        name: MIRROR_FAILURES,
        help: "Redis mirror writes that failed.",
        kind: Kind::Counter,
        label: None,
    },
    Family {
        name: PUSHES,
        help: "Events pushed through the HTTP API, by result.",
        kind: Kind::Counter,
        label: Some(("result", &["delivered", "offline"])),
    },
];

pub fn family(name: &str) -> Option<&'static Family> {
    FAMILIES.iter().find(|f| f.name == name)
}

/// Every counter sample, in exposition order: its family and label value. A sample's
/// position here is its index in [`Delta::counters`](super::Delta::counters); its key in the
/// stored and sent forms is `name` or `name/value` (see [`key`]).
pub fn counter_samples() -> impl Iterator<Item = (&'static Family, Option<&'static str>)> {
    FAMILIES
        .iter()
        .filter(|f| f.kind == Kind::Counter)
        .flat_map(|f| {
            // An unlabelled family has one sample, without a value.
            let values = f.label.map_or(&[""][..], |(_, v)| v);
            values.iter().map(move |v| (f, f.label.map(|_| *v)))
        })
}

/// The index of a counter sample; a value outside the family's set counts as `other` where
/// the family has it. `None` for a name that is not a counter.
pub fn counter_index(name: &str, value: Option<&str>) -> Option<usize> {
    let exact = |v: Option<&str>| {
        counter_samples().position(|(f, x)| f.name == name && (f.label.is_none() || x == v))
    };
    exact(value).or_else(|| exact(Some(OTHER)))
}

/// The index of a stored key (`name` or `name/value`), exactly: unknown keys have none.
pub fn key_index(key: &str) -> Option<usize> {
    let (name, value) = match key.split_once('/') {
        Some((n, v)) => (n, Some(v)),
        None => (key, None),
    };
    counter_samples().position(|(f, v)| f.name == name && v == value)
}

/// The stored key of the sample at `index`.
pub fn key(index: usize) -> Option<String> {
    let (f, v) = counter_samples().nth(index)?;
    Some(match v {
        None => f.name.to_owned(),
        Some(v) => format!("{}/{v}", f.name),
    })
}

/// How many counter samples there are.
pub fn counter_len() -> usize {
    counter_samples().count()
}
