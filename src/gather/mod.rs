//! Gathering the metrics (wasm only): the metrics shards that add up the counts
//! (`shard_store`), sending a batch to one (`send`), the per-isolate outbox for counts made
//! outside a user's object (`isolate`: handshake refusals in the Worker, CONNECTs a gate
//! refused), Analytics Engine data points (`write_point`), and the `/api/v1/metrics` and
//! `/dashboard` routes (`endpoint`).

mod endpoint;
mod isolate;
mod shard_store;

use worker::{Env, Method, Response, Result};

use crate::metrics::access::shard_of;
use crate::metrics::{Batch, Point};
use crate::shell::http::new_request;

pub use endpoint::serve;
pub use isolate::count_in_isolate;
pub use shard_store::{handle as shard_fetch, SHARD_PATH};

/// A background task for `waitUntil`; one type for all of them keeps one copy of the
/// runtime's spawning code in the module.
pub type Task = std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>;

/// An Analytics Engine dataset, when one is bound (never required).
pub const ANALYTICS_BINDING: &str = "ANALYTICS";

/// A request to metrics shard `shard` (`metrics:<shard>` of the users' class) on one of the
/// shard paths. Every call to a shard goes through here: one copy of this code in the module.
async fn shard_call(env: &Env, shard: u32, path: &str, body: Option<String>) -> Result<Response> {
    let stub = env
        .durable_object(crate::shell::stubs::BINDING)?
        .id_from_name(&format!("metrics:{shard}"))?
        .get_stub()?;
    let method = if body.is_some() {
        Method::Post
    } else {
        Method::Get
    };
    let req = new_request(
        &format!("https://metrics{path}"),
        method,
        None,
        body.map(Into::into),
    )?;
    stub.fetch_with_request(req).await
}

/// Sends `batch` from `source` to its metrics shard; true once that shard stored it.
pub async fn send(env: &Env, source: &str, batch: &Batch) -> bool {
    let body = serde_json::json!({ "source": source, "batch": batch.to_json() }).to_string();
    let resp = shard_call(env, shard_of(source), shard_store::FLUSH, Some(body)).await;
    resp.is_ok_and(|r| r.status_code() == 200)
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
