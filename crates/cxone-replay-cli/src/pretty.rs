//! JSON re-indented for a terminal, every token kept as it was written.

/// `raw` (valid JSON, such as a `RawValue`) with one member or element per line, indented by two
/// spaces, and `": "` after keys. Strings, numbers and literals keep their exact text: a number
/// is never re-formatted, an escape never decoded (a parse-and-print would round `1.10` to
/// `1.1` or reorder keys).
pub fn pretty_json(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = String::with_capacity(raw.len() + raw.len() / 2);
    let mut depth = 0usize;
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        for _ in 0..depth {
            out.push_str("  ");
        }
    };
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        match c {
            b'"' => {
                // copy the string verbatim, escapes included
                let start = i;
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                let end = (i + 1).min(bytes.len());
                out.push_str(&raw[start..end]);
            }
            b'{' | b'[' => {
                let close = if c == b'{' { b'}' } else { b']' };
                let mut j = i + 1;
                while j < bytes.len() && bytes[j].is_ascii_whitespace() {
                    j += 1;
                }
                if bytes.get(j) == Some(&close) {
                    out.push(char::from(c));
                    out.push(char::from(close));
                    i = j;
                } else {
                    depth += 1;
                    out.push(char::from(c));
                    newline(&mut out, depth);
                }
            }
            b'}' | b']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(char::from(c));
            }
            b',' => {
                out.push(',');
                newline(&mut out, depth);
            }
            b':' => out.push_str(": "),
            c if c.is_ascii_whitespace() => {}
            _ => {
                // a number or a literal: up to the next structural character or space
                let start = i;
                while i + 1 < bytes.len()
                    && !matches!(bytes[i + 1], b',' | b'}' | b']' | b':' | b'"')
                    && !bytes[i + 1].is_ascii_whitespace()
                {
                    i += 1;
                }
                out.push_str(&raw[start..=i]);
            }
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_kept_exactly() {
        let raw = r#"{ "b" : 1.10, "a":[1e3 ,-0.0,true,null,"x,\"}y\u00e9"],"e":{},"f":[ ] }"#;
        assert_eq!(
            pretty_json(raw),
            "{\n  \"b\": 1.10,\n  \"a\": [\n    1e3,\n    -0.0,\n    true,\n    null,\n    \"x,\\\"}y\\u00e9\"\n  ],\n  \"e\": {},\n  \"f\": []\n}"
        );
        // the same JSON value, token for token
        let back: serde_json::Value = serde_json::from_str(&pretty_json(raw)).unwrap();
        let orig: serde_json::Value = serde_json::from_str(raw).unwrap();
        assert_eq!(back, orig);
        assert_eq!(pretty_json("42"), "42");
        assert_eq!(pretty_json(r#""é""#), r#""é""#);
    }
}
