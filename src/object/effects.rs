//! Carrying out the session machine's actions: frames and closes on WebSockets, waking held
//! polls, handovers, prompts, logs, and the Redis mirror writes, which run in the background
//! and retry until the machine is satisfied.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use worker::*;

use super::{storage, Inner, UserSession};
use crate::config::{Config, Mirror};
use crate::log::{Level, Line};
use crate::mirror::{self, Client};
use crate::protocol::engineio::Frame;
use crate::session::Action;
use crate::shell::clock::now_ms;
use crate::shell::console::log;

use super::upstash::FetchTransport;

impl UserSession {
    /// Carries out the machine's actions; follow-up actions (prompt results) run too.
    pub(super) async fn run(&self, actions: Vec<Action>) -> Result<()> {
        self.run_on(actions, None).await
    }

    /// [`Self::run`] within the event of a message on `socket` (its sid and itself): frames
    /// to that sid go out on it without looking it up again.
    pub(super) async fn run_on(
        &self,
        actions: Vec<Action>,
        socket: Option<(&str, &WebSocket)>,
    ) -> Result<()> {
        let mut queue = VecDeque::from(actions);
        let mut handovers = Vec::new();
        // History writes wait for the end of the batch (or for a read), folded together.
        let mut writes = Vec::new();
        while let Some(a) = queue.pop_front() {
            match a {
                Action::Send { sid, frames } => match socket {
                    Some((s, ws)) if s == sid => send_on(ws, &frames),
                    _ => self.send(&sid, &frames),
                },
                Action::Close { sid, code, reason } => {
                    for ws in self.state.get_websockets_with_tag(&sid) {
                        let _ = ws.close(Some(code), Some(reason.as_str()));
                    }
                }
                Action::Wake { sid } => self.wake(&sid),
                Action::Handover(h) => {
                    self.inner
                        .borrow_mut()
                        .adopting
                        .insert(h.session.eio.sid.clone(), Vec::new());
                    handovers.push(*h);
                }
                Action::Mirror(op) => self.spawn_mirror(op),
                Action::Prompt(job) => match self.answer_at_once(&job) {
                    Some(actions) => queue.extend(actions),
                    None => self.start_prompt(job),
                },
                Action::CancelPrompt(id) => self.cancel_prompt(&id),
                Action::History(op) if op.is_write() => writes.push(op),
                Action::History(op) => {
                    self.write_history(&mut writes);
                    queue.extend(self.history_op(op));
                }
                Action::Room(op) => self.spawn_room_op(op),
                Action::Log(line) => self.log_as_owner(line),
                Action::FlushMetrics(batch) => self.spawn_flush(batch),
                Action::Analytics(point) => crate::gather::write_point(&self.env, &point),
            }
        }
        self.write_history(&mut writes);
        self.pass_gate_metrics();
        self.persist_and_schedule().await?;
        for h in handovers {
            self.hand_over(h).await?;
        }
        Ok(())
    }

    fn send(&self, sid: &str, frames: &[Frame]) {
        for ws in self.state.get_websockets_with_tag(sid) {
            send_on(&ws, frames);
        }
    }

    /// Logs a line of the machine's, naming this object's user unless the line names one.
    fn log_as_owner(&self, line: Line) {
        let owner = self.with_hub(|h| h.owner().map(str::to_owned));
        let line = if line.fields.contains_key("userId") {
            line
        } else {
            line.with_opt("userId", owner.as_deref())
        };
        log(&line);
    }

    /// Mirror writes run in the background so Redis never delays a connect or a message.
    fn spawn_mirror(&self, op: mirror::Op) {
        let cfg = match &self.inner.borrow().config {
            Ok(Config {
                mirror: Mirror::On(m),
                ..
            }) => m.clone(),
            _ => return,
        };
        let client = Client::new(&cfg.url, &cfg.token, FetchTransport);
        let fut = mirror_loop(client, self.inner.clone(), self.state.storage(), op);
        self.background(Box::pin(fut));
    }

    /// Sends a batch of this object's counts in the background (a flush never delays a
    /// message) and tells the machine how it went.
    fn spawn_flush(&self, batch: crate::metrics::Batch) {
        let (env, inner, storage) = (self.env.clone(), self.inner.clone(), self.state.storage());
        let source = self.state.id().to_string();
        let task: crate::gather::Task = Box::pin(async move {
            let ok = crate::gather::send(&env, &source, &batch).await;
            if let Some(hub) = inner.borrow_mut().hub.as_mut() {
                hub.metrics_flushed(batch.seq, ok);
            }
            if let Err(e) = storage::persist_and_schedule(&inner, &storage).await {
                log(
                    &Line::new(Level::Error, "could not store the metrics state")
                        .with("error", e.to_string()),
                );
            }
        });
        self.background(task);
    }

    /// A gate's counts go to its isolate's outbox (a gate has no alarm to flush them on).
    fn pass_gate_metrics(&self) {
        let Some(delta) = self.with_hub(|h| h.take_gate_metrics()) else {
            return;
        };
        let interval = match &self.inner.borrow().config {
            Ok(c) => c.metrics_flush_ms,
            Err(_) => return,
        };
        let flush = crate::gather::count_in_isolate(&self.env, interval, |d| d.merge(&delta));
        if let Some(flush) = flush {
            self.background(flush);
        }
    }

    /// See [`storage::persist_and_schedule`].
    pub(super) async fn persist_and_schedule(&self) -> Result<()> {
        let Some(pending) = storage::take(&self.inner) else {
            return Ok(());
        };
        let written = storage::write_taken(&self.inner, &self.state.storage(), pending).await;
        if written.is_err() {
            self.retry_persist();
        }
        written
    }

    /// A failed write is tried again in the background (1, 2, 4, 8, 16 s), so an object whose
    /// write failed is not left without its state or its alarm until the next request.
    fn retry_persist(&self) {
        let inner = self.inner.clone();
        let storage = self.state.storage();
        self.background(Box::pin(async move {
            for attempt in 0..5u32 {
                Delay::from(std::time::Duration::from_millis(1000 << attempt)).await;
                if storage::persist_and_schedule(&inner, &storage)
                    .await
                    .is_ok()
                {
                    break;
                }
            }
        }));
    }
}

fn send_on(ws: &WebSocket, frames: &[Frame]) {
    for f in frames {
        let _ = match f {
            Frame::Text(t) => ws.send_with_str(t),
            Frame::Binary(b) => ws.send_with_bytes(b),
        };
    }
}

/// Applies `op`, tells the machine how it went, and goes on with the op it asks for next
/// (a retry or a newer state) until it asks for none.
async fn mirror_loop(
    client: Client<FetchTransport>,
    inner: Rc<RefCell<Inner>>,
    storage: Storage,
    mut op: mirror::Op,
) {
    loop {
        let result = client.apply(&op).await;
        let actions = {
            let mut i = inner.borrow_mut();
            let hub = i.hub.as_mut().expect("configured");
            hub.mirror_done(now_ms(), op.seq(), result)
        };
        if let Err(e) = storage::persist_and_schedule(&inner, &storage).await {
            log(&Line::new(Level::Error, "could not store the mirror state")
                .with("error", e.to_string()));
        }
        let mut next = None;
        for a in actions {
            match a {
                Action::Log(l) => log(&l),
                Action::Mirror(n) => next = Some(n),
                _ => {}
            }
        }
        match next {
            Some(n) => op = n,
            None => break,
        }
    }
}
