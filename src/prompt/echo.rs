//! The built-in `echo` processor: answers `Echo: <prompt>`, streamed word by word when asked.

/// The whole answer to a prompt.
pub fn response(prompt: &str) -> String {
    format!("Echo: {prompt}")
}

/// The answer as word-sized deltas: each delta is a word with the whitespace that follows it
/// (leading whitespace joins the first delta), so the deltas joined equal [`response`] exactly.
pub fn deltas(prompt: &str) -> Vec<String> {
    split_words(&response(prompt))
        .into_iter()
        .map(str::to_owned)
        .collect()
}

/// Splits `text` into pieces of one word followed by its whitespace; joined they equal `text`.
pub fn split_words(text: &str) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut start = 0;
    let mut seen_word = false;
    let mut in_space = false;
    for (i, c) in text.char_indices() {
        if c.is_whitespace() {
            in_space = true;
        } else {
            if in_space && seen_word {
                pieces.push(&text[start..i]);
                start = i;
            }
            in_space = false;
            seen_word = true;
        }
    }
    if start < text.len() {
        pieces.push(&text[start..]);
    }
    pieces
}

// Property tests run natively only (proptest does not build for wasm32-unknown-unknown).
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn echo_streams_word_by_word() {
        assert_eq!(response("hello world"), "Echo: hello world");
        assert_eq!(
            deltas("hello  big\nworld "),
            ["Echo: ", "hello  ", "big\n", "world "]
        );
        assert_eq!(split_words("  a b"), ["  a ", "b"]);
        assert_eq!(split_words("   "), ["   "]);
        assert!(split_words("").is_empty());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        #[test]
        fn pieces_join_to_the_text_and_hold_one_word_each(text in "[ a-zé\\t\\n\u{3000}]{0,60}") {
            let pieces = split_words(&text);
            prop_assert_eq!(pieces.concat(), text.clone());
            for (i, p) in pieces.iter().enumerate() {
                prop_assert!(!p.is_empty());
                let words = p.split_whitespace().count();
                prop_assert!(words == 1 || (words == 0 && pieces.len() == 1), "{:?}", pieces);
                if i > 0 {
                    prop_assert!(!p.starts_with(char::is_whitespace));
                }
            }
        }
    }
}
