//! The reference handlers of the official Socket.IO protocol test suites (`SOCKETIO_CONFORMANCE`):
//! no authentication, `auth` echoed on connect, `message` -> `message-back`, `message-with-ack`
//! acknowledged with its arguments, and the extra namespace `/custom`.

use serde_json::{json, Value};

use super::app::{Application, Connect};
use super::socketio::Event;
use super::Core;
use crate::log::{Level, Line};
use crate::protocol::socketio as sio;

pub struct Conformance;

impl Application for Conformance {
    fn serves(&self, nsp: &str) -> bool {
        nsp == "/" || nsp == "/custom"
    }

    fn opened(&mut self, core: &mut Core, sid: &str) {
        core.log(
            Line::new(
                Level::Warn,
                "SOCKETIO_CONFORMANCE is on: authentication is skipped (test-only mode)",
            )
            .with("sid", crate::sid::tag(sid)),
        );
    }

    fn connect(&mut self, _: &mut Core, _: &str, _: &str, _: Option<&Value>) -> Connect {
        Connect::Accept { user: None }
    }

    fn connected(&mut self, core: &mut Core, sid: &str, nsp: &str, _: &str, auth: Option<Value>) {
        core.emit(sid, nsp, "auth", vec![auth.unwrap_or_else(|| json!({}))]);
    }

    fn event(&mut self, core: &mut Core, sid: &str, ev: Event) {
        let p = &ev.packet;
        match ev.name() {
            "message" => {
                let mut out = p.clone();
                out.id = None;
                if let Some(Value::Array(a)) = out.data.as_mut() {
                    a[0] = Value::String("message-back".into());
                }
                core.send_packet(sid, &out, &ev.buffers);
            }
            "message-with-ack" => {
                if let Some(id) = p.id {
                    let mut out = sio::Packet::ack(&p.nsp, id, ev.args().to_vec());
                    if p.kind == sio::Kind::BinaryEvent {
                        out.kind = sio::Kind::BinaryAck;
                        out.attachments = ev.buffers.len();
                    }
                    core.send_packet(sid, &out, &ev.buffers);
                }
            }
            _ => {}
        }
    }
}
