//! The ledger beyond invoices: credit memos written directly (not by transform), customer
//! payments and customer refunds, their `apply` sublists, deletes, and the balances they
//! move (`docs/erp-apis.md` §3.9).
//!
//! The `apply` sublist is keyed by `doc` (Oracle, for customer payments, refunds and
//! deposit applications; the same for credit memos is [I]): a sent line whose `doc` is
//! already applied updates that application, other lines are added, and with
//! `?replace=apply` the sent lines replace the old ones; `apply: false` takes an
//! application away. What may be applied is checked the way NetSuite's forms check it
//! (the wording of every refusal is [I]): the document must exist and belong to the same
//! customer (and currency), an invoice takes no more than it has open, a credit memo gives
//! no more than its total less what refunds drew on it, a payment no more than its
//! amount, and a refund draws no more than a credit memo has unapplied. The open balance
//! of every invoice and what is unapplied on every credit memo and payment are worked out
//! again after every write ([`FakeState::settle`]), so a test can compare them with the
//! billing platform's figures. A delete answers 204; a credit memo a refund draws on, or
//! an invoice something is applied to, cannot be deleted [I].

use axum::http::StatusCode;
use rust_decimal::Decimal;
use serde_json::{Map, Value, json};

use super::super::harness::numbers::{decimal, plain};

use super::answers::{Answer, error, invalid_reference, missing, not_found, user_error};
use super::records::{ref_id, round2};
use super::routes::{Key, RecordType};
use super::state::{FakeState, Stored};

/// The account types a payment or refund may go through [I]: banks, and other current
/// assets such as Undeposited Funds.
const PAYMENT_ACCOUNT_TYPES: [&str; 2] = ["Bank", "OthCurrAsset"];

fn lines_of(record: &Stored) -> Vec<Value> {
    record
        .fields
        .get("apply")
        .and_then(|a| a["items"].as_array())
        .cloned()
        .unwrap_or_default()
}

fn line_amount(line: &Value) -> Decimal {
    decimal(&line["amount"]).unwrap_or_default()
}

fn line_doc(line: &Value) -> String {
    ref_id(&line["doc"]).unwrap_or_default()
}

/// What a write's checks answer: nothing, or the refusal.
type Res = Result<(), Answer>;

/// Stores the `apply` lines a write leaves.
fn set_lines(record: &mut Stored, lines: Vec<Value>) -> Res {
    record
        .fields
        .insert("apply".into(), json!({"items": lines}));
    Ok(())
}

fn apply_path(i: usize, field: &str) -> String {
    format!("apply.items[{i}].{field}")
}

/// `autoApply`: true or false.
fn check_auto_apply(v: &Value) -> Res {
    if v.is_boolean() {
        return Ok(());
    }
    Err(error(
        StatusCode::BAD_REQUEST,
        "INVALID_FLD_VALUE",
        "autoApply must be true or false.",
        Some("autoApply"),
    ))
}

/// Checks each line against the document it applies to, one of `docs` (`noun`s), which
/// must belong to `customer`; `refusal` (the document, the line's amount) answers what else
/// is wrong with the line, if anything: the message and the line's field at fault.
fn check_lines(
    lines: &[Value],
    docs: &[Stored],
    noun: &str,
    customer: &str,
    refusal: impl Fn(&Stored, Decimal) -> Option<(String, &'static str)>,
) -> Result<(), Answer> {
    for (i, line) in lines.iter().enumerate() {
        let doc = line_doc(line);
        let Some(found) = docs.iter().find(|r| r.id == doc) else {
            return Err(invalid_reference("doc", &doc, &apply_path(i, "doc")));
        };
        let refused = if ref_id(&found.fields["entity"]).as_deref() != Some(customer) {
            let message = format!("{noun} {doc} does not belong to customer {customer}.");
            Some((message, "doc"))
        } else {
            refusal(found, line_amount(line))
        };
        if let Some((message, field)) = refused {
            return Err(user_error(&message, Some(&apply_path(i, field))));
        }
    }
    Ok(())
}

impl FakeState {
    /// What the credit memos, payments and refunds (but `exclude`) apply to document `doc`.
    pub(super) fn applied_to(&self, doc: &str, exclude: Option<&str>) -> Decimal {
        if doc.is_empty() {
            return Decimal::ZERO;
        }
        self.credit_memos
            .iter()
            .chain(&self.payments)
            .chain(&self.refunds)
            .filter(|r| Some(r.id.as_str()) != exclude)
            .flat_map(lines_of)
            .filter(|l| line_doc(l) == doc)
            .map(|l| line_amount(&l))
            .sum()
    }

    fn total_of(record: &Stored) -> Decimal {
        decimal(record.fields.get("total").unwrap_or(&Value::Null)).unwrap_or_default()
    }

    /// What is still open on an invoice, leaving out what `exclude` applies to it.
    fn invoice_open(&self, invoice: &Stored, exclude: Option<&str>) -> Decimal {
        Self::total_of(invoice) - self.applied_to(&invoice.id, exclude)
    }

    /// Works every balance out again from the records.
    pub(super) fn settle(&mut self) {
        let open: Vec<Decimal> = self
            .invoices
            .iter()
            .map(|i| self.invoice_open(i, None).max(Decimal::ZERO))
            .collect();
        for (invoice, open) in self.invoices.iter_mut().zip(open) {
            let status = if open.is_zero() {
                "Paid In Full"
            } else {
                "Open"
            };
            invoice
                .fields
                .insert("amountRemaining".into(), plain(round2(open)));
            invoice
                .fields
                .insert("status".into(), json!({"id": status, "refName": status}));
        }
        let memos: Vec<(Decimal, Decimal)> = self
            .credit_memos
            .iter()
            .map(|m| {
                let applied: Decimal = lines_of(m).iter().map(line_amount).sum();
                let refunded = self.applied_to(&m.id, None);
                (applied, Self::total_of(m) - applied - refunded)
            })
            .collect();
        for (memo, (applied, unapplied)) in self.credit_memos.iter_mut().zip(memos) {
            memo.fields.insert("applied".into(), plain(round2(applied)));
            memo.fields
                .insert("unapplied".into(), plain(round2(unapplied)));
        }
        for payment in &mut self.payments {
            let applied: Decimal = lines_of(payment).iter().map(line_amount).sum();
            let amount = decimal(&payment.fields["payment"]).unwrap_or_default();
            payment.fields.insert("total".into(), plain(round2(amount)));
            payment
                .fields
                .insert("applied".into(), plain(round2(applied)));
            payment
                .fields
                .insert("unapplied".into(), plain(round2(amount - applied)));
        }
        for refund in &mut self.refunds {
            let total: Decimal = lines_of(refund).iter().map(line_amount).sum();
            refund.fields.insert("total".into(), plain(round2(total)));
        }
    }

    /// The `apply` lines after a write: the old ones, merged with (or replaced by) the
    /// sent ones, keyed by `doc`.
    fn apply_lines(
        record: &Stored,
        sent: Option<Value>,
        creating: bool,
        replace: bool,
    ) -> Result<Vec<Value>, Answer> {
        let old = lines_of(record);
        let Some(sent) = sent else {
            return Ok(if creating { Vec::new() } else { old });
        };
        let Some(items) = sent.get("items").and_then(Value::as_array) else {
            return Err(user_error(
                "The apply sublist must be an object with an items array.",
                Some("apply"),
            ));
        };
        let mut lines = if creating || replace { Vec::new() } else { old };
        for (i, line) in items.iter().enumerate() {
            let Some(line) = line.as_object() else {
                return Err(user_error(
                    "A sublist line must be an object.",
                    Some(&format!("apply.items[{i}]")),
                ));
            };
            let mut doc = None;
            let mut apply = true;
            let mut amount = None;
            for (k, v) in line {
                match k.to_ascii_lowercase().as_str() {
                    "doc" => doc = ref_id(v),
                    "apply" => apply = v.as_bool().unwrap_or(true),
                    "amount" => {
                        amount = Some(decimal(v).ok_or_else(|| {
                            error(
                                StatusCode::BAD_REQUEST,
                                "INVALID_FLD_VALUE",
                                "Invalid number for amount.",
                                Some(&apply_path(i, "amount")),
                            )
                        })?)
                    }
                    "line" => {}
                    _ => {
                        return Err(user_error(
                            &format!("Invalid field: {k} is not a field of the apply sublist."),
                            Some(&apply_path(i, k)),
                        ));
                    }
                }
            }
            let Some(doc) = doc else {
                return Err(missing("Doc", &apply_path(i, "doc")));
            };
            lines.retain(|l| line_doc(l) != doc);
            if apply {
                let Some(amount) = amount else {
                    return Err(missing("Payment", &apply_path(i, "amount")));
                };
                if amount <= Decimal::ZERO {
                    return Err(user_error(
                        "The amount applied must be greater than zero.",
                        Some(&apply_path(i, "amount")),
                    ));
                }
                lines.push(
                    json!({"doc": {"id": doc}, "apply": true, "amount": plain(round2(amount))}),
                );
            }
        }
        Ok(lines)
    }

    /// Checks that each line applies to an open invoice of the record's customer (its
    /// `customer_field`) in its currency, no more than it has open (what `record` itself
    /// applied counts as open).
    fn check_invoice_lines(&self, record: &Stored, lines: &[Value], customer_field: &str) -> Res {
        let customer = ref_id(&record.fields[customer_field]).unwrap_or_default();
        let currency = record.fields.get("currency").and_then(ref_id);
        let currency = currency.as_deref();
        let customer = customer.as_str();
        let exclude = (!record.id.is_empty()).then_some(record.id.as_str());
        check_lines(
            lines,
            &self.invoices,
            "Invoice",
            customer,
            |invoice, amount| {
                let doc = &invoice.id;
                let invoice_currency = invoice.fields.get("currency").and_then(ref_id);
                if currency.is_some() && invoice_currency.as_deref() != currency {
                    return Some((format!("Invoice {doc} is in another currency."), "doc"));
                }
                let open = self.invoice_open(invoice, exclude);
                let due = round2(open.max(Decimal::ZERO));
                let message =
                    format!("You cannot apply {amount} to invoice {doc}: its amount due is {due}.");
                (amount > open).then_some((message, "amount"))
            },
        )
    }

    /// The body fields payments and refunds share: customer, account, currency, date,
    /// subsidiary, texts. Answers the `apply` sublist sent, if any.
    fn apply_money_fields(
        &self,
        record: &mut Stored,
        fields: Map<String, Value>,
        creating: bool,
    ) -> Result<Option<Value>, Answer> {
        let mut sublist = None;
        for (k, v) in fields {
            if let Some(value) = self.transaction_field(&k, &v)? {
                record.fields.insert(k, value);
                continue;
            }
            match k.as_str() {
                "account" => {
                    let id = ref_id(&v).unwrap_or_default();
                    let Some(a) = self.accounts.iter().find(|a| a.id == id && a.active) else {
                        return Err(invalid_reference("account", &id, "account"));
                    };
                    if !PAYMENT_ACCOUNT_TYPES.contains(&a.kind.as_str()) {
                        return Err(user_error(
                            &format!(
                                "Account {id} ({}) cannot receive or pay out money: choose a bank or Undeposited Funds account.",
                                a.name
                            ),
                            Some("account"),
                        ));
                    }
                    let name = format!("{} {}", a.number, a.name);
                    record.fields.insert(k, json!({"id": id, "refName": name}));
                }
                "payment" => {
                    let Some(amount) = decimal(&v).filter(|a| *a > Decimal::ZERO) else {
                        return Err(error(
                            StatusCode::BAD_REQUEST,
                            "INVALID_FLD_VALUE",
                            "The payment amount must be a number greater than zero.",
                            Some("payment"),
                        ));
                    };
                    record.fields.insert(k, plain(round2(amount)));
                }
                "autoApply" => {
                    check_auto_apply(&v)?;
                    record.fields.insert(k, v);
                }
                "apply" => sublist = Some(v),
                _ => {
                    record.fields.insert(k, v);
                }
            }
        }
        for (field, label) in [("customer", "Customer"), ("account", "Account")] {
            if !record.fields.contains_key(field) {
                return Err(missing(label, field));
            }
        }
        if creating {
            let customer = ref_id(&record.fields["customer"]).unwrap_or_default();
            let from_customer = self
                .customers
                .iter()
                .find(|c| c.id == customer)
                .and_then(|c| c.fields.get("currency"))
                .cloned();
            if !record.fields.contains_key("currency")
                && let Some(c) = from_customer
            {
                record.fields.insert("currency".into(), c);
            }
            record
                .fields
                .entry("tranDate")
                .or_insert_with(|| json!(chrono::Utc::now().format("%Y-%m-%d").to_string()));
        }
        Ok(sublist)
    }

    /// A customer payment (its amount, account and applications) or refund (what it draws
    /// from the customer's credit memos).
    pub(super) fn apply_money(
        &self,
        record_type: RecordType,
        record: &mut Stored,
        fields: Map<String, Value>,
        creating: bool,
        replace_apply: bool,
    ) -> Res {
        let sent = self.apply_money_fields(record, fields, creating)?;
        let payment = record_type == RecordType::CustomerPayment;
        let amount = record.fields.get("payment").and_then(decimal);
        if payment && amount.is_none() {
            return Err(missing("Payment Amount", "payment"));
        }
        let lines = Self::apply_lines(record, sent, creating, replace_apply)?;
        match amount.filter(|_| payment) {
            Some(amount) => self.check_payment_lines(record, &lines, amount)?,
            None => self.check_refund_lines(record, &lines)?,
        }
        set_lines(record, lines)
    }

    /// A payment's lines: open invoices, no more in all than the payment's `amount`.
    fn check_payment_lines(&self, record: &Stored, lines: &[Value], amount: Decimal) -> Res {
        self.check_invoice_lines(record, lines, "customer")?;
        let applied: Decimal = lines.iter().map(line_amount).sum();
        if applied > amount {
            return Err(user_error(
                &format!("The total applied ({applied}) exceeds the payment amount ({amount})."),
                Some("apply"),
            ));
        }
        Ok(())
    }

    /// A credit memo written directly: lines as on an invoice, then its applications.
    pub(super) fn apply_credit_memo(
        &self,
        record: &mut Stored,
        mut fields: Map<String, Value>,
        creating: bool,
        replace_items: bool,
        replace_apply: bool,
    ) -> Res {
        let sent = fields.remove("apply");
        if let Some(v) = fields.remove("autoApply") {
            check_auto_apply(&v)?;
            record.fields.insert("autoApply".into(), v);
        }
        // Body fields and item lines are checked as on an invoice.
        self.apply_invoice(record, fields, creating, replace_items)?;
        record.fields.remove("amountRemaining");
        record.fields.remove("status");
        let total = Self::total_of(record);
        let lines = Self::apply_lines(record, sent, creating, replace_apply)?;
        self.check_invoice_lines(record, &lines, "entity")?;
        let applied: Decimal = lines.iter().map(line_amount).sum();
        let refunded = self.applied_to(&record.id, None);
        if applied + refunded > total {
            return Err(user_error(
                &format!(
                    "The total applied ({applied}) exceeds what the credit memo has left ({}: {total} less {refunded} refunded).",
                    total - refunded
                ),
                Some("apply"),
            ));
        }
        set_lines(record, lines)
    }

    /// A refund's lines: at least one, each drawing on a credit memo of the customer no
    /// more than it has unapplied.
    fn check_refund_lines(&self, record: &Stored, lines: &[Value]) -> Res {
        if lines.is_empty() {
            return Err(user_error(
                "You must apply the refund to at least one credit.",
                Some("apply"),
            ));
        }
        let customer = ref_id(&record.fields["customer"]).unwrap_or_default();
        let exclude = (!record.id.is_empty()).then_some(record.id.as_str());
        check_lines(
            lines,
            &self.credit_memos,
            "Credit memo",
            &customer,
            |memo, amount| {
                let own: Decimal = lines_of(memo).iter().map(line_amount).sum();
                let left = Self::total_of(memo) - own - self.applied_to(&memo.id, exclude);
                let unapplied = round2(left.max(Decimal::ZERO));
                let message = format!(
                    "You cannot refund {amount} from credit memo {}: it has {unapplied} unapplied.",
                    memo.id
                );
                (amount > left).then_some((message, "amount"))
            },
        )
    }

    /// `DELETE /<type>/<key>`: 204; refused while another record depends on it [I].
    pub(super) fn delete(&mut self, record_type: RecordType, key: &Key) -> Answer {
        let Some(index) = self.find(record_type, key) else {
            return not_found();
        };
        let id = self.records(record_type)[index].id.clone();
        let depended_on = match record_type {
            RecordType::Invoice | RecordType::CreditMemo => !self.applied_to(&id, None).is_zero(),
            RecordType::Customer => {
                self.invoices
                    .iter()
                    .chain(&self.credit_memos)
                    .any(|r| r.fields.get("entity").and_then(ref_id).as_deref() == Some(&id))
                    || self
                        .payments
                        .iter()
                        .chain(&self.refunds)
                        .any(|r| r.fields.get("customer").and_then(ref_id).as_deref() == Some(&id))
            }
            RecordType::CustomerPayment | RecordType::CustomerRefund => false,
        };
        if depended_on {
            return user_error(
                "This record cannot be deleted because it has dependent records.",
                None,
            );
        }
        self.records_mut(record_type).remove(index);
        Answer::no_content(None)
    }

    /// `GET /account/<id>`.
    pub(super) fn get_account(&self, id: &str) -> Answer {
        match self.accounts.iter().find(|a| a.id == id) {
            Some(a) => Answer::json(
                StatusCode::OK,
                json!({
                    "links": [{"rel": "self", "href": self.record_url("account", &a.id)}],
                    "id": a.id, "acctNumber": a.number, "acctName": a.name,
                    "acctType": {"id": a.kind}, "isInactive": !a.active,
                }),
            ),
            None => not_found(),
        }
    }
}
