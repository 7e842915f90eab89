//! Structural JSON equality that compares numbers by their exact text.
//!
//! `serde_json::Value` would parse numbers into `f64`/`u64`, so `1234.567890123456789` and
//! `1234.5678901234568` would compare equal, and turning on serde_json's `arbitrary_precision`
//! would change number handling for the whole workspace. Instead this walks both texts with
//! [`RawValue`]: objects and arrays are split into borrowed raw members (keys decoded, so
//! `"caf\u00e9"` and `"café"` are the same key), strings are compared decoded, and numbers,
//! booleans and `null` are compared by their literal text. Object member order and insignificant
//! whitespace do not matter; a number written differently (`1e3` vs `1000`, `0.10` vs `0.1`) does.

use serde_json::value::RawValue;
use std::collections::HashMap;

/// The result of comparing two JSON texts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonMatch {
    /// The same bytes.
    Identical,
    /// Equal as JSON (numbers by text), but not the same bytes.
    Equivalent,
    /// Different.
    Different,
}

/// Compares two JSON texts; see the module documentation for what counts as equal.
#[must_use]
pub fn compare(a: &RawValue, b: &RawValue) -> JsonMatch {
    if a.get() == b.get() {
        JsonMatch::Identical
    } else if equal(a, b) {
        JsonMatch::Equivalent
    } else {
        JsonMatch::Different
    }
}

/// The first non-blank byte of a JSON value: tells its kind (`{`, `[`, `"`, ...).
pub(crate) fn first_byte(v: &RawValue) -> u8 {
    v.get()
        .trim_start()
        .as_bytes()
        .first()
        .copied()
        .unwrap_or(b' ')
}

/// Whether two JSON values are equal, numbers compared by text.
#[must_use]
pub fn equal(a: &RawValue, b: &RawValue) -> bool {
    let (ka, kb) = (first_byte(a), first_byte(b));
    if ka != kb {
        return false;
    }
    match ka {
        b'{' => {
            let (Ok(ma), Ok(mb)) = (
                serde_json::from_str::<HashMap<String, &RawValue>>(a.get()),
                serde_json::from_str::<HashMap<String, &RawValue>>(b.get()),
            ) else {
                return false;
            };
            ma.len() == mb.len()
                && ma
                    .iter()
                    .all(|(k, va)| mb.get(k).is_some_and(|vb| equal(va, vb)))
        }
        b'[' => {
            let (Ok(la), Ok(lb)) = (
                serde_json::from_str::<Vec<&RawValue>>(a.get()),
                serde_json::from_str::<Vec<&RawValue>>(b.get()),
            ) else {
                return false;
            };
            la.len() == lb.len() && la.iter().zip(&lb).all(|(x, y)| equal(x, y))
        }
        b'"' => matches!(
            (
                serde_json::from_str::<String>(a.get()),
                serde_json::from_str::<String>(b.get()),
            ),
            (Ok(x), Ok(y)) if x == y
        ),
        _ => a.get().trim() == b.get().trim(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(s: &str) -> Box<RawValue> {
        RawValue::from_string(s.to_string()).expect("test JSON is valid")
    }

    fn cmp(a: &str, b: &str) -> JsonMatch {
        compare(&raw(a), &raw(b))
    }

    #[test]
    fn identical_bytes() {
        assert_eq!(cmp(r#"{"a":1}"#, r#"{"a":1}"#), JsonMatch::Identical);
    }

    #[test]
    fn whitespace_order_and_escapes_are_equivalent() {
        assert_eq!(
            cmp(
                r#"{"a":1,"b":[true,null,"x"]}"#,
                r#"{ "b" : [ true , null , "x" ] , "a" : 1 }"#
            ),
            JsonMatch::Equivalent
        );
        assert_eq!(
            cmp(r#"{"n":"caf\u00e9 \/"}"#, r#"{"n":"café /"}"#),
            JsonMatch::Equivalent
        );
        assert_eq!(
            cmp(r#"{"caf\u00e9":1}"#, r#"{"café":1}"#),
            JsonMatch::Equivalent
        );
    }

    #[test]
    fn numbers_compare_by_text() {
        assert_eq!(cmp(r#"{"n":1e3}"#, r#"{"n":1000}"#), JsonMatch::Different);
        assert_eq!(cmp(r#"{"n":0.10}"#, r#"{"n":0.1}"#), JsonMatch::Different);
        assert_eq!(
            cmp(
                r#"{"n":1234.567890123456789012}"#,
                r#"{"n":1234.5678901234568}"#
            ),
            JsonMatch::Different
        );
        assert_eq!(
            cmp(r#"{"n":9007199254740993}"#, r#"{"n": 9007199254740993 }"#),
            JsonMatch::Equivalent
        );
    }

    #[test]
    fn structural_differences() {
        assert_eq!(cmp(r#"{"a":1}"#, r#"{"a":1,"b":2}"#), JsonMatch::Different);
        assert_eq!(cmp(r#"{"a":1,"b":2}"#, r#"{"a":1}"#), JsonMatch::Different);
        assert_eq!(cmp(r#"[1,2]"#, r#"[2,1]"#), JsonMatch::Different);
        assert_eq!(cmp(r#"{"a":"1"}"#, r#"{"a":1}"#), JsonMatch::Different);
        assert_eq!(cmp(r#"{"a":null}"#, r#"{"a":false}"#), JsonMatch::Different);
        assert_eq!(
            cmp(r#"{"a":{"b":[1]}}"#, r#"{"a":{"b":[1.0]}}"#),
            JsonMatch::Different
        );
    }
}
