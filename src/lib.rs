//! A Socket.IO-compatible prompt gateway for Cloudflare Workers.
//!
//! Everything outside `edge`, `object`, `shell` and `assets` is plain Rust without I/O, tested
//! natively; those modules are the thin shell over the Workers runtime and exist only on wasm32.
pub mod auth;
pub mod config;
pub mod http_url;
pub mod log;
pub mod metrics;
pub mod mirror;
pub mod prompt;
pub mod protocol;
pub mod push;
pub mod ratelimit;
pub mod relay_budget;
pub mod request_url;
/// The storage schema's migration plan (pure, tested natively), beside the object that applies it.
#[path = "object/schema.rs"]
pub mod schema;
pub mod session;
pub mod sid;
pub mod strmap;
#[cfg(test)]
mod test_support;

#[cfg(target_arch = "wasm32")]
mod assets;
#[cfg(target_arch = "wasm32")]
mod edge;
#[cfg(target_arch = "wasm32")]
mod gather;
#[cfg(target_arch = "wasm32")]
mod object;
#[cfg(target_arch = "wasm32")]
mod shell;
