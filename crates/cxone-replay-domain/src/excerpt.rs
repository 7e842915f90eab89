//! Bounded, escaped excerpts of text that came from outside (a server's error body), fit for
//! one line of an audit record or a log.

/// The most bytes of a server's text kept in an audit record's `message`.
pub const MAX_MESSAGE_EXCERPT: usize = 1024;

/// What marks an excerpt that was cut.
const CUT: &str = "…";

/// Characters that must not reach a terminal or a log line as they are: control characters
/// (newlines would forge log lines, escapes would drive the terminal), line and paragraph
/// separators, and the bidirectional overrides that reorder what a reader sees.
fn must_escape(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `text` on one line and at most `max_bytes` bytes: leading and trailing whitespace trimmed,
/// every control character (and line separator or bidirectional override) escaped as Rust
/// does (`\n`, `\t`, `\u{1b}`), cut on a character boundary and ended with `…` when it was
/// longer. An escape is never cut in half.
///
/// ```
/// use cxone_replay_domain::excerpt;
/// assert_eq!(excerpt("bad field\n\tpayload", 100), r"bad field\n\tpayload");
/// assert_eq!(excerpt("0123456789", 8), "01234…"); // 5 bytes + 3 for the mark
/// assert_eq!(excerpt("\u{1b}[31mred", 100), r"\u{1b}[31mred");
/// ```
#[must_use]
pub fn excerpt(text: &str, max_bytes: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max_bytes));
    // The longest prefix that still leaves room for the cut mark.
    let mut markable = 0;
    for c in text.trim().chars() {
        let mut buf = [0u8; 4];
        let escaped;
        let piece: &str = if must_escape(c) {
            escaped = c.escape_default().collect::<String>();
            &escaped
        } else {
            c.encode_utf8(&mut buf)
        };
        if out.len() + piece.len() > max_bytes {
            out.truncate(markable);
            if out.len() + CUT.len() <= max_bytes {
                out.push_str(CUT);
            }
            return out;
        }
        out.push_str(piece);
        if out.len() + CUT.len() <= max_bytes {
            markable = out.len();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn short_text_is_kept_and_long_text_is_marked() {
        assert_eq!(excerpt("", 10), "");
        assert_eq!(excerpt("  fine  ", 10), "fine");
        assert_eq!(excerpt("exactly10!", 10), "exactly10!");
        assert_eq!(excerpt("exactly11!!", 10), "exactly…");
        assert_eq!(excerpt("ééé", 5), "é…");
        assert_eq!(excerpt("abc", 2), "");
        assert_eq!(
            excerpt("line1\r\nline2\u{2028}\u{202e}", 100),
            r"line1\r\nline2\u{2028}\u{202e}"
        );
        // an escape is not cut in half
        assert_eq!(excerpt("ab\u{7}cdef", 8), "ab…");
    }

    proptest! {
        #[test]
        fn excerpts_are_bounded_one_line_prefixes(text in "\\PC{0,200}|[\\x00-\\x7f]{0,200}", max in 0usize..300) {
            let e = excerpt(&text, max);
            prop_assert!(e.len() <= max, "{} > {max}", e.len());
            prop_assert!(!e.chars().any(must_escape), "{e:?}");
            let body = e.strip_suffix(CUT).unwrap_or(&e);
            let full = excerpt(&text, usize::MAX);
            prop_assert!(full.starts_with(body), "{body:?} is not a prefix of {full:?}");
            if e.len() + 4 < max && !e.ends_with(CUT) {
                prop_assert_eq!(e, full);
            }
        }
    }
}
