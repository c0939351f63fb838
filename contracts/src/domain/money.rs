//! Money amounts: how a JSON value becomes an exact [`Decimal`].
//!
//! Money is never a binary floating-point value anywhere in erp-sync. Amounts arrive either
//! as JSON strings (the exact form, and the one senders should prefer) or as JSON numbers,
//! and both become a `rust_decimal::Decimal` that keeps the scale it was written with
//! (`"12.00"` stays `12.00`, so it is sent on as `"12.00"`).
//!
//! The rules, in one place:
//!
//! - A **string** must be plain decimal text following the JSON number grammar without an
//!   exponent: an optional `-`, an integer part (`0` or digits without a leading zero), and
//!   optionally `.` followed by at least one digit. So `"12.00"`, `"-3.5"`, `"0.001"` and
//!   `"0"` are accepted; `""`, `" 12"`, `"12."`, `".5"`, `"+5"`, `"007"`, `"1,000"`,
//!   `"1_000"`, `"1e2"` and `"NaN"` are refused. Refusing `".5"` and `"12."` keeps one rule:
//!   a string amount is exactly what the same amount would look like as a JSON number.
//! - A **number** is read from the text `serde_json` gives for it (its `Display`), never
//!   through a floating-point type in our code. Integers are exact. A number with a fraction
//!   or an exponent has already been decoded by `serde_json` into a binary double, so only
//!   about 15 significant digits survive and trailing zeros are lost (`12.00` arrives as
//!   `12.0`, `1e2` as `100.0`). Worse, the sender's own JSON encoder may have rounded it
//!   before it was ever sent. Strings are the exact form.
//! - At most 28 significant digits (counting every digit of the coefficient, trailing zeros
//!   included, leading zeros not) and at most 28 decimal places; anything else is refused
//!   rather than rounded.
//! - Negative zero becomes zero.
//!
//! Booleans, `null`, objects and arrays are refused with the same kind of message. Every
//! refusal is a short sentence meant to follow a field name, e.g. `total must be a decimal
//! amount such as "12.00" (got "abc")`.

use rust_decimal::{Decimal, Error as DecimalError};
use serde_json::{Number, Value};

/// The most significant digits (and decimal places) an amount may have.
pub const MAX_DIGITS: u32 = 28;

/// How much of a refused string is echoed back in an error message.
const ECHO_LIMIT: usize = 32;

/// Reads one money amount from a JSON value, exactly.
///
/// Exists so every amount in an invoice (line amounts, quantities, prices, totals) is
/// parsed by the same rules; see the module documentation for them. JSON numbers with more
/// than 15 significant digits may have been rounded by the sender's JSON encoder before we
/// ever saw them; strings are the exact form.
///
/// The error is a short human message without the field name, such as
/// `must be a decimal amount such as "12.00" (got "abc")`.
pub fn parse_amount(v: &Value) -> Result<Decimal, String> {
    let parsed = match v {
        Value::String(s) => parse_string(s)?,
        Value::Number(n) => parse_number(n)?,
        Value::Bool(b) => return Err(expected(&b.to_string())),
        Value::Null => return Err(expected("null")),
        Value::Array(_) => return Err(expected("an array")),
        Value::Object(_) => return Err(expected("an object")),
    };
    let digits = digit_count(parsed.mantissa().unsigned_abs());
    if digits > MAX_DIGITS {
        return Err(format!(
            "must have at most {MAX_DIGITS} significant digits (got {digits} in {})",
            echo_value(v)
        ));
    }
    Ok(without_negative_zero(parsed))
}

/// Parses the exact string form; see the module documentation for the grammar.
fn parse_string(s: &str) -> Result<Decimal, String> {
    if s.is_empty() {
        return Err(expected("an empty string"));
    }
    if !is_plain_decimal(s) {
        return Err(expected(&echo_str(s)));
    }
    let scale = s.split_once('.').map_or(0, |(_, fraction)| fraction.len());
    if scale > MAX_DIGITS as usize {
        return Err(too_many_places(&echo_str(s)));
    }
    Decimal::from_str_exact(s).map_err(|e| out_of_range(&e, &echo_str(s)))
}

/// Parses a JSON number from its `Display` text, which is either plain (`12`, `12.5`) or
/// scientific (`1e-7`, `1.2345678901234568e+28`).
fn parse_number(n: &Number) -> Result<Decimal, String> {
    let text = n.to_string();
    match text.split_once(['e', 'E']) {
        None => Decimal::from_str_exact(&text).map_err(|e| out_of_range(&e, &text)),
        Some((coefficient, exponent)) => {
            // `from_scientific` parses the coefficient leniently (rounding long ones), so
            // check it is exact first; the exponent is then applied without rounding.
            Decimal::from_str_exact(coefficient).map_err(|e| out_of_range(&e, &text))?;
            // It reports any exponent beyond 28 as a precision problem; which one it is
            // depends on the exponent's sign.
            Decimal::from_scientific(&text).map_err(|_| {
                if exponent.starts_with('-') {
                    too_many_places(&text)
                } else {
                    too_large(&text)
                }
            })
        }
    }
}

/// `-?(0|[1-9][0-9]*)(\.[0-9]+)?` — the JSON number grammar without an exponent.
fn is_plain_decimal(s: &str) -> bool {
    let unsigned = s.strip_prefix('-').unwrap_or(s);
    let (integer, fraction) = match unsigned.split_once('.') {
        Some((integer, fraction)) => (integer, Some(fraction)),
        None => (unsigned, None),
    };
    let all_digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    let integer_ok = all_digits(integer) && (integer == "0" || !integer.starts_with('0'));
    integer_ok && fraction.is_none_or(all_digits)
}

/// Number of decimal digits in a coefficient (zero has one digit).
fn digit_count(mut n: u128) -> u32 {
    let mut digits = 1;
    while n >= 10 {
        n /= 10;
        digits += 1;
    }
    digits
}

/// `-0.00` means `0.00`; keep one spelling so equal invoices serialize (and hash) equally.
fn without_negative_zero(mut d: Decimal) -> Decimal {
    if d.is_zero() {
        d.set_sign_positive(true);
    }
    d
}

fn expected(got: &str) -> String {
    format!("must be a decimal amount such as \"12.00\" (got {got})")
}

fn too_many_places(got: &str) -> String {
    format!("must have at most {MAX_DIGITS} decimal places (got {got})")
}

/// Maps a `rust_decimal` refusal to our message: too many places, or simply too large.
fn out_of_range(e: &DecimalError, got: &str) -> String {
    match e {
        DecimalError::Underflow | DecimalError::ScaleExceedsMaximumPrecision(_) => {
            too_many_places(got)
        }
        _ => too_large(got),
    }
}

fn too_large(got: &str) -> String {
    format!("is too large to be an amount (got {got})")
}

/// A string quoted for a message, shortened so a huge value cannot flood the response.
fn echo_str(s: &str) -> String {
    let mut shown: String = s.chars().take(ECHO_LIMIT).collect();
    if shown.len() < s.len() {
        shown.push('…');
    }
    format!("{shown:?}")
}

fn echo_value(v: &Value) -> String {
    match v {
        Value::String(s) => echo_str(s),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn amount(v: Value) -> Decimal {
        match parse_amount(&v) {
            Ok(d) => d,
            Err(e) => panic!("{v} should parse, got error: {e}"),
        }
    }

    fn refusal(v: Value) -> String {
        match parse_amount(&v) {
            Ok(d) => panic!("{v} should be refused, got {d}"),
            Err(e) => e,
        }
    }

    /// A JSON number as `serde_json` reads it from this text (not as `json!` builds it).
    fn number(text: &str) -> Value {
        serde_json::from_str(text).expect("test JSON")
    }

    #[test]
    fn strings_keep_their_scale() {
        assert_eq!(amount(json!("12.00")).to_string(), "12.00");
        assert_eq!(amount(json!("-3.5")).to_string(), "-3.5");
        assert_eq!(amount(json!("0.001")).to_string(), "0.001");
        assert_eq!(amount(json!("0")).to_string(), "0");
        assert_eq!(amount(json!("12000")).to_string(), "12000");
    }

    #[test]
    fn numbers_are_read_from_their_text() {
        assert_eq!(amount(json!(12)).to_string(), "12");
        assert_eq!(amount(json!(-12)).to_string(), "-12");
        let from_text = |t: &str| amount(number(t));
        assert_eq!(from_text("12.99").to_string(), "12.99");
        assert_eq!(from_text("0.1"), amount(json!("0.1")));
        // A double cannot remember trailing zeros: 12.00 arrives as 12.0.
        assert_eq!(from_text("12.00").to_string(), "12.0");
        assert_eq!(from_text("1e2"), Decimal::from(100));
        assert_eq!(from_text("1E+2"), Decimal::from(100));
        assert_eq!(from_text("0.0000001").to_string(), "0.0000001");
        assert_eq!(
            from_text("18446744073709551615").to_string(),
            "18446744073709551615"
        );
    }

    #[test]
    fn negative_zero_becomes_zero() {
        let from_text = |t: &str| amount(number(t));
        assert!(!from_text("-0.0").is_sign_negative());
        assert!(!amount(json!("-0.00")).is_sign_negative());
        assert_eq!(amount(json!("-0.00")).to_string(), "0.00");
    }

    #[test]
    fn malformed_strings_are_refused() {
        for bad in [
            "abc", " 12", "12 ", "NaN", "inf", "1,000", "1_000", "12.", ".5", "+5", "007", "1e2",
            "--1", "-", "1.2.3", "0x10", "١٢",
        ] {
            let e = refusal(json!(bad));
            assert!(
                e.starts_with("must be a decimal amount such as \"12.00\" (got \""),
                "{bad:?}: {e}"
            );
        }
        assert_eq!(
            refusal(json!("abc")),
            "must be a decimal amount such as \"12.00\" (got \"abc\")"
        );
        assert_eq!(
            refusal(json!("")),
            "must be a decimal amount such as \"12.00\" (got an empty string)"
        );
    }

    #[test]
    fn other_json_types_are_refused() {
        assert!(refusal(json!(true)).ends_with("(got true)"));
        assert!(refusal(json!(null)).ends_with("(got null)"));
        assert!(refusal(json!({"amount": "1"})).ends_with("(got an object)"));
        assert!(refusal(json!(["1"])).ends_with("(got an array)"));
    }

    #[test]
    fn at_most_28_significant_digits() {
        let ok = "1234567890123456789012345678"; // 28 digits
        assert_eq!(amount(json!(ok)).to_string(), ok);
        assert_eq!(
            amount(json!("0.0000000000000000000000000001")).to_string(),
            "0.0000000000000000000000000001"
        );
        let e = refusal(json!("12345678901234567890123456789")); // 29 digits
        assert!(e.contains("at most 28 significant digits"), "{e}");
        let e = refusal(json!("1.0000000000000000000000000000")); // 29 digits
        assert!(e.contains("at most 28 significant digits"), "{e}");
        let e = refusal(json!("0.00000000000000000000000000001")); // 29 places
        assert!(e.contains("at most 28 decimal places"), "{e}");
        let e = refusal(json!("99999999999999999999999999999999"));
        assert!(
            e.contains("at most 28 significant digits") || e.contains("too large"),
            "{e}"
        );
    }

    #[test]
    fn huge_or_tiny_numbers_are_refused() {
        let from_text = |t: &str| refusal(number(t));
        assert!(from_text("1e30").contains("too large"));
        assert!(from_text("1.5e-300").contains("decimal places"));
        // 29 digits once the double is written out in full.
        assert!(from_text("12345678901234567890123456789").contains("significant digits"));
    }

    #[test]
    fn long_strings_are_shortened_in_messages() {
        let long = "x".repeat(10_000);
        let e = refusal(json!(long));
        assert!(e.len() < 100, "{e}");
        assert!(e.contains('…'));
    }
}
