//! Running prompts: each accepted prompt is a background task of the object that reads its
//! processor's answer (`echo`, or an upstream over `fetch`), coalesces the deltas into chunks,
//! enforces the total and idle timeouts, stops on a cancel, and reports to the machine. The
//! machine decides what the client sees; a task only measures and reports.

use futures_channel::oneshot;
use futures_util::future::{select, Either};
use futures_util::{pin_mut, StreamExt};
use worker::*;

use super::UserSession;
use crate::config::PromptConfig;
use crate::prompt::coalesce::{Chunk, Coalescer};
use crate::prompt::driver::{ResponseBody, Run, Step, TransportError, Upstream, UpstreamResponse};
use crate::prompt::upstream::{Kind, RequestInput, Target, UpstreamRequest};
use crate::prompt::{echo, Code, Failure, Job};
use crate::session::{Action, RunStats};
use crate::shell::clock::now_ms;
use crate::shell::http::new_request;

/// What a task reports: `None` when it was cancelled (the machine already ended the prompt).
type Outcome = Option<(std::result::Result<String, Failure>, RunStats)>;

/// Far enough to mean "no timer".
const NEVER_MS: u64 = 24 * 3_600_000;

impl UserSession {
    fn prompt_config(&self) -> Option<PromptConfig> {
        self.inner
            .borrow()
            .config
            .as_ref()
            .ok()
            .map(|c| c.prompt.clone())
    }

    pub(super) fn start_prompt(&self, job: Job) {
        let (tx, rx) = oneshot::channel();
        self.inner
            .borrow_mut()
            .tasks
            .insert(job.request_id.clone(), tx);
        let this = self.handle();
        self.background(Box::pin(async move { this.drive(job, rx).await }));
    }

    pub(super) fn cancel_prompt(&self, request_id: &str) {
        if let Some(tx) = self.inner.borrow_mut().tasks.remove(request_id) {
            let _ = tx.send(());
        }
    }

    async fn drive(&self, job: Job, cancel: oneshot::Receiver<()>) {
        let Some(cfg) = self.prompt_config() else {
            return;
        };
        let Some(target) = Target::from_config(&cfg) else {
            return;
        };
        let outcome = self.run_upstream(&job, &target, &cfg, cancel).await;
        self.inner.borrow_mut().tasks.remove(&job.request_id);
        if let Some((result, stats)) = outcome {
            let actions =
                self.with_hub(|h| h.prompt_done(now_ms(), &job.request_id, result, stats));
            let _ = self.run(actions).await;
        }
    }

    async fn chunk(&self, job: &Job, chunk: Chunk) {
        let actions = self.with_hub(|h| h.prompt_chunk(now_ms(), &job.request_id, &chunk));
        let _ = self.run(actions).await;
    }

    /// The built-in processor answers at once, within the event that accepted the prompt (one
    /// storage write for the whole prompt, no task): `Echo: <prompt>`, word by word. `None`
    /// when the prompt goes upstream.
    pub(super) fn answer_at_once(&self, job: &Job) -> Option<Vec<Action>> {
        // Checked without copying the configuration: this runs for every echo prompt.
        let echo = (self.inner.borrow().config.as_ref().ok()?.prompt.processor).answers_at_once();
        if !echo {
            return None;
        }
        let now = now_ms();
        let mut coalescer = Coalescer::default();
        let mut text = String::new();
        let mut actions = Vec::new();
        let id = job.request_id.as_str();
        for delta in echo::deltas(&job.prompt) {
            text.push_str(&delta);
            for c in coalescer.push(now, &delta) {
                actions.extend(self.with_hub(|h| h.prompt_chunk(now, id, &c)));
            }
        }
        if let Some(c) = coalescer.finish() {
            actions.extend(self.with_hub(|h| h.prompt_chunk(now, id, &c)));
        }
        let stats = RunStats {
            first_chunk_ms: Some(0),
            bytes: text.len() as u64,
        };
        actions.extend(self.with_hub(|h| h.prompt_done(now, id, Ok(text), stats)));
        Some(actions)
    }

    async fn run_upstream(
        &self,
        job: &Job,
        target: &Target,
        cfg: &PromptConfig,
        mut cancel: oneshot::Receiver<()>,
    ) -> Outcome {
        let started = now_ms();
        let limit = |ms: u64| (ms > 0).then_some(ms);
        let total_at = limit(cfg.timeout_ms).map(|ms| started + ms);
        let idle_ms = limit(cfg.idle_timeout_ms);
        let mut idle_at = idle_ms.map(|ms| started + ms);
        let controller = AbortController::default();
        let upstream = FetchUpstream {
            signal: controller.signal(),
        };
        // Only the `openai` processor takes the conversation so far.
        let context = match target.kind {
            Kind::OpenAi => self.history_context(cfg.context_messages),
            Kind::Http => Vec::new(),
        };
        let req = target.request(&RequestInput {
            user_id: job.user.as_deref().unwrap_or(""),
            request_id: &job.request_id,
            prompt: &job.prompt,
            data: &job.data,
            context: &context,
        });
        let mut run = Run::new(&upstream, target.kind, req, started);
        let mut coalescer = Coalescer::default();
        let mut text = String::new();
        let mut stats = RunStats::default();
        let result = loop {
            let deadlines = [total_at, idle_at];
            let step = self
                .next_step(job, &mut run, &mut coalescer, &mut cancel, deadlines)
                .await;
            let Some(step) = step else {
                controller.abort();
                return None;
            };
            let now = now_ms();
            match step {
                Step::Opened => {
                    stats.first_chunk_ms = Some(now.saturating_sub(started));
                    idle_at = idle_ms.map(|ms| now + ms);
                }
                Step::Bytes(n) => {
                    stats.bytes += n as u64;
                    idle_at = idle_ms.map(|ms| now + ms);
                }
                Step::Delta(d) => {
                    text.push_str(&d);
                    for c in coalescer.push(now, &d) {
                        self.chunk(job, c).await;
                    }
                }
                Step::Done => break Ok(std::mem::take(&mut text)),
                Step::Failed(f) => break Err(f),
            }
        };
        // The request ends here whatever happened: the upstream sees its connection closed.
        controller.abort();
        if let Some(c) = coalescer.finish() {
            self.chunk(job, c).await;
        }
        Some((result, stats))
    }
}

impl UserSession {
    /// The next step of `run`, flushing the coalescer when its time comes; `None` on a cancel,
    /// `PROMPT_TIMEOUT` when one of `deadlines` passed first.
    async fn next_step<U: Upstream>(
        &self,
        job: &Job,
        run: &mut Run<'_, U>,
        coalescer: &mut Coalescer,
        cancel: &mut oneshot::Receiver<()>,
        deadlines: [Option<u64>; 2],
    ) -> Option<Step> {
        let next = run.step();
        pin_mut!(next);
        loop {
            let now = now_ms();
            let wake = deadlines
                .into_iter()
                .chain([coalescer.deadline()])
                .flatten()
                .min()
                .unwrap_or(now + NEVER_MS);
            let timer = Delay::from(std::time::Duration::from_millis(
                wake.saturating_sub(now).max(1),
            ));
            match select(next.as_mut(), select(&mut *cancel, timer)).await {
                Either::Left((step, _)) => return Some(step),
                Either::Right((Either::Left(_), _)) => return None,
                Either::Right((Either::Right(_), _)) => {
                    let now = now_ms();
                    if let Some(c) = coalescer.due(now) {
                        self.chunk(job, c).await;
                    }
                    if deadlines.iter().flatten().any(|&t| now >= t) {
                        return Some(Step::Failed(Failure::new(Code::PromptTimeout)));
                    }
                }
            }
        }
    }
}

/// The upstream over `fetch`, aborted through the task's signal.
struct FetchUpstream {
    signal: AbortSignal,
}

struct FetchBody {
    stream: Option<ByteStream>,
}

impl ResponseBody for FetchBody {
    async fn next_chunk(&mut self) -> Option<std::result::Result<Vec<u8>, String>> {
        let stream = self.stream.as_mut()?;
        stream.next().await.map(|r| r.map_err(|e| e.to_string()))
    }
}

impl Upstream for FetchUpstream {
    type Body = FetchBody;

    async fn open(
        &self,
        req: UpstreamRequest,
    ) -> std::result::Result<UpstreamResponse<FetchBody>, TransportError> {
        let err = |e: Error| TransportError(e.to_string());
        let headers = Headers::new();
        for (k, v) in &req.headers {
            headers.set(k, v).map_err(err)?;
        }
        let request = new_request(
            &req.url,
            Method::from(req.method.to_owned()),
            Some(&headers),
            Some(req.body.into()),
        )
        .map_err(err)?;
        let mut resp = Fetch::Request(request)
            .send_with_signal(&self.signal)
            .await
            .map_err(err)?;
        let header = |name: &str| resp.headers().get(name).ok().flatten();
        let content_type = header("Content-Type");
        let retry_after = header("Retry-After");
        Ok(UpstreamResponse {
            status: resp.status_code(),
            content_type,
            retry_after,
            body: FetchBody {
                stream: resp.stream().ok(),
            },
        })
    }
}
