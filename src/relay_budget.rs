//! How much a Worker relay may carry before it hands its client a reconnect.
//!
//! A WebSocket relayed by the Worker (auth-payload tokens, WebSocket-only clients) is one Worker
//! invocation for the life of the connection, and Workers count CPU time per invocation (30 s by
//! default on the paid plans; Durable Objects instead get a fresh allowance with every incoming
//! message). Every relayed frame spends some of it, so a busy connection kept for hours would
//! eventually be cut by the platform at an arbitrary point. The relay stops first, at a frame
//! boundary of its choosing, and closes the client's transport: the stock client reconnects on
//! its own (and with connection state recovery on, resumes the same session with nothing lost).

/// Frames are counted in units: one per frame, plus one per started 16 KB beyond the first,
/// since copying a large frame through the relay costs more than a small one.
pub const UNIT_BYTES: usize = 16 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelayBudget {
    /// Units left; `None` is no budget.
    left: Option<u64>,
}

impl RelayBudget {
    /// `units == 0` turns the budget off.
    pub fn new(units: u64) -> Self {
        RelayBudget {
            left: (units > 0).then_some(units),
        }
    }

    /// Spends what relaying a frame of `len` bytes costs; false once the budget is used up
    /// (that frame is still relayed: the relay closes right after it).
    pub fn spend(&mut self, len: usize) -> bool {
        let Some(left) = self.left.as_mut() else {
            return true;
        };
        let cost = 1 + (len.saturating_sub(1) / UNIT_BYTES) as u64;
        *left = left.saturating_sub(cost);
        *left > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_frames_count_one_each_and_the_last_one_ends_it() {
        let mut b = RelayBudget::new(3);
        assert!(b.spend(10));
        assert!(b.spend(0));
        assert!(!b.spend(10));
        assert!(!b.spend(10));
    }

    #[test]
    fn large_frames_count_per_16_kb() {
        let mut b = RelayBudget::new(10);
        assert!(b.spend(UNIT_BYTES)); // 1
        assert!(b.spend(UNIT_BYTES + 1)); // 2 -> 3 spent
        assert!(b.spend(5 * UNIT_BYTES)); // 5 -> 8 spent
        assert!(!b.spend(2 * UNIT_BYTES)); // 2 -> 10 spent
    }

    #[test]
    fn zero_is_no_budget() {
        let mut b = RelayBudget::new(0);
        for _ in 0..10_000 {
            assert!(b.spend(1 << 20));
        }
    }
}
