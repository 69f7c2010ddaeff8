//! Wire formats, free of I/O.
pub mod engineio;
pub mod socketio;

// Property tests run natively only (proptest does not build for wasm32-unknown-unknown).
#[cfg(all(test, not(target_arch = "wasm32")))]
pub(crate) mod fuzz_tests;
