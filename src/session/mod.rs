//! The per-object session machine: every Engine.IO session a Durable Object hosts, the user's
//! single current connection, and the Redis mirror plan. Inputs are requests, frames, timers
//! and results; outputs are [`Action`]s for the shell. No I/O, no clock: `now` is passed in.

mod hub;
#[cfg(test)]
mod tests;

pub use hub::*;
