//! The Worker: checks origin and Engine.IO parameters, authenticates when the token is visible
//! at HTTP level, and routes each request to the Durable Object that owns (or will own) it.
//!
//! `validate` holds the checks on the client's request, `route` sends it to an object (by its
//! sid, or after the header/query token check on a handshake), and `relay` pipes the one kind of
//! client that cannot be routed at HTTP level: WebSocket-only with the token in the CONNECT.
//! `api` is the push API for the app's backend (`/api/v1/*`).

mod api;
mod relay;
mod route;
mod validate;

use worker::*;

use crate::request_url::RequestUrl;
use crate::shell::env;
use crate::shell::http::{config_error_response, http_error, request_url};
use crate::shell::stubs::BINDING;

/// A client request that passed the path, origin and transport checks.
struct Incoming {
    req: Request,
    url: RequestUrl,
    params: validate::Params,
    /// The request's `Origin` when it is allowed, for the CORS headers.
    cors: Option<String>,
}

#[event(start)]
fn start() {
    console_error_panic_hook::set_once();
}

#[event(fetch)]
pub async fn fetch(req: Request, env: Env, ctx: Context) -> Result<Response> {
    let config = match env::config(&env) {
        Ok(c) => c,
        Err(e) => return config_error_response(&e),
    };
    if let Some(resp) = crate::assets::serve(&req, &env, &config).await? {
        return Ok(resp);
    }
    if let Some(resp) = crate::gather::serve(&req, &env, &config).await? {
        return Ok(resp);
    }
    let url = request_url(&req);
    if url.path().starts_with(api::PREFIX) {
        return api::handle(req, &url, &config, &env).await;
    }
    if !validate::is_engine_path(url.path(), &config) {
        return Response::error("Not Found", 404);
    }
    let cors = match validate::allowed_origin(&req, &config)? {
        Ok(cors) => cors,
        Err(refused) => return http_error(refused, None),
    };
    if req.method() == Method::Options {
        return validate::preflight(cors.as_deref());
    }
    let params = validate::Params::read(&req, &url)?;
    if let Err(e) = params.check_transport() {
        return http_error(e, cors.as_deref());
    }
    let namespace = env.durable_object(BINDING)?;
    let incoming = Incoming {
        req,
        url,
        params,
        cors,
    };
    if incoming.params.sid.is_some() {
        return route::by_sid(incoming, &namespace, &config).await;
    }
    if let Err(e) = incoming.params.check_handshake(&incoming.req) {
        return http_error(e, incoming.cors.as_deref());
    }
    route::handshake(incoming, &namespace, &config, &env, &ctx).await
}
