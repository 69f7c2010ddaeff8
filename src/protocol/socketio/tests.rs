use super::*;
use serde_json::json;

const L: Limits = Limits {
    max_bytes: 1_000_000,
};

fn round_trip(s: &str) -> Packet {
    let p = Packet::decode(s).unwrap_or_else(|e| panic!("{s}: {e}"));
    assert_eq!(p.encode(), s);
    p
}

#[test]
fn decodes_and_reencodes_every_kind() {
    let p = round_trip("0");
    assert_eq!((p.kind, p.nsp.as_str(), p.data), (Kind::Connect, "/", None));
    let p = round_trip(r#"0{"token":"abc"}"#);
    assert_eq!(p.data, Some(json!({"token": "abc"})));
    let p = round_trip("0/admin,");
    assert_eq!(p.nsp, "/admin");
    round_trip(r#"0/admin,{"sid":"x"}"#);
    round_trip("1");
    round_trip("1/admin,");
    let p = round_trip(r#"2["hello",1]"#);
    assert_eq!(p.event_parts().unwrap().0, "hello");
    let p = round_trip(r#"2/admin,456["project:delete",123]"#);
    assert_eq!((p.nsp.as_str(), p.id), ("/admin", Some(456)));
    let p = round_trip(r#"3/admin,456[]"#);
    assert_eq!(p.id, Some(456));
    round_trip(r#"4{"message":"Not authorized"}"#);
    let p = round_trip(r#"51-["hello",{"_placeholder":true,"num":0}]"#);
    assert_eq!(p.attachments, 1);
    round_trip(r#"61-/admin,456[{"_placeholder":true,"num":0}]"#);
}

#[test]
fn builders_encode_as_the_reference_server() {
    assert_eq!(Packet::connect_ok("/", "abc").encode(), r#"0{"sid":"abc"}"#);
    assert_eq!(
        Packet::connect_error("/x", "Invalid namespace", None).encode(),
        r#"4/x,{"message":"Invalid namespace"}"#
    );
    assert_eq!(
        Packet::connect_error("/", "bad", Some(json!({"code": "TOKEN_INVALID"}))).encode(),
        r#"4{"message":"bad","data":{"code":"TOKEN_INVALID"}}"#
    );
    assert_eq!(Packet::disconnect("/").encode(), "1");
    assert_eq!(Packet::ack("/", 7, vec![json!(1)]).encode(), "37[1]");
    assert_eq!(
        Packet::event("/", "prompt-response", vec![json!({"a": 1})]).encode(),
        r#"2["prompt-response",{"a":1}]"#
    );
}

#[test]
fn keeps_key_order_of_client_payloads() {
    let p = round_trip(r#"2["m",{"z":1,"a":2}]"#);
    assert_eq!(p.encode(), r#"2["m",{"z":1,"a":2}]"#);
}

#[test]
fn rejects_malformed_packets() {
    use DecodeError::*;
    for (input, err) in [
        ("", UnknownType),
        ("abc", UnknownType),
        ("9", UnknownType),
        ("2{}", InvalidPayload),
        ("2abc[\"x\"]", InvalidPayload),
        ("2[]", InvalidPayload),
        ("2[{}]", InvalidPayload),
        ("2[\"connect\"]", InvalidPayload),
        ("2", InvalidPayload),
        ("3", InvalidPayload),
        ("0[]", InvalidPayload),
        ("0\"str\"", InvalidPayload),
        ("1{}", InvalidPayload),
        ("5[\"x\"]", IllegalAttachments),
        ("5a-[\"x\"]", IllegalAttachments),
        ("599999999999999999999999-[\"x\"]", IllegalAttachments),
        ("2999999999999999999999[\"x\"]", BadAckId),
    ] {
        assert_eq!(Packet::decode(input), Err(err), "{input:?}");
    }
}

#[test]
fn numeric_event_names_are_allowed_as_in_the_reference_parser() {
    assert!(Packet::decode("2[1,2]").is_ok());
}

#[test]
fn reassembles_binary_attachments_in_order() {
    let mut d = Decoder::default();
    let head = r#"52-["bin",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#;
    assert_eq!(d.push_text(head, &L), Ok(Decoded::Pending));
    assert!(d.is_reconstructing());
    assert_eq!(d.push_binary(vec![1], &L), Ok(Decoded::Pending));
    let Ok(Decoded::Complete(msg)) = d.push_binary(vec![2, 3], &L) else {
        panic!("not complete")
    };
    assert_eq!(msg.buffers, vec![vec![1], vec![2, 3]]);
    assert_eq!(msg.packet.encode(), head);
    assert!(!d.is_reconstructing());
}

#[test]
fn binary_misuse_is_an_error_not_a_panic() {
    let mut d = Decoder::default();
    assert_eq!(
        d.push_binary(vec![1], &L),
        Err(DecodeError::UnexpectedBinary)
    );
    // placeholder index beyond the announced count
    assert_eq!(
        d.push_text(r#"51-["x",{"_placeholder":true,"num":1}]"#, &L),
        Err(DecodeError::IllegalAttachments)
    );
    // text while attachments are awaited
    assert_eq!(
        d.push_text(r#"51-["x",{"_placeholder":true,"num":0}]"#, &L),
        Ok(Decoded::Pending)
    );
    assert_eq!(
        d.push_text("2[\"x\"]", &L),
        Err(DecodeError::IllegalAttachments)
    );
    assert!(!d.is_reconstructing());
}

#[test]
fn zero_attachment_binary_packet_completes_at_once() {
    let mut d = Decoder::default();
    assert!(matches!(
        d.push_text(r#"50-["x"]"#, &L),
        Ok(Decoded::Complete(_))
    ));
}

#[test]
fn attachments_are_bounded_in_count_and_size() {
    assert_eq!(
        Packet::decode(r#"511-["x"]"#),
        Err(DecodeError::TooManyAttachments)
    );
    let small = Limits { max_bytes: 4 };
    let mut d = Decoder::default();
    assert_eq!(
        d.push_text(
            r#"52-["x",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#,
            &small
        ),
        Ok(Decoded::Pending)
    );
    assert_eq!(d.push_binary(vec![0; 3], &small), Ok(Decoded::Pending));
    assert_eq!(
        d.push_binary(vec![0; 2], &small),
        Err(DecodeError::AttachmentsTooLarge)
    );
    assert!(!d.is_reconstructing());
}

#[test]
fn json_that_would_expand_far_beyond_its_bytes_is_refused() {
    let limits = Limits {
        max_bytes: 8 * 2048,
    };
    let flat = format!("2[\"x\",[{}0]]", "0,".repeat(5000));
    assert_eq!(
        Packet::decode_limited(&flat, &limits),
        Err(DecodeError::PayloadTooComplex)
    );
    // Commas and brackets inside strings cost nothing.
    let text = format!("2[\"x\",\"{}\"]", ",[{".repeat(5000));
    assert!(Packet::decode_limited(&text, &limits).is_ok());
    assert!(Packet::decode_limited(r#"2["x",[0,1,2]]"#, &limits).is_ok());
}
