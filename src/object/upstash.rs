//! The Redis mirror's transport: Upstash REST calls over the runtime's `fetch`, each bounded by
//! a timeout so a hung endpoint cannot pile up work.

use futures_util::future::{select, Either};
use worker::*;

use crate::mirror::{self, HttpRequest};
use crate::shell::http::new_request;

const MIRROR_TIMEOUT_MS: u64 = 5_000;

pub(super) struct FetchTransport;

impl mirror::Transport for FetchTransport {
    async fn post(&self, r: HttpRequest) -> std::result::Result<(u16, String), String> {
        let headers = Headers::new();
        headers
            .set("Authorization", &format!("Bearer {}", r.token))
            .map_err(|e| e.to_string())?;
        headers
            .set("Content-Type", "application/json")
            .map_err(|e| e.to_string())?;
        let req = new_request(&r.url, Method::Post, Some(&headers), Some(r.body.into()))
            .map_err(|e| e.to_string())?;
        let call = async {
            let mut resp = Fetch::Request(req)
                .send()
                .await
                .map_err(|e| e.to_string())?;
            let status = resp.status_code();
            let body = resp.text().await.map_err(|e| e.to_string())?;
            Ok((status, body))
        };
        let timeout = Delay::from(std::time::Duration::from_millis(MIRROR_TIMEOUT_MS));
        match select(Box::pin(call), timeout).await {
            Either::Left((r, _)) => r,
            Either::Right(_) => Err(format!("no answer within {MIRROR_TIMEOUT_MS} ms")),
        }
    }
}
