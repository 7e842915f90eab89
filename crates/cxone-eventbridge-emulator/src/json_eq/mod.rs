//! Structural JSON equality of a copy with its original, with a choice of how numbers compare.
//!
//! `serde_json::Value` would parse numbers into `f64`/`u64` and compare those, and turning on
//! serde_json's `arbitrary_precision` would change number handling for the whole workspace.
//! Instead this walks both texts with [`RawValue`]: objects and arrays are split into borrowed
//! raw members (keys decoded, so `"caf\u00e9"` and `"café"` are the same key), strings are
//! compared decoded, booleans and `null` by their literal, and numbers by [`Numbers`]:
//!
//! - [`Numbers::ByValue`]: equal if they are the same decimal value (`1e3`, `1000` and
//!   `1000.0`; exact, never through `f64`), or if the copy is the original read into a double
//!   and written back: it reads as the same double and is written as serializers of doubles
//!   write, with at most 17 significant digits (or as the double's exact value). So
//!   `81062.161182923068587886` equals `81062.16118292307` (what JavaScript or Python write
//!   after parsing it), but not `81062.161182923068587887`, a different 22-digit decimal that
//!   merely rounds to the same double. An original beyond the double's range (infinite, or
//!   rounded to zero) only equals the same value.
//! - [`Numbers::ByText`]: equal only if written the same (`1e3` ≠ `1000`, `0.10` ≠ `0.1`).
//!
//! Object member order and insignificant whitespace never matter.

mod number;
#[cfg(test)]
pub(crate) mod python;

pub use number::F64_DIGITS;
use serde_json::value::RawValue;
use std::collections::HashMap;

/// How numbers compare; see the module documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Numbers {
    /// By decimal value, or as a double round trip of the original would write it.
    #[default]
    ByValue,
    /// By their exact text.
    ByText,
}

/// The result of comparing a copy of a JSON text with its original.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonMatch {
    /// The same bytes.
    Identical,
    /// Equal as JSON, but not the same bytes.
    Equivalent,
    /// Different.
    Different,
}

/// Compares `copy` with `original`; see the module documentation for what counts as equal.
#[must_use]
pub fn compare(original: &RawValue, copy: &RawValue, numbers: Numbers) -> JsonMatch {
    if original.get() == copy.get() {
        JsonMatch::Identical
    } else if equal(original, copy, numbers) {
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

/// Whether `copy` is equal as JSON to `original`, numbers compared by `numbers`.
#[must_use]
pub fn equal(original: &RawValue, copy: &RawValue, numbers: Numbers) -> bool {
    let (ka, kb) = (first_byte(original), first_byte(copy));
    let is_number = |k: u8| k == b'-' || k.is_ascii_digit();
    if ka != kb && !(is_number(ka) && is_number(kb)) {
        return false;
    }
    match ka {
        b'{' => {
            let (Ok(ma), Ok(mb)) = (
                serde_json::from_str::<HashMap<String, &RawValue>>(original.get()),
                serde_json::from_str::<HashMap<String, &RawValue>>(copy.get()),
            ) else {
                return false;
            };
            ma.len() == mb.len()
                && ma
                    .iter()
                    .all(|(k, va)| mb.get(k).is_some_and(|vb| equal(va, vb, numbers)))
        }
        b'[' => {
            let (Ok(la), Ok(lb)) = (
                serde_json::from_str::<Vec<&RawValue>>(original.get()),
                serde_json::from_str::<Vec<&RawValue>>(copy.get()),
            ) else {
                return false;
            };
            la.len() == lb.len() && la.iter().zip(&lb).all(|(x, y)| equal(x, y, numbers))
        }
        b'"' => matches!(
            (
                serde_json::from_str::<String>(original.get()),
                serde_json::from_str::<String>(copy.get()),
            ),
            (Ok(x), Ok(y)) if x == y
        ),
        k if is_number(k) => number::same_number(original.get(), copy.get(), numbers),
        _ => original.get().trim() == copy.get().trim(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Emulator;
    use crate::data;
    use python::{Style, dumps};

    fn raw(s: &str) -> Box<RawValue> {
        RawValue::from_string(s.to_string()).expect("test JSON is valid")
    }

    fn cmp(a: &str, b: &str, numbers: Numbers) -> JsonMatch {
        compare(&raw(a), &raw(b), numbers)
    }

    const BOTH: [Numbers; 2] = [Numbers::ByValue, Numbers::ByText];

    #[test]
    fn identical_bytes() {
        for n in BOTH {
            assert_eq!(cmp(r#"{"a":1}"#, r#"{"a":1}"#, n), JsonMatch::Identical);
        }
    }

    #[test]
    fn whitespace_order_and_escapes_are_equivalent_in_both_modes() {
        for n in BOTH {
            assert_eq!(
                cmp(
                    r#"{"a":1,"b":[true,null,"x"]}"#,
                    r#"{ "b" : [ true , null , "x" ] , "a" : 1 }"#,
                    n
                ),
                JsonMatch::Equivalent
            );
            assert_eq!(
                cmp(r#"{"n":"caf\u00e9 \/"}"#, r#"{"n":"café /"}"#, n),
                JsonMatch::Equivalent
            );
            assert_eq!(
                cmp(r#"{"caf\u00e9":1}"#, r#"{"café":1}"#, n),
                JsonMatch::Equivalent
            );
            assert_eq!(
                cmp(
                    r#"{"n":9007199254740993}"#,
                    r#"{"n": 9007199254740993 }"#,
                    n
                ),
                JsonMatch::Equivalent
            );
        }
    }

    #[test]
    fn numbers_by_value_or_by_text() {
        let cases = [
            (r#"{"n":1e3}"#, r#"{"n":1000.0}"#),
            (r#"{"n":0.10}"#, r#"{"n":0.1}"#),
            (r#"{"n":-0.0}"#, r#"{"n":0}"#),
            (
                r#"{"n":[1234.567890123456789012]}"#,
                r#"{"n":[1234.567890123457]}"#,
            ),
        ];
        for (a, b) in cases {
            assert_eq!(
                cmp(a, b, Numbers::ByValue),
                JsonMatch::Equivalent,
                "{a} {b}"
            );
            assert_eq!(cmp(a, b, Numbers::ByText), JsonMatch::Different, "{a} {b}");
        }
    }

    #[test]
    fn structural_differences_in_both_modes() {
        for n in BOTH {
            for (a, b) in [
                (r#"{"a":1}"#, r#"{"a":1,"b":2}"#),
                (r#"{"a":1,"b":2}"#, r#"{"a":1}"#),
                (r#"[1,2]"#, r#"[2,1]"#),
                (r#"{"a":"1"}"#, r#"{"a":1}"#),
                (r#"{"a":1}"#, r#"{"a":"1"}"#),
                (r#"{"a":null}"#, r#"{"a":false}"#),
                (r#"{"a":0}"#, r#"{"a":null}"#),
                (r#"{"a":{"b":[1]}}"#, r#"{"a":{"b":[2.0]}}"#),
                (r#"{"a":1.5}"#, r#"{"a":[1.5]}"#),
            ] {
                assert_eq!(cmp(a, b, n), JsonMatch::Different, "{a} {b} {n:?}");
            }
        }
    }

    #[test]
    fn python_re_serialized_seeded_payloads_are_equal_by_value_only() {
        let d = data::generate(&Emulator::builder().events(40).seed(1));
        let mut compared = 0;
        for topic in d.topics.values() {
            for e in &topic.entries {
                let original = e.event.payload.as_deref().expect("payload");
                for style in [Style::Json, Style::Httpx] {
                    let copy = raw(&dumps(original.get(), style));
                    assert_eq!(
                        compare(original, &copy, Numbers::ByValue),
                        JsonMatch::Equivalent
                    );
                    // Every seeded payload has a decimal longer than a double holds.
                    assert_eq!(
                        compare(original, &copy, Numbers::ByText),
                        JsonMatch::Different
                    );
                    compared += 1;
                }
            }
        }
        assert_eq!(compared, 80);
    }
}
