//! Engine.IO over HTTP long-polling: the held GET, the POST of a payload, overlap and size
//! rules as the reference server has them.

use super::{wake, EioSession, Engine, Poll, Transport, MAX_PACKETS_PER_PAYLOAD};
use crate::log::{Level, Line};
use crate::protocol::engineio::{self as eio, HttpError};
use crate::session::{Action, CloseReason};

impl Engine {
    fn polling(&mut self, sid: &str) -> Result<&mut EioSession, HttpError> {
        let s = self.sessions.get_mut(sid).ok_or(HttpError::UnknownSid)?;
        if s.transport != Transport::Polling {
            return Err(HttpError::BadRequest);
        }
        Ok(s)
    }

    /// A GET long-poll arrived.
    pub fn poll_begin(
        &mut self,
        now: u64,
        sid: &str,
        fx: &mut Vec<Action>,
    ) -> Result<Poll, HttpError> {
        let s = self.polling(sid)?;
        if s.poll_waiting {
            self.close(now, sid, CloseReason::OverlappingGet, fx);
            return Err(HttpError::BadRequest);
        }
        if s.queue.is_empty() && !s.closing {
            s.poll_waiting = true;
            return Ok(Poll::Wait);
        }
        Ok(Poll::Ready(self.drain(sid)))
    }

    /// A woken long-poll checks for its answer; `None` means keep waiting.
    pub fn poll_resume(&mut self, sid: &str) -> Option<String> {
        if let Some(body) = self.final_polls.remove(sid) {
            return Some(body);
        }
        match self.sessions.get(sid) {
            None => Some(eio::Packet::empty(eio::Kind::Close).to_polling()),
            Some(s) if s.queue.is_empty() && !s.closing => None,
            Some(_) => Some(self.drain(sid)),
        }
    }

    /// The body for a GET. A closing session's close packet goes out alone, after the packets
    /// queued before it: the client handles Socket.IO packets a tick later than Engine.IO ones,
    /// so a `41` batched with `1` would surface as "transport close".
    fn drain(&mut self, sid: &str) -> String {
        let s = self.sessions.get_mut(sid).expect("session");
        s.poll_waiting = false;
        if !s.queue.is_empty() {
            let body = s.queue.join("\u{1e}");
            s.queue.clear();
            s.queued_bytes = 0;
            // Records that never reached storage leave it as it was once drained.
            let stored = !s.stored_queue_empty;
            self.queued_unwritten.remove(sid);
            if stored {
                self.touch(sid);
            }
            return body;
        }
        self.touch(sid);
        self.sessions.remove(sid);
        eio::Packet::empty(eio::Kind::Close).to_polling()
    }

    /// While an upgrade is in progress a waiting GET is released with a noop every so often
    /// (the reference server does it every 100 ms), since the client pauses polling only after
    /// its probe succeeded and may already be waiting on a fresh GET.
    pub fn upgrade_flush(&mut self, sid: &str) -> Option<String> {
        let s = self.sessions.get_mut(sid)?;
        if !(s.upgrading && s.poll_waiting && s.queue.is_empty()) {
            return None;
        }
        s.poll_waiting = false;
        Some(eio::Packet::empty(eio::Kind::Noop).to_polling())
    }

    /// Start of a POST: detects overlapping POSTs before the body is read.
    pub fn post_begin(
        &mut self,
        now: u64,
        sid: &str,
        fx: &mut Vec<Action>,
    ) -> Result<(), HttpError> {
        let s = self.polling(sid)?;
        if s.post_active {
            self.close(now, sid, CloseReason::OverlappingPost, fx);
            return Err(HttpError::BadRequest);
        }
        s.post_active = true;
        Ok(())
    }

    /// The body of a POST: the packets to deliver, in order. As in the reference server, a
    /// body that does not parse still gets `ok` but ends the session.
    pub fn post(
        &mut self,
        now: u64,
        sid: &str,
        body: &str,
        fx: &mut Vec<Action>,
    ) -> Result<Vec<eio::Packet>, HttpError> {
        let s = self.sessions.get_mut(sid).ok_or(HttpError::UnknownSid)?;
        s.post_active = false;
        if s.closing {
            // The client is already on its way out; nothing it sends matters any more.
            self.sessions.remove(sid);
            self.touch(sid);
            fx.push(wake(sid));
            return Ok(Vec::new());
        }
        if body.len() as u64 > self.settings.max_payload {
            self.post_too_large(now, sid, fx)?;
        }
        if body.matches(eio::RECORD_SEPARATOR).count() >= MAX_PACKETS_PER_PAYLOAD {
            fx.push(Action::Log(
                Line::new(
                    Level::Warn,
                    "polling payload with too many packets; session closed",
                )
                .with("sid", crate::sid::tag(sid)),
            ));
            self.close(now, sid, CloseReason::TooManyPackets, fx);
            return Ok(Vec::new());
        }
        match eio::decode_payload(body) {
            Ok(packets) => Ok(packets),
            Err(e) => {
                self.close(
                    now,
                    sid,
                    CloseReason::TransportParseError(e.to_string()),
                    fx,
                );
                Ok(Vec::new())
            }
        }
    }

    /// A POST body over `maxPayload` (possibly never read): 413, and the session ends.
    pub fn post_too_large(
        &mut self,
        now: u64,
        sid: &str,
        fx: &mut Vec<Action>,
    ) -> Result<(), HttpError> {
        if !self.sessions.contains_key(sid) {
            return Err(HttpError::UnknownSid);
        }
        self.close(now, sid, CloseReason::PayloadTooLarge, fx);
        Err(HttpError::PayloadTooLarge)
    }
}
