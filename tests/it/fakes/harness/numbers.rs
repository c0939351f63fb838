//! Decimals in and out of JSON without float arithmetic: amounts are read from a number's
//! text and written back as numbers. How many places a vendor keeps, and where, is the
//! fake's to say.

use std::str::FromStr;

use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::Value;

/// A JSON number as a decimal, read from its text (never through float arithmetic).
pub fn decimal(value: &Value) -> Option<Decimal> {
    let Value::Number(n) = value else {
        return None;
    };
    let text = n.to_string();
    Decimal::from_str(&text)
        .or_else(|_| Decimal::from_scientific(&text))
        .ok()
}

/// Rounds to `dp` places, half away from zero.
pub fn round(d: Decimal, dp: u32) -> Decimal {
    d.round_dp_with_strategy(dp, RoundingStrategy::MidpointAwayFromZero)
}

/// A decimal rounded to `dp` places as a JSON number with at least one decimal (`40.0`,
/// `0.3333`).
pub fn rounded(d: Decimal, dp: u32) -> Value {
    let d = round(d, dp).normalize();
    let text = if d.scale() == 0 {
        format!("{d}.0")
    } else {
        d.to_string()
    };
    serde_json::from_str(&text).expect("a decimal is a JSON number")
}

/// A money amount: 2 decimal places, as a JSON number with at least one (`150.0`).
pub fn money(d: Decimal) -> Value {
    rounded(d, 2)
}

/// A decimal as a JSON number without forced decimals (`20`, `7.1`, `1.085`).
pub fn plain(d: Decimal) -> Value {
    serde_json::from_str(&d.normalize().to_string()).expect("a decimal is a JSON number")
}
