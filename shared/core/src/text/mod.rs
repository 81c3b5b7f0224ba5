//! Echoing outside values safely: every value a folder, an event or a policy supplies
//! (a tensor name, a dtype, a file name, an S3 key) is shortened before it goes into a
//! finding, an error or a log line, and control characters are escaped before text
//! reaches a person's terminal. One place, so every part of Ferry bounds them alike.

pub mod time;
pub mod units;

use std::borrow::Cow;
use std::fmt::Write;

/// The most characters of an outside value that Ferry echoes.
pub(crate) const ECHO_MAX_CHARS: usize = 200;

/// Marks a value that was cut short.
pub(crate) const ELLIPSIS: char = '…';

/// `value` cut to at most `max_chars` characters (the last of them `…` when cut).
/// Cuts on a character boundary, never inside a UTF-8 sequence.
pub fn truncate(value: &str, max_chars: usize) -> Cow<'_, str> {
    // Fast path: a string no longer in bytes than the limit fits in characters too.
    if value.len() <= max_chars {
        return Cow::Borrowed(value);
    }
    match value.char_indices().nth(max_chars) {
        None => Cow::Borrowed(value),
        Some(_) => {
            let keep = max_chars.saturating_sub(1);
            let end = value.char_indices().nth(keep).map_or(0, |(i, _)| i);
            let mut out = String::with_capacity(end + ELLIPSIS.len_utf8());
            out.push_str(&value[..end]);
            out.push(ELLIPSIS);
            Cow::Owned(out)
        }
    }
}

/// An outside value as Ferry echoes it in findings, errors and logs: at most
/// `ECHO_MAX_CHARS` characters.
pub fn echo(value: &str) -> Cow<'_, str> {
    truncate(value, ECHO_MAX_CHARS)
}

/// [`echo`], quoted and escaped as Rust's `{:?}` does (`"a\nb"`): for names inside a
/// sentence, where quotes show where the value starts and ends.
pub(crate) fn echo_quoted(value: &str) -> String {
    format!("{:?}", echo(value))
}

/// Whether printing `c` to a terminal could move the cursor, recolour, hide text or
/// reorder it: C0 and C1 controls, DEL, and the bidirectional overrides and isolates.
pub(crate) fn is_unsafe_for_terminal(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// `text` with every character `is_unsafe_for_terminal` written as a visible escape
/// (`\n`, `\t`, `\r`, `\u{1b}`): for everything printed for a person, so an outside
/// value cannot forge a line or hide text. Quotes and backslashes are left alone.
pub fn escape_controls(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_unsafe_for_terminal) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if is_unsafe_for_terminal(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// An outside value for a person's terminal: shortened, then escaped.
pub fn display(value: &str) -> String {
    escape_controls(&echo(value)).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn short_values_are_borrowed_unchanged() {
        assert!(matches!(
            echo("lm_head.weight"),
            Cow::Borrowed("lm_head.weight")
        ));
        let exactly = "é".repeat(ECHO_MAX_CHARS);
        assert_eq!(echo(&exactly), exactly);
    }

    #[test]
    fn long_values_are_cut_with_an_ellipsis() {
        let long = "x".repeat(50_000_000);
        let cut = echo(&long);
        assert_eq!(cut.chars().count(), ECHO_MAX_CHARS);
        assert!(cut.ends_with('…'));
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("abcdef", 0), "…");
        assert_eq!(echo_quoted("a\"b"), "\"a\\\"b\"");
    }

    #[test]
    fn controls_are_escaped_and_nothing_else() {
        let forged = "x\n\n✔ Ready for Amazon Bedrock\x1b[8m.safetensors\u{202E}";
        assert_eq!(
            escape_controls(forged),
            "x\\n\\n✔ Ready for Amazon Bedrock\\u{1b}[8m.safetensors\\u{202e}"
        );
        assert!(matches!(escape_controls("a \"b\" é"), Cow::Borrowed(_)));
        assert_eq!(escape_controls("\t\r\u{7f}\u{9b}"), "\\t\\r\\u{7f}\\u{9b}");
    }

    proptest! {
        #[test]
        fn truncation_is_bounded_and_a_prefix(s in "\\PC{0,300}", max in 0usize..250) {
            let cut = truncate(&s, max);
            prop_assert!(cut.chars().count() <= max.max(1));
            if cut != s {
                let kept = cut.strip_suffix(ELLIPSIS).unwrap_or(&cut);
                prop_assert!(s.starts_with(kept));
            }
        }

        #[test]
        fn escaped_text_has_no_control_characters(s in any::<String>()) {
            prop_assert!(!escape_controls(&s).chars().any(is_unsafe_for_terminal));
            prop_assert!(!display(&s).chars().any(is_unsafe_for_terminal));
        }
    }
}
