//! The `Metrics` Durable Object: one of a few shards that add up the batches flushed to them
//! (see `metrics::shard`) and answer the endpoint with their totals. Storage: `totals` (the
//! summed counters and histograms) and one `src:<source>` key per known source (its epoch,
//! sequence number and connections), so a flush writes two small values whatever the number
//! of sources.

use std::cell::RefCell;
use std::rc::Rc;

use worker::*;

use crate::metrics::shard::SourceState;
use crate::metrics::{Applied, Batch, Delta, Shard, Snapshot};
use crate::shell::clock::now_ms;

const TOTALS_KEY: &str = "totals";
const SOURCE_PREFIX: &str = "src:";
/// A flush is a few KB; anything much larger is not one of ours.
const MAX_FLUSH_BYTES: usize = 64 * 1024;

struct Flush {
    source: String,
    batch: Batch,
}

impl Flush {
    fn parse(body: &str) -> Option<Flush> {
        let v: serde_json::Value = serde_json::from_str(body).ok()?;
        Some(Flush {
            source: v.get("source")?.as_str()?.to_owned(),
            batch: Batch::from_json(v.get("batch")?)?,
        })
    }
}

#[durable_object]
pub struct Metrics {
    state: State,
    shard: Rc<RefCell<Shard>>,
}

impl DurableObject for Metrics {
    fn new(state: State, _env: Env) -> Self {
        let shard = Rc::new(RefCell::new(Shard::default()));
        let slot = shard.clone();
        let storage = state.storage();
        let _init = state.block_concurrency_while(async move {
            if let Ok(loaded) = load(&storage).await {
                *slot.borrow_mut() = loaded;
            }
            Ok(())
        });
        Metrics { state, shard }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        match (req.method(), req.path().as_str()) {
            (Method::Get, "/snapshot") => {
                let snap = Snapshot::of(&self.shard.borrow()).to_json();
                Response::ok(snap.to_string())
            }
            (Method::Post, "/flush") => {
                let body = req.text().await?;
                if body.len() > MAX_FLUSH_BYTES {
                    return Response::error("flush too large", 413);
                }
                let Some(flush) = Flush::parse(&body) else {
                    return Response::error("not a flush", 400);
                };
                self.apply(flush).await
            }
            _ => Response::error("Not Found", 404),
        }
    }
}

impl Metrics {
    /// Adds a batch in and stores what changed before confirming it.
    async fn apply(&self, flush: Flush) -> Result<Response> {
        let (applied, writes, forgotten) = {
            let mut shard = self.shard.borrow_mut();
            let applied = shard.apply(now_ms(), &flush.source, &flush.batch);
            let totals = shard.totals.to_json().to_string();
            let source = shard.sources.get(&flush.source).copied();
            (applied, (totals, source), shard.take_forgotten())
        };
        match applied {
            Applied::Refused => return Response::error("bad source", 400),
            Applied::Duplicate => return Response::ok("duplicate"),
            Applied::New => {}
        }
        let storage = self.state.storage();
        storage.put(TOTALS_KEY, writes.0).await?;
        if let Some(s) = writes.1 {
            let key = format!("{SOURCE_PREFIX}{}", flush.source);
            storage.put(&key, s.to_json().to_string()).await?;
        }
        for k in forgotten {
            storage.delete(&format!("{SOURCE_PREFIX}{k}")).await?;
        }
        Response::ok("applied")
    }
}

async fn load(storage: &Storage) -> Result<Shard> {
    let mut shard = Shard::default();
    if let Some(t) = storage.get::<String>(TOTALS_KEY).await? {
        let totals = serde_json::from_str(&t).ok();
        shard.totals = totals
            .and_then(|v| Delta::from_json(&v))
            .unwrap_or_default();
    }
    let listed = storage
        .list_with_options(ListOptions::new().prefix(SOURCE_PREFIX))
        .await?;
    for entry in listed.entries() {
        let entry = entry.map_err(Error::from)?;
        let pair: js_sys::Array = entry.into();
        let (Some(k), Some(v)) = (pair.get(0).as_string(), pair.get(1).as_string()) else {
            continue;
        };
        let state = serde_json::from_str(&v).ok();
        if let (Some(src), Some(s)) = (
            k.strip_prefix(SOURCE_PREFIX),
            state.and_then(|v| SourceState::from_json(&v)),
        ) {
            shard.sources.insert(src.to_owned(), s);
        }
    }
    Ok(shard)
}
