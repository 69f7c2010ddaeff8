//! The object's WebSocket callbacks, exported to the runtime by hand rather than by worker's
//! `#[durable_object]` (which makes every callback a promise, run from a microtask): a callback
//! whose work needs no await, as a steady-state message's does, ends within the call and
//! returns nothing; one that must wait (a storage write, a signature check) continues as the
//! promise it returns.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use wasm_bindgen::prelude::*;
use worker::worker_sys::web_sys;
use worker::{DurableObject, WebSocketIncomingMessage};

use super::UserSession;

#[wasm_bindgen]
impl UserSession {
    #[wasm_bindgen(js_name = webSocketMessage)]
    pub fn web_socket_message(&self, ws: web_sys::WebSocket, message: JsValue) -> JsValue {
        let message = match message.as_string() {
            Some(text) => WebSocketIncomingMessage::String(text),
            None => WebSocketIncomingMessage::Binary(js_sys::Uint8Array::new(&message).to_vec()),
        };
        let this = self.handle();
        settle(async move { this.websocket_message(ws.into(), message).await })
    }

    #[wasm_bindgen(js_name = webSocketClose)]
    pub fn web_socket_close(
        &self,
        ws: web_sys::WebSocket,
        code: usize,
        reason: String,
        was_clean: bool,
    ) -> JsValue {
        let this = self.handle();
        settle(async move {
            this.websocket_close(ws.into(), code, reason, was_clean)
                .await
        })
    }

    #[wasm_bindgen(js_name = webSocketError)]
    pub fn web_socket_error(&self, ws: web_sys::WebSocket, error: JsValue) -> JsValue {
        let this = self.handle();
        settle(async move { this.websocket_error(ws.into(), error.into()).await })
    }
}

/// Runs `work` now as far as it goes without waiting: `undefined` when that is its end, a
/// rejected promise when it failed, else a promise of the rest. Polling it once with a waker
/// that does nothing loses no wake-up: the promise's executor polls it again first thing, and
/// a future registers the waker of its latest poll.
fn settle(work: impl Future<Output = worker::Result<()>> + 'static) -> JsValue {
    let mut work = Box::pin(work);
    match work.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(Ok(())) => JsValue::UNDEFINED,
        Poll::Ready(Err(e)) => js_sys::Promise::reject(&JsValue::from(e)).into(),
        Poll::Pending => wasm_bindgen_futures::future_to_promise(rest(work)).into(),
    }
}

async fn rest(work: Pin<Box<dyn Future<Output = worker::Result<()>>>>) -> Result<JsValue, JsValue> {
    work.await
        .map(|()| JsValue::UNDEFINED)
        .map_err(JsValue::from)
}
