//! Every timer of the object, by name. Each layer reports its deadlines; the object's alarm is
//! set to the earliest, and a tick handles whatever is due.

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Timer {
    /// Time to send the next Engine.IO ping.
    Ping,
    /// A ping got no pong in time.
    PongTimeout,
    /// A session joined no namespace in time.
    ConnectTimeout,
    /// A closing polling session waits this long for a GET to collect its close packet.
    CloseLinger,
    /// A gate forgets a handed-over sid nobody asked for.
    ForwardIdle,
    /// The Redis mirror's next write or retry.
    MirrorRetry,
    /// Prompts are running (the object must stay awake), or a restart interrupted some.
    PromptKeepAlive,
    /// History rows pass `HISTORY_RETENTION_DAYS`.
    HistoryPrune,
    /// Room joins not confirmed yet are sent again.
    RoomJoinRetry,
    /// A connection's token expires (`DISCONNECT_ON_TOKEN_EXPIRY`).
    TokenExpiry,
    /// The user's object flushes its counts to a metrics object.
    MetricsFlush,
    /// Changes whose write was deferred are written (see `deferred`).
    DeferredWrite,
}

/// Collects `(timer, at)` pairs and keeps the earliest.
#[derive(Debug, Default)]
pub struct Deadlines {
    next: Option<(u64, Timer)>,
}

impl Deadlines {
    pub fn add(&mut self, timer: Timer, at: u64) {
        if self.next.is_none_or(|(t, _)| at < t) {
            self.next = Some((at, timer));
        }
    }

    pub fn add_opt(&mut self, timer: Timer, at: Option<u64>) {
        if let Some(at) = at {
            self.add(timer, at);
        }
    }

    /// The earliest deadline and the timer it belongs to.
    pub fn earliest(&self) -> Option<(u64, Timer)> {
        self.next
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_earliest_deadline_and_its_timer() {
        let mut d = Deadlines::default();
        assert_eq!(d.earliest(), None);
        d.add(Timer::Ping, 50);
        d.add_opt(Timer::MirrorRetry, None);
        d.add(Timer::ConnectTimeout, 20);
        d.add(Timer::ForwardIdle, 30);
        assert_eq!(d.earliest(), Some((20, Timer::ConnectTimeout)));
    }
}
