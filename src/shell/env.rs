//! The configuration read from the Worker's vars and secrets once per isolate, with the
//! warnings logged then about settings that are unset or unsafe.

use std::cell::OnceCell;

use worker::Env;

use super::console::log;
use crate::config::{Config, ConfigError, Mirror};
use crate::log::{Level, Line};

thread_local! {
    /// Vars and secrets are fixed for an isolate's life (changing one deploys a new version,
    /// which runs in new isolates; `wrangler dev` restarts the runtime), so they are read
    /// once: read through the runtime one by one on every request, they took about 6% of the
    /// isolate's time in a polling round trip (a CPU profile).
    static CONFIG: OnceCell<Result<Config, ConfigError>> = const { OnceCell::new() };
}

/// The configuration from vars and secrets, read on the isolate's first call.
pub fn config(env: &Env) -> Result<Config, ConfigError> {
    CONFIG.with(|c| c.get_or_init(|| read(env)).clone())
}

fn read(env: &Env) -> Result<Config, ConfigError> {
    let lookup = |k: &str| {
        env.secret(k)
            .map(|s| s.to_string())
            .or_else(|_| env.var(k).map(|v| v.to_string()))
            .ok()
    };
    let c = Config::from_lookup(lookup)?;
    super::console::set_level(c.log_level);
    warn_once(&c);
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
