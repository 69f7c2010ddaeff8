//! Small helpers over the Workers runtime, shared by the Worker (`edge`) and the Durable Object
//! (`object`): the internal headers between them, HTTP responses, the clock and randomness, the
//! log sink, reading the configuration from the environment, and finding a user's object.

pub mod clock;
pub mod console;
pub mod env;
pub mod headers;
pub mod http;
pub mod random;
pub mod stubs;
