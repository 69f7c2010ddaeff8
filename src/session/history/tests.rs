use serde_json::json;

use super::*;

const NOW: u64 = 1_800_000_000_000;

fn entry(seq: u64) -> Entry {
    Entry {
        seq,
        request_id: format!("r{seq}"),
        prompt: format!("p{seq}"),
        response: Some(format!("a{seq}")),
        status: "completed".into(),
        code: None,
        created_at: NOW + seq,
        completed_at: Some(NOW + seq + 1),
        truncated: 0,
    }
}

#[test]
fn cursors_round_trip_and_are_opaque() {
    for seq in [1, 42, 9_007_199_254_740_991, u64::MAX] {
        let c = encode_cursor(seq);
        assert!(c.len() <= MAX_CURSOR_CHARS, "{c}");
        assert!(c
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_eq!(decode_cursor(&c), Ok(seq));
    }
}

#[test]
fn bad_cursors_are_refused() {
    let enc = |s: &str| URL_SAFE_NO_PAD.encode(s);
    let long = "A".repeat(MAX_CURSOR_CHARS + 1);
    for bad in [
        String::new(),
        "not a cursor!".into(),
        "12".into(),
        enc("h1:"),
        enc("h1:0"),
        enc("h1:007"),
        enc("h1:-3"),
        enc("h1:3x"),
        enc("h2:3"),
        enc("h1:99999999999999999999999"),
        URL_SAFE_NO_PAD.encode([0xff, 0xfe]),
        format!("{}=", encode_cursor(5)),
        long,
    ] {
        assert!(decode_cursor(&bad).is_err(), "{bad:?}");
    }
}

#[test]
fn get_history_limits_and_payloads() {
    let ok = |v: Value| parse_get(&[v]);
    assert_eq!(
        parse_get(&[]),
        Ok(PageRequest {
            limit: 20,
            before: None
        })
    );
    assert_eq!(ok(Value::Null).unwrap().limit, 20);
    assert_eq!(ok(json!({})).unwrap().limit, 20);
    assert_eq!(
        ok(json!({"limit": null, "before": null})).unwrap().limit,
        20
    );
    assert_eq!(ok(json!({"limit": 1})).unwrap().limit, 1);
    assert_eq!(ok(json!({"limit": 100})).unwrap().limit, 100);
    let c = encode_cursor(7);
    assert_eq!(ok(json!({"before": c})).unwrap().before, Some(7));
    for bad in [
        json!({"limit": 0}),
        json!({"limit": 101}),
        json!({"limit": -1}),
        json!({"limit": 2.5}),
        json!({"limit": "5"}),
        json!({"limit": true}),
        json!({"before": 7}),
        json!({"before": "nope"}),
        json!("get"),
        json!(5),
        json!([1]),
    ] {
        let e = ok(bad.clone()).unwrap_err();
        assert!(!e.is_empty(), "{bad}");
    }
    assert!(parse_clear(&[]).is_ok());
    assert!(parse_clear(&[json!({"anything": 1})]).is_ok());
    assert!(parse_clear(&[json!("all")]).is_err());
}

#[test]
fn a_page_is_newest_first_with_next_only_when_older_rows_exist() {
    let rows = |seqs: &[u64]| seqs.iter().map(|&s| entry(s)).collect::<Vec<_>>();
    // Three asked, four read: an older row exists.
    let ack = page_ack(rows(&[9, 8, 7, 6]), 3);
    let ids: Vec<_> = ack["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["requestId"].clone())
        .collect();
    assert_eq!(ids, [json!("r9"), json!("r8"), json!("r7")]);
    assert_eq!(decode_cursor(ack["next"].as_str().unwrap()), Ok(7));
    // Exactly the limit: no next.
    assert_eq!(page_ack(rows(&[2, 1]), 2).get("next"), None);
    assert_eq!(page_ack(Vec::new(), 20), json!({ "items": [] }));
}

#[test]
fn items_leave_absent_fields_out() {
    let mut e = entry(3);
    assert_eq!(
        e.item(),
        json!({"requestId": "r3", "prompt": "p3", "response": "a3", "status": "completed",
               "createdAt": NOW + 3, "completedAt": NOW + 4})
    );
    e.response = None;
    e.completed_at = None;
    e.status = "running".into();
    assert_eq!(
        e.item(),
        json!({"requestId": "r3", "prompt": "p3", "status": "running", "createdAt": NOW + 3})
    );
    e.status = "failed".into();
    e.code = Some("UPSTREAM_FAILED".into());
    e.truncated = 1;
    assert_eq!(e.item()["code"], "UPSTREAM_FAILED");
    assert_eq!(e.item()["truncated"], true);
}

#[test]
fn stored_texts_are_bounded() {
    assert_eq!(bound_text("héllo", 10), ("héllo".into(), false));
    assert_eq!(bound_text("héllo", 2), ("hé".into(), true));
    assert_eq!(bound_text("héllo", 5), ("héllo".into(), false));
    let huge = "x".repeat(MAX_STORED_CHARS as usize + 5);
    let (t, cut) = bound_text(&huge, u64::MAX);
    assert_eq!((t.len() as u64, cut), (MAX_STORED_CHARS, true));
    let o = outcome(Ok("abcdef"), 3);
    assert_eq!(
        (o.status, o.response.as_deref(), o.truncated),
        (Status::Completed, Some("abc"), true)
    );
    let o = outcome(Err("PROMPT_CANCELLED"), 3);
    assert_eq!(
        (o.status, o.code, o.response),
        (Status::Cancelled, Some("PROMPT_CANCELLED"), None)
    );
    assert_eq!(outcome(Err("UPSTREAM_FAILED"), 3).status, Status::Failed);
}

#[test]
fn pruning_by_age_follows_the_injected_clock() {
    let day = 86_400_000;
    assert_eq!(age_cutoff(NOW, 30), NOW - 30 * day);
    assert_eq!(age_cutoff(5, 30), 0, "no underflow");
    // No rows, no alarm.
    assert_eq!(next_prune_at(None, 30, Some(NOW)), None);
    // The oldest row's expiry.
    assert_eq!(next_prune_at(Some(NOW), 30, None), Some(NOW + 30 * day));
    // Just after a pruning, the next one waits at least the gap.
    let just_after = NOW + 30 * day + 1;
    assert_eq!(
        next_prune_at(Some(NOW + 1), 30, Some(just_after)),
        Some(just_after + MIN_PRUNE_GAP_MS)
    );
    // A row that expires later than the gap is pruned when it expires.
    assert_eq!(
        next_prune_at(Some(NOW + 2 * day), 30, Some(just_after)),
        Some(NOW + 32 * day)
    );
}

#[test]
fn pruning_by_count_keeps_the_newest_rows() {
    assert_eq!(count_cutoff(1, 200), None);
    assert_eq!(count_cutoff(200, 200), None);
    assert_eq!(count_cutoff(201, 200), Some(1));
    assert_eq!(count_cutoff(1000, 3), Some(997));
    assert_eq!(count_cutoff(7, 1), Some(6));
}

#[test]
fn context_is_the_last_exchanges_oldest_first() {
    let newest_first: Vec<(String, String)> = (1..=5)
        .rev()
        .map(|i| (format!("p{i}"), format!("a{i}")))
        .collect();
    let pairs = |v: Vec<(String, String)>| v.into_iter().map(|(p, _)| p).collect::<Vec<_>>();
    assert_eq!(pairs(context(newest_first.clone(), 2)), ["p4", "p5"]);
    assert_eq!(
        pairs(context(newest_first.clone(), 9)),
        ["p1", "p2", "p3", "p4", "p5"]
    );
    assert!(context(newest_first, 0).is_empty());
}

#[test]
fn a_prompt_that_ends_before_its_row_is_written_costs_one_insert() {
    let start = |id: &str| Op::Start {
        request_id: id.into(),
        prompt: "p".into(),
        truncated: false,
        at: NOW,
        end: None,
    };
    let finish = |id: &str| Op::Finish {
        request_id: id.into(),
        outcome: outcome(Ok("r"), 10),
        at: NOW + 1,
    };
    let out = coalesce(vec![start("a"), start("b"), finish("a"), finish("c")]);
    let Op::Start {
        end: Some((o, at)), ..
    } = &out[0]
    else {
        panic!("a is one finished insert: {out:?}")
    };
    assert_eq!(
        (o.status, o.response.as_deref(), *at),
        (Status::Completed, Some("r"), NOW + 1)
    );
    assert_eq!(out[1], start("b"), "b still runs");
    assert_eq!(
        out[2],
        finish("c"),
        "c started in an earlier event: an update"
    );
    assert_eq!(out.len(), 3);
    assert!(start("x").is_write() && finish("x").is_write());
    assert!(!Op::Prune { up_to: 1 }.is_write());
}
