//! Wire formats, free of I/O.
pub mod engineio;
pub mod socketio;

#[cfg(test)]
pub(crate) mod fuzz_tests;
