//! Property tests: rules that must hold for *every* input, not just the examples a person
//! thought of. proptest generates hundreds of inputs per property and, when one fails,
//! shrinks it to the smallest input that still fails, so a report reads like a unit test.
//!
//! Three public surfaces are covered, each through the same functions the server uses:
//!
//! - **Money and totals** ([`erp_sync::domain::parse_invoice`]): a balanced invoice always
//!   validates and keeps every amount exactly as written; any change to one total, or to
//!   one line, is refused with an error naming the field that no longer adds up.
//! - **The retry schedule** ([`erp_sync::sync::retry::RetryPolicy`]): never more than three
//!   retries, each delay inside its ±20 % jitter band, later retries never sooner than
//!   earlier ones, and `Retry-After` a floor that is itself capped.
//! - **The signature header** ([`erp_sync::crypto::signature`]): what we sign verifies
//!   with each secret it was signed with, and changing any byte of the body or of the
//!   header (other than the letter case of the hex) makes it fail.
//!
//! Inputs that once broke a property are kept as plain `#[test]`s at the end of each
//! section, so they run on every CI build even if the generator stops producing them.

use std::time::Duration;

use erp_sync::crypto::signature::{SignatureError, sign, verify};
use erp_sync::domain::money::parse_amount;
use erp_sync::domain::{InvoiceError, parse_invoice};
use erp_sync::sync::retry::RetryPolicy;
use proptest::prelude::*;
use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::support::{invoice, string};

// ---------------------------------------------------------------------------------------
// Money and totals
// ---------------------------------------------------------------------------------------

/// An amount in cents written as the exact string form with two places (`"-12.05"`).
fn cents_text(cents: i64) -> String {
    Decimal::new(cents, 2).to_string()
}

/// Cents large enough to exercise big sums, small enough that eight of them fit in an
/// amount (28 digits) with room to spare.
fn cents() -> impl Strategy<Value = i64> {
    prop_oneof![-10_000i64..10_000, -1_000_000_000_000i64..1_000_000_000_000]
}

/// A balanced invoice: each line has an amount and a tax amount, and the totals are their
/// exact sums. Returns the JSON body.
fn balanced(lines: &[(i64, i64)]) -> Value {
    let mut body = invoice("inv_prop");
    let subtotal: i64 = lines.iter().map(|(a, _)| a).sum();
    let tax: i64 = lines.iter().map(|(_, t)| t).sum();
    body["lines"] = lines
        .iter()
        .enumerate()
        .map(|(i, (amount, tax))| {
            json!({"id": format!("li_{i}"), "type": "CHARGE", "description": "x",
                   "amount": cents_text(*amount), "tax_amount": cents_text(*tax)})
        })
        .collect();
    body["subtotal"] = json!(cents_text(subtotal));
    body["tax_total"] = json!(cents_text(tax));
    body["total"] = json!(cents_text(subtotal + tax));
    body
}

/// The fields named in an `Invalid` answer; panics on any other outcome.
fn refused_fields(body: &Value) -> Vec<(String, String)> {
    match parse_invoice(body.to_string().as_bytes()) {
        Err(InvoiceError::Invalid(errors)) => {
            errors.into_iter().map(|e| (e.field, e.message)).collect()
        }
        other => panic!("expected the invoice to be refused as invalid, got {other:?}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// A balanced invoice validates, and every amount comes back exactly as written
    /// (same value and same scale: `"12.00"` stays `"12.00"`).
    #[test]
    fn a_balanced_invoice_validates_and_keeps_every_amount(
        lines in prop::collection::vec((cents(), cents()), 1..8)
    ) {
        let body = balanced(&lines);
        let parsed = parse_invoice(body.to_string().as_bytes())
            .unwrap_or_else(|e| panic!("a balanced invoice was refused: {e}\n{body}"));
        for (line, (amount, tax)) in parsed.lines.iter().zip(&lines) {
            prop_assert_eq!(line.amount.to_string(), cents_text(*amount));
            prop_assert_eq!(line.tax_amount.map(|t| t.to_string()), Some(cents_text(*tax)));
        }
        prop_assert_eq!(parsed.subtotal.to_string(), string(&body["subtotal"]));
        prop_assert_eq!(parsed.tax_total.to_string(), string(&body["tax_total"]));
        prop_assert_eq!(parsed.total.to_string(), string(&body["total"]));
    }

    /// Changing one total by any amount, however small, is refused, and the refusal names
    /// that total (amounts are compared exactly, with no tolerance).
    #[test]
    fn any_change_to_a_total_is_refused_naming_it(
        lines in prop::collection::vec((cents(), cents()), 1..6),
        which in 0usize..3,
        delta in prop_oneof![Just(1i64), Just(-1i64), -1_000_000i64..1_000_000],
    ) {
        prop_assume!(delta != 0);
        let mut body = balanced(&lines);
        let field = ["subtotal", "tax_total", "total"][which];
        let was: Decimal = string(&body[field]).parse().unwrap();
        body[field] = json!((was + Decimal::new(delta, 2)).to_string());
        let refused = refused_fields(&body);
        prop_assert!(
            refused.iter().any(|(f, m)| f == field && !m.is_empty()),
            "changing {} by {} cents was refused with {:?}", field, delta, refused
        );
    }

    /// Changing one line's amount (or tax amount) is refused, naming the total the lines
    /// no longer add up to.
    #[test]
    fn any_change_to_a_line_is_refused_naming_the_total_it_breaks(
        lines in prop::collection::vec((cents(), cents()), 1..6),
        index in any::<prop::sample::Index>(),
        tax in any::<bool>(),
        delta in -1_000_000i64..1_000_000,
    ) {
        prop_assume!(delta != 0);
        let mut body = balanced(&lines);
        let i = index.index(lines.len());
        let (key, total) = if tax { ("tax_amount", "tax_total") } else { ("amount", "subtotal") };
        let was: Decimal = string(&body["lines"][i][key]).parse().unwrap();
        body["lines"][i][key] = json!((was + Decimal::new(delta, 2)).to_string());
        let refused = refused_fields(&body);
        prop_assert!(
            refused.iter().any(|(f, _)| f == total),
            "changing lines[{}].{} was refused with {:?}", i, key, refused
        );
    }

    /// Lines priced in fractions of a cent that add up exactly to a whole-cent subtotal
    /// validate: nothing is rounded on the way, so no cent appears or disappears.
    #[test]
    fn fractional_lines_that_sum_exactly_validate(
        parts in prop::collection::vec(-10_000_000i64..10_000_000, 1..7),
        scale in 3u32..9,
        subtotal_cents in -1_000_000i64..1_000_000,
    ) {
        let mut amounts: Vec<Decimal> = parts.iter().map(|p| Decimal::new(*p, scale)).collect();
        let rest: Decimal = amounts.iter().sum();
        let subtotal = Decimal::new(subtotal_cents, 2);
        amounts.push(subtotal - rest);
        let mut body = invoice("inv_frac");
        body["lines"] = amounts
            .iter()
            .enumerate()
            .map(|(i, a)| json!({"id": format!("li_{i}"), "type": "USAGE_FEE", "amount": a.to_string()}))
            .collect();
        body["subtotal"] = json!(subtotal.to_string());
        body["tax_total"] = json!("0.00");
        body["total"] = json!(subtotal.to_string());
        let parsed = parse_invoice(body.to_string().as_bytes())
            .unwrap_or_else(|e| panic!("exact fractional lines were refused: {e}\n{body}"));
        let back: Decimal = parsed.lines.iter().map(|l| l.amount).sum();
        prop_assert_eq!(back, subtotal);
        for (line, written) in parsed.lines.iter().zip(&amounts) {
            prop_assert_eq!(line.amount, *written);
            prop_assert_eq!(line.amount.scale(), written.scale());
        }
    }

    /// Any plain decimal string of at most 28 digits reads back character for character;
    /// a JSON integer reads back as the same integer.
    #[test]
    fn amounts_never_lose_precision(
        text in "-?(0|[1-9][0-9]{0,13})(\\.[0-9]{1,14})?",
        integer in any::<i64>(),
    ) {
        let parsed = parse_amount(&json!(text)).expect("a plain decimal string parses");
        let negative_zero = text.starts_with('-') && parsed.is_zero();
        let expected = if negative_zero { text[1..].to_string() } else { text.clone() };
        prop_assert_eq!(parsed.to_string(), expected);
        prop_assert_eq!(parse_amount(&json!(integer)).unwrap(), Decimal::from(integer));
    }

    /// Text that is not a plain decimal (signs, spaces, exponents, separators around a
    /// valid amount) is refused, never half-read.
    #[test]
    fn decorated_amounts_are_refused(
        core in "(0|[1-9][0-9]{0,6})(\\.[0-9]{1,4})?",
        decoration in prop::sample::select(vec![
            ("+", ""), (" ", ""), ("", " "), ("", "e2"), ("", "."), ("0", ""),
            ("", ",000"), ("$", ""), ("", "\u{0}"), ("--", ""),
        ]),
    ) {
        let (before, after) = decoration;
        let text = format!("{before}{core}{after}");
        // "0" in front of "0.5" or of "12" makes a leading zero; "0" + "0" would be "00".
        prop_assert!(parse_amount(&json!(text)).is_err(), "{:?} was accepted", text);
    }
}

// ---------------------------------------------------------------------------------------
// The retry schedule
// ---------------------------------------------------------------------------------------

fn policy(base_ms: u64, cap_s: u64) -> RetryPolicy {
    RetryPolicy {
        base: Duration::from_millis(base_ms),
        max_retries: 3,
        max_retry_after: Duration::from_secs(cap_s),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Attempts 1 to 3 get a delay of base·2^(attempt-1) within ±20 %; attempt 4 and
    /// later (and the meaningless attempt 0) get none: at most three retries, ever.
    #[test]
    fn three_retries_each_within_its_jitter_band(
        base_ms in 1u64..3_600_000,
        attempt in 0u32..10,
    ) {
        let p = policy(base_ms, 86_400);
        let delay = p.next_delay(attempt, None);
        if !(1..=3).contains(&attempt) {
            prop_assert_eq!(delay, None);
        } else {
            let nominal = Duration::from_millis(base_ms) * (1 << (attempt - 1));
            let d = delay.expect("a retry is due");
            prop_assert!(d >= nominal * 8 / 10 && d <= nominal * 12 / 10,
                "attempt {} of base {} ms waited {:?}", attempt, base_ms, d);
        }
    }

    /// Whatever the jitter draws, a later retry never comes sooner than an earlier one
    /// (doubling beats the widest jitter spread: 2 × 0.8 > 1.2).
    #[test]
    fn later_retries_never_come_sooner(
        base_ms in 1u64..3_600_000,
        j1 in 800u32..=1200, j2 in 800u32..=1200, j3 in 800u32..=1200,
    ) {
        let p = policy(base_ms, 86_400);
        let d1 = p.next_delay_with(1, None, j1).unwrap();
        let d2 = p.next_delay_with(2, None, j2).unwrap();
        let d3 = p.next_delay_with(3, None, j3).unwrap();
        prop_assert!(d1 <= d2 && d2 <= d3, "{:?} {:?} {:?}", d1, d2, d3);
        prop_assert_eq!(p.next_delay_with(4, None, j1), None);
    }

    /// `Retry-After` is a floor: the delay is never shorter than it asks (up to the cap),
    /// and a huge one is capped, so a hostile endpoint cannot park a job forever.
    #[test]
    fn retry_after_is_a_capped_floor(
        base_ms in 1u64..600_000,
        cap_s in 1u64..172_800,
        attempt in 1u32..=3,
        retry_after_s in prop_oneof![0u64..600, 0u64..u64::MAX / 4],
        jitter in 800u32..=1200,
    ) {
        let p = policy(base_ms, cap_s);
        let asked = Duration::from_secs(retry_after_s);
        let d = p.next_delay_with(attempt, Some(asked), jitter).unwrap();
        let backoff = p.next_delay_with(attempt, None, jitter).unwrap();
        let cap = Duration::from_secs(cap_s);
        prop_assert!(d >= asked.min(cap), "asked {:?}, capped at {:?}, waited {:?}", asked, cap, d);
        prop_assert!(d >= backoff);
        prop_assert!(d <= backoff.max(cap), "waited {:?}, beyond both backoff and cap", d);
        prop_assert_eq!(p.next_delay_with(4, Some(asked), jitter), None);
    }
}

// ---------------------------------------------------------------------------------------
// The signature header
// ---------------------------------------------------------------------------------------

/// A timestamp, a body of `body_len` bytes and a secret to sign it with.
fn signed(body_len: std::ops::Range<usize>) -> impl Strategy<Value = (i64, Vec<u8>, Vec<u8>)> {
    (
        0i64..4_000_000_000,
        prop::collection::vec(any::<u8>(), body_len),
        prop::collection::vec(any::<u8>(), 1..64),
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// A signed body verifies with every secret it was signed with (a rotation sends
    /// one `v1` per secret), at any time within the tolerance.
    #[test]
    fn sign_then_verify_round_trips(
        t in 0i64..4_000_000_000,
        body in prop::collection::vec(any::<u8>(), 0..512),
        secrets in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..64), 1..3),
        skew in -300i64..=300,
    ) {
        let refs: Vec<&[u8]> = secrets.iter().map(Vec::as_slice).collect();
        let header = sign(t, &body, &refs);
        for secret in &secrets {
            prop_assert_eq!(verify(&header, &body, secret, t + skew, 300), Ok(()));
        }
        prop_assert_eq!(
            verify(&header, &body, &secrets[0], t + 301, 300),
            Err(SignatureError::OutsideTolerance(301))
        );
    }

    /// Changing any one byte of the body makes the signature fail.
    #[test]
    fn any_body_byte_changed_fails(
        (t, body, secret) in signed(1..512),
        index in any::<prop::sample::Index>(),
        flip in 1u8..=255,
    ) {
        let header = sign(t, &body, &[&secret]);
        let mut tampered = body.clone();
        let i = index.index(body.len());
        tampered[i] ^= flip;
        prop_assert_eq!(verify(&header, &tampered, &secret, t, 300), Err(SignatureError::Mismatch));
    }

    /// Changing any one byte of the header makes it fail, unless the change only flips
    /// the letter case of a hex digit (hex is case-insensitive, the value is the same).
    #[test]
    fn any_header_byte_changed_fails(
        (t, body, secret) in signed(0..256),
        index in any::<prop::sample::Index>(),
        replacement in any::<u8>(),
    ) {
        let header = sign(t, &body, &[&secret]);
        let mut bytes = header.clone().into_bytes();
        let i = index.index(bytes.len());
        prop_assume!(bytes[i] != replacement);
        bytes[i] = replacement;
        let tampered = String::from_utf8_lossy(&bytes).into_owned();
        let same_value = tampered.eq_ignore_ascii_case(&header) && i > header.find("v1=").unwrap();
        let outcome = verify(&tampered, &body, &secret, t, 300);
        if same_value {
            prop_assert_eq!(outcome, Ok(()));
        } else {
            prop_assert!(outcome.is_err(), "{:?} verified after changing byte {}", tampered, i);
        }
    }

    /// Another secret never verifies. Secrets are text (HMAC pads short keys with zero
    /// bytes, so raw keys `[1]` and `[1, 0]` would be the same key; text secrets never
    /// end in NUL).
    #[test]
    fn another_secret_fails(
        body in prop::collection::vec(any::<u8>(), 0..256),
        secret in "[!-~]{16,64}",
        other in "[!-~]{16,64}",
    ) {
        prop_assume!(secret != other);
        let header = sign(1_700_000_000, &body, &[secret.as_bytes()]);
        prop_assert_eq!(
            verify(&header, &body, other.as_bytes(), 1_700_000_000, 300),
            Err(SignatureError::Mismatch)
        );
    }
}
