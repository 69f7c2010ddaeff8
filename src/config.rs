//! Every environment variable, parsed once, with errors that name the variable.

use crate::auth::{keys, ClaimNames, JwtSettings, PublicKey};

/// A setting that cannot be used; the gateway answers 500 and logs this until it is fixed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub var: &'static str,
    pub reason: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.var, self.reason)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MirrorConfig {
    pub url: String,
    pub token: String,
}

/// Where the Redis mirror stands after reading its variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mirror {
    Off,
    On(MirrorConfig),
    /// Configured in a way the Worker cannot use; the mirror stays off and this is logged.
    Refused(ConfigError),
}

/// Which processor answers prompts (`PROMPT_PROCESSOR`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Processor {
    /// Built in: answers `Echo: <prompt>`.
    Echo,
    /// An OpenAI-compatible Chat Completions server.
    OpenAi,
    /// The app's own backend.
    Http,
}

impl Processor {
    /// Answers within the event that accepted the prompt (no task, no upstream).
    pub fn answers_at_once(self) -> bool {
        self == Processor::Echo
    }

    /// The name used in `PROMPT_PROCESSOR` and in logs (`processor`).
    pub fn as_str(self) -> &'static str {
        match self {
            Processor::Echo => "echo",
            Processor::OpenAi => "openai",
            Processor::Http => "http",
        }
    }
}

/// The prompt variables of CONTRACT.md section 2. For every limit, `0` turns it off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromptConfig {
    pub processor: Processor,
    /// `PROMPT_UPSTREAM_URL`, without a trailing `/`; set (http or https) for `openai` and `http`.
    pub upstream_url: Option<String>,
    /// `PROMPT_UPSTREAM_TOKEN`, sent as `Authorization: Bearer`; never logged.
    pub upstream_token: Option<String>,
    /// `PROMPT_MODEL`; required for `openai` (every such server needs one), unused otherwise.
    pub model: String,
    /// `PROMPT_CONTEXT_MESSAGES`: completed exchanges from history sent before the prompt (0).
    pub context_messages: u64,
    /// `MAX_PROMPT_CHARS`, in Unicode code points (32768).
    pub max_prompt_chars: u64,
    /// `MAX_PROMPTS_IN_FLIGHT` per user (4).
    pub max_prompts_in_flight: u64,
    /// `PROMPT_RATE_PER_MINUTE` (60) and `PROMPT_BURST` (10, at least 1): the token bucket.
    pub rate_per_minute: u64,
    pub burst: u64,
    /// `PROMPT_TIMEOUT_MS` (120000) and `PROMPT_IDLE_TIMEOUT_MS` (30000).
    pub timeout_ms: u64,
    pub idle_timeout_ms: u64,
}

/// The history variables of CONTRACT.md section 4 (the prompt history in the user's object).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryConfig {
    /// `HISTORY_MAX_ITEMS` (200, at most 1000): rows kept per user; 0 stores nothing.
    pub max_items: u64,
    /// `HISTORY_RETENTION_DAYS` (30, 1-3650): older rows are pruned by the object's alarm.
    pub retention_days: u64,
    /// `HISTORY_MAX_RESPONSE_CHARS` (32768, 1-262144): a longer response is stored cut.
    pub max_response_chars: u64,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub jwt: JwtSettings,
    /// `None`: every origin is allowed.
    pub allowed_origins: Option<Vec<String>>,
    pub ping_interval_ms: u64,
    pub ping_timeout_ms: u64,
    pub max_payload_bytes: u64,
    pub connect_timeout_ms: u64,
    pub mirror: Mirror,
    pub key_prefix: String,
    pub key_ttl_secs: u64,
    pub conformance: bool,
    pub dev_mode: bool,
    /// Engine.IO sessions one user's object holds at most; 0 = no cap.
    pub max_sessions_per_user: u64,
    /// Handshakes without a token visible at HTTP level, per client address and 10 s; 0 = off.
    pub handshake_limit_per_10s: u64,
    /// CONNECTs one user may make per minute (a bucket as deep as the rate); 0 = off.
    pub connect_rate_per_minute: u64,
    /// Units (a frame, or 16 KB of one) a Worker relay carries before it has the client
    /// reconnect, under the platform's CPU limit per invocation; 0 = off.
    pub relay_max_frames: u64,
    pub prompt: PromptConfig,
    pub history: HistoryConfig,
    /// `PUSH_API_TOKEN`: the bearer of the push API (`/api/v1/*`); unset, those paths are 404.
    pub push_token: Option<String>,
    pub recovery: RecoveryConfig,
    /// `Authorization: Bearer` of `/api/v1/metrics`; unset: the endpoint answers 404 (dev
    /// mode serves it without a token).
    pub metrics_token: Option<String>,
    /// How often at most an object flushes its counts to the metrics objects (ms).
    pub metrics_flush_ms: u64,
    /// The least level logged (`LOG_LEVEL`).
    pub log_level: crate::log::Level,
}

/// Connection state recovery (CONTRACT.md section 3); off while `max_disconnection_ms` is 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecoveryConfig {
    /// `MAX_DISCONNECTION_MS` (0 = off): how long a lost connection may be picked up again.
    pub max_disconnection_ms: u64,
    /// `RECOVERY_MAX_EVENTS` (1000): events the user's outbox keeps at most.
    pub max_events: u64,
    /// `RECOVERY_MAX_BYTES` (1 MiB): encoded bytes the user's outbox keeps at most.
    pub max_bytes: u64,
}

impl RecoveryConfig {
    pub fn enabled(&self) -> bool {
        self.max_disconnection_ms > 0
    }
}

impl Config {
    /// Metrics are gathered only where someone can read them: with `METRICS_TOKEN` set, or in
    /// dev mode (never in conformance mode).
    pub fn metrics_on(&self) -> bool {
        (self.metrics_token.is_some() || self.dev_mode) && !self.conformance
    }

    /// Reads the configuration through `get` (the Worker's env vars and secrets).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let get = |k: &str| {
            get(k)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let num =
            |var: &'static str, default: u64, min: u64, max: u64| -> Result<u64, ConfigError> {
                match get(var) {
                    None => Ok(default),
                    Some(v) => match v.parse::<u64>() {
                        Ok(n) if (min..=max).contains(&n) => Ok(n),
                        _ => Err(ConfigError {
                            var,
                            reason: format!(
                                "expected a whole number from {min} to {max}, got {v:?}"
                            ),
                        }),
                    },
                }
            };
        let flag = |var: &'static str| -> Result<bool, ConfigError> {
            match get(var).as_deref() {
                None | Some("0") | Some("false") => Ok(false),
                Some("1") | Some("true") => Ok(true),
                Some(v) => Err(ConfigError {
                    var,
                    reason: format!("expected 1 or 0, got {v:?}"),
                }),
            }
        };

        let allowed_origins = get("DOMAIN_URL").map(|v| {
            v.split(',')
                .map(|o| o.trim().trim_end_matches('/').to_owned())
                .filter(|o| !o.is_empty())
                .collect::<Vec<_>>()
        });

        Ok(Config {
            jwt: JwtSettings {
                secret: get("JWT_SECRET"),
                leeway_secs: num("JWT_LEEWAY_SECONDS", 30, 0, 3600)?,
                issuer: get("JWT_ISSUER"),
                audience: get("JWT_AUDIENCE"),
                public_keys: public_keys(get("JWT_PUBLIC_KEYS"))?,
                jwks_url: jwks_url(get("JWT_JWKS_URL"))?,
                claims: ClaimNames {
                    user: get("JWT_USER_CLAIM").unwrap_or_else(|| "sub".into()),
                    rooms: get("JWT_ROOMS_CLAIM").unwrap_or_else(|| "rooms".into()),
                },
                disconnect_on_expiry: flag("DISCONNECT_ON_TOKEN_EXPIRY")?,
                checked: Default::default(),
            },
            allowed_origins,
            ping_interval_ms: num("PING_INTERVAL_MS", 25_000, 100, 3_600_000)?,
            ping_timeout_ms: num("PING_TIMEOUT_MS", 20_000, 100, 3_600_000)?,
            max_payload_bytes: num("MAX_PAYLOAD_BYTES", 1_000_000, 1_024, 32 * 1024 * 1024)?,
            connect_timeout_ms: num("CONNECT_TIMEOUT_MS", 45_000, 100, 3_600_000)?,
            mirror: mirror(&get),
            key_prefix: get("REDIS_KEY_PREFIX").unwrap_or_else(|| "ws:user:connection:".into()),
            key_ttl_secs: num("REDIS_KEY_TTL_SECONDS", 3600, 2, 30 * 86_400)?,
            conformance: flag("SOCKETIO_CONFORMANCE")?,
            dev_mode: flag("GATEWAY_DEV")?,
            max_sessions_per_user: num("MAX_SESSIONS_PER_USER", 8, 0, 1000)?,
            handshake_limit_per_10s: num("HANDSHAKE_LIMIT_PER_10S", 100, 0, 1_000_000)?,
            connect_rate_per_minute: num("CONNECT_RATE_PER_MINUTE", 30, 0, 1_000_000)?,
            relay_max_frames: num("RELAY_MAX_FRAMES", 100_000, 0, 100_000_000)?,
            prompt: prompt(&get, &num)?,
            history: HistoryConfig {
                max_items: num("HISTORY_MAX_ITEMS", 200, 0, 1000)?,
                retention_days: num("HISTORY_RETENTION_DAYS", 30, 1, 3650)?,
                max_response_chars: num("HISTORY_MAX_RESPONSE_CHARS", 32_768, 1, 262_144)?,
            },
            push_token: get("PUSH_API_TOKEN"),
            recovery: RecoveryConfig {
                max_disconnection_ms: num("MAX_DISCONNECTION_MS", 0, 0, 24 * HOUR_MS)?,
                max_events: num("RECOVERY_MAX_EVENTS", 1000, 1, 100_000)?,
                max_bytes: num("RECOVERY_MAX_BYTES", 1 << 20, 1024, 16 << 20)?,
            },
            metrics_token: get("METRICS_TOKEN"),
            metrics_flush_ms: num("METRICS_FLUSH_MS", 5_000, 50, 60_000)?,
            log_level: match get("LOG_LEVEL") {
                None => crate::log::Level::Info,
                Some(v) => crate::log::Level::parse(&v).ok_or_else(|| ConfigError {
                    var: "LOG_LEVEL",
                    reason: format!("expected debug, info, warn or error, got {v:?}"),
                })?,
            },
        })
    }
}

const HOUR_MS: u64 = 3_600_000;

/// `JWT_PUBLIC_KEYS`: PEM blocks or JWK(s); every key given must be usable.
fn public_keys(text: Option<String>) -> Result<Vec<PublicKey>, ConfigError> {
    let Some(text) = text else {
        return Ok(Vec::new());
    };
    keys::parse_configured(&text).map_err(|reason| ConfigError {
        var: "JWT_PUBLIC_KEYS",
        reason,
    })
}

/// `JWT_JWKS_URL`: https, or http to a loopback host (a local dev key server).
fn jwks_url(url: Option<String>) -> Result<Option<String>, ConfigError> {
    let Some(url) = url else {
        return Ok(None);
    };
    if !crate::auth::jwks::acceptable_url(&url) {
        return Err(ConfigError {
            var: "JWT_JWKS_URL",
            reason: format!("expected an https:// URL (http only to 127.0.0.1), got {url:?}"),
        });
    }
    Ok(Some(url))
}

fn prompt(
    get: &impl Fn(&str) -> Option<String>,
    num: &impl Fn(&'static str, u64, u64, u64) -> Result<u64, ConfigError>,
) -> Result<PromptConfig, ConfigError> {
    let processor = match get("PROMPT_PROCESSOR").as_deref() {
        None | Some("echo") => Processor::Echo,
        Some("openai") => Processor::OpenAi,
        Some("http") => Processor::Http,
        Some(v) => {
            return Err(ConfigError {
                var: "PROMPT_PROCESSOR",
                reason: format!("expected echo, openai or http, got {v:?}"),
            })
        }
    };
    let upstream_url = match get("PROMPT_UPSTREAM_URL") {
        None if processor != Processor::Echo => {
            return Err(ConfigError {
                var: "PROMPT_UPSTREAM_URL",
                reason: format!("must be set when PROMPT_PROCESSOR={}", processor.as_str()),
            })
        }
        None => None,
        Some(url) => {
            let ok = crate::http_url::parse(&url).is_some();
            if !ok {
                return Err(ConfigError {
                    var: "PROMPT_UPSTREAM_URL",
                    reason: format!("expected an http(s):// URL, got {url:?}"),
                });
            }
            Some(url.trim_end_matches('/').to_owned())
        }
    };
    let model = get("PROMPT_MODEL").unwrap_or_default();
    if processor == Processor::OpenAi && model.is_empty() {
        return Err(ConfigError {
            var: "PROMPT_MODEL",
            reason: "must be set when PROMPT_PROCESSOR=openai".into(),
        });
    }
    Ok(PromptConfig {
        processor,
        upstream_url,
        upstream_token: get("PROMPT_UPSTREAM_TOKEN"),
        model,
        context_messages: num("PROMPT_CONTEXT_MESSAGES", 0, 0, 100)?,
        max_prompt_chars: num("MAX_PROMPT_CHARS", 32_768, 0, 10_000_000)?,
        max_prompts_in_flight: num("MAX_PROMPTS_IN_FLIGHT", 4, 0, 10_000)?,
        rate_per_minute: num("PROMPT_RATE_PER_MINUTE", 60, 0, 1_000_000)?,
        burst: num("PROMPT_BURST", 10, 1, 1_000_000)?,
        timeout_ms: num("PROMPT_TIMEOUT_MS", 120_000, 0, 24 * HOUR_MS)?,
        idle_timeout_ms: num("PROMPT_IDLE_TIMEOUT_MS", 30_000, 0, 24 * HOUR_MS)?,
    })
}

fn mirror(get: &impl Fn(&str) -> Option<String>) -> Mirror {
    let (url_var, url, token_var, token) = match get("UPSTASH_REDIS_REST_URL") {
        Some(url) => (
            "UPSTASH_REDIS_REST_URL",
            url,
            "UPSTASH_REDIS_REST_TOKEN",
            get("UPSTASH_REDIS_REST_TOKEN"),
        ),
        None => match get("REDIS_URL") {
            Some(url) => ("REDIS_URL", url, "REDIS_PASSWORD", get("REDIS_PASSWORD")),
            None => return Mirror::Off,
        },
    };
    let lower = url.to_ascii_lowercase();
    if lower.starts_with("redis://") || lower.starts_with("rediss://") {
        return Mirror::Refused(ConfigError {
            var: url_var,
            reason: "a redis:// URL cannot be used: a Worker reaches Redis over HTTP; \
                     give the https:// REST URL of an Upstash-compatible endpoint"
                .into(),
        });
    }
    if crate::http_url::parse(&url).is_none() {
        return Mirror::Refused(ConfigError {
            var: url_var,
            reason: "expected an http(s):// URL".into(),
        });
    }
    match token {
        Some(token) => Mirror::On(MirrorConfig {
            url: url.trim_end_matches('/').to_owned(),
            token,
        }),
        None => Mirror::Refused(ConfigError {
            var: token_var,
            reason: format!("must be set when {url_var} is set"),
        }),
    }
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
