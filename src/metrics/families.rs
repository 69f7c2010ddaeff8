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

/// The stored key of a counter sample: `name` or `name/value`, with `value` taken from the
/// family's set (`other` when it is not in it). `None` for a name that is not a counter.
pub fn counter_key(name: &str, value: Option<&str>) -> Option<String> {
    let f = family(name).filter(|f| f.kind == Kind::Counter)?;
    Some(match (f.label, value) {
        (None, _) => f.name.to_owned(),
        (Some((_, values)), v) => {
            let v = v
                .and_then(|v| values.iter().find(|x| **x == v))
                .copied()
                .or_else(|| values.contains(&OTHER).then_some(OTHER))?;
            format!("{}/{v}", f.name)
        }
    })
}

/// Whether a stored key names a known counter sample (what a metrics object accepts).
pub fn is_counter_key(key: &str) -> bool {
    let (name, value) = match key.split_once('/') {
        Some((n, v)) => (n, Some(v)),
        None => (key, None),
    };
    counter_key(name, value).is_some_and(|k| k == key)
}
