//! Engine.IO over WebSocket: the upgrade probe from polling, frames, and the socket's end.

use super::{close_ws, wake, Engine, Transport, Upgrade};
use crate::log::{Level, Line};
use crate::protocol::engineio::{self as eio, Frame, HttpError};
use crate::session::reason::CLOSE_POLICY;
use crate::session::{Action, CloseReason};

impl Engine {
    /// A WebSocket with a sid: the start of an upgrade from polling. A second WebSocket for a
    /// session that is upgrading or upgraded is accepted and closed at once, as the reference
    /// server does, and the first one keeps working.
    pub fn upgrade_begin(&mut self, sid: &str) -> Result<Upgrade, HttpError> {
        let s = self.sessions.get_mut(sid).ok_or(HttpError::UnknownSid)?;
        if s.closing {
            return Err(HttpError::BadRequest);
        }
        if s.transport != Transport::Polling || s.upgrading {
            return Ok(Upgrade::Redundant);
        }
        s.upgrading = true;
        Ok(Upgrade::Probe)
    }

    /// A WebSocket frame: the packet to deliver, if any (probe packets stay here).
    pub fn ws_frame(
        &mut self,
        now: u64,
        sid: &str,
        frame: Frame,
        fx: &mut Vec<Action>,
    ) -> Option<eio::Packet> {
        let s = self.sessions.get(sid)?;
        let len = match &frame {
            Frame::Text(t) => t.len(),
            Frame::Binary(b) => b.len(),
        } as u64;
        if len > self.settings.max_payload {
            self.close(now, sid, CloseReason::MessageTooBig, fx);
            return None;
        }
        let probing = s.transport == Transport::Polling && s.upgrading;
        let packet = match eio::Packet::decode_frame(frame) {
            Ok(p) => p,
            Err(e) => {
                self.close(
                    now,
                    sid,
                    CloseReason::TransportParseError(e.to_string()),
                    fx,
                );
                return None;
            }
        };
        if probing {
            self.on_probe(sid, packet, fx);
            return None;
        }
        Some(packet)
    }

    fn on_probe(&mut self, sid: &str, packet: eio::Packet, fx: &mut Vec<Action>) {
        match packet {
            eio::Packet::Text(eio::Kind::Ping, d) if d == "probe" => {
                fx.push(Action::Send {
                    sid: sid.to_owned(),
                    frames: vec![eio::Packet::text(eio::Kind::Pong, "probe").to_frame()],
                });
                // A noop ends the pending GET so the client can finish the upgrade.
                self.enqueue(sid, vec![eio::Packet::empty(eio::Kind::Noop)], fx);
            }
            eio::Packet::Text(eio::Kind::Upgrade, _) => self.finish_upgrade(sid, fx),
            _ => {
                // Anything else aborts the upgrade; polling goes on.
                self.sessions.get_mut(sid).expect("session").upgrading = false;
                fx.push(close_ws(sid, CLOSE_POLICY, "invalid upgrade"));
            }
        }
    }

    fn finish_upgrade(&mut self, sid: &str, fx: &mut Vec<Action>) {
        let s = self.sessions.get_mut(sid).expect("session");
        s.upgrading = false;
        s.transport = Transport::WebSocket;
        s.queued_bytes = 0;
        let pending: Vec<Frame> = s
            .queue
            .drain(..)
            .filter_map(|r| eio::Packet::decode_text(&r).ok())
            .filter(|p| p.kind() != eio::Kind::Noop)
            .map(|p| p.to_frame())
            .collect();
        let waiting = std::mem::take(&mut s.poll_waiting);
        self.touch(sid);
        if waiting {
            // A GET still waiting is answered with a noop, as the reference server does.
            self.final_polls.insert(
                sid.to_owned(),
                eio::Packet::empty(eio::Kind::Noop).to_polling(),
            );
            fx.push(wake(sid));
        }
        if !pending.is_empty() {
            fx.push(Action::Send {
                sid: sid.to_owned(),
                frames: pending,
            });
        }
        fx.push(Action::Log(
            Line::new(Level::Debug, "upgraded to websocket").with("sid", crate::sid::tag(sid)),
        ));
    }

    /// The session's WebSocket closed (client left, network, or our own close).
    pub fn ws_closed(&mut self, now: u64, sid: &str, fx: &mut Vec<Action>) {
        let Some(s) = self.sessions.get_mut(sid) else {
            return;
        };
        if s.transport == Transport::Polling {
            // Only the probe went away.
            s.upgrading = false;
            return;
        }
        self.close(now, sid, CloseReason::TransportClose, fx);
    }
}
