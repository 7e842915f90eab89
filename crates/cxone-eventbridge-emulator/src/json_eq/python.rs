//! What a Python client does to a JSON document it parses and sends back: `json.loads`, then
//! `json.dumps` (the tutorial's client sends `httpx.put(..., json=payload)`).
//!
//! `json.loads` keeps integers exact (Python ints) and reads every other number into a float
//! (a double); `json.dumps` writes floats with `repr` (the shortest text that reads back as
//! the same double, with Python's own layout: `1000.0`, `1e-07`, `1e+16`), keeps object
//! order, and escapes strings. Two layouts: `json.dumps` defaults (`", "`/`": "`, non-ASCII
//! as `\uXXXX`; httpx before 0.28, requests) and httpx 0.28's (`","`/`":"`, UTF-8 kept).

use serde_json::value::RawValue;

/// The serializer's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Style {
    /// `json.dumps(x)`: separators `", "` and `": "`, `ensure_ascii=True`.
    Json,
    /// httpx 0.28 `json=`: separators `","` and `":"`, `ensure_ascii=False`.
    Httpx,
}

/// `json.dumps(json.loads(text))` in `style`.
pub(crate) fn dumps(text: &str, style: Style) -> String {
    let v: &RawValue = serde_json::from_str(text).expect("valid JSON");
    let mut out = String::new();
    write_value(v, style, &mut out);
    out
}

fn write_value(v: &RawValue, style: Style, out: &mut String) {
    let (item_sep, key_sep) = match style {
        Style::Json => (", ", ": "),
        Style::Httpx => (",", ":"),
    };
    let text = v.get().trim();
    match text.as_bytes().first() {
        Some(b'{') => {
            // Python dicts keep the document's order; serde_json's map would not.
            let members = object_members(text);
            out.push('{');
            for (i, (k, val)) in members.iter().enumerate() {
                if i > 0 {
                    out.push_str(item_sep);
                }
                write_string(k, style, out);
                out.push_str(key_sep);
                write_value(val, style, out);
            }
            out.push('}');
        }
        Some(b'[') => {
            let items: Vec<&RawValue> = serde_json::from_str(text).expect("array");
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(item_sep);
                }
                write_value(item, style, out);
            }
            out.push(']');
        }
        Some(b'"') => {
            let s: String = serde_json::from_str(text).expect("string");
            write_string(&s, style, out);
        }
        Some(b'-' | b'0'..=b'9') => out.push_str(&number(text)),
        _ => out.push_str(text),
    }
}

/// An object's members in document order.
fn object_members(text: &str) -> Vec<(String, &RawValue)> {
    struct Ordered<'a>(Vec<(String, &'a RawValue)>);
    impl<'de: 'a, 'a> serde::Deserialize<'de> for Ordered<'a> {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V<'a>(std::marker::PhantomData<&'a ()>);
            impl<'de: 'a, 'a> serde::de::Visitor<'de> for V<'a> {
                type Value = Ordered<'a>;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("an object")
                }
                fn visit_map<M: serde::de::MapAccess<'de>>(
                    self,
                    mut m: M,
                ) -> Result<Self::Value, M::Error> {
                    let mut out = Vec::new();
                    while let Some((k, v)) = m.next_entry::<String, &'de RawValue>()? {
                        out.push((k, v));
                    }
                    Ok(Ordered(out))
                }
            }
            d.deserialize_map(V(std::marker::PhantomData))
        }
    }
    let Ordered(members) = serde_json::from_str(text).expect("object");
    members
}

/// A number as `json.loads` reads it and `json.dumps` writes it.
fn number(text: &str) -> String {
    if !text.contains(['.', 'e', 'E']) {
        // An int: kept exactly (`-0` is the int 0).
        return if text == "-0" {
            "0".into()
        } else {
            text.into()
        };
    }
    float_repr(text.parse::<f64>().expect("a float"))
}

/// Python's `repr(float)`.
fn float_repr(x: f64) -> String {
    // Rust's `{:e}` has the same shortest digits: `d[.ddd]e<exp>`.
    let sci = format!("{:e}", x.abs());
    let (mantissa, exp) = sci.split_once('e').expect("exponent");
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let exp: i32 = exp.parse().expect("exponent");
    let sign = if x.is_sign_negative() { "-" } else { "" };
    let decpt = exp + 1; // x = 0.digits × 10^decpt
    let n = digits.len() as i32;
    if decpt > 16 || decpt <= -4 {
        let rest = &digits[1..];
        let frac = if rest.is_empty() {
            String::new()
        } else {
            format!(".{rest}")
        };
        let esign = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{}{frac}e{esign}{:02}", &digits[..1], exp.abs());
    }
    if decpt <= 0 {
        format!("{sign}0.{}{digits}", "0".repeat((-decpt) as usize))
    } else if decpt < n {
        let (int, frac) = digits.split_at(decpt as usize);
        format!("{sign}{int}.{frac}")
    } else {
        format!("{sign}{digits}{}.0", "0".repeat((decpt - n) as usize))
    }
}

/// A string as `json.dumps` escapes it.
fn write_string(s: &str, style: Style, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c if style == Style::Json && !(' '..='~').contains(&c) => {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{u:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_are_written_as_python_repr_writes_them() {
        for (x, repr) in [
            (1000.0, "1000.0"),
            (0.1, "0.1"),
            (-0.0, "-0.0"),
            (0.0, "0.0"),
            (1e-7, "1e-07"),
            (0.0001, "0.0001"),
            (1e16, "1e+16"),
            (1.5e16, "1.5e+16"),
            (1e15, "1000000000000000.0"),
            (81062.16118292307, "81062.16118292307"),
            (-2.5, "-2.5"),
            (123456789.125, "123456789.125"),
        ] {
            assert_eq!(float_repr(x), repr, "{x}");
        }
    }

    #[test]
    fn documents_are_written_as_json_dumps_writes_them() {
        let doc =
            r#"{"b":1e3,"a":[9007199254740993,-0,0.10,"caf\u00e9 \/ 😀"],"c":{"t":true,"n":null}}"#;
        assert_eq!(
            dumps(doc, Style::Json),
            r#"{"b": 1000.0, "a": [9007199254740993, 0, 0.1, "caf\u00e9 / \ud83d\ude00"], "c": {"t": true, "n": null}}"#
        );
        assert_eq!(
            dumps(doc, Style::Httpx),
            r#"{"b":1000.0,"a":[9007199254740993,0,0.1,"café / 😀"],"c":{"t":true,"n":null}}"#
        );
    }
}
