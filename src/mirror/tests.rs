use super::*;
use crate::test_support::block_on;
use std::cell::RefCell;

struct Fake {
    replies: RefCell<Vec<Result<(u16, String), String>>>,
    seen: RefCell<Vec<HttpRequest>>,
}

impl Fake {
    fn new(replies: Vec<Result<(u16, &str), &str>>) -> Self {
        Fake {
            replies: RefCell::new(
                replies
                    .into_iter()
                    .rev()
                    .map(|r| r.map(|(s, b)| (s, b.to_owned())).map_err(str::to_owned))
                    .collect(),
            ),
            seen: RefCell::default(),
        }
    }
}

impl Transport for &Fake {
    async fn post(&self, req: HttpRequest) -> Result<(u16, String), String> {
        self.seen.borrow_mut().push(req);
        self.replies.borrow_mut().pop().expect("a reply")
    }
}

#[test]
fn builds_requests_with_auth_and_json_commands() {
    let fake = Fake::new(vec![Ok((200, r#"{"result":"OK"}"#))]);
    let c = Client::new("https://r.example/", "tok", &fake);
    block_on(c.set_ex("ws:user:connection:u1", "sock", 3600)).unwrap();
    let seen = fake.seen.borrow();
    assert_eq!(seen[0].url, "https://r.example/");
    assert_eq!(seen[0].token, "tok");
    assert_eq!(
        seen[0].body,
        r#"["SET","ws:user:connection:u1","sock","EX","3600"]"#
    );
}

#[test]
fn typed_commands_parse_their_results() {
    let fake = Fake::new(vec![
        Ok((200, r#"{"result":"sock"}"#)),
        Ok((200, r#"{"result":null}"#)),
        Ok((200, r#"{"result":1}"#)),
        Ok((200, r#"{"result":3599}"#)),
        Ok((200, r#"{"result":-2}"#)),
        Ok((200, r#"{"result":0}"#)),
        Ok((200, r#"{"result":1}"#)),
    ]);
    let c = Client::new("http://x", "t", &fake);
    assert_eq!(block_on(c.get("k")).unwrap().as_deref(), Some("sock"));
    assert_eq!(block_on(c.get("k")).unwrap(), None);
    assert_eq!(block_on(c.del("k")).unwrap(), 1);
    assert_eq!(block_on(c.ttl("k")).unwrap(), 3599);
    assert_eq!(block_on(c.ttl("k")).unwrap(), -2);
    assert!(!block_on(c.delete_if_equals("k", "old")).unwrap());
    assert!(block_on(c.expire("k", 10)).unwrap());
    let bodies: Vec<String> = fake.seen.borrow().iter().map(|r| r.body.clone()).collect();
    assert!(bodies[5].starts_with(r#"["EVAL","if redis.call('GET', KEYS[1]) == ARGV[1]"#));
    assert!(bodies[5].ends_with(r#""1","k","old"]"#));
}

#[test]
fn errors_are_kept_apart() {
    let fake = Fake::new(vec![
        Ok((400, r#"{"error":"ERR wrong number of arguments"}"#)),
        Ok((401, r#"{"error":"Unauthorized"}"#)),
        Ok((502, "<html>bad gateway</html>")),
        Ok((200, "not json")),
        Err("connection refused"),
        Ok((200, r#"{"result":5}"#)),
    ]);
    let c = Client::new("http://x", "t", &fake);
    assert!(matches!(block_on(c.get("k")), Err(Error::Redis(e)) if e.contains("wrong number")));
    assert!(matches!(block_on(c.get("k")), Err(Error::Http(401, _))));
    assert!(matches!(block_on(c.get("k")), Err(Error::Http(502, b)) if b.contains("bad gateway")));
    assert!(matches!(block_on(c.get("k")), Err(Error::Decode(_))));
    assert!(matches!(block_on(c.get("k")), Err(Error::Transport(e)) if e == "connection refused"));
    // a result of the wrong type is a decoding error, not a value
    assert!(matches!(block_on(c.get("k")), Err(Error::Decode(_))));
}

#[test]
fn pipeline_returns_each_result() {
    let fake = Fake::new(vec![Ok((
        200,
        r#"[{"result":"OK"},{"error":"WRONGTYPE x"},{"result":2}]"#,
    ))]);
    let c = Client::new("http://x", "t", &fake);
    let r = block_on(c.pipeline(vec![
        json!(["SET", "a", "1"]),
        json!(["LPUSH", "a", "x"]),
        json!(["TTL", "a"]),
    ]))
    .unwrap();
    assert_eq!(r[0], Ok(json!("OK")));
    assert_eq!(r[1], Err(Error::Redis("WRONGTYPE x".into())));
    assert_eq!(r[2], Ok(json!(2)));
    assert_eq!(fake.seen.borrow()[0].url, "http://x/pipeline");
    let fake = Fake::new(vec![Ok((401, r#"{"error":"Unauthorized"}"#))]);
    let c = Client::new("http://x", "t", &fake);
    assert!(matches!(
        block_on(c.pipeline(vec![])),
        Err(Error::Http(401, _))
    ));
}

fn plan() -> Plan {
    Plan::new("ws:user:connection:u".into(), 3600)
}

#[test]
fn plan_sets_then_refreshes() {
    let mut p = plan();
    let op = p.set_current(0, Some("a".into())).unwrap();
    assert!(matches!(&op, Op::Set { value, ttl_secs: 3600, .. } if value == "a"));
    assert_eq!(p.deadline(), None, "nothing scheduled while in flight");
    assert_eq!(p.done(10, op.seq(), true), None);
    assert!(p.is_converged());
    assert_eq!(p.deadline(), Some(10 + 1_200_000));
    assert_eq!(p.due(100), None);
    let refresh = p.due(10 + 1_200_000).unwrap();
    assert!(matches!(refresh, Op::Set { .. }));
}

#[test]
fn plan_deletes_only_its_own_value() {
    let mut p = plan();
    let op = p.set_current(0, Some("a".into())).unwrap();
    p.done(1, op.seq(), true);
    let del = p.set_current(2, None).unwrap();
    assert!(matches!(&del, Op::DeleteIf { value, .. } if value == "a"));
    p.done(3, del.seq(), true);
    assert!(p.is_converged());
    assert_eq!(p.deadline(), None);
}

#[test]
fn plan_retries_with_backoff_and_converges_to_latest() {
    let mut p = plan();
    let op = p.set_current(0, Some("a".into())).unwrap();
    // replaced while the first write is in flight: wait for it, then write the newest
    assert_eq!(p.set_current(1, Some("b".into())), None);
    assert_eq!(p.done(2, op.seq(), false), None);
    assert_eq!(p.deadline(), Some(2 + 500));
    assert_eq!(p.due(100), None);
    let retry = p.due(502).unwrap();
    assert!(matches!(&retry, Op::Set { value, .. } if value == "b"));
    p.done(600, retry.seq(), false);
    assert_eq!(p.deadline(), Some(600 + 1000));
    for _ in 0..10 {
        let t = p.deadline().unwrap();
        let r = p.due(t).unwrap();
        p.done(t, r.seq(), false);
    }
    let t = p.deadline().unwrap();
    let last = p.due(t).unwrap();
    assert!(p.failures() > 5);
    p.done(t, last.seq(), true);
    assert!(p.is_converged());
    assert_eq!(p.desired(), Some("b"));
}

#[test]
fn backoff_is_capped() {
    let mut p = plan();
    let mut op = p.set_current(0, Some("a".into())).unwrap();
    let mut now = 0;
    for _ in 0..FAST_RETRIES {
        p.done(now, op.seq(), false);
        let t = p.deadline().unwrap();
        assert!(t - now <= MAX_BACKOFF_MS);
        now = t;
        op = p.due(now).unwrap();
    }
}

#[test]
fn a_lasting_outage_backs_off_to_the_refresh_interval() {
    let mut p = plan();
    let mut op = p.set_current(0, Some("a".into())).unwrap();
    let mut now = 0;
    let mut wakes = 0;
    // One hour of a dead endpoint: a few dozen attempts, not one every 5 s (720).
    while now < 3_600_000 {
        p.done(now, op.seq(), false);
        let t = p.deadline().unwrap();
        assert!(
            t - now <= 1_200_000,
            "never slower than the refresh interval"
        );
        now = t;
        op = p.due(now).unwrap();
        wakes += 1;
    }
    assert!(wakes < 40, "{wakes} attempts");
    p.done(now, op.seq(), true);
    assert!(p.is_converged());
}

#[test]
fn a_delete_is_dropped_once_the_key_expired_anyway() {
    let mut p = Plan::new("k".into(), 10);
    let op = p.set_current(0, Some("a".into())).unwrap();
    p.done(0, op.seq(), true);
    let mut del = p.set_current(1_000, None).unwrap();
    let mut now = 1_000;
    while now < 10_000 {
        p.done(now, del.seq(), false);
        now = p.deadline().expect("retried while the key may live");
        del = p.due(now).unwrap();
    }
    p.done(now, del.seq(), false);
    assert!(p.is_converged());
    assert_eq!(p.deadline(), None, "no more wake-ups");
}

#[test]
fn a_refresh_in_flight_at_a_restart_still_happens() {
    let mut p = plan();
    let op = p.set_current(0, Some("a".into())).unwrap();
    p.done(1, op.seq(), true);
    let _refresh_lost = p.due(1 + 1_200_000).unwrap();
    let json = serde_json::to_string(&p).unwrap();
    let mut back: Plan = serde_json::from_str(&json).unwrap();
    back.resume(1_300_000);
    assert!(matches!(back.due(1_300_000), Some(Op::Set { .. })));
}

#[test]
fn a_stale_completion_is_ignored() {
    let mut p = plan();
    let op = p.set_current(0, Some("a".into())).unwrap();
    assert_eq!(p.done(1, op.seq() + 7, true), None);
    assert!(!p.is_converged());
}

#[test]
fn reload_resumes_unfinished_work() {
    let mut p = plan();
    let _lost = p.set_current(0, Some("a".into())).unwrap();
    let json = serde_json::to_string(&p).unwrap();
    let mut back: Plan = serde_json::from_str(&json).unwrap();
    back.resume(50);
    let op = back.due(50).unwrap();
    assert!(matches!(op, Op::Set { .. }));
}
