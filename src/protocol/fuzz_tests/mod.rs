//! Property tests of the decoders a client can reach: arbitrary input never panics, never makes
//! the decoders hold more than their budget, and valid packets survive a round trip.
//!
//! Each property runs [`DEFAULT_CASES`] cases under `cargo test`; `PROPTEST_CASES` overrides the
//! count (`./scripts/bench --fuzz [N]` runs them with a large one).

use std::cell::Cell;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{json, Value};

use super::engineio::{self, Frame, RECORD_SEPARATOR};
use super::socketio::{self, Decoded, Decoder, Limits, MAX_ATTACHMENTS};

/// Cases per property when `PROPTEST_CASES` is not set.
pub(crate) const DEFAULT_CASES: u32 = 256;

/// Proptest's default configuration (which reads every `PROPTEST_*` variable) with
/// [`DEFAULT_CASES`] unless `PROPTEST_CASES` is set. `Config::with_cases` would not do: it
/// overrides the variable.
fn config(source_file: &'static str) -> Config {
    let mut config = Config::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = DEFAULT_CASES;
    }
    config.source_file = Some(source_file);
    config
}

/// Runs one property and prints how many cases it ran (shown with `--nocapture`).
pub(crate) fn check<S: Strategy>(
    name: &str,
    source_file: &'static str,
    strategy: S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) {
    let mut runner = TestRunner::new(config(source_file));
    let ran = Cell::new(0u64);
    let result = runner.run(&strategy, |value| {
        ran.set(ran.get() + 1);
        test(value)
    });
    match result {
        Ok(()) => println!("property {name}: {} cases passed", ran.get()),
        Err(e) => panic!(
            "property {name} failed ({} runs, shrinking included): {e}",
            ran.get()
        ),
    }
}

// ---------------------------------------------------------------------------------------------
// Engine.IO
// ---------------------------------------------------------------------------------------------

/// Strings that look like Engine.IO records and payloads: type digits, `b` + base64 (valid or
/// not), record separators and arbitrary text.
fn engineio_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        any::<String>(),
        Just(RECORD_SEPARATOR.to_string()),
        "[0-9b]",
        "b[A-Za-z0-9+/]{0,12}={0,3}",
        "b[A-Za-z0-9+/=\u{1e}\\-_ ]{0,12}",
        "[0-6][^\u{1e}]{0,8}",
    ];
    prop_oneof![any::<String>(), vec(piece, 0..8).prop_map(|v| v.concat()),]
}

fn engineio_kind() -> impl Strategy<Value = engineio::Kind> {
    use engineio::Kind::*;
    prop::sample::select(vec![Open, Close, Ping, Pong, Message, Upgrade, Noop])
}

/// A valid packet; `separator_free` keeps `\x1e` out of text data (it cannot travel inside a
/// polling payload).
fn engineio_packet(separator_free: bool) -> impl Strategy<Value = engineio::Packet> {
    let data = if separator_free {
        "[^\u{1e}]{0,24}".boxed()
    } else {
        any::<String>().boxed()
    };
    prop_oneof![
        (engineio_kind(), data).prop_map(|(k, d)| engineio::Packet::Text(k, d)),
        vec(any::<u8>(), 0..64).prop_map(engineio::Packet::Binary),
    ]
}

#[test]
fn engineio_decode_text_never_panics() {
    check(
        "engineio_decode_text_never_panics",
        file!(),
        engineio_text(),
        |s| {
            match engineio::Packet::decode_text(&s) {
                // A decoded text packet is the record it came from.
                Ok(p @ engineio::Packet::Text(..)) => prop_assert_eq!(p.to_polling(), s),
                // Binary data re-encodes to a record that decodes to the same bytes.
                Ok(p @ engineio::Packet::Binary(_)) => {
                    prop_assert!(s.starts_with('b'));
                    prop_assert_eq!(engineio::Packet::decode_text(&p.to_polling()), Ok(p));
                }
                Err(_) => {}
            }
            Ok(())
        },
    );
}

#[test]
fn engineio_decode_frame_never_panics() {
    let frame = prop_oneof![
        engineio_text().prop_map(Frame::Text),
        vec(any::<u8>(), 0..256).prop_map(Frame::Binary),
    ];
    check(
        "engineio_decode_frame_never_panics",
        file!(),
        frame,
        |frame| {
            let expected = match &frame {
                Frame::Text(s) => engineio::Packet::decode_text(s),
                Frame::Binary(b) => Ok(engineio::Packet::Binary(b.clone())),
            };
            prop_assert_eq!(engineio::Packet::decode_frame(frame), expected);
            Ok(())
        },
    );
}

#[test]
fn engineio_decode_payload_never_panics() {
    check(
        "engineio_decode_payload_never_panics",
        file!(),
        engineio_text(),
        |body| {
            // Either every record decodes, one packet each, or the whole payload is refused.
            let records: Vec<_> = body
                .split(RECORD_SEPARATOR)
                .map(engineio::Packet::decode_text)
                .collect();
            match engineio::decode_payload(&body) {
                Ok(packets) => {
                    prop_assert_eq!(packets.len(), records.len());
                    for (p, r) in packets.into_iter().zip(records) {
                        prop_assert_eq!(Ok(p), r);
                    }
                }
                Err(e) => prop_assert!(records.contains(&Err(e))),
            }
            Ok(())
        },
    );
}

#[test]
fn engineio_packets_round_trip() {
    check(
        "engineio_packets_round_trip",
        file!(),
        engineio_packet(false),
        |p| {
            prop_assert_eq!(
                engineio::Packet::decode_text(&p.to_polling()),
                Ok(p.clone())
            );
            prop_assert_eq!(engineio::Packet::decode_frame(p.to_frame()), Ok(p));
            Ok(())
        },
    );
}

#[test]
fn engineio_payloads_round_trip() {
    check(
        "engineio_payloads_round_trip",
        file!(),
        vec(engineio_packet(true), 1..8),
        |packets| {
            let body = engineio::encode_payload(&packets);
            prop_assert_eq!(engineio::decode_payload(&body), Ok(packets));
            Ok(())
        },
    );
}

mod socketio_props;
