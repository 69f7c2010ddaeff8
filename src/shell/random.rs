//! Randomness from the runtime's `crypto.getRandomValues`, and the session machine's id source
//! built on it.

use wasm_bindgen::prelude::*;

use crate::session::ids::PooledIds;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = crypto, js_name = getRandomValues)]
    fn get_random_values(buf: &mut [u8]);
}

pub fn random_bytes(buf: &mut [u8]) {
    get_random_values(buf);
}

/// The session machine's ids (socket ids, request ids), drawn from `crypto.getRandomValues`
/// a block at a time.
pub fn crypto_ids() -> PooledIds<fn(&mut [u8])> {
    PooledIds::new(random_bytes)
}
