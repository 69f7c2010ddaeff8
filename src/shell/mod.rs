//! Small helpers over the Workers runtime, shared by the Worker (`edge`) and the Durable Object
//! (`object`): the internal headers between them, HTTP responses, the clock and randomness, the
//! log sink, a socket's sid (`tags`), reading the configuration from the environment, an
//! object's string storage (`kv`), finding a user's (or a room's) object, pushing events to users' objects, and the
//! identity provider's keys with WebCrypto signature checks (`jwks`, `webcrypto`).

pub mod clock;
pub mod console;
pub mod env;
pub mod headers;
pub mod http;
pub mod jwks;
pub mod kv;
pub mod push;
pub mod random;
pub mod stubs;
pub mod tags;
pub mod webcrypto;
