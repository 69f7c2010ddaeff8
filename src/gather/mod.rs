//! Gathering the metrics (wasm only): the `Metrics` Durable Objects that add up the counts
//! (`shard_object`), sending a batch to one (`send`), the per-isolate outbox for counts made
//! outside a user's object (`isolate`: handshake refusals in the Worker, CONNECTs a gate
//! refused), Analytics Engine data points (`write_point`), and the `/api/v1/metrics` and
//! `/dashboard` routes (`endpoint`).

mod endpoint;
mod isolate;
mod shard_object;

use worker::{Env, Method, Request, RequestInit, Result, Stub};

use crate::metrics::access::shard_of;
use crate::metrics::{Batch, Point};

pub use endpoint::serve;
pub use isolate::count_in_isolate;

/// The metrics objects' binding in wrangler.toml.
pub const BINDING: &str = "METRICS";
/// An Analytics Engine dataset, when one is bound (never required).
pub const ANALYTICS_BINDING: &str = "ANALYTICS";

const FLUSH_URL: &str = "https://metrics/flush";
const SNAPSHOT_URL: &str = "https://metrics/snapshot";

fn shard_stub(env: &Env, shard: u32) -> Result<Stub> {
    env.durable_object(BINDING)?
        .id_from_name(&format!("metrics:{shard}"))?
        .get_stub()
}

/// Sends `batch` from `source` to its metrics object; true once that object stored it.
pub async fn send(env: &Env, source: &str, batch: &Batch) -> bool {
    let body = serde_json::json!({ "source": source, "batch": batch.to_json() }).to_string();
    let attempt = async {
        let mut init = RequestInit::new();
        init.with_method(Method::Post).with_body(Some(body.into()));
        let req = Request::new_with_init(FLUSH_URL, &init)?;
        let resp = shard_stub(env, shard_of(source))?
            .fetch_with_request(req)
            .await?;
        Ok::<bool, worker::Error>(resp.status_code() == 200)
    };
    attempt.await.unwrap_or(false)
}

/// Whether an Analytics Engine dataset is bound.
pub fn analytics_bound(env: &Env) -> bool {
    env.analytics_engine(ANALYTICS_BINDING).is_ok()
}

/// Writes one data point: index and blob1 the event (`connect`, `prompt`, `push`), blob2 its
/// result or outcome; double1 1 (a count), double2 the duration and double3 the time to the
/// first chunk in ms (0 when not known). Nothing happens without the binding.
pub fn write_point(env: &Env, p: &Point) {
    let Ok(dataset) = env.analytics_engine(ANALYTICS_BINDING) else {
        return;
    };
    let point = worker::AnalyticsEngineDataPointBuilder::new()
        .indexes([p.event])
        .blobs([p.event, p.label.as_str()])
        .doubles([
            1.0,
            p.duration_ms.unwrap_or(0) as f64,
            p.first_chunk_ms.unwrap_or(0) as f64,
        ])
        .build();
    let _ = dataset.write_data_point(&point);
}
