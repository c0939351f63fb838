//! Invoices: create, update (full or sparse) and void, with QBO's checks of properties,
//! references, lines and totals; tax and currency are in `tax` and `currencies`.

use rust_decimal::Decimal;
use serde_json::{Map, Value, json};

use super::super::harness::numbers::{decimal, money, plain};

use super::answers::{
    Answer, business, invalid_line_tax_code, invalid_reference, missing_tax_rate, required,
    tax_detail_not_applicable, today, too_long, unsupported_property,
};
use super::currencies::currency_ref;
use super::fields::{
    Body, Handled, amount_field, cents, check_properties, created, date_field, mark_voided, ref_id,
    updated, updating, voiding, writable, write_entity,
};
use super::state::{Company, Stored};
use super::tax::{TaxMode, TaxedLine, us_tax};

const MAX_DOC_NUMBER_LEN: usize = 21;

/// Invoice properties QBO accepts; any other is rejected with 2010.
const INVOICE_FIELDS: &str = "\
    Id SyncToken sparse domain MetaData CustomerRef DocNumber TxnDate DueDate Line \
    TxnTaxDetail PrivateNote CustomerMemo EmailStatus PrintStatus BillEmail BillEmailCc \
    BillEmailBcc BillAddr ShipAddr ShipFromAddr ShipDate ShipMethodRef TrackingNum \
    SalesTermRef CurrencyRef ExchangeRate CustomField ClassRef DepartmentRef \
    GlobalTaxCalculation ApplyTaxAfterDiscount AllowOnlineCreditCardPayment \
    AllowOnlineACHPayment AllowIPNPayment AllowOnlinePayment Deposit DepositToAccountRef \
    LinkedTxn TransactionLocationType TotalAmt Balance HomeTotalAmt HomeBalance ProjectRef \
    RecurDataRef TaxExemptionRef InvoiceLink FreeFormAddress";

/// Invoice properties the fake computes or maintains itself (ignored on input).
const INVOICE_COMPUTED: &str = "\
    Id SyncToken sparse domain MetaData TotalAmt Balance HomeTotalAmt HomeBalance \
    InvoiceLink";

const LINE_FIELDS: &str = "\
    Id LineNum Description Amount DetailType SalesItemLineDetail DiscountLineDetail \
    SubTotalLineDetail DescriptionLineDetail LinkedTxn ProjectRef";

const SALES_DETAIL_FIELDS: &str = "\
    ItemRef Qty UnitPrice TaxCodeRef ServiceDate ClassRef ItemAccountRef TaxInclusiveAmt \
    DiscountAmt DiscountRate MarkupInfo PriceLevelRef TaxClassificationRef";

/// `POST invoice`: create, or update when `Id` is given (full, or `sparse: true`).
pub(super) fn write_invoice(company: &mut Company, body: &Body) -> Answer {
    let (create, update) = (Company::create_invoice, Company::update_invoice);
    write_entity(company, body, ("Invoice", INVOICE_FIELDS), create, update)
}

/// `POST invoice?operation=void` with `{"Id","SyncToken"}`: zeroes the amounts, prefixes
/// `PrivateNote` with "Voided", bumps `SyncToken`; the invoice stays readable.
pub(super) fn void_invoice(company: &mut Company, body: &Body) -> Handled {
    let entity = voiding(&mut company.invoices, "Invoice", body)?;
    if let Some(lines) = entity["Line"].as_array_mut() {
        for line in lines.iter_mut().filter(|l| l.get("Amount").is_some()) {
            line["Amount"] = money(Decimal::ZERO);
        }
    }
    for field in ["TotalAmt", "Balance", "HomeTotalAmt", "HomeBalance"] {
        if field.starts_with("Home") && entity.get(field).is_none() {
            continue;
        }
        entity[field] = money(Decimal::ZERO);
    }
    entity["TxnTaxDetail"]["TotalTax"] = money(Decimal::ZERO);
    // [I] The tax lines of a non-US invoice are zeroed too.
    if let Some(tax_lines) = entity["TxnTaxDetail"]["TaxLine"].as_array_mut() {
        for line in tax_lines {
            line["Amount"] = money(Decimal::ZERO);
        }
    }
    mark_voided(entity);
    Ok(Answer::entity("Invoice", entity))
}

impl Company {
    fn create_invoice(&mut self, body: &Map<String, Value>) -> Result<Value, Answer> {
        let entity = self.invoice_fields(body, &[])?;
        let entity = created(entity, &mut self.next_invoice_id);
        self.invoices.push(Stored::new(&entity));
        Ok(entity)
    }

    /// Full update (omitted writable fields are dropped, `Line` replaced) or sparse update
    /// (only given fields change; a given `Line` still replaces all lines).
    fn update_invoice(&mut self, id: &str, body: &Map<String, Value>) -> Result<Value, Answer> {
        let class = ("Invoice", INVOICE_COMPUTED);
        let (index, current, mut input) = updating(&self.invoices, class, id, body)?;
        if !self.is_us() && !body.contains_key("TxnTaxDetail") {
            // [I] A sparse update that does not send `TxnTaxDetail` has the tax computed
            // again from the lines' codes: the stored tax lines are not an override.
            input.remove("TxnTaxDetail");
        }
        let previous_lines = current["Line"].as_array().cloned().unwrap_or_default();
        let entity = self.invoice_fields(&input, &previous_lines)?;
        let entity = updated(entity, id, &current);
        self.invoices[index].entity = entity.clone();
        Ok(entity)
    }

    /// Validates an invoice's properties and computes what QBO computes: names on refs,
    /// line ids, the SubTotal line, the currency and exchange rate, the tax (per the
    /// company's tax model), `TotalAmt` and `Balance`. Everything but Id, SyncToken and
    /// MetaData. Lines keep their `Id` when it names one of `previous_lines`.
    pub(super) fn invoice_fields(
        &self,
        input: &Map<String, Value>,
        previous_lines: &[Value],
    ) -> Result<Map<String, Value>, Answer> {
        let customer_id =
            ref_id(input.get("CustomerRef")).ok_or_else(|| required("CustomerRef"))?;
        let customer = self.active_customer("CustomerRef", &customer_id)?;
        if let Some(doc) = input.get("DocNumber").filter(|v| !v.is_null()) {
            let doc = doc
                .as_str()
                .ok_or_else(|| unsupported_property("DocNumber", "not a string"))?;
            let len = doc.chars().count();
            if len > MAX_DOC_NUMBER_LEN {
                return Err(too_long("DocNumber", MAX_DOC_NUMBER_LEN, len));
            }
        }
        let txn_date = date_field(input, "TxnDate")?.unwrap_or_else(today);
        let due_date = date_field(input, "DueDate")?.unwrap_or_else(|| txn_date.clone());

        let mode = self.tax_mode(input)?;
        let lines = self.invoice_lines(input.get("Line"), previous_lines, mode)?;
        let (currency, exchange_rate) = self.invoice_currency(input, customer)?;
        let (tax_detail, total_tax) = match mode {
            TaxMode::Us => us_tax(input)?,
            TaxMode::NotApplicable => {
                match input.get("TxnTaxDetail") {
                    None | Some(Value::Null) => {}
                    Some(Value::Object(detail)) if detail.is_empty() => {}
                    Some(_) => return Err(tax_detail_not_applicable()),
                }
                // [I] The stored detail says no tax.
                (json!({ "TotalTax": money(Decimal::ZERO) }), Decimal::ZERO)
            }
            TaxMode::Excluded | TaxMode::Inclusive => self.global_tax(input, &lines, mode)?,
        };
        let total = lines.subtotal - lines.discount + total_tax;
        if total < Decimal::ZERO {
            return Err(business("Transaction total can not be negative."));
        }

        let mut entity = writable(input, INVOICE_COMPUTED);
        let customer_name = customer["DisplayName"].clone();
        entity.insert(
            "CustomerRef".into(),
            json!({ "value": customer_id, "name": customer_name }),
        );
        entity.insert("TxnDate".into(), json!(txn_date));
        entity.insert("DueDate".into(), json!(due_date));
        entity.insert("Line".into(), Value::Array(lines.lines));
        entity.insert("TxnTaxDetail".into(), tax_detail);
        if let Some(name) = mode.name() {
            entity.insert("GlobalTaxCalculation".into(), json!(name));
        }
        entity.insert("TotalAmt".into(), money(total));
        entity.insert("Balance".into(), money(total));
        entity.insert("CurrencyRef".into(), currency_ref(&currency));
        match exchange_rate {
            // Intuit: `HomeTotalAmt` is the total "in the home currency for multi-currency
            // enabled companies. Single currency companies will not have this field."
            Some(rate) => {
                entity.insert("ExchangeRate".into(), plain(rate));
                entity.insert("HomeTotalAmt".into(), money(total * rate));
                entity.insert("HomeBalance".into(), money(total * rate));
            }
            None => {
                entity.remove("ExchangeRate");
            }
        }
        entity.entry("EmailStatus").or_insert(json!("NotSet"));
        entity.entry("PrintStatus").or_insert(json!("NotSet"));
        entity.insert("domain".into(), json!("QBO"));
        entity.insert("sparse".into(), json!(false));
        Ok(entity)
    }
}

impl Company {
    /// Validates `Line` and computes the stored lines (SubTotal appended) and sums.
    fn invoice_lines(
        &self,
        line: Option<&Value>,
        previous_lines: &[Value],
        mode: TaxMode,
    ) -> Result<Lines, Answer> {
        let Some(Value::Array(input)) = line else {
            return Err(required("Line"));
        };
        let previous_ids: Vec<u64> = previous_lines
            .iter()
            .filter_map(|l| l["Id"].as_str().and_then(|id| id.parse().ok()))
            .collect();
        let mut next_id = previous_ids.iter().max().map_or(1, |m| m + 1);
        let mut out = Lines {
            lines: Vec::new(),
            subtotal: Decimal::ZERO,
            discount: Decimal::ZERO,
            taxed: Vec::new(),
        };
        let mut percent_discounts = Vec::new();
        let mut sales_lines = 0;
        for line in input {
            let line = line
                .as_object()
                .ok_or_else(|| unsupported_property("Line", "not an object"))?;
            check_properties(line, LINE_FIELDS, "Line")?;
            let detail_type = line
                .get("DetailType")
                .and_then(Value::as_str)
                .ok_or_else(|| required("Line.DetailType"))?;
            let mut stored = match detail_type {
                "SalesItemLineDetail" => {
                    let sales = self.sales_line(line, mode)?;
                    out.subtotal += sales.net;
                    out.taxed.extend(sales.taxed);
                    sales_lines += 1;
                    sales.stored
                }
                "DiscountLineDetail" => {
                    let (stored, amount) = discount_line(line)?;
                    match amount {
                        Some(amount) => out.discount += amount,
                        None => percent_discounts.push(out.lines.len()),
                    }
                    out.lines.push(stored);
                    continue;
                }
                "DescriptionOnly" => {
                    let mut stored = line.clone();
                    stored.remove("Amount");
                    stored
                }
                // QBO recomputes the subtotal line itself.
                "SubTotalLineDetail" => continue,
                other => {
                    return Err(unsupported_property(
                        "Line.DetailType",
                        &format!("{other} is not supported by the fake"),
                    ));
                }
            };
            let id = match line
                .get("Id")
                .and_then(Value::as_str)
                .and_then(|id| id.parse::<u64>().ok())
            {
                Some(id) if previous_ids.contains(&id) => id,
                _ => {
                    let id = next_id;
                    next_id += 1;
                    id
                }
            };
            stored.insert("Id".into(), json!(id.to_string()));
            stored.insert("LineNum".into(), json!(out.lines.len() + 1));
            out.lines.push(Value::Object(stored));
        }
        if sales_lines == 0 {
            return Err(required("Line"));
        }
        for index in percent_discounts {
            let line = &mut out.lines[index];
            let percent =
                decimal(&line["DiscountLineDetail"]["DiscountPercent"]).unwrap_or_default();
            let amount = cents(out.subtotal * percent / Decimal::ONE_HUNDRED);
            line["Amount"] = money(amount);
            out.discount += amount;
        }
        out.lines.push(json!({
            "Amount": money(out.subtotal), "DetailType": "SubTotalLineDetail", "SubTotalLineDetail": {},
        }));
        Ok(out)
    }

    /// A `SalesItemLineDetail` line: `Amount` and an active `ItemRef` are required;
    /// `Amount` must be `Qty * UnitPrice` to the cent when both are given.
    ///
    /// `TaxCodeRef`:
    /// - US: absent, `TAX` or `NON`; anything else is refused with 6100.
    /// - Non-US, `TaxExcluded`/`TaxInclusive`: required, the id of an active TaxCode;
    ///   otherwise 6000 "Make sure all your transactions have a ... rate before you save."
    ///   ([`missing_tax_rate`]), the pseudo codes `TAX`/`NON` included.
    /// - Non-US, `NotApplicable`: [I] optional; one that is given must be usable.
    ///
    /// `Amount` is the amount before tax: QBO assumes line prices exclude tax [S]
    /// (ruckus/quickbooks-ruby#346). Under `TaxInclusive` a line may give its gross in
    /// `SalesItemLineDetail.TaxInclusiveAmt` ("The total amount of the line item including
    /// tax", Intuit); [I] the stored `Amount` is then the gross less tax, rounded per line,
    /// and the line's tax the difference.
    fn sales_line(&self, line: &Map<String, Value>, mode: TaxMode) -> Result<SalesLine, Answer> {
        let amount = amount_field(line, "Line.Amount")?.ok_or_else(|| required("Line.Amount"))?;
        let element = "Line.SalesItemLineDetail.ItemRef";
        let detail = line
            .get("SalesItemLineDetail")
            .and_then(Value::as_object)
            .ok_or_else(|| required("Line.SalesItemLineDetail"))?;
        check_properties(detail, SALES_DETAIL_FIELDS, "SalesItemLineDetail")?;
        let item_id = ref_id(detail.get("ItemRef")).ok_or_else(|| required(element))?;
        let item = self
            .active_item(&item_id)
            .ok_or_else(|| invalid_reference(element, "Item", &item_id))?;
        let qty = amount_field(detail, "Line.SalesItemLineDetail.Qty")?;
        let unit_price = amount_field(detail, "Line.SalesItemLineDetail.UnitPrice")?;
        if let (Some(qty), Some(unit_price)) = (qty, unit_price)
            && cents(qty * unit_price) != amount
        {
            return Err(business(&format!(
                "Amount is not equal to UnitPrice * Qty. Supplied value:{amount}"
            )));
        }
        let code_ref = ref_id(detail.get("TaxCodeRef"));
        let tax_code = match mode {
            TaxMode::Us => {
                if let Some(code) = &code_ref
                    && code != "TAX"
                    && code != "NON"
                {
                    return Err(invalid_line_tax_code(code));
                }
                None
            }
            TaxMode::NotApplicable => {
                if code_ref.is_some()
                    && code_ref
                        .as_deref()
                        .and_then(|c| self.active_tax_code(c))
                        .is_none()
                {
                    return Err(missing_tax_rate(&self.country));
                }
                None
            }
            TaxMode::Excluded | TaxMode::Inclusive => Some(
                code_ref
                    .as_deref()
                    .and_then(|c| self.active_tax_code(c))
                    .ok_or_else(|| missing_tax_rate(&self.country))?,
            ),
        };
        let mut detail = detail.clone();
        detail.insert(
            "ItemRef".into(),
            json!({ "value": item.id, "name": item.name }),
        );
        let mut net = amount;
        let mut taxed = None;
        if let Some(code) = tax_code {
            let rate = self.tax_rate(&code.rate_id).expect("a code's rate exists");
            let gross = match mode {
                TaxMode::Inclusive => {
                    amount_field(&detail, "Line.SalesItemLineDetail.TaxInclusiveAmt")?
                }
                _ => None,
            };
            let inclusive_tax = gross.map(|gross| {
                net = cents(gross * Decimal::ONE_HUNDRED / (Decimal::ONE_HUNDRED + rate.rate));
                gross - net
            });
            if let Some(gross) = gross {
                detail.insert("TaxInclusiveAmt".into(), money(gross));
            }
            taxed = Some(TaxedLine {
                net,
                rate_id: rate.id.clone(),
                percent: rate.rate,
                inclusive_tax,
            });
        }
        let mut stored = line.clone();
        stored.insert("Amount".into(), money(net));
        stored.insert("SalesItemLineDetail".into(), Value::Object(detail));
        Ok(SalesLine { stored, net, taxed })
    }
}

/// Stored lines and their sums.
pub(super) struct Lines {
    lines: Vec<Value>,
    /// The sales lines' amounts before tax.
    pub(super) subtotal: Decimal,
    pub(super) discount: Decimal,
    /// The sales lines under the global tax model (empty for US and `NotApplicable`).
    pub(super) taxed: Vec<TaxedLine>,
}

/// A checked sales line: as stored, its amount before tax, and how it is taxed.
struct SalesLine {
    stored: Map<String, Value>,
    net: Decimal,
    taxed: Option<TaxedLine>,
}

/// A `DiscountLineDetail` line: a non-negative `Amount`, or (`PercentBased`) a
/// `DiscountPercent` resolved against the subtotal later (`None`).
fn discount_line(line: &Map<String, Value>) -> Result<(Value, Option<Decimal>), Answer> {
    let detail = line
        .get("DiscountLineDetail")
        .cloned()
        .unwrap_or_else(|| json!({ "PercentBased": false }));
    let percent_based = detail["PercentBased"] == true;
    let amount = amount_field(line, "Line.Amount")?;
    let amount = match (amount, percent_based) {
        (Some(amount), _) => Some(amount),
        (None, true) if decimal(&detail["DiscountPercent"]).is_some() => None,
        (None, _) => return Err(required("Line.Amount")),
    };
    if amount.is_some_and(|a| a < Decimal::ZERO) {
        return Err(business("Discount amount must not be negative."));
    }
    let mut stored = line.clone();
    stored.insert("DiscountLineDetail".into(), detail);
    if let Some(amount) = amount {
        stored.insert("Amount".into(), money(amount));
    }
    Ok((Value::Object(stored), amount))
}
