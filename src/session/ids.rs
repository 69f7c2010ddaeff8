//! Random bytes for ids drawn from a source in blocks: a source that is a runtime call
//! (`crypto.getRandomValues`) costs more per call than a request id is worth.

use super::Ids;

/// How many bytes are drawn at a time: a prompt's request id takes 12, so one draw serves
/// about 20 prompts.
pub const POOL: usize = 256;

/// Hands out each drawn byte once and forgets it.
pub struct PooledIds<S: FnMut(&mut [u8])> {
    source: S,
    pool: [u8; POOL],
    /// Bytes of `pool` already handed out.
    used: usize,
}

impl<S: FnMut(&mut [u8])> PooledIds<S> {
    pub fn new(source: S) -> Self {
        PooledIds {
            source,
            pool: [0; POOL],
            used: POOL,
        }
    }
}

impl<S: FnMut(&mut [u8])> Ids for PooledIds<S> {
    fn fill(&mut self, buf: &mut [u8]) {
        if buf.len() > POOL {
            return (self.source)(buf);
        }
        if POOL - self.used < buf.len() {
            (self.source)(&mut self.pool);
            self.used = 0;
        }
        let given = &mut self.pool[self.used..self.used + buf.len()];
        buf.copy_from_slice(given);
        given.fill(0);
        self.used += buf.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Calls made to the source, and the number of the last byte it gave.
    type Drawn = std::rc::Rc<std::cell::Cell<(u32, u8)>>;

    /// A source that counts its calls and numbers every byte it ever gave.
    fn counting() -> (impl FnMut(&mut [u8]), Drawn) {
        let state = Drawn::default();
        let s = state.clone();
        let source = move |buf: &mut [u8]| {
            let (calls, mut next) = s.get();
            for b in buf.iter_mut() {
                next = next.wrapping_add(1);
                *b = next;
            }
            s.set((calls + 1, next));
        };
        (source, state)
    }

    #[test]
    fn one_draw_serves_many_ids_and_no_byte_is_given_twice() {
        let (source, state) = counting();
        let mut ids = PooledIds::new(source);
        let mut seen = Vec::new();
        for _ in 0..POOL / 12 {
            let mut id = [0u8; 12];
            ids.fill(&mut id);
            seen.extend_from_slice(&id);
        }
        assert_eq!(state.get().0, 1, "one draw for {} ids", POOL / 12);
        let expected: Vec<u8> = (1..=seen.len()).map(|n| n as u8).collect();
        assert_eq!(seen, expected, "bytes in draw order, each once");

        // The pool's last 4 bytes are too few for another id: a new draw, none reused.
        let mut id = [0u8; 12];
        ids.fill(&mut id);
        assert_eq!(state.get().0, 2);
        assert_eq!(id[0], (POOL + 1) as u8);
    }

    #[test]
    fn a_request_larger_than_the_pool_goes_to_the_source_alone() {
        let (source, state) = counting();
        let mut ids = PooledIds::new(source);
        let mut big = vec![0u8; POOL + 1];
        ids.fill(&mut big);
        assert_eq!(state.get().0, 1);
        assert_eq!(big[0], 1);
        // The pool is untouched: the next id draws it.
        let mut id = [0u8; 4];
        ids.fill(&mut id);
        assert_eq!(state.get().0, 2);
    }
}
