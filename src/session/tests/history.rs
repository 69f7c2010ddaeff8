//! History on the user's object: the ops a prompt's life produces, `get-history` and
//! `clear-history` answered through a small in-memory table that does what the SQL does,
//! pruning on the alarm with an injected clock, and the duplicate window.

use super::*;
use crate::prompt::{Code, Failure};
use crate::session::history::{count_cutoff, decode_cursor, Done, Entry, Op, MIN_PRUNE_GAP_MS};

const DAY: u64 = 86_400_000;

/// What `object::history` does with the table, in memory.
#[derive(Default)]
struct Table {
    rows: Vec<Entry>,
    next_seq: u64,
    /// `HISTORY_MAX_ITEMS`, which the SQL table keeps in `history_bound`.
    max_items: u64,
}

impl Table {
    fn new(max_items: u64) -> Self {
        Table {
            max_items,
            ..Default::default()
        }
    }
}

impl Table {
    /// Applies the ops among `actions`; the machine's answers come back as actions.
    fn apply(&mut self, h: &mut Hub, now: u64, actions: &[Action]) -> Vec<Action> {
        let mut out = Vec::new();
        for a in actions {
            let Action::History(op) = a else { continue };
            if let Some(done) = self.run(op.clone()) {
                out.extend(h.history_done(now, done));
            }
        }
        out
    }

    fn run(&mut self, op: Op) -> Option<Done> {
        match op {
            Op::Start {
                request_id,
                prompt,
                truncated,
                at,
                end,
            } => {
                self.next_seq += 1;
                self.rows.push(Entry {
                    seq: self.next_seq,
                    request_id: request_id.clone(),
                    prompt,
                    response: None,
                    status: "running".into(),
                    code: None,
                    created_at: at,
                    completed_at: None,
                    truncated: truncated.into(),
                });
                if let Some((outcome, at)) = end {
                    self.run(Op::Finish {
                        request_id,
                        outcome,
                        at,
                    });
                }
                if let Some(cut) = count_cutoff(self.next_seq, self.max_items) {
                    self.rows.retain(|r| r.seq > cut);
                }
                None
            }
            Op::Finish {
                request_id,
                outcome,
                at,
            } => {
                let row = self.rows.iter_mut().find(|r| r.request_id == request_id)?;
                row.status = outcome.status.as_str().into();
                row.code = outcome.code.map(str::to_owned);
                row.response = outcome.response;
                row.completed_at = Some(at);
                None
            }
            Op::Page { sid, ack, req } => {
                let rows = self
                    .rows
                    .iter()
                    .rev()
                    .filter(|r| req.before.is_none_or(|b| r.seq < b))
                    .take(req.limit as usize + 1)
                    .cloned()
                    .collect();
                Some(Done::Page {
                    sid,
                    ack,
                    req,
                    rows,
                })
            }
            Op::Clear { sid, ack } => {
                let deleted = self.rows.len() as u64;
                self.rows.clear();
                Some(Done::Cleared { sid, ack, deleted })
            }
            Op::Prune { up_to } => {
                self.rows.retain(|r| r.created_at > up_to);
                let oldest = self.rows.first().map(|r| r.created_at);
                Some(Done::Pruned { oldest })
            }
        }
    }
}

fn connected(max_items: u64) -> Hub {
    let mut s = settings();
    s.history.max_items = max_items;
    let mut h = hub_for(Some("alice"), s);
    ws(&mut h, "s1", HttpAuth::User("alice".into()));
    frame(&mut h, "s1", "40");
    h
}

fn ops(a: &[Action]) -> Vec<Op> {
    a.iter()
        .filter_map(|x| match x {
            Action::History(op) => Some(op.clone()),
            _ => None,
        })
        .collect()
}

fn ack_body(a: &[Action], id: u64) -> Option<Value> {
    let prefix = format!("43{id}");
    let t = texts(a, "s1")
        .into_iter()
        .find(|t| t.starts_with(&prefix))?;
    Some(serde_json::from_str::<Value>(&t[prefix.len()..]).unwrap()[0].clone())
}

/// Sends `event` with `payload` (raw JSON, or nothing) and ack id `ack`, at `now`.
fn emit(
    h: &mut Hub,
    t: &mut Table,
    now: u64,
    ack: Option<u64>,
    event: &str,
    payload: &str,
) -> Vec<Action> {
    let ack = ack.map(|a| a.to_string()).unwrap_or_default();
    let sep = if payload.is_empty() { "" } else { "," };
    let a = h.ws_frame(
        now,
        "s1",
        Frame::Text(format!(r#"42{ack}["{event}"{sep}{payload}]"#)),
    );
    let mut all = t.apply(h, now, &a);
    all.extend(a);
    all
}

/// Sends a prompt that ends with `result` at `now`.
fn prompt(h: &mut Hub, t: &mut Table, now: u64, id: &str, result: Result<&str, Code>) {
    let a = emit(
        h,
        t,
        now,
        None,
        "send-prompt",
        &format!(r#"{{"prompt":"p-{id}","requestId":"{id}"}}"#),
    );
    assert!(
        a.iter().any(|x| matches!(x, Action::Prompt(_))),
        "{id} accepted"
    );
    let r = result.map(str::to_owned).map_err(Failure::new);
    let a = h.prompt_done(now + 1, id, r, RunStats::default());
    t.apply(h, now + 1, &a);
}

fn page(h: &mut Hub, t: &mut Table, ack: u64, payload: Value) -> Value {
    let a = emit(
        h,
        t,
        T0 + 100,
        Some(ack),
        "get-history",
        &payload.to_string(),
    );
    ack_body(&a, ack).expect("an ack")
}

fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["requestId"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn a_prompt_is_recorded_at_accept_and_at_its_end_only() {
    let mut h = connected(200);
    let a = frame(
        &mut h,
        "s1",
        r#"421["send-prompt",{"prompt":"hi","requestId":"r1","stream":true}]"#,
    );
    let start = ops(&a);
    assert!(
        matches!(&start[..], [Op::Start { request_id, prompt, .. }] if request_id == "r1" && prompt == "hi")
    );
    let pos = |f: fn(&Action) -> bool| a.iter().position(f).unwrap();
    assert!(pos(|x| matches!(x, Action::History(_))) < pos(|x| matches!(x, Action::Prompt(_))));
    let chunk = crate::prompt::coalesce::Chunk {
        index: 0,
        delta: "x".into(),
    };
    assert!(
        ops(&h.prompt_chunk(T0 + 2, "r1", &chunk)).is_empty(),
        "no write per chunk"
    );
    let end = ops(&h.prompt_done(T0 + 3, "r1", Ok("x".into()), RunStats::default()));
    assert!(matches!(&end[..], [Op::Finish { request_id, outcome, at }]
        if request_id == "r1" && *at == T0 + 3 && outcome.response.as_deref() == Some("x")));
}

#[test]
fn statuses_follow_the_outcome_and_a_cancel() {
    let mut h = connected(200);
    let mut t = Table::new(200);
    prompt(&mut h, &mut t, T0, "ok", Ok("fine"));
    prompt(&mut h, &mut t, T0 + 10, "bad", Err(Code::UpstreamFailed));
    emit(
        &mut h,
        &mut t,
        T0 + 20,
        None,
        "send-prompt",
        r#"{"prompt":"c","requestId":"can"}"#,
    );
    emit(
        &mut h,
        &mut t,
        T0 + 21,
        Some(9),
        "cancel-prompt",
        r#"{"requestId":"can"}"#,
    );
    emit(
        &mut h,
        &mut t,
        T0 + 30,
        None,
        "send-prompt",
        r#"{"prompt":"r","requestId":"run"}"#,
    );
    let p = page(&mut h, &mut t, 1, json!({}));
    let items = p["items"].as_array().unwrap();
    let st: Vec<_> = items
        .iter()
        .map(|i| {
            (
                i["requestId"].clone(),
                i["status"].clone(),
                i.get("code").cloned(),
            )
        })
        .collect();
    assert_eq!(
        st,
        [
            (json!("run"), json!("running"), None),
            (
                json!("can"),
                json!("cancelled"),
                Some(json!("PROMPT_CANCELLED"))
            ),
            (
                json!("bad"),
                json!("failed"),
                Some(json!("UPSTREAM_FAILED"))
            ),
            (json!("ok"), json!("completed"), None),
        ]
    );
    assert_eq!(items[3]["response"], "fine");
    assert_eq!(items[3]["createdAt"], T0);
    assert_eq!(items[3]["completedAt"], T0 + 1);
    assert_eq!(items[0].get("completedAt"), None);
}

#[test]
fn pages_walk_back_with_cursors_until_no_next() {
    let mut h = connected(200);
    let mut t = Table::new(200);
    for i in 0..7 {
        prompt(&mut h, &mut t, T0 + i * 10, &format!("q{i}"), Ok("a"));
    }
    let p1 = page(&mut h, &mut t, 1, json!({"limit": 3}));
    assert_eq!(ids(&p1), ["q6", "q5", "q4"]);
    // A prompt that arrives meanwhile does not shift the older pages.
    prompt(&mut h, &mut t, T0 + 500, "late", Ok("a"));
    let p2 = page(&mut h, &mut t, 2, json!({"limit": 3, "before": p1["next"]}));
    assert_eq!(ids(&p2), ["q3", "q2", "q1"]);
    let p3 = page(&mut h, &mut t, 3, json!({"limit": 3, "before": p2["next"]}));
    assert_eq!(ids(&p3), ["q0"]);
    assert_eq!(p3.get("next"), None);
    assert!(decode_cursor(p2["next"].as_str().unwrap()).is_ok());
}

#[test]
fn bad_requests_get_invalid_request_and_no_ack_means_no_answer() {
    let mut h = connected(200);
    let mut t = Table::new(200);
    for (i, bad) in [
        json!({"limit": 0}),
        json!({"limit": 101}),
        json!({"before": "zz"}),
        json!("x"),
    ]
    .into_iter()
    .enumerate()
    {
        let body = page(&mut h, &mut t, i as u64 + 1, bad.clone());
        assert_eq!(body["error"]["code"], "INVALID_REQUEST", "{bad}");
        assert!(body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()));
    }
    let a = emit(&mut h, &mut t, T0, None, "get-history", "{}");
    assert!(
        ops(&a).is_empty() && texts(&a, "s1").is_empty(),
        "nothing to answer"
    );
    let a = emit(&mut h, &mut t, T0, Some(7), "get-history", "");
    assert_eq!(
        ack_body(&a, 7).unwrap(),
        json!({ "items": [] }),
        "no payload: defaults"
    );
    let a = emit(&mut h, &mut t, T0, Some(8), "clear-history", "42");
    assert_eq!(ack_body(&a, 8).unwrap()["error"]["code"], "INVALID_REQUEST");
    assert!(ops(&a).is_empty());
}

#[test]
fn clearing_deletes_every_row_but_the_ids_stay_duplicates() {
    let mut h = connected(200);
    let mut t = Table::new(200);
    prompt(&mut h, &mut t, T0, "a", Ok("1"));
    prompt(&mut h, &mut t, T0 + 10, "b", Ok("2"));
    let a = emit(&mut h, &mut t, T0 + 20, Some(1), "clear-history", "");
    assert_eq!(
        ack_body(&a, 1).unwrap(),
        json!({"status": "cleared", "deleted": 2})
    );
    assert_eq!(page(&mut h, &mut t, 2, json!({})), json!({ "items": [] }));
    // Without an ack the clear still happens.
    prompt(&mut h, &mut t, T0 + 30, "c", Ok("3"));
    emit(&mut h, &mut t, T0 + 40, None, "clear-history", "");
    assert!(t.rows.is_empty());
    let a = emit(
        &mut h,
        &mut t,
        T0 + 50,
        Some(3),
        "send-prompt",
        r#"{"prompt":"again","requestId":"a"}"#,
    );
    assert_eq!(ack_body(&a, 3).unwrap()["status"], "duplicate");
}

#[test]
fn max_items_drops_the_oldest_and_zero_stores_nothing() {
    let mut h = connected(3);
    let mut t = Table::new(3);
    for i in 0..5 {
        prompt(&mut h, &mut t, T0 + i * 10, &format!("m{i}"), Ok("a"));
    }
    assert_eq!(ids(&page(&mut h, &mut t, 1, json!({}))), ["m4", "m3", "m2"]);

    let mut h = connected(0);
    let mut t = Table::new(0);
    let a = emit(
        &mut h,
        &mut t,
        T0,
        None,
        "send-prompt",
        r#"{"prompt":"x","requestId":"z"}"#,
    );
    assert!(ops(&a).is_empty());
    let a = h.prompt_done(T0 + 1, "z", Ok("y".into()), RunStats::default());
    assert!(ops(&a).is_empty());
    assert_eq!(page(&mut h, &mut t, 1, json!({})), json!({ "items": [] }));
    let a = emit(&mut h, &mut t, T0, Some(2), "clear-history", "");
    assert_eq!(
        ack_body(&a, 2).unwrap(),
        json!({"status": "cleared", "deleted": 0})
    );
}

#[test]
fn the_alarm_prunes_rows_past_the_retention() {
    let mut h = connected(200);
    let mut t = Table::new(200);
    let retention = settings().history.retention_days * DAY;
    prompt(&mut h, &mut t, T0, "old", Ok("a"));
    prompt(&mut h, &mut t, T0 + 5 * DAY, "new", Ok("b"));
    // The first row's expiry is the next deadline (nothing else is pending but pings).
    let expiry = T0 + retention;
    assert!(h.next_deadline().unwrap() <= expiry);
    let a = h.tick(expiry - 1);
    assert!(ops(&a).is_empty(), "not yet");
    let a = h.tick(expiry);
    assert_eq!(ops(&a), [Op::Prune { up_to: T0 }]);
    t.apply(&mut h, expiry, &a);
    let kept: Vec<_> = t.rows.iter().map(|r| r.request_id.as_str()).collect();
    assert_eq!(
        kept,
        ["new"],
        "old is gone once it is as old as the retention"
    );
    let a = h.tick(expiry + MIN_PRUNE_GAP_MS);
    assert_eq!(ops(&a).len(), 0, "the next pass waits for the second row");
    let later = T0 + 5 * DAY + retention;
    let a = h.tick(later);
    assert_eq!(
        ops(&a),
        [Op::Prune {
            up_to: T0 + 5 * DAY
        }]
    );
    t.apply(&mut h, later, &a);
    assert!(t.rows.is_empty());
    assert_eq!(
        h.tick(later + 10 * DAY)
            .iter()
            .filter(|x| matches!(x, Action::History(_)))
            .count(),
        0
    );
    // A restarted object learns its deadline from the table.
    h.history_done(
        T0,
        Done::Loaded {
            oldest: Some(T0 + 9 * DAY),
        },
    );
    assert!(h.next_deadline().is_some());
    h.history_done(T0, Done::Loaded { oldest: None });
}

#[test]
fn the_duplicate_window_is_at_least_history_max_items() {
    let mut h = connected(300);
    let mut t = Table::new(300);
    for i in 0..300 {
        prompt(&mut h, &mut t, T0 + i, &format!("d{i}"), Ok("a"));
    }
    let a = emit(
        &mut h,
        &mut t,
        T0 + 400,
        Some(1),
        "send-prompt",
        r#"{"prompt":"x","requestId":"d0"}"#,
    );
    assert_eq!(
        ack_body(&a, 1).unwrap()["status"],
        "duplicate",
        "d0 is still in history"
    );
    // One more id and d0 falls out of the window (and of the history): it runs again.
    prompt(&mut h, &mut t, T0 + 500, "d300", Ok("a"));
    prompt(&mut h, &mut t, T0 + 600, "d0", Ok("again"));
    assert_eq!(t.rows.len(), 300);
}
