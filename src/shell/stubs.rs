//! Finding Durable Objects: the bindings' names in wrangler.toml, the object each user is
//! served by, and the object that keeps each room's members.

use worker::{Env, ObjectNamespace, Result, Stub};

/// The Durable Object binding in wrangler.toml.
pub const BINDING: &str = "USER_SESSION";

/// The name a user's object is created under.
fn user_object_name(user: &str) -> String {
    format!("user:{user}")
}

/// The stub of `user`'s object in `namespace`.
pub fn user_stub_in(namespace: &ObjectNamespace, user: &str) -> Result<Stub> {
    namespace.id_from_name(&user_object_name(user))?.get_stub()
}

/// The stub of `user`'s object.
pub fn user_stub(env: &Env, user: &str) -> Result<Stub> {
    user_stub_in(&env.durable_object(BINDING)?, user)
}

/// The binding of the room objects in wrangler.toml.
pub const ROOM_BINDING: &str = "ROOM";

/// The stub of `room`'s object.
pub fn room_stub(env: &Env, room: &str) -> Result<Stub> {
    env.durable_object(ROOM_BINDING)?
        .id_from_name(&format!("room:{room}"))?
        .get_stub()
}
