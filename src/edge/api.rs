//! The push API for the app's backend (CONTRACT.md section 5): `POST /api/v1/emit`,
//! `GET /api/v1/users/{userId}` and `GET /api/v1/rooms/{room}`, behind `PUSH_API_TOKEN`.
//! Requests to objects are built here from the checked body, never forwarded from the client.

use worker::*;

use super::route::read_body;
use crate::config::Config;
use crate::log::{Level, Line};
use crate::push::bearer::authorized;
use crate::push::request::{parse_emit, ApiError, Target, MAX_BODY_BYTES};
use crate::push::{names, Counts, PushMessage};
use crate::shell::console::log;
use crate::shell::push::{
    internal_request, push_to_users, PRESENCE_PATH, ROOM_EMIT_PATH, ROOM_MEMBERS_PATH,
};
use crate::shell::stubs::{room_stub, user_stub_in, BINDING};

pub(super) const PREFIX: &str = "/api/v1/";

/// Answers a request under [`PREFIX`].
pub(super) async fn handle(
    mut req: Request,
    url: &crate::request_url::RequestUrl,
    config: &Config,
    env: &Env,
) -> Result<Response> {
    let Some(token) = config.push_token.as_deref() else {
        return Response::error("Not Found", 404);
    };
    if !authorized(req.headers().get("Authorization")?.as_deref(), token) {
        return error(&ApiError::unauthorized());
    }
    let path = &url.path()[PREFIX.len()..];
    let get = req.method() == Method::Get;
    let result = match path.split_once('/') {
        None if path == "emit" => match req.method() {
            Method::Post => emit(&mut req, env).await?,
            _ => Err(ApiError::method_not_allowed()),
        },
        Some(("users", id)) if get => presence(env, id).await?,
        Some(("rooms", room)) if get => room_members(env, room).await?,
        Some(("users" | "rooms", _)) => Err(ApiError::method_not_allowed()),
        _ => Err(ApiError::not_found()),
    };
    match result {
        Ok(body) => json_response(200, body),
        Err(e) => error(&e),
    }
}

type Answer = std::result::Result<String, ApiError>;

async fn emit(req: &mut Request, env: &Env) -> Result<Answer> {
    let (body, oversize) = read_body(req, MAX_BODY_BYTES).await?;
    let body = match (body, oversize) {
        (Some(b), None) => b,
        _ => return Ok(Err(ApiError::too_large())),
    };
    let emit = match parse_emit(&body) {
        Ok(e) => e,
        Err(e) => return Ok(Err(e)),
    };
    let mut msg = PushMessage {
        event: emit.event,
        data: emit.data,
        room: None,
    };
    let users = match emit.target {
        Target::User(u) => vec![u],
        Target::Users(list) => list,
        Target::Room(room) => {
            msg.room = Some(room.clone());
            let body = serde_json::to_string(&msg)?;
            let req = internal_request(ROOM_EMIT_PATH, Some(body))?;
            return Ok(answer(room_stub(env, &room)?.fetch_with_request(req).await).await);
        }
    };
    let namespace = env.durable_object(BINDING)?;
    let targets = users.into_iter().map(|u| (u, String::new())).collect();
    let mut counts = Counts::default();
    for (_, _, d) in push_to_users(&namespace, targets, &msg).await {
        counts.add(d);
    }
    Ok(Ok(serde_json::to_string(&counts)?))
}

/// The path segment, percent-decoded, when it is a valid name.
fn segment(raw: &str, ok: fn(&str) -> bool, what: &str) -> std::result::Result<String, ApiError> {
    let decoded = percent_encoding::percent_decode_str(raw).decode_utf8();
    match decoded {
        Ok(s) if ok(&s) => Ok(s.into_owned()),
        _ => Err(ApiError::new(
            400,
            "INVALID_REQUEST",
            format!("Not a valid {what} in the path"),
        )),
    }
}

async fn presence(env: &Env, raw: &str) -> Result<Answer> {
    let user = match segment(raw, names::user_id_ok, "user id") {
        Ok(u) => u,
        Err(e) => return Ok(Err(e)),
    };
    let stub = user_stub_in(&env.durable_object(BINDING)?, &user)?;
    let req = internal_request(PRESENCE_PATH, None)?;
    Ok(answer(stub.fetch_with_request(req).await).await)
}

/// An object's JSON answer, passed on; a failed call is logged and answered 503.
async fn answer(resp: Result<Response>) -> Answer {
    let body = match resp {
        Ok(mut r) if r.status_code() == 200 => r.text().await,
        Ok(r) => Err(Error::RustError(format!("answered {}", r.status_code()))),
        Err(e) => Err(e),
    };
    body.map_err(|e| {
        log(
            &Line::new(Level::Error, "push API call to an object failed")
                .with("error", e.to_string()),
        );
        ApiError::unavailable()
    })
}

async fn room_members(env: &Env, raw: &str) -> Result<Answer> {
    let room = match segment(raw, names::room_ok, "room name") {
        Ok(r) => r,
        Err(e) => return Ok(Err(e)),
    };
    let req = internal_request(ROOM_MEMBERS_PATH, None)?;
    Ok(answer(room_stub(env, &room)?.fetch_with_request(req).await).await)
}

fn json_response(status: u16, body: String) -> Result<Response> {
    let h = Headers::new();
    h.set("Content-Type", "application/json")?;
    h.set("Cache-Control", "no-store")?;
    Ok(Response::ok(body)?.with_status(status).with_headers(h))
}

fn error(e: &ApiError) -> Result<Response> {
    let resp = json_response(e.status, e.body())?;
    if e.status == 401 {
        resp.headers().set("WWW-Authenticate", "Bearer")?;
    }
    Ok(resp)
}
