//! Property tests of the Socket.IO decoder and its limits.

use super::*;

// ---------------------------------------------------------------------------------------------
// Socket.IO
// ---------------------------------------------------------------------------------------------

/// Limits from none at all to the default, biased to small budgets.
fn limits() -> impl Strategy<Value = Limits> {
    prop_oneof![
        0usize..64,
        0usize..16_384,
        Just(Limits::default().max_bytes),
    ]
    .prop_map(|max_bytes| Limits { max_bytes })
}

/// The JSON budget of `decode_limited`, as documented on [`Limits`].
fn json_budget(limits: &Limits) -> usize {
    (limits.max_bytes / 8).max(1024)
}

/// Values in a JSON value: itself and everything it contains (object keys excluded).
fn json_values(v: &Value) -> usize {
    1 + match v {
        Value::Array(a) => a.iter().map(json_values).sum(),
        Value::Object(o) => o.values().map(json_values).sum(),
        _ => 0,
    }
}

/// What the gateway's one-pass count charges for a value: its values plus one per empty array
/// or object (`[]` is one separator and no element).
fn json_cost(v: &Value) -> usize {
    match v {
        Value::Array(a) if a.is_empty() => 2,
        Value::Object(o) if o.is_empty() => 2,
        Value::Array(a) => 1 + a.iter().map(json_cost).sum::<usize>(),
        Value::Object(o) => 1 + o.values().map(json_cost).sum::<usize>(),
        _ => 1,
    }
}

/// Strings meant to confuse a JSON scanner: quotes, escapes, separators and brackets.
fn tricky_string() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[\\[\\]{},:\"\\\\a ]{0,12}",
        "_placeholder|num"
    ]
}

fn json_scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        tricky_string().prop_map(Value::String),
    ]
}

/// Arbitrary JSON without floats (whose text form need not round-trip exactly) and without
/// `_placeholder` keys.
fn json_value() -> impl Strategy<Value = Value> {
    json_scalar().prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..8).prop_map(Value::Array),
            vec(("[a-z]{0,6}", inner), 0..8).prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

fn placeholder(num: usize) -> Value {
    json!({ "_placeholder": true, "num": num })
}

/// Whether every placeholder in `v` names one of `buffers` attachments.
fn placeholders_resolve(v: &Value, buffers: usize) -> bool {
    match v {
        Value::Array(a) => a.iter().all(|v| placeholders_resolve(v, buffers)),
        Value::Object(o) if o.get("_placeholder") == Some(&Value::Bool(true)) => o
            .get("num")
            .and_then(Value::as_u64)
            .is_some_and(|n| n < buffers as u64),
        Value::Object(o) => o.values().all(|v| placeholders_resolve(v, buffers)),
        _ => true,
    }
}

/// Event names a client may use (not the reserved ones).
fn event_name() -> impl Strategy<Value = Value> {
    prop_oneof![
        tricky_string()
            .prop_filter("reserved event name", |s| !socketio::RESERVED_EVENTS
                .contains(&s.as_str()))
            .prop_map(Value::String),
        any::<u64>().prop_map(Value::from),
    ]
}

/// A valid Socket.IO packet with its attachments: every field the wire format can carry.
fn socketio_message() -> impl Strategy<Value = socketio::Message> {
    use socketio::Kind;
    let nsp = prop_oneof![Just("/".to_owned()), "/[a-zA-Z0-9_\\-./]{1,10}"];
    let id = proptest::option::of(any::<u64>());
    let args = vec(json_value(), 0..4);
    let kind = prop::sample::select(vec![
        Kind::Connect,
        Kind::Disconnect,
        Kind::Event,
        Kind::Ack,
        Kind::ConnectError,
        Kind::BinaryEvent,
        Kind::BinaryAck,
    ]);
    let buffers = vec(vec(any::<u8>(), 0..32), 0..=MAX_ATTACHMENTS);
    let object = vec(("[a-z]{0,6}", json_value()), 0..4)
        .prop_map(|kv| Value::Object(kv.into_iter().collect()));
    (
        kind,
        nsp,
        id,
        event_name(),
        args,
        object,
        buffers,
        any::<bool>(),
    )
        .prop_map(|(kind, nsp, id, name, mut args, object, buffers, flag)| {
            let mut attachments = 0;
            let (id, data) = match kind {
                Kind::Connect => (None, flag.then_some(object)),
                Kind::Disconnect => (None, None),
                Kind::ConnectError => (
                    None,
                    Some(if flag {
                        object
                    } else {
                        Value::String("refused".into())
                    }),
                ),
                Kind::Event => (id, Some(Value::Array([vec![name], args].concat()))),
                Kind::Ack => (id, Some(Value::Array(args))),
                Kind::BinaryEvent | Kind::BinaryAck => {
                    attachments = buffers.len();
                    // Each attachment referenced once, at a position chosen by the arguments.
                    for n in 0..attachments {
                        let at = (n * 7 + args.len()) % (args.len() + 1);
                        args.insert(at, placeholder(n));
                    }
                    let data = if kind == Kind::BinaryEvent {
                        [vec![name], args].concat()
                    } else {
                        args
                    };
                    (id, Some(Value::Array(data)))
                }
            };
            let buffers = if kind.is_binary() {
                buffers
            } else {
                Vec::new()
            };
            socketio::Message {
                packet: socketio::Packet {
                    kind,
                    nsp,
                    id,
                    data,
                    attachments,
                },
                buffers,
            }
        })
}

/// Texts that look like Socket.IO packets: a type digit, maybe an attachment count, a
/// namespace, an ack id, and JSON-ish tokens (placeholders included), or anything at all.
fn socketio_text() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        Just("[".to_owned()),
        Just("]".to_owned()),
        Just("{".to_owned()),
        Just("}".to_owned()),
        Just(",".to_owned()),
        Just(":".to_owned()),
        Just("\"".to_owned()),
        Just("\\".to_owned()),
        Just("0".to_owned()),
        Just("null".to_owned()),
        Just("\"e\"".to_owned()),
        (0usize..12).prop_map(|n| placeholder(n).to_string()),
        any::<String>(),
    ];
    let structured = (
        "[0-9a]",
        prop_oneof![Just(String::new()), "[0-9]{0,3}-", "[0-9]{21}-"],
        prop_oneof![Just(String::new()), "/[^,]{0,8},?"],
        prop_oneof![Just(String::new()), "[0-9]{1,25}"],
        vec(token, 0..16),
    )
        .prop_map(|(t, a, n, i, json)| format!("{t}{a}{n}{i}{}", json.concat()));
    let valid = socketio_message().prop_map(|m| m.packet.encode());
    prop_oneof![any::<String>(), structured, valid]
}

#[test]
fn socketio_decode_never_panics() {
    check(
        "socketio_decode_never_panics",
        file!(),
        socketio_text(),
        |s| {
            if let Ok(p) = socketio::Packet::decode(&s) {
                prop_assert!(p.attachments <= MAX_ATTACHMENTS);
                prop_assert!(p.attachments == 0 || p.kind.is_binary());
            }
            Ok(())
        },
    );
}

#[test]
fn socketio_decode_limited_stays_within_budget() {
    check(
        "socketio_decode_limited_stays_within_budget",
        file!(),
        (socketio_text(), limits()),
        |(s, limits)| {
            if let Ok(p) = socketio::Packet::decode_limited(&s, &limits) {
                prop_assert!(p.attachments <= MAX_ATTACHMENTS);
                let values = p.data.as_ref().map_or(0, json_values);
                prop_assert!(values <= json_budget(&limits), "{values} JSON values");
            }
            Ok(())
        },
    );
}

#[test]
fn socketio_json_budget_is_enforced() {
    // Wide arrays of arrays, from a handful of values to several thousand, against budgets
    // around their size: more values than the budget are refused, anything within it (counting
    // an empty container twice, as the one-pass count does) decodes. A row repeats one scalar:
    // the count is what matters, and generating thousands of values per case would be slow.
    let rows = vec((0usize..64, json_scalar(), any::<bool>()), 1..64);
    let data_and_limits = rows.prop_flat_map(|rows| {
        let mut args = vec![Value::String("e".into())];
        args.extend(rows.into_iter().map(|(n, v, object)| {
            if object {
                Value::Object((0..n).map(|i| (format!("k{i}"), v.clone())).collect())
            } else {
                Value::Array(vec![v; n])
            }
        }));
        let data = Value::Array(args);
        let cost = json_cost(&data);
        (Just(data), 0..cost * 16).prop_map(|(d, max_bytes)| (d, Limits { max_bytes }))
    });
    check(
        "socketio_json_budget_is_enforced",
        file!(),
        data_and_limits,
        |(data, limits)| {
            let text = format!("2{data}");
            let budget = json_budget(&limits);
            let decoded = socketio::Packet::decode_limited(&text, &limits);
            if json_values(&data) > budget {
                prop_assert_eq!(decoded, Err(socketio::DecodeError::PayloadTooComplex));
            } else if json_cost(&data) <= budget {
                prop_assert_eq!(decoded.map(|p| p.data), Ok(Some(data)));
            }
            Ok(())
        },
    );
}

#[test]
fn socketio_packets_round_trip() {
    check(
        "socketio_packets_round_trip",
        file!(),
        socketio_message(),
        |m| {
            let text = m.packet.encode();
            prop_assert_eq!(socketio::Packet::decode(&text), Ok(m.packet.clone()));

            // Through the decoder, attachments included, within just enough budget.
            let limits = Limits {
                max_bytes: m.buffers.iter().map(Vec::len).sum(),
            };
            let mut decoder = Decoder::default();
            let mut decoded = decoder.push_text(&text, &limits);
            for b in &m.buffers {
                prop_assert_eq!(decoded, Ok(Decoded::Pending));
                decoded = decoder.push_binary(b.clone(), &limits);
            }
            prop_assert_eq!(decoded, Ok(Decoded::Complete(m)));
            prop_assert!(!decoder.is_reconstructing());
            Ok(())
        },
    );
}

#[derive(Debug, Clone)]
enum Input {
    Text(String),
    Binary(Vec<u8>),
}

/// Texts that open binary packets with valid or invalid placeholders, and other packets.
fn decoder_text() -> impl Strategy<Value = String> {
    let arg = prop_oneof![
        4 => (0usize..MAX_ATTACHMENTS + 2).prop_map(placeholder),
        1 => (0usize..MAX_ATTACHMENTS + 2).prop_map(|n| json!({ "a": [placeholder(n)] })),
        1 => prop::sample::select(vec![
            json!({ "_placeholder": true }),
            json!({ "_placeholder": true, "num": "0" }),
            json!({ "_placeholder": true, "num": -1 }),
            json!({ "_placeholder": true, "num": 0.5 }),
            json!({ "_placeholder": false, "num": 99 }),
        ]),
    ];
    let binary_header = (
        prop::sample::select(vec!['5', '6']),
        0usize..=MAX_ATTACHMENTS + 2,
        vec(arg, 0..4),
    )
        .prop_map(|(t, n, args)| {
            format!("{t}{n}-{}", Value::Array([vec![json!("e")], args].concat()))
        });
    prop_oneof![
        3 => binary_header,
        1 => socketio_text(),
    ]
}

#[test]
fn socketio_decoder_holds_no_more_than_its_limits() {
    let input = prop_oneof![
        decoder_text().prop_map(Input::Text),
        prop_oneof![
            vec(any::<u8>(), 0..16),
            // Large buffers: their length matters, not their bytes.
            (0usize..4096, any::<u8>()).prop_map(|(n, b)| vec![b; n]),
        ]
        .prop_map(Input::Binary),
    ];
    check(
        "socketio_decoder_holds_no_more_than_its_limits",
        file!(),
        (vec(input, 0..48), limits()),
        |(inputs, limits)| {
            let mut decoder = Decoder::default();
            // What the decoder holds for the packet it reassembles, by the model.
            let mut held_bytes = 0usize;
            let mut held_buffers = 0usize;
            for input in inputs {
                let was_reconstructing = decoder.is_reconstructing();
                let result = match input {
                    Input::Text(s) => {
                        let r = decoder.push_text(&s, &limits);
                        if was_reconstructing {
                            prop_assert_eq!(&r, &Err(socketio::DecodeError::IllegalAttachments));
                        }
                        if r == Ok(Decoded::Pending) {
                            let p = socketio::Packet::decode_limited(&s, &limits).unwrap();
                            prop_assert!(p.kind.is_binary());
                            prop_assert!((1..=MAX_ATTACHMENTS).contains(&p.attachments));
                            held_bytes = 0;
                            held_buffers = 0;
                        }
                        r
                    }
                    Input::Binary(b) => {
                        let len = b.len();
                        let r = decoder.push_binary(b, &limits);
                        if !was_reconstructing {
                            prop_assert_eq!(&r, &Err(socketio::DecodeError::UnexpectedBinary));
                        } else if held_bytes + len > limits.max_bytes {
                            prop_assert_eq!(&r, &Err(socketio::DecodeError::AttachmentsTooLarge));
                        } else {
                            held_bytes += len;
                            held_buffers += 1;
                        }
                        r
                    }
                };
                match &result {
                    Ok(Decoded::Complete(m)) => {
                        prop_assert!(m.buffers.len() <= MAX_ATTACHMENTS);
                        prop_assert_eq!(m.buffers.len(), m.packet.attachments);
                        if m.packet.kind.is_binary() {
                            let data = m.packet.data.as_ref().unwrap();
                            prop_assert!(placeholders_resolve(data, m.buffers.len()));
                        }
                        let bytes: usize = m.buffers.iter().map(Vec::len).sum();
                        prop_assert!(bytes <= limits.max_bytes);
                        prop_assert!(!decoder.is_reconstructing());
                    }
                    Ok(Decoded::Pending) => prop_assert!(decoder.is_reconstructing()),
                    Err(_) => prop_assert!(!decoder.is_reconstructing()),
                }
                if decoder.is_reconstructing() {
                    prop_assert!(held_bytes <= limits.max_bytes);
                    prop_assert!(held_buffers < MAX_ATTACHMENTS);
                }
            }
            Ok(())
        },
    );
}
