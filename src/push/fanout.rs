//! Fan-out with bounded concurrency: a push to many users (a room, or `userIds`) calls their
//! objects at most [`FANOUT_CONCURRENCY`] at a time, starting the next call as soon as any one
//! finishes, so one slow object never holds up a whole batch.

use std::future::Future;

use futures_util::stream::{self, StreamExt};

/// Calls to users' objects in flight at once during one fan-out.
pub const FANOUT_CONCURRENCY: usize = 32;

/// Runs `call` on every item, at most `limit` at a time; results in completion order.
pub async fn fan_out<T, R, F, Fut>(items: Vec<T>, limit: usize, call: F) -> Vec<R>
where
    F: FnMut(T) -> Fut,
    Fut: Future<Output = R>,
{
    stream::iter(items)
        .map(call)
        .buffer_unordered(limit.max(1))
        .collect()
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::pin::{pin, Pin};
    use std::task::{Context, Poll, Waker};

    /// A call that stays pending for `polls` polls, counting the calls in flight.
    struct Call<'a> {
        polls: u32,
        in_flight: &'a Cell<usize>,
        peak: &'a Cell<usize>,
        started: bool,
        id: usize,
    }

    impl Future for Call<'_> {
        type Output = usize;
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<usize> {
            if !self.started {
                self.started = true;
                self.in_flight.set(self.in_flight.get() + 1);
                self.peak.set(self.peak.get().max(self.in_flight.get()));
            }
            if self.polls == 0 {
                self.in_flight.set(self.in_flight.get() - 1);
                return Poll::Ready(self.id);
            }
            self.polls -= 1;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }

    fn block_on<F: Future>(f: F) -> F::Output {
        let mut f = pin!(f);
        let mut cx = Context::from_waker(Waker::noop());
        for _ in 0..1_000_000 {
            if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
                return v;
            }
        }
        panic!("did not finish");
    }

    fn run(n: usize, limit: usize) -> (Vec<usize>, usize) {
        let in_flight = Cell::new(0);
        let peak = Cell::new(0);
        let out = block_on(fan_out((0..n).collect(), limit, |id| Call {
            polls: 1 + (id % 5) as u32,
            in_flight: &in_flight,
            peak: &peak,
            started: false,
            id,
        }));
        (out, peak.get())
    }

    #[test]
    fn every_item_once_and_never_more_than_the_limit_at_once() {
        let (mut out, peak) = run(500, FANOUT_CONCURRENCY);
        assert_eq!(peak, FANOUT_CONCURRENCY);
        out.sort();
        assert_eq!(out, (0..500).collect::<Vec<_>>());
    }

    #[test]
    fn fewer_items_than_the_limit_all_run_at_once() {
        let (out, peak) = run(10, 32);
        assert_eq!(out.len(), 10);
        assert!(peak <= 10);
        let (out, peak) = run(3, 0);
        assert_eq!(
            (out.len(), peak),
            (3, 1),
            "a limit of 0 still makes progress"
        );
    }

    #[test]
    fn a_slow_call_does_not_hold_up_the_others() {
        let in_flight = Cell::new(0);
        let peak = Cell::new(0);
        let out = block_on(fan_out((0..40).collect(), 4, |id| Call {
            polls: if id == 0 { 200 } else { 1 },
            in_flight: &in_flight,
            peak: &peak,
            started: false,
            id,
        }));
        assert_eq!(*out.last().unwrap(), 0, "the slow call finishes last");
        assert_eq!(peak.get(), 4);
    }
}
