//! Deltas to `prompt-chunk` events `{ requestId, index, delta }`.
//!
//! A WebSocket on Workers has no backpressure signal, so small deltas are gathered into chunks:
//! a chunk is released when its text reaches [`MAX_CHUNK_BYTES`] (cut only between UTF-8
//! characters) or [`MAX_DELAY_MS`] after its first delta arrived; `finish` flushes the rest.
//! `index` counts from 0 without gaps and the chunks joined equal the deltas joined. The caller
//! owns time: it passes `now` and asks [`Coalescer::deadline`] when to call [`Coalescer::due`].

use serde_json::{json, Value};

pub const MAX_CHUNK_BYTES: usize = 4096;
pub const MAX_DELAY_MS: u64 = 50;

/// One `prompt-chunk` event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    pub index: u64,
    pub delta: String,
}

impl Chunk {
    pub fn payload(&self, request_id: &str) -> Value {
        json!({ "requestId": request_id, "index": self.index, "delta": self.delta })
    }
}

#[derive(Debug, Clone)]
pub struct Coalescer {
    buf: String,
    first_at: Option<u64>,
    next_index: u64,
    max_bytes: usize,
    max_delay_ms: u64,
}

impl Default for Coalescer {
    fn default() -> Self {
        Coalescer::new(MAX_CHUNK_BYTES, MAX_DELAY_MS)
    }
}

impl Coalescer {
    /// `max_bytes` is raised to 4 so that any character fits in a chunk.
    pub fn new(max_bytes: usize, max_delay_ms: u64) -> Self {
        Coalescer {
            buf: String::new(),
            first_at: None,
            next_index: 0,
            max_bytes: max_bytes.max(4),
            max_delay_ms,
        }
    }

    /// Chunks released so far (the index the next chunk gets).
    pub fn released(&self) -> u64 {
        self.next_index
    }

    /// Adds a delta received at `now`; returns the chunks it fills up.
    pub fn push(&mut self, now: u64, delta: &str) -> Vec<Chunk> {
        if delta.is_empty() {
            return Vec::new();
        }
        let old_len = self.buf.len();
        if old_len == 0 {
            self.first_at = Some(now);
        }
        self.buf.push_str(delta);
        let mut out = Vec::new();
        let mut released = 0;
        while self.buf.len() >= self.max_bytes {
            let mut cut = self.max_bytes;
            while !self.buf.is_char_boundary(cut) {
                cut -= 1;
            }
            let rest = self.buf.split_off(cut);
            let text = std::mem::replace(&mut self.buf, rest);
            released += text.len();
            out.push(self.release(text));
        }
        if self.buf.is_empty() {
            self.first_at = None;
        } else if released >= old_len {
            // What is left came with this delta.
            self.first_at = Some(now);
        }
        out
    }

    fn release(&mut self, delta: String) -> Chunk {
        let chunk = Chunk {
            index: self.next_index,
            delta,
        };
        self.next_index += 1;
        chunk
    }

    /// When the buffered text must be released, if any is buffered.
    pub fn deadline(&self) -> Option<u64> {
        self.first_at.map(|t| t.saturating_add(self.max_delay_ms))
    }

    /// The buffered text as a chunk, when its deadline has come.
    pub fn due(&mut self, now: u64) -> Option<Chunk> {
        match self.deadline() {
            Some(t) if t <= now => self.finish(),
            _ => None,
        }
    }

    /// Releases whatever is buffered (the stream ended).
    pub fn finish(&mut self) -> Option<Chunk> {
        self.first_at = None;
        if self.buf.is_empty() {
            return None;
        }
        let text = std::mem::take(&mut self.buf);
        Some(self.release(text))
    }
}

// Property tests run natively only (proptest does not build for wasm32-unknown-unknown).
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn small_deltas_wait_for_the_deadline() {
        let mut c = Coalescer::default();
        assert_eq!(c.deadline(), None);
        assert!(c.push(100, "Hel").is_empty());
        assert!(c.push(120, "lo").is_empty());
        assert_eq!(c.deadline(), Some(150));
        assert_eq!(c.due(149), None);
        let chunk = c.due(150).unwrap();
        assert_eq!((chunk.index, chunk.delta.as_str()), (0, "Hello"));
        assert_eq!(c.deadline(), None);
        assert!(c.push(300, " world").is_empty());
        assert_eq!(c.deadline(), Some(350));
        assert_eq!(
            c.finish().unwrap(),
            Chunk {
                index: 1,
                delta: " world".into()
            }
        );
        assert_eq!(c.finish(), None);
        assert!(c.push(400, "").is_empty());
        assert_eq!(c.deadline(), None);
    }

    #[test]
    fn big_deltas_are_cut_at_character_boundaries() {
        let mut c = Coalescer::default();
        let text = "é".repeat(3000); // 6000 bytes
        let chunks = c.push(7, &text);
        assert_eq!(chunks.len(), 1);
        assert_eq!(chunks[0].delta.len(), 4096);
        assert_eq!(c.deadline(), Some(57));
        let rest = c.finish().unwrap();
        assert_eq!(rest.index, 1);
        assert_eq!(chunks[0].delta.clone() + &rest.delta, text);
        let mut c = Coalescer::new(4, 50);
        let chunks = c.push(0, "a🎉b");
        assert_eq!(chunks[0].delta, "a");
        assert_eq!(chunks[1].delta, "🎉");
        assert_eq!(c.finish().unwrap().delta, "b");
    }

    #[test]
    fn payload_names_the_request() {
        let chunk = Chunk {
            index: 3,
            delta: "x".into(),
        };
        assert_eq!(
            chunk.payload("r"),
            json!({"requestId": "r", "index": 3, "delta": "x"})
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        #[test]
        fn chunks_join_to_the_deltas_in_order_without_gaps(
            deltas in prop::collection::vec(("[a-zé🎉 ]{0,20}", 0u64..80), 0..40),
            max_bytes in 1usize..40,
        ) {
            let mut c = Coalescer::new(max_bytes, 50);
            let mut now = 0;
            let mut chunks = Vec::new();
            for (d, gap) in &deltas {
                now += gap;
                chunks.extend(c.due(now));
                chunks.extend(c.push(now, d));
                if let Some(t) = c.deadline() {
                    prop_assert!(t > now);
                }
            }
            chunks.extend(c.finish());
            let joined: String = chunks.iter().map(|ch| ch.delta.as_str()).collect();
            let expected: String = deltas.iter().map(|(d, _)| d.as_str()).collect();
            prop_assert_eq!(joined, expected);
            for (i, ch) in chunks.iter().enumerate() {
                prop_assert_eq!(ch.index, i as u64);
                prop_assert!(!ch.delta.is_empty());
                prop_assert!(ch.delta.len() <= max_bytes.max(4));
            }
        }
    }
}
