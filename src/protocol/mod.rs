//! Wire formats, free of I/O.
pub mod engineio;
pub mod socketio;
