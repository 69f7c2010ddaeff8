//! Opening transports: the Engine.IO handshake (a polling session, a WebSocket, or a socket the
//! Worker relays) and the upgrade of a polling session to a WebSocket.

use worker::*;

use super::UserSession;
use crate::auth::AuthError;
use crate::session::{HttpAuth, Transport, Upgrade};
use crate::shell::clock::now_ms;
use crate::shell::headers::{self, H_AUTH, H_RELAY_SID, H_ROOMS, H_TOKEN_EXP, H_USER};
use crate::shell::http::{http_error, request_url, text_response, websocket_response};
use crate::shell::random::random_bytes;
use crate::sid;

/// The tag of a WebSocket accepted only to be closed; no session has this sid.
const REDUNDANT_TAG: &str = "-redundant";

impl UserSession {
    /// A new sid that routes to this object.
    fn mint_sid(&self) -> String {
        let mut random = [0u8; sid::RANDOM_BYTES];
        random_bytes(&mut random);
        sid::encode(&self.state.id().to_string(), &random).expect("object ids are hex")
    }

    /// What the Worker found out about the request's HTTP-level token.
    fn http_auth(req: &Request) -> Result<HttpAuth> {
        if let Some(u) = req.headers().get(H_USER)? {
            return Ok(HttpAuth::User(headers::decode(&u)));
        }
        let code = req.headers().get(H_AUTH)?;
        let err = code.as_deref().and_then(AuthError::from_code);
        Ok(HttpAuth::Failed(err.unwrap_or(AuthError::Missing)))
    }

    /// The rooms of the token the Worker verified (server push).
    fn http_rooms(req: &Request) -> Result<Vec<String>> {
        let rooms = req.headers().get(H_ROOMS)?;
        Ok(rooms.map(|r| headers::decode_rooms(&r)).unwrap_or_default())
    }

    pub(super) async fn handshake(
        &self,
        req: &Request,
        upgrade: bool,
        origin: Option<&str>,
    ) -> Result<Response> {
        let auth = Self::http_auth(req)?;
        let token_exp = req
            .headers()
            .get(H_TOKEN_EXP)?
            .and_then(|v| v.parse::<u64>().ok());
        let raw = request_url(req).path().starts_with("/engine.io");
        // A relayed socket got its open packet, and this sid, from the Worker.
        let relay_sid = req.headers().get(H_RELAY_SID)?;
        let sid = relay_sid.clone().unwrap_or_else(|| self.mint_sid());
        let transport = if upgrade {
            Transport::WebSocket
        } else {
            Transport::Polling
        };
        let rooms = Self::http_rooms(req)?;
        let (open, actions) = self.with_hub(|h| {
            let opened = h.open(now_ms(), &sid, transport, auth);
            if !rooms.is_empty() {
                h.set_http_rooms(&sid, rooms);
            }
            h.set_http_token_expiry(&sid, token_exp);
            if raw {
                h.set_raw(&sid);
            }
            opened
        });
        let open = open.to_polling();
        let response = if upgrade {
            let pair = WebSocketPair::new()?;
            self.state
                .accept_websocket_with_tags(&pair.server, &[sid.as_str()]);
            if relay_sid.is_none() {
                pair.server.send_with_str(open)?;
            }
            websocket_response(pair.client)
        } else {
            text_response(open, origin)
        };
        self.run(actions).await?;
        response
    }

    pub(super) async fn upgrade(
        &self,
        req: Request,
        sid: &str,
        origin: Option<&str>,
    ) -> Result<Response> {
        // A gate that will hand this session over waits for that, then forwards the upgrade.
        let is_gate = self.with_hub(|h| h.is_gate());
        if is_gate && self.with_hub(|h| h.has_session(sid)) {
            return self.upgrade_after_handover(req, sid, origin).await;
        }
        let upgrade = match self.with_hub(|h| h.upgrade_begin(sid)) {
            Ok(u) => u,
            Err(e) => return http_error(e, origin),
        };
        let pair = WebSocketPair::new()?;
        match upgrade {
            Upgrade::Probe => self.state.accept_websocket_with_tags(&pair.server, &[sid]),
            Upgrade::Redundant => {
                // Not tagged with the sid: nothing reaches the session through it.
                self.state
                    .accept_websocket_with_tags(&pair.server, &[REDUNDANT_TAG]);
                pair.server.close(Some(1000), Some("already upgraded"))?;
            }
        }
        websocket_response(pair.client)
    }
}
