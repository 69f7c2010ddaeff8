//! The gate: an object that hosts a session before its user is known hands it to the user's
//! object once the CONNECT's token verifies (`hand_over`, answered by `adopt` there), then
//! forwards that sid's requests, and makes an early upgrade wait for the handover.

use futures_channel::oneshot;
use worker::*;

use super::UserSession;
use crate::log::{Level, Line};
use crate::protocol::engineio::HttpError;
use crate::session::Handover;
use crate::shell::clock::now_ms;
use crate::shell::console::log;
use crate::shell::http::{http_error, new_request};
use crate::shell::stubs::user_stub;

/// Where a gate posts a session to its user's object.
pub(super) const ADOPT_PATH: &str = "/__gateway/adopt";
/// How long a gate holds an early upgrade while the session's CONNECT is handed over.
const HANDOVER_WAIT_MS: u64 = 10_000;
/// How often the held upgrade looks whether the handover finished.
const HANDOVER_POLL_MS: u64 = 50;

impl UserSession {
    /// A gate passes requests for a handed-over session to the user's object.
    pub(super) async fn forward(&self, req: Request, sid: &str) -> Result<Response> {
        self.with_hub(|h| h.forward_used(now_ms(), sid));
        let pending = {
            let mut inner = self.inner.borrow_mut();
            inner.adopting.get_mut(sid).map(|list| {
                let (tx, rx) = oneshot::channel();
                list.push(tx);
                rx
            })
        };
        if let Some(rx) = pending {
            let _ = rx.await;
        }
        let Some(user) = self.with_hub(|h| h.forward_target(sid).map(str::to_owned)) else {
            return http_error(HttpError::UnknownSid, None);
        };
        user_stub(&self.env, &user)?.fetch_with_request(req).await
    }

    /// An upgrade that reached the gate while its session may still be handed over: waits for
    /// that, then forwards the upgrade to the user's object.
    pub(super) async fn upgrade_after_handover(
        &self,
        req: Request,
        sid: &str,
        origin: Option<&str>,
    ) -> Result<Response> {
        let deadline = now_ms() + HANDOVER_WAIT_MS;
        while now_ms() < deadline && self.with_hub(|h| h.has_session(sid)) {
            Delay::from(std::time::Duration::from_millis(HANDOVER_POLL_MS)).await;
        }
        if self.with_hub(|h| h.forward_target(sid).is_some()) {
            return self.forward(req, sid).await;
        }
        http_error(HttpError::BadRequest, origin)
    }

    /// The user's object takes a session a gate hands over.
    pub(super) async fn adopt(&self, mut req: Request) -> Result<Response> {
        let body = req.text().await?;
        let Ok(handover) = serde_json::from_str::<Handover>(&body) else {
            return Response::error("bad handover", 400);
        };
        let tokens = crate::auth::inbound::connect_tokens(&handover.replay, true);
        let r = self
            .feed_checked(tokens, |h| h.adopt(now_ms(), handover))
            .await;
        match r {
            Ok(actions) => {
                self.run(actions).await?;
                Response::ok("adopted")
            }
            Err(e) => http_error(e, None),
        }
    }

    /// Sends a session to its user's object, then releases every request waiting on it.
    pub(super) async fn hand_over(&self, h: Handover) -> Result<()> {
        let sid = h.session.eio.sid.clone();
        let sent = async {
            let stub = user_stub(&self.env, &h.user)?;
            let req = new_request(
                &format!("https://gateway{ADOPT_PATH}"),
                Method::Post,
                None,
                Some(serde_json::to_string(&h)?.into()),
            )?;
            stub.fetch_with_request(req).await
        }
        .await;
        match &sent {
            Ok(r) if r.status_code() == 200 => {}
            Ok(r) => log(&Line::new(Level::Error, "handover refused")
                .with("sid", crate::sid::tag(&sid))
                .with("status", r.status_code())),
            Err(e) => log(&Line::new(Level::Error, "handover failed")
                .with("sid", crate::sid::tag(&sid))
                .with("error", e.to_string())),
        }
        // Whatever happened, requests waiting on this session move on (to the user's object,
        // which answers 400 Session ID unknown if it never got the session).
        self.wake(&sid);
        let adopted = self.inner.borrow_mut().adopting.remove(&sid);
        for tx in adopted.into_iter().flatten() {
            let _ = tx.send(());
        }
        self.persist_and_schedule().await
    }
}
