//! HTTP long-polling: a POST delivers the client's packets, a GET is answered at once when
//! packets wait and is otherwise held until the machine has some, the session moves away
//! (upgrade, handover) or it ends.

use futures_channel::oneshot;
use futures_util::future::{select, Either};
use worker::*;

use super::UserSession;
use crate::session::Poll;
use crate::shell::clock::now_ms;
use crate::shell::headers::H_OVERSIZE;
use crate::shell::http::{http_error, text_response};

/// How often a GET waiting during an upgrade is released with a noop.
const UPGRADE_NOOP_MS: u64 = 100;

impl UserSession {
    pub(super) async fn post(
        &self,
        mut req: Request,
        sid: &str,
        origin: Option<&str>,
    ) -> Result<Response> {
        let (begun, actions) = self.with_hub(|h| h.post_begin(now_ms(), sid));
        self.run(actions).await?;
        if let Err(e) = begun {
            return http_error(e, origin);
        }
        // The Worker read the body already, or refused to when it was over maxPayload.
        let (result, actions) = if req.headers().get(H_OVERSIZE)?.is_some() {
            self.with_hub(|h| h.post_too_large(now_ms(), sid))
        } else {
            let body = req.text().await.unwrap_or_default();
            let tokens = crate::auth::inbound::connect_tokens(&body, true);
            self.feed_checked(tokens, |h| h.post(now_ms(), sid, &body))
                .await
        };
        self.run(actions).await?;
        match result {
            Ok(()) => text_response("ok".into(), origin),
            Err(e) => http_error(e, origin),
        }
    }

    pub(super) async fn poll(
        &self,
        req: Request,
        sid: &str,
        origin: Option<&str>,
    ) -> Result<Response> {
        let (begun, actions) = self.with_hub(|h| h.poll_begin(now_ms(), sid));
        self.run(actions).await?;
        match begun {
            Err(e) => return http_error(e, origin),
            Ok(Poll::Ready(body)) => return text_response(body, origin),
            Ok(Poll::Wait) => {}
        }
        loop {
            let (tx, rx) = oneshot::channel();
            self.inner.borrow_mut().waiters.insert(sid.to_owned(), tx);
            if self.with_hub(|h| h.is_upgrading(sid)) {
                let tick = Delay::from(std::time::Duration::from_millis(UPGRADE_NOOP_MS));
                if let Either::Right(_) = select(rx, tick).await {
                    if let Some(body) = self.with_hub(|h| h.upgrade_flush(sid)) {
                        self.inner.borrow_mut().waiters.remove(sid);
                        return text_response(body, origin);
                    }
                }
            } else if let Some(ms) = self.memory_timer_ms() {
                let timer = Delay::from(std::time::Duration::from_millis(ms.max(1)));
                if let Either::Right(_) = select(rx, timer).await {
                    self.inner.borrow_mut().waiters.remove(sid);
                    self.tick_timers().await?;
                }
            } else {
                let _ = rx.await;
            }
            if self.with_hub(|h| h.forward_target(sid).is_some()) {
                return self.forward(req, sid).await;
            }
            if let Some(body) = self.with_hub(|h| h.poll_resume(sid)) {
                self.persist_and_schedule().await?;
                return text_response(body, origin);
            }
        }
    }
}
