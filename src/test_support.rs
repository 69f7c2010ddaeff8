//! Helpers shared by the unit tests of several modules.

use std::future::Future;

/// Runs a future that never waits (its transport is a fake that answers at once).
pub fn block_on<F: Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match f.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(v) => v,
        std::task::Poll::Pending => panic!("fake transport never pends"),
    }
}
