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
            let ok = url::Url::parse(&url).is_ok_and(|u| matches!(u.scheme(), "http" | "https"));
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
    if url::Url::parse(&url)
        .map(|u| !matches!(u.scheme(), "http" | "https"))
        .unwrap_or(true)
    {
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
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn cfg(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| m.get(k).cloned())
    }

    #[test]
    fn defaults_match_the_reference_server() {
        let c = cfg(&[]).unwrap();
        assert_eq!(
            (c.ping_interval_ms, c.ping_timeout_ms, c.max_payload_bytes),
            (25_000, 20_000, 1_000_000)
        );
        assert_eq!(c.key_prefix, "ws:user:connection:");
        assert_eq!(c.key_ttl_secs, 3600);
        assert_eq!(c.allowed_origins, None);
        assert_eq!(c.mirror, Mirror::Off);
        assert!(c.jwt.secret.is_none());
        assert!(!c.conformance);
    }

    #[test]
    fn bad_numbers_name_their_variable() {
        let e = cfg(&[("PING_INTERVAL_MS", "soon")]).unwrap_err();
        assert_eq!(e.var, "PING_INTERVAL_MS");
        let e = cfg(&[("MAX_PAYLOAD_BYTES", "10")]).unwrap_err();
        assert_eq!(e.var, "MAX_PAYLOAD_BYTES");
        let e = cfg(&[("SOCKETIO_CONFORMANCE", "yes")]).unwrap_err();
        assert_eq!(e.var, "SOCKETIO_CONFORMANCE");
    }

    #[test]
    fn recovery_is_off_by_default_and_bounded() {
        let r = cfg(&[]).unwrap().recovery;
        assert!(!r.enabled());
        assert_eq!((r.max_events, r.max_bytes), (1000, 1 << 20));
        let r = cfg(&[("MAX_DISCONNECTION_MS", "120000")]).unwrap().recovery;
        assert!(r.enabled());
        for (var, bad) in [
            ("MAX_DISCONNECTION_MS", "-1"),
            ("RECOVERY_MAX_EVENTS", "0"),
            ("RECOVERY_MAX_BYTES", "100"),
        ] {
            assert_eq!(cfg(&[(var, bad)]).unwrap_err().var, var);
        }
    }

    #[test]
    fn metrics_settings_have_defaults_and_bounds() {
        let c = cfg(&[]).unwrap();
        assert!(!c.metrics_on());
        assert_eq!((c.metrics_token, c.metrics_flush_ms), (None, 5_000));
        assert!(cfg(&[("GATEWAY_DEV", "1")]).unwrap().metrics_on());
        let conformance = [("METRICS_TOKEN", "t"), ("SOCKETIO_CONFORMANCE", "1")];
        assert!(!cfg(&conformance).unwrap().metrics_on());
        let c = cfg(&[("METRICS_TOKEN", " t0k "), ("METRICS_FLUSH_MS", "200")]).unwrap();
        assert_eq!(
            (c.metrics_token.as_deref(), c.metrics_flush_ms),
            (Some("t0k"), 200)
        );
        assert!(c.metrics_on());
        let e = cfg(&[("METRICS_FLUSH_MS", "10")]).unwrap_err();
        assert_eq!(e.var, "METRICS_FLUSH_MS");
    }

    #[test]
    fn prompt_defaults_follow_the_contract() {
        let p = cfg(&[]).unwrap().prompt;
        assert_eq!(
            p,
            PromptConfig {
                processor: Processor::Echo,
                upstream_url: None,
                upstream_token: None,
                model: String::new(),
                context_messages: 0,
                max_prompt_chars: 32_768,
                max_prompts_in_flight: 4,
                rate_per_minute: 60,
                burst: 10,
                timeout_ms: 120_000,
                idle_timeout_ms: 30_000,
            }
        );
    }

    #[test]
    fn prompt_upstreams_need_a_url_and_openai_a_model() {
        let e = cfg(&[("PROMPT_PROCESSOR", "openai")]).unwrap_err();
        assert_eq!(e.var, "PROMPT_UPSTREAM_URL");
        let e = cfg(&[("PROMPT_PROCESSOR", "http")]).unwrap_err();
        assert_eq!(e.var, "PROMPT_UPSTREAM_URL");
        let e = cfg(&[
            ("PROMPT_PROCESSOR", "http"),
            ("PROMPT_UPSTREAM_URL", "ftp://x"),
        ])
        .unwrap_err();
        assert_eq!(e.var, "PROMPT_UPSTREAM_URL");
        let e = cfg(&[("PROMPT_UPSTREAM_URL", "not a url")]).unwrap_err();
        assert_eq!(e.var, "PROMPT_UPSTREAM_URL");
        // Hosts are ASCII-only (the IDNA adapter is pinned to 1.0.0): punycode is accepted,
        // a Unicode host is refused by name rather than failing on the first prompt.
        let e = cfg(&[("PROMPT_UPSTREAM_URL", "https://b\u{fc}cher.example/ai")]).unwrap_err();
        assert_eq!(e.var, "PROMPT_UPSTREAM_URL");
        assert!(cfg(&[("PROMPT_UPSTREAM_URL", "https://xn--bcher-kva.example/ai")]).is_ok());
        let e = cfg(&[
            ("PROMPT_PROCESSOR", "openai"),
            ("PROMPT_UPSTREAM_URL", "http://127.0.0.1:8788/v1"),
        ])
        .unwrap_err();
        assert_eq!(e.var, "PROMPT_MODEL");
        let e = cfg(&[("PROMPT_PROCESSOR", "llm")]).unwrap_err();
        assert_eq!(e.var, "PROMPT_PROCESSOR");

        let p = cfg(&[
            ("PROMPT_PROCESSOR", "openai"),
            ("PROMPT_UPSTREAM_URL", "http://127.0.0.1:8788/v1/"),
            ("PROMPT_UPSTREAM_TOKEN", "sk-x"),
            ("PROMPT_MODEL", "m"),
            ("PROMPT_CONTEXT_MESSAGES", "3"),
        ])
        .unwrap()
        .prompt;
        assert_eq!(p.processor, Processor::OpenAi);
        assert_eq!(p.upstream_url.as_deref(), Some("http://127.0.0.1:8788/v1"));
        assert_eq!(p.upstream_token.as_deref(), Some("sk-x"));
        assert_eq!((p.model.as_str(), p.context_messages), ("m", 3));
        let p = cfg(&[
            ("PROMPT_PROCESSOR", "http"),
            ("PROMPT_UPSTREAM_URL", "https://app.example/ai"),
        ])
        .unwrap()
        .prompt;
        assert_eq!((p.processor, p.upstream_token), (Processor::Http, None));
        assert_eq!(Processor::Http.as_str(), "http");
    }

    #[test]
    fn prompt_limits_turn_off_with_zero_and_name_their_variable() {
        let p = cfg(&[
            ("MAX_PROMPT_CHARS", "0"),
            ("MAX_PROMPTS_IN_FLIGHT", "0"),
            ("PROMPT_RATE_PER_MINUTE", "0"),
            ("PROMPT_TIMEOUT_MS", "0"),
            ("PROMPT_IDLE_TIMEOUT_MS", "0"),
        ])
        .unwrap()
        .prompt;
        assert_eq!(
            (
                p.max_prompt_chars,
                p.max_prompts_in_flight,
                p.rate_per_minute
            ),
            (0, 0, 0)
        );
        assert_eq!((p.timeout_ms, p.idle_timeout_ms), (0, 0));
        for var in [
            "PROMPT_CONTEXT_MESSAGES",
            "MAX_PROMPT_CHARS",
            "MAX_PROMPTS_IN_FLIGHT",
            "PROMPT_RATE_PER_MINUTE",
            "PROMPT_BURST",
            "PROMPT_TIMEOUT_MS",
            "PROMPT_IDLE_TIMEOUT_MS",
        ] {
            let e = cfg(&[(var, "-1")]).unwrap_err();
            assert_eq!(e.var, var);
            let e = cfg(&[(var, "99999999999")]).unwrap_err();
            assert_eq!(e.var, var);
        }
        assert_eq!(
            cfg(&[("PROMPT_BURST", "0")]).unwrap_err().var,
            "PROMPT_BURST"
        );
        assert_eq!(
            cfg(&[("PROMPT_CONTEXT_MESSAGES", "101")]).unwrap_err().var,
            "PROMPT_CONTEXT_MESSAGES"
        );
    }

    #[test]
    fn origins_are_split_and_normalised() {
        let c = cfg(&[(
            "DOMAIN_URL",
            "https://a.example/, http://localhost:5173 ,null",
        )])
        .unwrap();
        assert_eq!(
            c.allowed_origins.unwrap(),
            ["https://a.example", "http://localhost:5173", "null"]
        );
    }

    #[test]
    fn mirror_variables() {
        let c = cfg(&[
            ("UPSTASH_REDIS_REST_URL", "https://x.upstash.io/"),
            ("UPSTASH_REDIS_REST_TOKEN", "t"),
        ])
        .unwrap();
        assert_eq!(
            c.mirror,
            Mirror::On(MirrorConfig {
                url: "https://x.upstash.io".into(),
                token: "t".into()
            })
        );
        let c = cfg(&[
            ("REDIS_URL", "http://127.0.0.1:8079"),
            ("REDIS_PASSWORD", "p"),
        ])
        .unwrap();
        assert!(matches!(c.mirror, Mirror::On(ref m) if m.token == "p"));
        let c = cfg(&[("REDIS_URL", "redis://localhost:6379")]).unwrap();
        assert!(matches!(c.mirror, Mirror::Refused(ref e) if e.var == "REDIS_URL"));
        let c = cfg(&[("UPSTASH_REDIS_REST_URL", "https://x")]).unwrap();
        assert!(matches!(c.mirror, Mirror::Refused(ref e) if e.var == "UPSTASH_REDIS_REST_TOKEN"));
    }

    #[test]
    fn history_defaults_and_ranges() {
        let h = cfg(&[]).unwrap().history;
        assert_eq!(
            (h.max_items, h.retention_days, h.max_response_chars),
            (200, 30, 32_768)
        );
        assert_eq!(
            cfg(&[("HISTORY_MAX_ITEMS", "0")])
                .unwrap()
                .history
                .max_items,
            0
        );
        for (var, bad) in [
            ("HISTORY_MAX_ITEMS", "1001"),
            ("HISTORY_RETENTION_DAYS", "0"),
            ("HISTORY_MAX_RESPONSE_CHARS", "0"),
            ("HISTORY_MAX_RESPONSE_CHARS", "262145"),
        ] {
            assert_eq!(cfg(&[(var, bad)]).unwrap_err().var, var);
        }
    }

    #[test]
    fn the_push_api_is_on_only_with_a_token() {
        assert_eq!(cfg(&[]).unwrap().push_token, None);
        assert_eq!(cfg(&[("PUSH_API_TOKEN", "  ")]).unwrap().push_token, None);
        let c = cfg(&[("PUSH_API_TOKEN", "tok")]).unwrap();
        assert_eq!(c.push_token.as_deref(), Some("tok"));
    }
}
