//! A hibernatable socket's sid, its one tag. The runtime's `getTags` builds a fresh array on
//! every call; a socket's tags never change, so each socket object asks it once.

use wasm_bindgen::prelude::*;
use worker::{State, WebSocket};

#[wasm_bindgen(inline_js = r#"
const sids = new WeakMap();
export function socket_sid(state, ws) {
  let sid = sids.get(ws);
  if (sid === undefined) {
    sid = state.getTags(ws)[0] ?? null;
    sids.set(ws, sid);
  }
  return sid;
}
"#)]
extern "C" {
    fn socket_sid(state: &JsValue, ws: &JsValue) -> Option<String>;
}

/// The sid `ws` was accepted with; `None` for an untagged socket.
pub fn sid_of(state: &State, ws: &WebSocket) -> Option<String> {
    socket_sid(state.as_raw().as_ref(), ws.as_ref().as_ref())
}
