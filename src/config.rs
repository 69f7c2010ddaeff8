//! Every environment variable, parsed once, with errors that name the variable.

use crate::auth::JwtSettings;

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
}

impl Config {
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
        })
    }
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
}
