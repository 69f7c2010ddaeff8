//! Small helpers over the Workers runtime shared by the Worker and the Durable Object.

use std::cell::Cell;

use wasm_bindgen::prelude::*;
use worker::{Env, Headers, ObjectNamespace, Request, Response, Stub};

use crate::config::{Config, ConfigError, Mirror};
use crate::log::{Level, Line};
use crate::protocol::engineio::HttpError;

/// The Durable Object binding in wrangler.toml.
pub const BINDING: &str = "USER_SESSION";

/// Headers the Worker adds for the Durable Object; stripped from every client request first.
pub const INTERNAL_PREFIX: &str = "x-gw-";
pub const H_USER: &str = "x-gw-user";
pub const H_AUTH: &str = "x-gw-auth";
pub const H_RELAY_SID: &str = "x-gw-relay-sid";
pub const H_CORS_ORIGIN: &str = "x-gw-cors-origin";
/// The Worker refused to read a polling body over `maxPayload`.
pub const H_OVERSIZE: &str = "x-gw-oversize";

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = crypto, js_name = getRandomValues)]
    fn get_random_values(buf: &mut [u8]);
}

pub fn random_bytes(buf: &mut [u8]) {
    get_random_values(buf);
}

pub struct CryptoIds;

impl crate::session::Ids for CryptoIds {
    fn fill(&mut self, buf: &mut [u8]) {
        random_bytes(buf);
    }
}

pub fn now_ms() -> u64 {
    js_sys::Date::now() as u64
}

pub fn log(line: &Line) {
    let text = line.render(now_ms());
    match line.level {
        Level::Error => web_sys_console::error(&text),
        Level::Warn => web_sys_console::warn(&text),
        _ => web_sys_console::log(&text),
    }
}

mod web_sys_console {
    use wasm_bindgen::prelude::*;
    #[wasm_bindgen]
    extern "C" {
        #[wasm_bindgen(js_namespace = console)]
        pub fn log(s: &str);
        #[wasm_bindgen(js_namespace = console)]
        pub fn warn(s: &str);
        #[wasm_bindgen(js_namespace = console)]
        pub fn error(s: &str);
    }
}

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
    if !WARNED.with(|w| w.replace(true)) {
        if c.allowed_origins.is_none() {
            log(&Line::new(
                Level::Warn,
                "DOMAIN_URL is unset: every origin is allowed",
            ));
        }
        if c.jwt.secret.is_none() {
            log(&Line::new(
                Level::Error,
                "JWT_SECRET is unset: every connection is refused with SERVER_MISCONFIGURED",
            ));
        }
        match &c.mirror {
            Mirror::Off => log(&Line::new(
                Level::Info,
                "Redis mirror is off (UPSTASH_REDIS_REST_URL is unset)",
            )),
            Mirror::Refused(e) => log(&Line::new(
                Level::Error,
                format!("Redis mirror is off: {e}"),
            )
            .with("var", e.var)),
            Mirror::On(_) => {}
        }
        if c.conformance {
            log(&Line::new(
                Level::Warn,
                "SOCKETIO_CONFORMANCE=1: authentication is off; never use this outside protocol tests",
            ));
        }
    }
    Ok(c)
}

pub fn config_error_response(e: &ConfigError) -> worker::Result<Response> {
    log(&Line::new(Level::Error, format!("configuration error: {e}")).with("var", e.var));
    let body = serde_json::json!({ "code": "SERVER_MISCONFIGURED", "message": e.to_string() });
    Ok(Response::from_json(&body)?.with_status(500))
}

pub fn cors_headers(h: &Headers, origin: Option<&str>) -> worker::Result<()> {
    if let Some(o) = origin {
        h.set("Access-Control-Allow-Origin", o)?;
        h.set("Access-Control-Allow-Credentials", "true")?;
        h.append("Vary", "Origin")?;
    }
    Ok(())
}

pub fn http_error(e: HttpError, origin: Option<&str>) -> worker::Result<Response> {
    let h = Headers::new();
    h.set("Content-Type", e.content_type())?;
    cors_headers(&h, origin)?;
    Ok(Response::ok(e.body())?
        .with_status(e.status())
        .with_headers(h))
}

/// A polling response: the body is an Engine.IO payload or `ok`.
pub fn text_response(body: String, origin: Option<&str>) -> worker::Result<Response> {
    let h = Headers::new();
    h.set("Content-Type", "text/plain; charset=UTF-8")?;
    h.set("Cache-Control", "no-store")?;
    cors_headers(&h, origin)?;
    Ok(Response::ok(body)?.with_headers(h))
}

/// Header values are ByteStrings; user ids may not be.
pub fn encode_header(v: &str) -> String {
    url::form_urlencoded::byte_serialize(v.as_bytes()).collect()
}

pub fn decode_header(v: &str) -> String {
    url::form_urlencoded::parse(format!("v={v}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// The name a user's object is created under.
fn user_object_name(user: &str) -> String {
    format!("user:{user}")
}

/// The stub of `user`'s object in `namespace`.
pub fn user_stub_in(namespace: &ObjectNamespace, user: &str) -> worker::Result<Stub> {
    namespace.id_from_name(&user_object_name(user))?.get_stub()
}

/// The stub of `user`'s object.
pub fn user_stub(env: &Env, user: &str) -> worker::Result<Stub> {
    user_stub_in(&env.durable_object(BINDING)?, user)
}

pub fn is_websocket_upgrade(req: &Request) -> worker::Result<bool> {
    Ok(req
        .headers()
        .get("Upgrade")?
        .is_some_and(|u| u.eq_ignore_ascii_case("websocket")))
}
