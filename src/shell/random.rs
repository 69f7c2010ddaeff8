//! Randomness from the runtime's `crypto.getRandomValues`, and the session machine's id source
//! built on it.

use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = crypto, js_name = getRandomValues)]
    fn get_random_values(buf: &mut [u8]);
}

pub fn random_bytes(buf: &mut [u8]) {
    get_random_values(buf);
}

/// How many random bytes the id source draws from the runtime at a time: a prompt's request id
/// takes 12, so one call serves about 20 prompts.
const POOL: usize = 256;

/// The session machine's ids (socket ids, request ids) from `crypto.getRandomValues`, drawn in
/// blocks: every byte is used once, and a call to the runtime per id cost more than the id.
pub struct CryptoIds {
    pool: [u8; POOL],
    /// Bytes of `pool` already handed out.
    used: usize,
}

impl Default for CryptoIds {
    fn default() -> Self {
        CryptoIds {
            pool: [0; POOL],
            used: POOL,
        }
    }
}

impl crate::session::Ids for CryptoIds {
    fn fill(&mut self, buf: &mut [u8]) {
        if buf.len() > POOL {
            return random_bytes(buf);
        }
        if POOL - self.used < buf.len() {
            random_bytes(&mut self.pool);
            self.used = 0;
        }
        buf.copy_from_slice(&self.pool[self.used..self.used + buf.len()]);
        // Handed-out bytes are not kept around in the pool.
        self.pool[self.used..self.used + buf.len()].fill(0);
        self.used += buf.len();
    }
}
