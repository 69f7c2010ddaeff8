//! Finding Durable Objects: the binding's name in wrangler.toml and the object each user is
//! served by.

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
