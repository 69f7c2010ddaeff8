//! Drives one upstream prompt: open the request, judge the head, decode the body, step by step.
//!
//! The driver has no clock and no runtime: the shell implements [`Upstream`] with `fetch` and
//! owns time. It races [`Run::step`] against its total and idle timers (and a cancel), and ends
//! the prompt by dropping the [`Run`], which drops the response body and so aborts the request.
//! Dropping a pending `step()` abandons the run (a chunk being read may be lost); to wait for
//! another timer (the coalescer's) without abandoning, keep the pending step future pinned and
//! poll it again.

use std::collections::VecDeque;

use super::codes::{Code, Failure};
use super::upstream::{check_status, Decoder, Event, Kind, UpstreamRequest};

/// The request never got an HTTP answer (network, DNS, refused).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportError(pub String);

/// The head of an upstream answer and a way to read its body.
#[derive(Debug)]
pub struct UpstreamResponse<B> {
    pub status: u16,
    /// `Content-Type`, as sent.
    pub content_type: Option<String>,
    /// `Retry-After`, as sent.
    pub retry_after: Option<String>,
    pub body: B,
}

/// A response body, read chunk by chunk. Dropping it must abort the request.
#[allow(async_fn_in_trait)]
pub trait ResponseBody {
    /// The next bytes; `None` at the end; `Some(Err)` when the connection broke.
    async fn next_chunk(&mut self) -> Option<Result<Vec<u8>, String>>;
}

/// How the driver reaches the upstream: `fetch` in the Worker, a fake in tests.
#[allow(async_fn_in_trait)]
pub trait Upstream {
    type Body: ResponseBody;
    async fn open(
        &self,
        req: UpstreamRequest,
    ) -> Result<UpstreamResponse<Self::Body>, TransportError>;
}

/// What one step brought.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// A 2xx head arrived (the first byte from upstream).
    Opened,
    /// Body bytes arrived (for the idle timer and the byte count); their text follows as
    /// `Delta`s.
    Bytes(usize),
    Delta(String),
    /// The answer is complete. Terminal: every later step returns it again.
    Done,
    /// The answer failed (`UPSTREAM_FAILED` or `UPSTREAM_BUSY`). Terminal, like `Done`.
    Failed(Failure),
}

enum State<B> {
    Ready(UpstreamRequest),
    Opening,
    Streaming { body: B, decoder: Decoder },
    Finished(Step),
}

/// One prompt on its way through an upstream.
pub struct Run<'u, U: Upstream> {
    upstream: &'u U,
    kind: Kind,
    now_ms: u64,
    state: State<U::Body>,
    queue: VecDeque<Event>,
}

impl<'u, U: Upstream> Run<'u, U> {
    /// `now_ms` is when the request is sent; it is only used to turn a `Retry-After` HTTP-date
    /// into a delay.
    pub fn new(upstream: &'u U, kind: Kind, req: UpstreamRequest, now_ms: u64) -> Self {
        Run {
            upstream,
            kind,
            now_ms,
            state: State::Ready(req),
            queue: VecDeque::new(),
        }
    }

    fn finish(&mut self, step: Step) -> Step {
        self.state = State::Finished(step.clone());
        step
    }

    fn event(&mut self, ev: Event) -> Step {
        match ev {
            Event::Delta(d) => Step::Delta(d),
            Event::Done => self.finish(Step::Done),
            Event::Failed(m) => {
                self.finish(Step::Failed(Failure::with_message(Code::UpstreamFailed, m)))
            }
        }
    }

    /// Advances to the next thing worth telling the caller.
    pub async fn step(&mut self) -> Step {
        loop {
            if let Some(ev) = self.queue.pop_front() {
                return self.event(ev);
            }
            match std::mem::replace(&mut self.state, State::Opening) {
                State::Finished(step) => {
                    self.state = State::Finished(step.clone());
                    return step;
                }
                State::Opening => {
                    return self.finish(Step::Failed(Failure::with_message(
                        Code::UpstreamFailed,
                        "upstream request was abandoned",
                    )))
                }
                State::Ready(req) => return self.open(req).await,
                State::Streaming { body, decoder } => {
                    self.state = State::Streaming { body, decoder };
                    if let Some(step) = self.read().await {
                        return step;
                    }
                }
            }
        }
    }

    async fn open(&mut self, req: UpstreamRequest) -> Step {
        let resp = match self.upstream.open(req).await {
            Ok(resp) => resp,
            Err(_) => {
                return self.finish(Step::Failed(Failure::with_message(
                    Code::UpstreamFailed,
                    "upstream unreachable",
                )))
            }
        };
        if let Err(f) = check_status(resp.status, resp.retry_after.as_deref(), self.now_ms) {
            // The body is dropped unread: its content never reaches the client.
            return self.finish(Step::Failed(f));
        }
        let decoder = Decoder::new(self.kind, resp.content_type.as_deref());
        self.state = State::Streaming {
            body: resp.body,
            decoder,
        };
        Step::Opened
    }

    /// Reads one chunk; `None` when it brought nothing to report.
    async fn read(&mut self) -> Option<Step> {
        let State::Streaming { body, decoder } = &mut self.state else {
            return None;
        };
        match body.next_chunk().await {
            Some(Ok(bytes)) if bytes.is_empty() => None,
            Some(Ok(bytes)) => {
                self.queue.extend(decoder.push(&bytes));
                Some(Step::Bytes(bytes.len()))
            }
            Some(Err(_)) => Some(self.finish(Step::Failed(Failure::with_message(
                Code::UpstreamFailed,
                "upstream connection broke",
            )))),
            None => {
                self.queue.extend(decoder.finish());
                None
            }
        }
    }
}

/// Runs a prompt to its end with no timeouts, telling `on_step` every step; returns the whole
/// answer or the failure. For callers (and tests) that need no timers.
pub async fn run<U: Upstream>(
    upstream: &U,
    kind: Kind,
    req: UpstreamRequest,
    now_ms: u64,
    mut on_step: impl FnMut(&Step),
) -> Result<String, Failure> {
    let mut run = Run::new(upstream, kind, req, now_ms);
    let mut text = String::new();
    loop {
        let step = run.step().await;
        on_step(&step);
        match step {
            Step::Delta(d) => text.push_str(&d),
            Step::Done => return Ok(text),
            Step::Failed(f) => return Err(f),
            Step::Opened | Step::Bytes(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prompt::upstream::Target;
    use crate::test_support::block_on;
    use serde_json::Map;
    use std::cell::RefCell;
    use std::rc::Rc;

    struct FakeBody {
        chunks: VecDeque<Result<Vec<u8>, String>>,
        dropped: Rc<RefCell<bool>>,
    }

    impl ResponseBody for FakeBody {
        async fn next_chunk(&mut self) -> Option<Result<Vec<u8>, String>> {
            self.chunks.pop_front()
        }
    }

    impl Drop for FakeBody {
        fn drop(&mut self) {
            *self.dropped.borrow_mut() = true;
        }
    }

    /// Status, content type, retry-after and body chunks (`!broken` breaks the connection).
    type Canned = (
        u16,
        Option<&'static str>,
        Option<&'static str>,
        Vec<&'static str>,
    );

    /// Answers every request with one canned response (`Err`: unreachable).
    struct Fake {
        reply: Result<Canned, ()>,
        seen: RefCell<Vec<UpstreamRequest>>,
        dropped: Rc<RefCell<bool>>,
    }

    impl Fake {
        fn new(status: u16, ct: Option<&'static str>, chunks: Vec<&'static str>) -> Self {
            Fake {
                reply: Ok((status, ct, None, chunks)),
                seen: RefCell::default(),
                dropped: Rc::default(),
            }
        }
    }

    impl Upstream for Fake {
        type Body = FakeBody;
        async fn open(
            &self,
            req: UpstreamRequest,
        ) -> Result<UpstreamResponse<FakeBody>, TransportError> {
            self.seen.borrow_mut().push(req);
            let (status, ct, retry, chunks) = self
                .reply
                .clone()
                .map_err(|_| TransportError("connection refused".into()))?;
            Ok(UpstreamResponse {
                status,
                content_type: ct.map(str::to_owned),
                retry_after: retry.map(str::to_owned),
                body: FakeBody {
                    chunks: chunks
                        .into_iter()
                        .map(|c| {
                            if c == "!broken" {
                                Err("reset".to_owned())
                            } else {
                                Ok(c.as_bytes().to_vec())
                            }
                        })
                        .collect(),
                    dropped: self.dropped.clone(),
                },
            })
        }
    }

    fn request(kind: Kind) -> UpstreamRequest {
        let target = Target {
            kind,
            url: "http://127.0.0.1:1/v1".into(),
            token: Some("secret-token".into()),
            model: "m".into(),
        };
        target.request(&crate::prompt::upstream::RequestInput {
            user_id: "u",
            request_id: "r",
            prompt: "p",
            data: &Map::new(),
            context: &[],
        })
    }

    fn steps(fake: &Fake, kind: Kind) -> Vec<Step> {
        let mut run = Run::new(fake, kind, request(kind), 0);
        let mut out = Vec::new();
        loop {
            let step = block_on(run.step());
            let end = matches!(step, Step::Done | Step::Failed(_));
            out.push(step);
            if end {
                // Terminal steps repeat.
                assert_eq!(block_on(run.step()), *out.last().unwrap());
                return out;
            }
        }
    }

    const SSE: Option<&str> = Some("text/event-stream");

    #[test]
    fn streams_deltas_in_order_and_reports_bytes() {
        let fake = Fake::new(
            200,
            SSE,
            vec![
                "data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\ndata: {\"choices\":[{\"delta\":{\"content\":\"lo\"}}]}\n\n",
                "",
                ": ping\n\n",
                "data: [DONE]\n\n",
                "data: never read\n\n",
            ],
        );
        let got = steps(&fake, Kind::OpenAi);
        assert_eq!(
            got,
            [
                Step::Opened,
                Step::Bytes(97),
                Step::Delta("Hel".into()),
                Step::Delta("lo".into()),
                Step::Bytes(8),
                Step::Bytes(14),
                Step::Done,
            ]
        );
        assert_eq!(
            fake.seen.borrow()[0].url,
            "http://127.0.0.1:1/v1/chat/completions"
        );
    }

    #[test]
    fn busy_and_failed_statuses_drop_the_body_unread() {
        let mut fake = Fake::new(429, SSE, vec!["secret body"]);
        fake.reply.as_mut().unwrap().2 = Some("2");
        let got = steps(&fake, Kind::OpenAi);
        assert_eq!(
            got,
            [Step::Failed(
                Failure::new(Code::UpstreamBusy).retry_after(Some(2000))
            )]
        );
        assert!(*fake.dropped.borrow());
        let fake = Fake::new(500, SSE, vec!["secret-token leaked"]);
        let Step::Failed(f) = &steps(&fake, Kind::Http)[0] else {
            panic!()
        };
        assert_eq!(
            (f.code, f.message.as_str()),
            (Code::UpstreamFailed, "upstream answered 500")
        );
    }

    #[test]
    fn transport_errors_broken_bodies_and_missing_done_fail() {
        let mut fake = Fake::new(200, SSE, vec![]);
        fake.reply = Err(());
        let Step::Failed(f) = &steps(&fake, Kind::Http)[0] else {
            panic!()
        };
        assert_eq!(
            (f.code, f.message.as_str()),
            (Code::UpstreamFailed, "upstream unreachable")
        );
        assert!(!f.message.contains("refused"));

        let fake = Fake::new(200, SSE, vec!["data: {\"delta\":\"a\"}\n\n", "!broken"]);
        let got = steps(&fake, Kind::Http);
        assert_eq!(got[2], Step::Delta("a".into()));
        assert!(matches!(&got[3], Step::Failed(f) if f.message == "upstream connection broke"));

        let fake = Fake::new(200, SSE, vec!["data: {\"delta\":\"a\"}\n\n"]);
        let got = steps(&fake, Kind::Http);
        assert!(
            matches!(got.last(), Some(Step::Failed(f)) if f.message == "upstream stream ended before [DONE]")
        );
    }

    #[test]
    fn run_collects_the_answer_of_a_json_reply() {
        let fake = Fake::new(
            200,
            Some("application/json"),
            vec!["{\"response\":", "\"all of it\"}"],
        );
        let mut seen = Vec::new();
        let text = block_on(run(&fake, Kind::Http, request(Kind::Http), 0, |s| {
            seen.push(s.clone())
        }));
        assert_eq!(text, Ok("all of it".to_owned()));
        assert_eq!(seen.last(), Some(&Step::Done));
        let auth = fake.seen.borrow()[0]
            .headers
            .iter()
            .find(|(k, _)| k == "Authorization")
            .cloned();
        assert_eq!(auth.unwrap().1, "Bearer secret-token");
    }

    #[test]
    fn dropping_the_run_drops_the_body() {
        let fake = Fake::new(200, SSE, vec!["data: {\"delta\":\"a\"}\n\n"]);
        let mut run = Run::new(&fake, Kind::Http, request(Kind::Http), 0);
        assert_eq!(block_on(run.step()), Step::Opened);
        assert!(!*fake.dropped.borrow());
        drop(run);
        assert!(*fake.dropped.borrow());
    }
}
