//! The seam between the Socket.IO layer and what the object does with it: an [`Application`]
//! decides CONNECTs and handles events, using the services of [`Core`].

use serde_json::Value;

use super::socketio::Event;
use super::Core;

/// The answer to a CONNECT for a namespace the application serves.
#[derive(Debug, Clone, PartialEq)]
pub enum Connect {
    /// A socket is created; `user` is who it belongs to, when known.
    Accept { user: Option<String> },
    /// CONNECT_ERROR with this message and data.
    Refuse {
        message: String,
        data: Option<Value>,
    },
    /// This object is a gate: the session moves to the user's object, which answers.
    HandOver { user: String },
}

pub trait Application {
    fn serves(&self, nsp: &str) -> bool;

    /// A new Engine.IO session was opened.
    fn opened(&mut self, _core: &mut Core, _sid: &str) {}

    fn connect(&mut self, core: &mut Core, sid: &str, nsp: &str, auth: Option<&Value>) -> Connect;

    /// The CONNECT was acknowledged with `socket_id`.
    fn connected(
        &mut self,
        _core: &mut Core,
        _sid: &str,
        _nsp: &str,
        _socket_id: &str,
        _auth: Option<Value>,
    ) {
    }

    fn event(&mut self, core: &mut Core, sid: &str, event: Event);
}
