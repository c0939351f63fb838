//! Invoice line items: reading them, Xero's `LineItemID` rule on update, and computing
//! each line (rounding, discounts, tax).

use rust_decimal::Decimal;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::super::harness::numbers::{decimal, money, round, rounded};

use super::elements::{Field, Messages, amount_field, text_field};
use super::settings::{ACCOUNTS, tax_rate};
use super::state::OrgData;

pub(super) const LINE_AMOUNT_TYPES: &[&str] = &["Exclusive", "Inclusive", "NoTax"];

/// A line item as sent (or as stored).
#[derive(Clone, Default)]
pub(super) struct LineInput {
    id: Option<String>,
    pub(super) description: Option<String>,
    quantity: Option<Decimal>,
    pub(super) unit_amount: Option<Decimal>,
    line_amount: Option<Decimal>,
    tax_amount: Option<Decimal>,
    discount_rate: Option<Decimal>,
    discount_amount: Option<Decimal>,
    pub(super) account_code: Option<String>,
    pub(super) tax_type: Option<String>,
    pub(super) item_code: Option<String>,
}

impl LineInput {
    pub(super) fn parse(raw: &Map<String, Value>, path: &str) -> Result<Self, String> {
        Ok(LineInput {
            id: text_field(raw, "LineItemID", path)?,
            description: text_field(raw, "Description", path)?,
            quantity: amount_field(raw, "Quantity", path)?,
            unit_amount: amount_field(raw, "UnitAmount", path)?,
            line_amount: amount_field(raw, "LineAmount", path)?,
            tax_amount: amount_field(raw, "TaxAmount", path)?,
            discount_rate: amount_field(raw, "DiscountRate", path)?,
            discount_amount: amount_field(raw, "DiscountAmount", path)?,
            account_code: text_field(raw, "AccountCode", path)?,
            tax_type: text_field(raw, "TaxType", path)?,
            item_code: text_field(raw, "ItemCode", path)?,
        })
    }

    /// A stored line as the base of an update. Derived amounts (LineAmount, TaxAmount) are
    /// left out so that they are computed again from the new values.
    pub(super) fn from_stored(stored: &Value) -> Self {
        let text = |key: &str| stored[key].as_str().map(str::to_string);
        LineInput {
            id: text("LineItemID"),
            description: text("Description"),
            quantity: decimal(&stored["Quantity"]),
            unit_amount: decimal(&stored["UnitAmount"]),
            line_amount: None,
            tax_amount: None,
            discount_rate: decimal(&stored["DiscountRate"]),
            discount_amount: decimal(&stored["DiscountAmount"]),
            account_code: text("AccountCode"),
            tax_type: text("TaxType"),
            item_code: text("ItemCode"),
        }
    }

    fn overlay(mut self, given: &LineInput) -> Self {
        let fields = [
            (&mut self.quantity, given.quantity),
            (&mut self.unit_amount, given.unit_amount),
            (&mut self.line_amount, given.line_amount),
            (&mut self.tax_amount, given.tax_amount),
            (&mut self.discount_rate, given.discount_rate),
            (&mut self.discount_amount, given.discount_amount),
        ];
        for (base, given) in fields {
            if given.is_some() {
                *base = given;
            }
        }
        for (base, given) in [
            (&mut self.description, &given.description),
            (&mut self.account_code, &given.account_code),
            (&mut self.tax_type, &given.tax_type),
            (&mut self.item_code, &given.item_code),
        ] {
            if given.is_some() {
                base.clone_from(given);
            }
        }
        self
    }
}

/// A document's lines as stored, and what Xero adds up from them.
pub(super) struct Totals {
    pub(super) lines: Vec<Value>,
    pub(super) sub_total: Decimal,
    pub(super) tax: Decimal,
    pub(super) total: Decimal,
    pub(super) discount: Decimal,
}

impl OrgData {
    /// Builds each line over its item's defaults and adds the lines up as `amount_types`
    /// says; a refused line adds its messages to `errors`.
    pub(super) fn build_lines(
        &self,
        lines: &[LineInput],
        amount_types: &str,
        unitdp: u32,
        errors: &mut Messages,
    ) -> Totals {
        let (mut line_total, mut tax, mut discount) = (Decimal::ZERO, Decimal::ZERO, Decimal::ZERO);
        let mut stored_lines = Vec::new();
        for line in lines {
            let line = self.with_item(line).unwrap_or_else(|m| {
                errors.push(m);
                line.clone()
            });
            match build_line(&line, amount_types, unitdp) {
                Ok((stored, amounts)) => {
                    line_total += amounts.line_amount;
                    tax += amounts.tax;
                    discount += amounts.discount;
                    stored_lines.push(stored);
                }
                Err(mut m) => errors.append(&mut m),
            }
        }
        let (sub_total, total) = match amount_types {
            "Inclusive" => (line_total - tax, line_total),
            _ => (line_total, line_total + tax),
        };
        Totals {
            lines: stored_lines,
            sub_total,
            tax,
            total,
            discount,
        }
    }
}

/// The `LineItems` of an element (`None` when absent or null).
pub(super) fn parse_lines(raw: &Map<String, Value>, path: &str) -> Field<Vec<LineInput>> {
    let items = match raw.get("LineItems") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(items)) => items,
        Some(_) => {
            return Err(format!(
                "Error converting value to type 'List<LineItem>'. Path '{path}.LineItems'"
            ));
        }
    };
    let line = |(i, item): (usize, &Value)| {
        let path = format!("{path}.LineItems[{i}]");
        match item {
            Value::Object(line) => LineInput::parse(line, &path),
            _ => Err(format!(
                "Error converting value to type 'LineItem'. Path '{path}'"
            )),
        }
    };
    items
        .iter()
        .enumerate()
        .map(line)
        .collect::<Result<_, _>>()
        .map(Some)
}

/// Xero's line rule on update: a given line with a known `LineItemID` updates that line,
/// one without (or with an unknown id) is new, and stored lines not named are deleted.
pub(super) fn merge_lines(stored: &Value, given: &[LineInput]) -> Vec<LineInput> {
    let stored: Vec<&Value> = stored["LineItems"]
        .as_array()
        .into_iter()
        .flatten()
        .collect();
    given
        .iter()
        .map(|line| {
            let known = line.id.as_deref().and_then(|id| {
                stored.iter().find(|s| {
                    s["LineItemID"]
                        .as_str()
                        .is_some_and(|s| s.eq_ignore_ascii_case(id))
                })
            });
            match known {
                Some(base) => LineInput::from_stored(base).overlay(line),
                None => LineInput {
                    id: None,
                    ..line.clone()
                },
            }
        })
        .collect()
}

/// Amounts of one computed line.
pub(super) struct LineAmounts {
    pub(super) line_amount: Decimal,
    pub(super) tax: Decimal,
    pub(super) discount: Decimal,
}

/// Validates one line and computes it: UnitAmount rounded to `unitdp`, Quantity to 4 dp,
/// LineAmount = Quantity x UnitAmount less any discount (a given LineAmount must agree to
/// the cent), TaxAmount per line rounded to 2 dp (a given one overrides).
pub(super) fn build_line(
    line: &LineInput,
    amount_types: &str,
    unitdp: u32,
) -> Result<(Value, LineAmounts), Messages> {
    let mut errors = Vec::new();
    let description = line.description.as_deref().filter(|d| !d.trim().is_empty());
    if description.is_none() {
        errors.push("Description needs to be at least 1 char long".to_string());
    }
    // [I] wording of the three "required" messages (the fake requires all three always).
    if line.quantity.is_none() {
        errors.push("Quantity must be specified on every line item".to_string());
    }
    if line.unit_amount.is_none() {
        errors.push("UnitAmount must be specified on every line item".to_string());
    }
    let account = match line.account_code.as_deref() {
        None => {
            errors.push("Account code must be specified on every line item".to_string());
            None
        }
        Some(code) => {
            let account = ACCOUNTS.iter().find(|a| a.0 == code.trim());
            if account.is_none() {
                errors.push(format!(
                    "Account code '{code}' is not a valid code for this document."
                ));
            }
            account
        }
    };
    let tax_type = match (amount_types, line.tax_type.as_deref()) {
        ("NoTax", _) => "NONE".to_string(),
        (_, Some(t)) => {
            if tax_rate(t).is_none() {
                errors.push(format!(
                    "The TaxType code {t} does not exist or cannot be used for this type of transaction."
                ));
            }
            t.to_string()
        }
        (_, None) => account.map_or("NONE", |a| a.2).to_string(),
    };
    let (Some(quantity), Some(unit_amount), Some(account)) =
        (line.quantity, line.unit_amount, account)
    else {
        return Err(errors);
    };
    let quantity = round(quantity, 4);
    let unit_amount = round(unit_amount, unitdp);
    let gross = quantity * unit_amount;
    let expected = match (line.discount_rate, line.discount_amount) {
        (Some(_), Some(_)) => {
            errors.push("Only one of DiscountRate and DiscountAmount may be given".to_string());
            round(gross, 2)
        }
        (Some(rate), None) => {
            if rate < Decimal::ZERO || rate > Decimal::ONE_HUNDRED {
                errors.push(format!("The discount rate '{}' is invalid.", fixed2(rate)));
            }
            round(
                gross * (Decimal::ONE_HUNDRED - rate) / Decimal::ONE_HUNDRED,
                2,
            )
        }
        (None, Some(amount)) => round(gross - amount, 2),
        (None, None) => round(gross, 2),
    };
    if let Some(given) = line.line_amount
        && round(given, 2) != expected
    {
        errors.push(format!(
            "The line total {} does not match the expected line total {}",
            fixed2(given),
            fixed2(expected)
        ));
    }
    let rate = tax_rate(&tax_type).unwrap_or_default();
    let tax = match (amount_types, line.tax_amount) {
        ("NoTax", _) => Decimal::ZERO,
        (_, Some(given)) => round(given, 2),
        ("Inclusive", None) => round(expected * rate / (Decimal::ONE_HUNDRED + rate), 2),
        _ => round(expected * rate / Decimal::ONE_HUNDRED, 2),
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    let mut stored = json!({
        "LineItemID": line.id.clone().unwrap_or_else(|| Uuid::new_v4().to_string()),
        "Description": description, "Quantity": rounded(quantity, 4),
        "UnitAmount": rounded(unit_amount, unitdp), "AccountCode": account.0,
        "AccountID": account.3, "TaxType": tax_type, "TaxAmount": money(tax),
        "LineAmount": money(expected), "Tracking": [],
    });
    if let Some(rate) = line.discount_rate {
        stored["DiscountRate"] = money(rate);
    }
    if let Some(amount) = line.discount_amount {
        stored["DiscountAmount"] = money(amount);
    }
    if let Some(code) = &line.item_code {
        stored["ItemCode"] = json!(code);
    }
    let amounts = LineAmounts {
        line_amount: expected,
        tax,
        discount: round(gross, 2) - expected,
    };
    Ok((stored, amounts))
}

/// `2` decimal places of text (`40.00`), for messages.
fn fixed2(d: Decimal) -> String {
    let mut d = round(d, 2);
    d.rescale(2);
    d.to_string()
}
