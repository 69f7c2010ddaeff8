//! A fixed-window counter per key (a client address), bounded in the keys it remembers, for
//! refusing floods of handshakes before they cost a Durable Object.

use std::collections::HashMap;

#[derive(Debug)]
pub struct WindowLimiter {
    window_ms: u64,
    limit: u64,
    max_keys: usize,
    windows: HashMap<String, (u64, u64)>,
}

impl WindowLimiter {
    pub fn new(window_ms: u64, limit: u64, max_keys: usize) -> Self {
        WindowLimiter {
            window_ms,
            limit,
            max_keys,
            windows: HashMap::new(),
        }
    }

    /// Counts one request from `key`; `Err(ms)` says when the key may try again.
    pub fn check(&mut self, key: &str, now: u64) -> Result<(), u64> {
        if self.limit == 0 {
            return Ok(());
        }
        let start = now - now % self.window_ms;
        if self.windows.len() >= self.max_keys && !self.windows.contains_key(key) {
            self.windows.retain(|_, (s, _)| *s == start);
            if self.windows.len() >= self.max_keys {
                // Too many addresses in one window: count them all as one.
                return self.count("*", start, now);
            }
        }
        self.count(key, start, now)
    }

    fn count(&mut self, key: &str, start: u64, now: u64) -> Result<(), u64> {
        let entry = self.windows.entry(key.to_owned()).or_insert((start, 0));
        if entry.0 != start {
            *entry = (start, 0);
        }
        if entry.1 >= self.limit {
            return Err(start + self.window_ms - now);
        }
        entry.1 += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_past_the_limit_until_the_window_ends() {
        let mut l = WindowLimiter::new(10_000, 3, 100);
        for _ in 0..3 {
            assert_eq!(l.check("a", 20_500), Ok(()));
        }
        assert_eq!(l.check("a", 21_000), Err(9_000));
        assert_eq!(
            l.check("b", 21_000),
            Ok(()),
            "another address has its own count"
        );
        assert_eq!(l.check("a", 30_000), Ok(()), "a new window");
    }

    #[test]
    fn zero_is_off() {
        let mut l = WindowLimiter::new(10_000, 0, 1);
        for _ in 0..1000 {
            assert_eq!(l.check("a", 1), Ok(()));
        }
    }

    #[test]
    fn remembers_a_bounded_number_of_addresses() {
        let mut l = WindowLimiter::new(10_000, 2, 10);
        for i in 0..10 {
            assert!(l.check(&format!("k{i}"), 0).is_ok());
        }
        // A flood from fresh addresses shares one counter once the table is full.
        assert!(l.check("new1", 1).is_ok());
        assert!(l.check("new2", 1).is_ok());
        assert!(l.check("new3", 1).is_err());
        assert!(l.windows.len() <= 11);
        // The next window forgets the old addresses.
        assert!(l.check("new4", 10_001).is_ok());
        assert!(l.windows.len() <= 2);
    }
}
