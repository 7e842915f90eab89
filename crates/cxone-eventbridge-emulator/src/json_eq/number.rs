//! JSON numbers compared as decimal values, and as a parser that reads them into doubles
//! would see them.
//!
//! [`same_number`] holds the rule; [`Decimal`] is a number's exact value (no floating point
//! is involved in comparing values: `1e3`, `1000` and `1000.0` are the same decimal, two
//! 22-digit decimals are the same only if all their digits are).

use super::Numbers;

/// Significant digits that are enough to write any double so that it reads back as the same
/// double. Shortest-round-trip serializers (JavaScript, Python's `repr`, Go, Java, Rust) write
/// at most this many, and `%.17g` writes exactly this many.
pub const F64_DIGITS: usize = 17;

/// The most significant digits a double's exact decimal value can have.
const F64_EXACT_DIGITS_MAX: usize = 767;

/// A JSON number's exact value: `(-1)^negative × digits × 10^exponent`, with no leading or
/// trailing zeros in `digits` (empty for zero, whose sign and exponent are then 0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Decimal {
    negative: bool,
    digits: Vec<u8>,
    exponent: i64,
}

impl Decimal {
    /// Reads JSON number text (`-?int(.frac)?([eE][+-]?exp)?`); `None` if it is not one, or if
    /// its exponent does not fit in an `i64`.
    pub(crate) fn parse(text: &str) -> Option<Decimal> {
        let b = text.as_bytes();
        let mut i = 0;
        let negative = b.first() == Some(&b'-');
        if negative {
            i += 1;
        }
        let digits_from = |i: &mut usize| {
            let start = *i;
            while b.get(*i).is_some_and(u8::is_ascii_digit) {
                *i += 1;
            }
            &b[start..*i]
        };
        let int = digits_from(&mut i);
        if int.is_empty() {
            return None;
        }
        let frac = if b.get(i) == Some(&b'.') {
            i += 1;
            let f = digits_from(&mut i);
            if f.is_empty() {
                return None;
            }
            f
        } else {
            &[]
        };
        let mut exponent: i64 = 0;
        if matches!(b.get(i), Some(b'e' | b'E')) {
            i += 1;
            let minus = b.get(i) == Some(&b'-');
            if matches!(b.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            let e = digits_from(&mut i);
            if e.is_empty() {
                return None;
            }
            for d in e {
                exponent = exponent.checked_mul(10)?.checked_add(i64::from(d - b'0'))?;
            }
            if minus {
                exponent = -exponent;
            }
        }
        if i != b.len() {
            return None;
        }
        exponent = exponent.checked_sub(i64::try_from(frac.len()).ok()?)?;
        let mut digits: Vec<u8> = int.iter().chain(frac).copied().collect();
        let lead = digits.iter().take_while(|d| **d == b'0').count();
        digits.drain(..lead);
        let trail = digits.iter().rev().take_while(|d| **d == b'0').count();
        digits.truncate(digits.len() - trail);
        exponent = exponent.checked_add(i64::try_from(trail).ok()?)?;
        if digits.is_empty() {
            return Some(Decimal {
                negative: false,
                digits,
                exponent: 0,
            });
        }
        Some(Decimal {
            negative,
            digits,
            exponent,
        })
    }

    /// The exact value of a finite double.
    fn of_f64(x: f64) -> Option<Decimal> {
        // Formatting with a precision is exact in Rust: 767 significant digits hold any double.
        Decimal::parse(&format!("{:.*e}", F64_EXACT_DIGITS_MAX - 1, x))
    }

    /// How many significant digits the number is written with (trailing zeros not counted).
    pub(crate) fn significant_digits(&self) -> usize {
        self.digits.len().max(1)
    }
}

/// Whether `copy` is the number `original` under `numbers`.
///
/// [`Numbers::ByText`]: the same text. [`Numbers::ByValue`]: the same decimal value, or a way
/// of writing the double nearest to the original (see [`is_double_rendering`]).
pub(crate) fn same_number(original: &str, copy: &str, numbers: Numbers) -> bool {
    let (original, copy) = (original.trim(), copy.trim());
    if original == copy {
        return true;
    }
    if numbers == Numbers::ByText {
        return false;
    }
    let (Some(a), Some(b)) = (Decimal::parse(original), Decimal::parse(copy)) else {
        return false;
    };
    a == b || is_double_rendering(original, copy, &b)
}

/// Whether `copy` is what a client that parsed `original` into a double (IEEE 754 binary64)
/// could have written back: `original` is within the double's range (neither infinite nor
/// rounded to zero), `copy` reads as the same double, and `copy` is written as a serializer of
/// doubles writes (at most [`F64_DIGITS`] significant digits, or the double's exact value).
///
/// A copy with more digits than that which only *rounds* to the same double is a different
/// number that no double round trip produces, and is not equal.
fn is_double_rendering(original: &str, copy: &str, copy_value: &Decimal) -> bool {
    let (Ok(x), Ok(y)) = (original.parse::<f64>(), copy.parse::<f64>()) else {
        return false;
    };
    // A zero original is only equal to zeros, which the decimal comparison already found.
    if !x.is_finite() || x == 0.0 || x != y {
        return false;
    }
    let digits = copy_value.significant_digits();
    digits <= F64_DIGITS
        || (digits <= F64_EXACT_DIGITS_MAX && Decimal::of_f64(y).as_ref() == Some(copy_value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn by_value(a: &str, b: &str) -> bool {
        same_number(a, b, Numbers::ByValue)
    }

    fn by_text(a: &str, b: &str) -> bool {
        same_number(a, b, Numbers::ByText)
    }

    /// Rust's shortest round-trip rendering, as JavaScript or Python would write the double.
    fn shortest(text: &str) -> String {
        format!("{:e}", text.parse::<f64>().expect("a number"))
    }

    #[test]
    fn parsing_normalizes_the_value() {
        let d = |s| Decimal::parse(s).expect(s);
        assert_eq!(d("1e3"), d("1000"));
        assert_eq!(d("1000.000"), d("1E+3"));
        assert_eq!(d("0.10"), d("1e-1"));
        assert_eq!(d("-0.0"), d("0"));
        assert_eq!(d("0e99"), d("0"));
        assert_eq!(d("00.5e1"), d("5"), "lenient about leading zeros");
        assert_ne!(d("-1"), d("1"));
        assert_eq!(d("1234.5678").significant_digits(), 8);
        assert_eq!(d("100").significant_digits(), 1);
        for bad in [
            "", "-", "1.", ".5", "1e", "1e+", "+1", "1x", "--1", "0x10", "NaN",
        ] {
            assert_eq!(Decimal::parse(bad), None, "{bad:?}");
        }
        assert_eq!(
            Decimal::parse("1e99999999999999999999"),
            None,
            "exponent beyond i64"
        );
    }

    #[test]
    fn the_same_value_written_differently_is_equal_by_value_only() {
        for (a, b) in [
            ("1e3", "1000.0"),
            ("1e3", "1000"),
            ("1E+2", "100.0"),
            ("0.10", "0.1"),
            ("2.50", "2.5"),
            ("1.0e-7", "1e-07"),
            ("-0.0", "0"),
            ("-0.0", "0.0"),
            ("1234.567890123456789012", "1234567890123456789012e-18"),
        ] {
            assert!(by_value(a, b), "{a} == {b}");
            assert!(by_value(b, a), "{b} == {a}");
            assert!(!by_text(a, b), "{a} != {b} by text");
        }
        assert!(
            by_text(" 1e3 ", "1e3"),
            "surrounding blanks are not the number"
        );
    }

    #[test]
    fn different_values_are_different_in_both_modes() {
        for (a, b) in [
            ("1", "2"),
            ("1", "-1"),
            ("0.1", "0.2"),
            ("1e3", "1e4"),
            ("0", "1e-400"),
            ("1e-400", "0"),
            ("1e-400", "0.0"),
            ("1e400", "1e401"),
        ] {
            assert!(!by_value(a, b), "{a} != {b}");
            assert!(!by_text(a, b), "{a} != {b}");
        }
        assert!(
            by_value("1e400", "10e399"),
            "the same value, beyond a double's range"
        );
    }

    #[test]
    fn a_long_decimal_read_into_a_double_and_written_back_is_equal() {
        let original = "81062.161182923068587886";
        // JavaScript, Python's repr, serde_json: the shortest text of the same double.
        assert_eq!(shortest(original), "8.106216118292307e4");
        assert!(by_value(original, "81062.16118292307"));
        assert!(by_value(original, &shortest(original)));
        // C's %.17g.
        assert!(by_value(original, "81062.161182923068"));
        // The double's exact value.
        assert!(by_value(
            original,
            "81062.1611829230678267776966094970703125"
        ));
        assert!(!by_text(original, "81062.16118292307"));
    }

    #[test]
    fn a_different_long_decimal_is_not_equal_even_if_it_rounds_to_the_same_double() {
        let original = "81062.161182923068587886";
        let other = "81062.161182923068587887";
        assert_eq!(original.parse::<f64>(), other.parse::<f64>(), "same double");
        assert!(!by_value(original, other));
        // 19 digits that round to the double but are not how a double is written.
        assert_eq!(
            original.parse::<f64>(),
            "81062.1611829230686".parse::<f64>()
        );
        assert!(!by_value(original, "81062.1611829230686"));
        // The neighbouring double, written shortest, is another value.
        let x: f64 = original.parse().expect("f64");
        let next = f64::from_bits(x.to_bits() + 1);
        assert!(!by_value(original, &format!("{next}")));
    }

    #[test]
    fn integers_beyond_2_pow_53_follow_the_same_rule() {
        // JavaScript reads 2^53 + 1 as 2^53.
        assert!(by_value("9007199254740993", "9007199254740992"));
        assert!(by_value("9007199254740993", "9.007199254740992e15"));
        // 2^53 + 2 is another double.
        assert!(!by_value("9007199254740993", "9007199254740994"));
        assert!(!by_text("9007199254740993", "9007199254740992"));
    }

    fn decimal_text() -> impl Strategy<Value = String> {
        (any::<bool>(), "[1-9][0-9]{0,29}", -40i32..40).prop_map(|(neg, digits, shift)| {
            let sign = if neg { "-" } else { "" };
            format!("{sign}{digits}e{shift}")
        })
    }

    proptest! {
        #[test]
        fn any_double_rendering_of_a_number_is_equal(text in decimal_text()) {
            let x: f64 = text.parse().expect("a number");
            prop_assert!(by_value(&text, &format!("{x:e}")), "shortest {x:e}");
            prop_assert!(by_value(&text, &format!("{x}")), "plain {x}");
            prop_assert!(by_value(&text, &format!("{x:.16e}")), "%.17g {x:.16e}");
            prop_assert!(by_value(&text, &format!("{x:.766e}")), "exact");
        }

        #[test]
        fn the_same_value_shifted_is_equal_by_value(text in decimal_text(), zeros in 0usize..5) {
            let (mantissa, exp) = text.split_once('e').expect("has an exponent");
            let exp: i64 = exp.parse().expect("exponent");
            let shifted = format!("{mantissa}{}e{}", "0".repeat(zeros), exp - zeros as i64);
            prop_assert!(by_value(&text, &shifted));
            prop_assert_eq!(by_text(&text, &shifted), zeros == 0);
        }

        #[test]
        fn changing_a_digit_of_a_long_number_is_never_equal(
            text in "[1-9][0-9]{17,29}",
            at in 1usize..18,
            bump in 1u8..10,
        ) {
            let mut digits = text.clone().into_bytes();
            digits[at] = b'0' + (digits[at] - b'0' + bump) % 10;
            let changed = String::from_utf8(digits).expect("ASCII");
            // Beyond 2^53, `N.5` is never a double's exact value: no double rendering.
            let (original, copy) = (format!("{text}.5"), format!("{changed}.5"));
            prop_assert!(!by_value(&original, &copy), "{} {}", original, copy);
        }
    }
}
