//! The Engine.IO layer: heartbeat, polling, upgrade, and how sessions end.

use super::*;

#[test]
fn heartbeat_pings_and_times_out() {
    let mut h = hub_for(Some("alice"), settings());
    ws(&mut h, "s1", HttpAuth::User("alice".into()));
    frame(&mut h, "s1", "40");
    assert_eq!(h.next_deadline(), Some(T0 + 25_000));
    assert!(texts(&h.tick(T0 + 24_999), "s1").is_empty());
    assert_eq!(texts(&h.tick(T0 + 25_000), "s1"), ["2"]);
    assert_eq!(h.awaiting_pong(), ["s1"]);
    // pong absorbed by the runtime, reported by timestamp
    h.pong_seen("s1", T0 + 25_010);
    assert!(h.awaiting_pong().is_empty());
    assert_eq!(h.next_deadline().unwrap(), T0 + 50_010);
    assert_eq!(texts(&h.tick(T0 + 50_010), "s1"), ["2"]);
    // no pong this time
    let a = h.tick(T0 + 70_009);
    assert!(!closed(&a, "s1"));
    let a = h.tick(T0 + 70_010);
    assert!(closed(&a, "s1"));
    assert!(!h.has_session("s1"));
    assert!(h.current().is_none());
}

#[test]
fn a_pong_frame_also_counts() {
    let mut h = hub_for(Some("alice"), settings());
    ws(&mut h, "s1", HttpAuth::User("alice".into()));
    frame(&mut h, "s1", "40");
    h.tick(T0 + 25_000);
    h.ws_frame(T0 + 25_005, "s1", Frame::Text("3".into()));
    assert!(h.awaiting_pong().is_empty());
}

#[test]
fn polling_queue_overlap_and_payload_limits() {
    let mut h = hub_for(Some("alice"), settings());
    h.open(T0, "p", Transport::Polling, HttpAuth::User("alice".into()));
    h.post_begin(T0, "p").0.unwrap();
    h.post(T0, "p", "40").0.unwrap();
    let (Ok(Poll::Ready(body)), _) = h.poll_begin(T0, "p") else {
        panic!()
    };
    assert!(body.starts_with("40"));
    assert_eq!(h.poll_begin(T0, "p").0.unwrap(), Poll::Wait);
    assert_eq!(h.poll_resume("p"), None);
    // a second GET while one waits: 400 and the session ends
    assert_eq!(h.poll_begin(T0, "p").0.unwrap_err(), HttpError::BadRequest);
    assert_eq!(h.poll_resume("p").as_deref(), Some("1"));
    assert!(!h.has_session("p"), "the session ended");

    let mut s = settings();
    s.max_payload = 10;
    let mut h = hub_for(Some("alice"), s);
    h.open(T0, "p", Transport::Polling, HttpAuth::User("alice".into()));
    h.post_begin(T0, "p").0.unwrap();
    assert_eq!(
        h.post(T0, "p", "4xxxxxxxxxxxxxxxxx").0.unwrap_err(),
        HttpError::PayloadTooLarge
    );
    assert!(!h.has_session("p"), "the session ended at once");
}

#[test]
fn client_close_over_polling_answers_the_waiting_get_with_noop() {
    let mut h = hub_for(Some("alice"), settings());
    h.open(T0, "p", Transport::Polling, HttpAuth::User("alice".into()));
    assert_eq!(h.poll_begin(T0, "p").0.unwrap(), Poll::Wait);
    h.post_begin(T0, "p").0.unwrap();
    h.post(T0, "p", "1").0.unwrap();
    assert_eq!(h.poll_resume("p").as_deref(), Some("6"));
    assert_eq!(h.poll_begin(T0, "p").0.unwrap_err(), HttpError::UnknownSid);
}

#[test]
fn upgrade_probe_noop_then_switch() {
    let mut h = polling_connected_and_waiting();
    h.upgrade_begin("p").unwrap();
    assert_eq!(
        h.upgrade_begin("p"),
        Ok(Upgrade::Redundant),
        "a second probe is closed"
    );
    let a = frame(&mut h, "p", "2probe");
    assert_eq!(texts(&a, "p"), ["3probe"]);
    assert_eq!(h.poll_resume("p").as_deref(), Some("6"));
    // a GET that arrives before the client paused polling is released with noops too
    assert_eq!(h.upgrade_flush("p"), None, "no GET is waiting");
    assert_eq!(h.poll_begin(T0, "p").0.unwrap(), Poll::Wait);
    assert_eq!(h.upgrade_flush("p").as_deref(), Some("6"));
    let a = frame(&mut h, "p", "5");
    assert!(texts(&a, "p").is_empty());
    assert_eq!(h.transport_of("p"), Some(Transport::WebSocket));
    assert_eq!(h.poll_begin(T0, "p").0.unwrap_err(), HttpError::BadRequest);
    // and traffic now flows over the WebSocket
    let a = frame(&mut h, "p", r#"42["send-prompt",{"prompt":"x"}]"#);
    assert!(a.iter().any(|x| matches!(x, Action::Prompt(_))));
}

#[test]
fn an_unparseable_post_ends_the_session_at_once_and_releases_the_waiting_get() {
    let mut h = hub_for(Some("alice"), settings());
    h.open(T0, "p", Transport::Polling, HttpAuth::User("alice".into()));
    assert_eq!(h.poll_begin(T0, "p").0.unwrap(), Poll::Wait);
    h.post_begin(T0, "p").0.unwrap();
    let (r, a) = h.post(T0, "p", "abc");
    assert_eq!(r, Ok(()));
    assert!(a
        .iter()
        .any(|x| matches!(x, Action::Wake { sid } if sid == "p")));
    assert_eq!(h.poll_resume("p").as_deref(), Some("1"));
    assert_eq!(h.poll_begin(T0, "p").0.unwrap_err(), HttpError::UnknownSid);
}

#[test]
fn a_polling_client_that_never_reads_is_closed_at_the_queue_cap() {
    let mut h = polling_connected_and_waiting();
    // The waiting GET took nothing yet; answer it so the queue fills from here.
    let _ = h.poll_resume("p");
    h.post_begin(T0, "p").0.unwrap();
    let big = format!(r#"42["send-prompt",{{"prompt":"{}"}}]"#, "x".repeat(30_000));
    let mut closed_at = None;
    for i in 0..40 {
        let body = big.clone();
        let (_, a) = h.post(T0 + i, "p", &body);
        for job in a.iter().filter_map(|x| match x {
            Action::Prompt(j) => Some(j.clone()),
            _ => None,
        }) {
            h.prompt_done(
                T0 + i,
                &job.request_id,
                Ok("y".repeat(60_000)),
                RunStats::default(),
            );
        }
        if !h.has_session("p") {
            closed_at = Some(i);
            break;
        }
        h.post_begin(T0 + i, "p").0.unwrap();
    }
    let n = closed_at.expect("the session ended");
    assert!(
        (5..=20).contains(&n),
        "closed after {n} unread answers of 60 KB"
    );
}

#[test]
fn a_payload_with_too_many_packets_ends_the_session() {
    let mut h = hub_for(Some("alice"), settings());
    h.open(T0, "p", Transport::Polling, HttpAuth::User("alice".into()));
    h.post_begin(T0, "p").0.unwrap();
    let (r, a) = h.post(T0, "p", &vec!["3"; 1001].join("\u{1e}"));
    assert_eq!(r, Ok(()));
    assert!(a.iter().any(|x| matches!(x, Action::Log(_))));
    assert!(!h.has_session("p"));
    // 1000 packets are fine
    h.open(T0, "q", Transport::Polling, HttpAuth::User("alice".into()));
    h.post_begin(T0, "q").0.unwrap();
    h.post(T0, "q", &vec!["3"; 1000].join("\u{1e}")).0.unwrap();
    assert!(h.has_session("q"));
}
