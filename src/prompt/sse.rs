//! An incremental parser of server-sent events (the `text/event-stream` format of the HTML
//! standard), fed with body chunks as they arrive.
//!
//! Wire format: UTF-8 lines ended by LF, CRLF or CR; `field: value` lines (one optional space
//! after the colon is dropped); lines starting with `:` are comments; an empty line ends an
//! event. `data:` lines of one event are joined with `\n`; `event:` names it; `id:` and `retry:`
//! are accepted and ignored (the gateway never reconnects to an upstream). A leading UTF-8 BOM
//! is dropped. An event with no `data:` line is not dispatched.
//!
//! Written here rather than taken from a crate: the crates found are either tied to an HTTP
//! client and an async runtime (`eventsource-client`, `reqwest-eventsource`) or buffer without a
//! bound, and the gateway needs a plain byte-in, event-out parser with a hard memory bound that
//! builds for wasm32.

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field, when the event had one (`None` means the default `message`).
    pub event: Option<String>,
    pub data: String,
}

/// The stream exceeded a bound; the parser stays failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SseError {
    /// A line longer than the limit, in bytes.
    LineTooLong(usize),
    /// An event whose data grew beyond the limit, in bytes.
    EventTooLarge(usize),
}

impl std::fmt::Display for SseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SseError::LineTooLong(n) => write!(f, "an event-stream line is longer than {n} bytes"),
            SseError::EventTooLarge(n) => write!(f, "an event is larger than {n} bytes"),
        }
    }
}

/// The default bound of one line and of one event's data: 1 MiB.
pub const DEFAULT_MAX_BYTES: usize = 1024 * 1024;

/// The parser. Memory is bounded: at most `max_line` bytes of an unfinished line plus
/// `max_event` bytes of an unfinished event are held.
#[derive(Debug, Clone)]
pub struct SseParser {
    line: Vec<u8>,
    data: String,
    has_data: bool,
    event: Option<String>,
    /// The last byte seen was a CR: an LF right after it belongs to the same line end.
    after_cr: bool,
    /// Still at the very start of the stream (a BOM may come).
    at_start: bool,
    /// How many bytes of a BOM were seen at the start.
    bom_held: usize,
    max_line: usize,
    max_event: usize,
    failed: Option<SseError>,
}

impl Default for SseParser {
    fn default() -> Self {
        SseParser::new(DEFAULT_MAX_BYTES, DEFAULT_MAX_BYTES)
    }
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

impl SseParser {
    /// A parser that refuses lines over `max_line` bytes and events over `max_event` bytes.
    pub fn new(max_line: usize, max_event: usize) -> Self {
        SseParser {
            line: Vec::new(),
            data: String::new(),
            has_data: false,
            event: None,
            after_cr: false,
            at_start: true,
            bom_held: 0,
            max_line,
            max_event,
            failed: None,
        }
    }

    /// Bytes held for the unfinished line and event.
    pub fn buffered(&self) -> usize {
        self.line.len() + self.data.len() + self.event.as_ref().map_or(0, String::len)
    }

    /// Feeds the next bytes of the stream; returns the events they complete.
    pub fn push(&mut self, mut bytes: &[u8]) -> Result<Vec<SseEvent>, SseError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let mut out = Vec::new();
        if self.at_start {
            // Hold back a possible BOM until it is complete or ruled out.
            let mut held = self.bom_held;
            while held < BOM.len() && bytes.first() == Some(&BOM[held]) {
                held += 1;
                bytes = &bytes[1..];
            }
            if held < BOM.len() && bytes.is_empty() {
                self.bom_held = held;
                return Ok(out);
            }
            self.at_start = false;
            if held < BOM.len() {
                self.scan(&BOM[..held], &mut out)?;
            }
        }
        self.scan(bytes, &mut out)?;
        Ok(out)
    }

    fn scan(&mut self, mut bytes: &[u8], out: &mut Vec<SseEvent>) -> Result<(), SseError> {
        while !bytes.is_empty() {
            if self.after_cr && bytes[0] == b'\n' {
                bytes = &bytes[1..];
            }
            self.after_cr = false;
            match bytes.iter().position(|&b| b == b'\n' || b == b'\r') {
                Some(end) => {
                    self.append(&bytes[..end])?;
                    self.after_cr = bytes[end] == b'\r';
                    bytes = &bytes[end + 1..];
                    let line = std::mem::take(&mut self.line);
                    if let Some(ev) = self.line_done(&line)? {
                        out.push(ev);
                    }
                }
                None => {
                    self.append(bytes)?;
                    bytes = &[];
                }
            }
        }
        Ok(())
    }

    fn append(&mut self, bytes: &[u8]) -> Result<(), SseError> {
        if self.line.len() + bytes.len() > self.max_line {
            return Err(self.fail(SseError::LineTooLong(self.max_line)));
        }
        self.line.extend_from_slice(bytes);
        Ok(())
    }

    fn fail(&mut self, e: SseError) -> SseError {
        self.failed = Some(e.clone());
        self.line = Vec::new();
        self.data = String::new();
        self.event = None;
        e
    }

    fn line_done(&mut self, line: &[u8]) -> Result<Option<SseEvent>, SseError> {
        if line.is_empty() {
            return Ok(self.dispatch());
        }
        if line[0] == b':' {
            return Ok(None);
        }
        let line = String::from_utf8_lossy(line);
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line.as_ref(), ""),
        };
        match field {
            "data" => {
                let extra = value.len() + usize::from(self.has_data);
                if self.data.len() + extra > self.max_event {
                    return Err(self.fail(SseError::EventTooLarge(self.max_event)));
                }
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            "event" => self.event = Some(value.to_owned()),
            _ => {}
        }
        Ok(None)
    }

    fn dispatch(&mut self) -> Option<SseEvent> {
        let event = self.event.take();
        if !std::mem::take(&mut self.has_data) {
            return None;
        }
        Some(SseEvent {
            event,
            data: std::mem::take(&mut self.data),
        })
    }

    /// The stream ended. Unlike a browser, which drops an unfinished event, this delivers it
    /// when it has data: many servers close right after `data: [DONE]\n` without the blank line.
    pub fn finish(&mut self) -> Option<SseEvent> {
        if self.failed.is_some() {
            return None;
        }
        // Bytes of an unfinished BOM alone would form a line with an unknown field: nothing.
        self.at_start = false;
        let line = std::mem::take(&mut self.line);
        // A line is never over its bound here, so this cannot fail.
        let last = self.line_done(&line).ok().flatten();
        last.or_else(|| self.dispatch())
    }
}

// Property tests run natively only (proptest does not build for wasm32-unknown-unknown).
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ev(event: Option<&str>, data: &str) -> SseEvent {
        SseEvent {
            event: event.map(str::to_owned),
            data: data.to_owned(),
        }
    }

    fn parse_all(chunks: &[&[u8]]) -> Result<Vec<SseEvent>, SseError> {
        let mut p = SseParser::default();
        let mut out = Vec::new();
        for c in chunks {
            out.extend(p.push(c)?);
        }
        out.extend(p.finish());
        Ok(out)
    }

    #[test]
    fn fields_comments_and_line_endings() {
        let stream = b"\xEF\xBB\xBF: hello\r\ndata: one\r\n\r\nevent: error\rdata:two\rdata:  three\r\rid: 5\nretry: 10\ndata\n\n\n\nevent: lone\n\n";
        assert_eq!(
            parse_all(&[stream]).unwrap(),
            [
                ev(None, "one"),
                ev(Some("error"), "two\n three"),
                ev(None, ""),
            ]
        );
    }

    #[test]
    fn unfinished_last_event_is_delivered_at_the_end() {
        assert_eq!(
            parse_all(&[b"data: a\n\ndata: [DONE]"]).unwrap(),
            [ev(None, "a"), ev(None, "[DONE]")]
        );
        assert_eq!(
            parse_all(&[b"data: [DONE]\n"]).unwrap(),
            [ev(None, "[DONE]")]
        );
        assert_eq!(parse_all(&[b": only a comment"]).unwrap(), []);
        assert_eq!(parse_all(&[b"\xEF\xBB"]).unwrap(), []);
    }

    #[test]
    fn a_cr_lf_split_across_chunks_is_one_line_end() {
        let events = parse_all(&[b"data: a\r", b"\n", b"\r", b"\ndata: b\n\n"]).unwrap();
        assert_eq!(events, [ev(None, "a"), ev(None, "b")]);
    }

    #[test]
    fn a_multibyte_character_split_across_chunks_survives() {
        let s = "data: héllo wörld 🎉\n\n".as_bytes();
        let events = parse_all(&[&s[..8], &s[8..20], &s[20..]]).unwrap();
        assert_eq!(events, [ev(None, "héllo wörld 🎉")]);
        // Invalid UTF-8 is replaced, never a panic.
        assert_eq!(
            parse_all(&[b"data: \xff\n\n"]).unwrap(),
            [ev(None, "\u{fffd}")]
        );
    }

    #[test]
    fn bounds_give_errors_instead_of_buffering() {
        let mut p = SseParser::new(16, 24);
        assert_eq!(p.push(b"data: 0123456789").unwrap(), []);
        assert_eq!(p.push(b"ab"), Err(SseError::LineTooLong(16)));
        assert_eq!(p.push(b"\n\n"), Err(SseError::LineTooLong(16)));
        assert_eq!(p.buffered(), 0);
        assert_eq!(p.finish(), None);

        let mut p = SseParser::new(16, 20);
        assert_eq!(p.push(b"data: 0123456789\n").unwrap(), []);
        assert_eq!(
            p.push(b"data: 0123456789\n"),
            Err(SseError::EventTooLarge(20))
        );
        let mut p = SseParser::new(16, 20);
        let events = p.push(b"data: 0123456789\n\ndata: 0123456789\n\n").unwrap();
        assert_eq!(events.len(), 2);
    }

    fn valid_stream() -> impl Strategy<Value = Vec<u8>> {
        let line = prop_oneof![
            "data:( )?[a-zé🎉 :]{0,12}".prop_map(|s| s.into_bytes()),
            "event: [a-z]{1,6}".prop_map(|s| s.into_bytes()),
            ":[ a-z]{0,8}".prop_map(|s| s.into_bytes()),
            "(id|retry): [0-9]{1,3}".prop_map(|s| s.into_bytes()),
            Just(Vec::new()),
        ];
        let end = prop_oneof![Just(&b"\n"[..]), Just(&b"\r\n"[..]), Just(&b"\r"[..])];
        (any::<bool>(), prop::collection::vec((line, end), 0..24)).prop_map(|(bom, lines)| {
            let mut out = if bom { BOM.to_vec() } else { Vec::new() };
            for (l, e) in lines {
                out.extend(l);
                out.extend_from_slice(e);
            }
            out
        })
    }

    fn split_at_all(bytes: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
        cuts.sort_unstable();
        let mut out = Vec::new();
        let mut start = 0;
        for c in cuts {
            out.push(bytes[start..c].to_vec());
            start = c;
        }
        out.push(bytes[start..].to_vec());
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1024))]

        #[test]
        fn any_split_gives_the_same_events(
            stream in valid_stream(),
            cuts in prop::collection::vec(any::<usize>(), 0..12),
        ) {
            let whole = parse_all(&[&stream]).unwrap();
            let parts = split_at_all(&stream, &cuts);
            let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
            prop_assert_eq!(parse_all(&refs).unwrap(), whole.clone());
            let bytewise: Vec<&[u8]> = stream.chunks(1).collect();
            prop_assert_eq!(parse_all(&bytewise).unwrap(), whole);
        }

        #[test]
        fn arbitrary_bytes_never_panic_nor_buffer_past_the_bound(
            chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..64), 0..16),
            max_line in 1usize..40,
            max_event in 1usize..60,
        ) {
            let mut p = SseParser::new(max_line, max_event);
            for c in &chunks {
                let _ = p.push(c);
                prop_assert!(p.buffered() <= max_line + max_event + max_line);
                prop_assert!(p.line.len() <= max_line);
                prop_assert!(p.data.len() <= max_event);
            }
            let _ = p.finish();
        }
    }
}
