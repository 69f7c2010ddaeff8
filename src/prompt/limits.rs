//! The per-user prompt rate limit: a token bucket (`PROMPT_RATE_PER_MINUTE` tokens a minute,
//! at most `PROMPT_BURST` saved up), persisted with the user's state.
//!
//! The bucket stores what was spent rather than what is left, so a fresh (default) bucket is
//! full whatever the burst is, and a changed burst applies at once. Time is given by the caller.

use serde::{Deserialize, Serialize};

const MS_PER_MINUTE: f64 = 60_000.0;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TokenBucket {
    /// Tokens spent and not yet refilled, as of `updated_at` (0 = full).
    pub spent: f64,
    /// Epoch milliseconds of the last update; never moves backwards.
    pub updated_at: u64,
}

impl TokenBucket {
    fn refill(&mut self, now_ms: u64, rate_per_minute: u64) {
        if now_ms > self.updated_at {
            let elapsed = (now_ms - self.updated_at) as f64;
            let refilled = elapsed * rate_per_minute as f64 / MS_PER_MINUTE;
            self.spent = (self.spent - refilled).max(0.0);
            self.updated_at = now_ms;
        }
    }

    /// Tokens available at `now_ms`, between 0 and `burst`.
    pub fn available(&self, now_ms: u64, rate_per_minute: u64, burst: u64) -> f64 {
        let mut b = self.clone();
        b.refill(now_ms, rate_per_minute);
        (burst as f64 - b.spent).max(0.0)
    }

    /// Takes one token. `Err(ms)`: the bucket is empty and one token is back in `ms`
    /// milliseconds (at least 1). A rate of 0 means no bucket: always `Ok`. A refused take
    /// changes nothing but the refill bookkeeping, so refused prompts consume no token.
    pub fn take(&mut self, now_ms: u64, rate_per_minute: u64, burst: u64) -> Result<(), u64> {
        if rate_per_minute == 0 {
            return Ok(());
        }
        self.refill(now_ms, rate_per_minute);
        // Spending more than the burst is never recorded, so `spent` stays within [0, burst].
        self.spent = self.spent.min(burst as f64);
        let missing = self.spent + 1.0 - burst as f64;
        // A tiny tolerance absorbs float rounding of a refill that is exactly due.
        if missing <= 1e-9 {
            self.spent += 1.0;
            return Ok(());
        }
        let wait = (missing * MS_PER_MINUTE / rate_per_minute as f64).ceil();
        Err((wait as u64).max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u64 = 1_800_000_000_000;

    #[test]
    fn burst_then_refusal_with_the_time_until_one_token() {
        let mut b = TokenBucket::default();
        for _ in 0..10 {
            assert_eq!(b.take(T0, 60, 10), Ok(()));
        }
        // 60 a minute: one token a second.
        assert_eq!(b.take(T0, 60, 10), Err(1000));
        assert_eq!(b.take(T0 + 400, 60, 10), Err(600));
        assert_eq!(b.take(T0 + 1000, 60, 10), Ok(()));
        assert_eq!(b.take(T0 + 1000, 60, 10), Err(1000));
        // 7 a minute: a token every 8571.4 ms, rounded up.
        let mut b = TokenBucket::default();
        assert_eq!(b.take(T0, 7, 1), Ok(()));
        assert_eq!(b.take(T0, 7, 1), Err(8572));
    }

    #[test]
    fn refills_but_never_beyond_the_burst() {
        let mut b = TokenBucket::default();
        for _ in 0..3 {
            b.take(T0, 60, 3).unwrap();
        }
        assert_eq!(b.available(T0, 60, 3), 0.0);
        assert_eq!(b.available(T0 + 2000, 60, 3), 2.0);
        // An hour idle still holds only the burst.
        let later = T0 + 3_600_000;
        assert_eq!(b.available(later, 60, 3), 3.0);
        for _ in 0..3 {
            assert_eq!(b.take(later, 60, 3), Ok(()));
        }
        assert!(b.take(later, 60, 3).is_err());
    }

    #[test]
    fn a_clock_going_backwards_is_harmless() {
        let mut b = TokenBucket::default();
        b.take(T0, 60, 1).unwrap();
        assert_eq!(b.take(T0 - 5000, 60, 1), Err(1000));
        assert_eq!(b.updated_at, T0);
        assert_eq!(b.take(T0 + 1000, 60, 1), Ok(()));
        // A bucket from the future (restored state, skewed clock) refills from its own time.
        let mut b = TokenBucket {
            spent: 1.0,
            updated_at: T0 + 10_000,
        };
        assert_eq!(b.take(T0, 60, 1), Err(1000));
    }

    #[test]
    fn rate_zero_is_no_bucket_and_a_smaller_burst_applies_at_once() {
        let mut b = TokenBucket::default();
        for _ in 0..1000 {
            assert_eq!(b.take(T0, 0, 1), Ok(()));
        }
        let mut b = TokenBucket::default();
        for _ in 0..10 {
            b.take(T0, 60, 10).unwrap();
        }
        assert_eq!(b.take(T0, 60, 2), Err(1000));
        assert!(b.spent <= 10.0);
    }

    #[test]
    fn survives_serialization() {
        let mut b = TokenBucket::default();
        b.take(T0, 60, 2).unwrap();
        let json = serde_json::to_string(&b).unwrap();
        let mut back: TokenBucket = serde_json::from_str(&json).unwrap();
        assert_eq!(back, b);
        assert_eq!(back.take(T0, 60, 2), Ok(()));
        assert_eq!(back.take(T0, 60, 2), Err(1000));
    }
}
