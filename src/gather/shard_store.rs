//! A metrics shard: one of a few objects (of the `UserSession` class, named `metrics:<k>`,
//! where users' objects are `user:<id>`) that add up the batches flushed to them (see
//! `metrics::shard`); shard 0 also gathers every shard's totals for the endpoint. They share
//! the class to keep a second class's glue out of the wasm module; a shard never hosts a
//! session. Storage (the keys are this module's): `totals` (the summed counters and
//! histograms) and one `src:<source>` key per known source (`[source, [epoch, seq, conns,
//! at]]`), so a flush writes two small values whatever the number of sources.

use std::cell::RefCell;

use worker::*;

use crate::metrics::access::SHARDS;
use crate::metrics::exposition::{render, CONTENT_TYPE};
use crate::metrics::shard::SourceState;
use crate::metrics::{Applied, Batch, Delta, Shard, Snapshot};
use crate::shell::clock::now_ms;
use crate::shell::kv;

const TOTALS_KEY: &str = "totals";
const SOURCE_PREFIX: &str = "src:";
/// A flush is a few KB; anything much larger is not one of ours.
const MAX_FLUSH_BYTES: usize = 64 * 1024;

/// Paths of a metrics shard's requests: never forwarded from a client (the Worker forwards
/// only Engine.IO paths), like the gate's adopt path.
pub const SHARD_PATH: &str = "/__gateway/metrics/";
pub(super) const FLUSH: &str = "/__gateway/metrics/flush";
const SNAPSHOT: &str = "/__gateway/metrics/snapshot";
/// Shard 0 only: every shard's totals in the Prometheus text format.
pub(super) const EXPOSITION: &str = "/__gateway/metrics/exposition";

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

/// A request to a metrics shard. The shard is read from storage on its first request.
pub async fn handle(
    env: &Env,
    storage: Storage,
    shard: &RefCell<Option<Shard>>,
    mut req: Request,
) -> Result<Response> {
    if shard.borrow().is_none() {
        // Storage reads close the object's input gate: no other request runs in between.
        let loaded = load(&storage).await?;
        shard.borrow_mut().get_or_insert(loaded);
    }
    let snapshot = || {
        let s = shard.borrow();
        s.as_ref().map(Snapshot::of).unwrap_or_default()
    };
    match (req.method(), req.path().as_str()) {
        (Method::Get, SNAPSHOT) => Response::ok(snapshot().to_json().to_string()),
        (Method::Get, EXPOSITION) => exposition(env, snapshot()).await,
        (Method::Post, FLUSH) => {
            let body = req.text().await?;
            if body.len() > MAX_FLUSH_BYTES {
                return Response::error("flush too large", 413);
            }
            let Some(flush) = Flush::parse(&body) else {
                return Response::error("not a flush", 400);
            };
            apply(&storage, shard, flush).await
        }
        _ => Response::error("Not Found", 404),
    }
}

/// Adds a batch in and stores what changed before confirming it.
async fn apply(
    storage: &Storage,
    shard: &RefCell<Option<Shard>>,
    flush: Flush,
) -> Result<Response> {
    let (applied, totals, source, forgotten) = {
        let mut slot = shard.borrow_mut();
        let shard = slot.get_or_insert_with(Shard::default);
        let applied = shard.apply(now_ms(), &flush.source, &flush.batch);
        let totals = shard.totals.to_json().to_string();
        let source = shard.source(&flush.source);
        (applied, totals, source, shard.take_forgotten())
    };
    match applied {
        Applied::Refused => return Response::error("bad source", 400),
        Applied::Duplicate => return Response::ok("duplicate"),
        Applied::New => {}
    }
    kv::put(storage, TOTALS_KEY, &totals).await?;
    if let Some(s) = source {
        let record = serde_json::json!([flush.source, s.to_json()]).to_string();
        let key = format!("{SOURCE_PREFIX}{}", flush.source);
        kv::put(storage, &key, &record).await?;
    }
    for k in forgotten {
        storage.delete(&format!("{SOURCE_PREFIX}{k}")).await?;
    }
    Response::ok("applied")
}

async fn load(storage: &Storage) -> Result<Shard> {
    let mut shard = Shard::default();
    if let Some(t) = kv::get(storage, TOTALS_KEY).await? {
        let totals = serde_json::from_str(&t).ok();
        shard.totals = totals
            .and_then(|v| Delta::from_json(&v))
            .unwrap_or_default();
    }
    let listed = kv::list(storage, SOURCE_PREFIX).await?;
    for v in listed.values() {
        let v = v.map_err(Error::from)?;
        let record: Option<serde_json::Value> =
            v.as_string().and_then(|s| serde_json::from_str(&s).ok());
        let Some(record) = record else { continue };
        let source = record.get(0).and_then(serde_json::Value::as_str);
        let state = record.get(1).and_then(SourceState::from_json);
        if let (Some(src), Some(s)) = (source, state) {
            shard.insert_source(src, s);
        }
    }
    Ok(shard)
}

/// Every shard's totals added up (this one's and the others'), rendered. One that cannot
/// answer makes the answer 503: lower counts would read as a counter reset.
async fn exposition(env: &Env, own: Snapshot) -> Result<Response> {
    let mut total = own;
    // One after the other: a few ms each, and no join machinery in the module.
    for k in 1..SHARDS {
        match read_shard(env, k).await {
            Some(s) => total.merge(&s),
            None => return Response::error("metrics unavailable", 503),
        }
    }
    let h = Headers::new();
    h.set("Content-Type", CONTENT_TYPE)?;
    h.set("Cache-Control", "no-store")?;
    Ok(Response::ok(render(&total))?.with_headers(h))
}

async fn read_shard(env: &Env, k: u32) -> Option<Snapshot> {
    let mut resp = super::shard_call(env, k, SNAPSHOT, None).await.ok()?;
    if resp.status_code() != 200 {
        return None;
    }
    let text = resp.text().await.ok()?;
    let v = serde_json::from_str(&text).ok()?;
    Snapshot::from_json(&v)
}
