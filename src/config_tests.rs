//! Tests of `config`: defaults, bounds, and the variable named in every error.

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

#[test]
fn log_level_defaults_to_info_and_names_itself_when_wrong() {
    use crate::log::Level;
    assert_eq!(cfg(&[]).unwrap().log_level, Level::Info);
    assert_eq!(
        cfg(&[("LOG_LEVEL", "debug")]).unwrap().log_level,
        Level::Debug
    );
    assert_eq!(
        cfg(&[("LOG_LEVEL", "error")]).unwrap().log_level,
        Level::Error
    );
    let e = cfg(&[("LOG_LEVEL", "verbose")]).unwrap_err();
    assert_eq!(e.var, "LOG_LEVEL");
    assert!(e.reason.contains("verbose"), "{}", e.reason);
}
