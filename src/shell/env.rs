//! The configuration read from the Worker's vars and secrets, with the warnings logged once per
//! isolate about settings that are unset or unsafe.

use std::cell::Cell;

use worker::Env;

use super::console::log;
use crate::config::{Config, ConfigError, Mirror};
use crate::log::{Level, Line};

thread_local! {
    static WARNED: Cell<bool> = const { Cell::new(false) };
}

/// Reads the configuration from vars and secrets; logs the once-per-isolate warnings.
pub fn config(env: &Env) -> Result<Config, ConfigError> {
    let lookup = |k: &str| {
        env.secret(k)
            .map(|s| s.to_string())
            .or_else(|_| env.var(k).map(|v| v.to_string()))
            .ok()
    };
    let c = Config::from_lookup(lookup)?;
    super::console::set_level(c.log_level);
    if !WARNED.with(|w| w.replace(true)) {
        warn_once(&c);
    }
    Ok(c)
}

fn warn_once(c: &Config) {
    if c.allowed_origins.is_none() {
        log(&Line::new(
            Level::Warn,
            "DOMAIN_URL is unset: every origin is allowed",
        ));
    }
    if !c.jwt.has_key_source() {
        log(&Line::new(
            Level::Error,
            "JWT_SECRET is unset and so are JWT_PUBLIC_KEYS and JWT_JWKS_URL: every connection is refused with SERVER_MISCONFIGURED",
        ));
    }
    if c.jwt.secret.as_ref().is_some_and(|s| s.len() < 32) {
        log(&Line::new(
            Level::Warn,
            "JWT_SECRET is shorter than 32 bytes: use a long random secret",
        ));
    }
    match &c.mirror {
        Mirror::Off => log(&Line::new(
            Level::Info,
            "Redis mirror is off (UPSTASH_REDIS_REST_URL is unset)",
        )),
        Mirror::Refused(e) => {
            log(&Line::new(Level::Error, format!("Redis mirror is off: {e}")).with("var", e.var))
        }
        Mirror::On(_) => {}
    }
    if c.conformance {
        log(&Line::new(
            Level::Warn,
            "SOCKETIO_CONFORMANCE=1: authentication is off; never use this outside protocol tests",
        ));
    }
}
