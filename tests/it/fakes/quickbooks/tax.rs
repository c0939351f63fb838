//! Sales tax: the US model (`TAX`/`NON` on lines, the request's `TotalTax`) and the global
//! model (a `TaxCode` per line, QBO computing the tax per `GlobalTaxCalculation`).

use rust_decimal::Decimal;
use serde_json::{Map, Value, json};

use super::super::harness::numbers::{decimal, money, plain};

use super::answers::{
    Answer, business, invalid_enumeration, invalid_reference, required, unsupported_property,
};
use super::fields::{amount_field, cents, ref_id};
use super::invoices::Lines;
use super::state::Company;

impl Company {
    /// The invoice's tax model. US companies: [`TaxMode::Us`], whatever the request says
    /// (a `GlobalTaxCalculation` sent to a US company is stored as sent and changes
    /// nothing [I]). Others: `GlobalTaxCalculation`, which Intuit documents as "Not
    /// applicable to US companies; required for non-US companies" with "Default:
    /// TaxExcluded" (Bill reference); [I] absent means `TaxExcluded`. Another value is
    /// refused with 2170.
    pub(super) fn tax_mode(&self, input: &Map<String, Value>) -> Result<TaxMode, Answer> {
        if self.is_us() {
            return Ok(TaxMode::Us);
        }
        match input.get("GlobalTaxCalculation") {
            None | Some(Value::Null) => Ok(TaxMode::Excluded),
            Some(Value::String(s)) if s == "TaxExcluded" => Ok(TaxMode::Excluded),
            Some(Value::String(s)) if s == "TaxInclusive" => Ok(TaxMode::Inclusive),
            Some(Value::String(s)) if s == "NotApplicable" => Ok(TaxMode::NotApplicable),
            Some(Value::String(s)) => Err(invalid_enumeration("GlobalTaxCalculation", s)),
            Some(other) => Err(invalid_enumeration(
                "GlobalTaxCalculation",
                &other.to_string(),
            )),
        }
    }

    /// The tax of a non-US invoice under `TaxExcluded` or `TaxInclusive`: a `TxnTaxDetail`
    /// with one `TaxLine` per rate and `TotalTax`, computed from the lines' codes (Intuit,
    /// non-US sales tax: "When creating or updating sales transactions, QuickBooks Online
    /// automatically calculates tax and returns the amount in the TxnTaxDetail.TotalTax
    /// attribute of the transaction based on the TaxCode assigned to each line").
    ///
    /// - `TaxExcluded`: per rate, `NetAmountTaxable` is the sum of its lines' amounts
    ///   (Intuit, TaxLineDetail: "If TaxRate is applicable on two lines, the taxableamount
    ///   represents total of the two lines"), and the tax that sum times the rate, rounded to
    ///   the cent once per rate [I] (half away from zero [I]).
    /// - `TaxInclusive`: each line's tax is rounded on its own (Intuit: with TaxInclusive
    ///   "the pre-tax transaction amount is the sum of pre-tax amounts rounded off per
    ///   line"), see [`Company::sales_line`].
    /// - Discounts: with `ApplyTaxAfterDiscount` false or absent the tax is on the amounts
    ///   before discount (Intuit: "If false or null, calculate the sales tax first, and then
    ///   apply the discount"); with true, [I] each rate's base loses its share of the
    ///   discount.
    /// - Override: a request `TxnTaxDetail` with `TaxLine`s replaces the computed amounts
    ///   (Intuit: the detail "can be calculated by QuickBooks business logic or you may
    ///   supply it"; an override sends `TotalTax` and one `TaxLine` per rate, and "You must
    ///   send all TaxRateRefs of a TaxCode even if you are modifying just one of them").
    ///   [I] `TotalTax` is then the sum of the supplied lines; a line naming a rate the
    ///   invoice does not use is refused (2500), an override leaving out a rate too (6000).
    /// - [I] A `TxnTaxDetail` with a `TotalTax` and no `TaxLine` (what a US-minded connector
    ///   sends) is ignored: the computed tax stands, so such a connector's totals differ
    ///   from its own. Intuit documents no override without tax lines, and integrators
    ///   report QBO Canada "does not honour a header-only TotalTax" [S].
    pub(super) fn global_tax(
        &self,
        input: &Map<String, Value>,
        lines: &Lines,
        mode: TaxMode,
    ) -> Result<(Value, Decimal), Answer> {
        struct RateTotal {
            rate_id: String,
            percent: Decimal,
            base: Decimal,
            tax: Decimal,
        }
        let mut totals: Vec<RateTotal> = Vec::new();
        for line in &lines.taxed {
            let index = match totals.iter().position(|t| t.rate_id == line.rate_id) {
                Some(index) => index,
                None => {
                    totals.push(RateTotal {
                        rate_id: line.rate_id.clone(),
                        percent: line.percent,
                        base: Decimal::ZERO,
                        tax: Decimal::ZERO,
                    });
                    totals.len() - 1
                }
            };
            let total = &mut totals[index];
            total.base += line.net;
            if mode == TaxMode::Inclusive {
                total.tax += line
                    .inclusive_tax
                    .unwrap_or_else(|| cents(line.net * line.percent / Decimal::ONE_HUNDRED));
            }
        }
        if mode == TaxMode::Excluded {
            let after_discount = input.get("ApplyTaxAfterDiscount") == Some(&Value::Bool(true));
            for total in &mut totals {
                if after_discount
                    && lines.discount > Decimal::ZERO
                    && lines.subtotal > Decimal::ZERO
                {
                    total.base -= cents(lines.discount * total.base / lines.subtotal);
                }
                total.tax = cents(total.base * total.percent / Decimal::ONE_HUNDRED);
            }
        }
        let supplied = match input.get("TxnTaxDetail") {
            None | Some(Value::Null) => None,
            Some(Value::Object(detail)) => detail
                .get("TaxLine")
                .and_then(Value::as_array)
                .filter(|tax_lines| !tax_lines.is_empty()),
            Some(_) => return Err(unsupported_property("TxnTaxDetail", "not an object")),
        };
        if let Some(supplied) = supplied {
            let element = "TxnTaxDetail.TaxLine.TaxLineDetail.TaxRateRef";
            let mut overridden = Vec::new();
            for tax_line in supplied {
                let tax_line = tax_line
                    .as_object()
                    .ok_or_else(|| unsupported_property("TxnTaxDetail.TaxLine", "not an object"))?;
                let amount = amount_field(tax_line, "TxnTaxDetail.TaxLine.Amount")?
                    .ok_or_else(|| required("TxnTaxDetail.TaxLine.Amount"))?;
                let rate_id = ref_id(
                    tax_line
                        .get("TaxLineDetail")
                        .and_then(|d| d.get("TaxRateRef")),
                )
                .ok_or_else(|| required(element))?;
                let Some(total) = totals.iter_mut().find(|t| t.rate_id == rate_id) else {
                    return Err(invalid_reference(element, "TaxRate", &rate_id));
                };
                total.tax = amount;
                overridden.push(rate_id);
            }
            if let Some(missing) = totals.iter().find(|t| !overridden.contains(&t.rate_id)) {
                return Err(business(&format!(
                    "You must send all TaxRateRefs of a TaxCode even if you are modifying just one of them. TaxRate {} is missing.",
                    missing.rate_id
                )));
            }
        }
        let total_tax: Decimal = totals.iter().map(|t| t.tax).sum();
        let tax_lines: Vec<Value> = totals
            .iter()
            .map(|t| {
                json!({
                    "Amount": money(t.tax), "DetailType": "TaxLineDetail",
                    "TaxLineDetail": {
                        "TaxRateRef": { "value": t.rate_id }, "PercentBased": true,
                        "TaxPercent": plain(t.percent), "NetAmountTaxable": money(t.base),
                    },
                })
            })
            .collect();
        let detail = json!({ "TotalTax": money(total_tax), "TaxLine": tax_lines });
        Ok((detail, total_tax))
    }
}

/// The tax model an invoice is computed under (see [`Company::tax_mode`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum TaxMode {
    /// US: lines carry `TAX`/`NON`; the tax is the request's `TxnTaxDetail.TotalTax`.
    Us,
    /// Global tax model, `GlobalTaxCalculation` `TaxExcluded`.
    Excluded,
    /// `TaxInclusive`.
    Inclusive,
    /// `NotApplicable`: no tax.
    NotApplicable,
}

impl TaxMode {
    /// The `GlobalTaxCalculation` value stored on the invoice (none for US).
    pub(super) fn name(self) -> Option<&'static str> {
        match self {
            TaxMode::Us => None,
            TaxMode::Excluded => Some("TaxExcluded"),
            TaxMode::Inclusive => Some("TaxInclusive"),
            TaxMode::NotApplicable => Some("NotApplicable"),
        }
    }
}

/// The tax of a US invoice, as today: the request's `TxnTaxDetail` kept as sent, with
/// `TotalTax` (default 0) as the invoice's tax.
pub(super) fn us_tax(input: &Map<String, Value>) -> Result<(Value, Decimal), Answer> {
    let mut detail = match input.get("TxnTaxDetail") {
        None | Some(Value::Null) => json!({}),
        Some(detail @ Value::Object(_)) => detail.clone(),
        Some(_) => return Err(unsupported_property("TxnTaxDetail", "not an object")),
    };
    let total_tax = match detail.get("TotalTax") {
        None | Some(Value::Null) => Decimal::ZERO,
        Some(v) => decimal(v)
            .ok_or_else(|| unsupported_property("TxnTaxDetail.TotalTax", "not a number"))?,
    };
    detail["TotalTax"] = money(total_tax);
    Ok((detail, total_tax))
}

/// A sales line as the global tax model sees it.
pub(super) struct TaxedLine {
    pub(super) net: Decimal,
    pub(super) rate_id: String,
    pub(super) percent: Decimal,
    /// `TaxInclusive` with `TaxInclusiveAmt`: the line's own tax (gross less net).
    pub(super) inclusive_tax: Option<Decimal>,
}
