//! Payments on sales invoices (`ACCRECPAYMENT`) and on sales credit notes (refunds,
//! `ARCREDITPAYMENT`), checked as Xero checks them: the document exists and is
//! AUTHORISED, the account is a bank account (by `Code` or `AccountID`), the amount is
//! more than zero and at most what is outstanding ("Payment amount exceeds the amount
//! outstanding on this document"). A payment moves the invoice's `AmountPaid`/`AmountDue`
//! (PAID at zero) or the credit note's `RemainingCredit`. Payments are never edited:
//! `POST Payments/{PaymentID}` with `Status: DELETED` reverses one, once.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::super::harness::numbers::{decimal, money};
use super::super::harness::wire::Params;

use super::answers::{Answer, envelope, not_found, set_updated, xero_date};
use super::elements::{amount_field, date_field, text_field, validation_errors, write_batch};
use super::lists::list_answer;
use super::settings::BANK_ACCOUNTS;
use super::state::{Org, OrgData, index_of};

/// Fields a payment `where` may name.
const WHERE_FIELDS: &[&str] = &[
    "PaymentID",
    "Reference",
    "Status",
    "PaymentType",
    "Amount",
    "Invoice.InvoiceID",
    "Invoice.InvoiceNumber",
    "CreditNote.CreditNoteID",
    "Account.Code",
];

/// The message Xero gives a payment above what is outstanding.
pub(super) const EXCEEDS: &str = "Payment amount exceeds the amount outstanding on this document";

fn refused(raw: &Map<String, Value>, messages: Vec<String>) -> Value {
    let mut echo = raw.clone();
    echo.insert("HasValidationErrors".into(), json!(true));
    echo.insert("StatusAttributeString".into(), json!("ERROR"));
    echo.insert("ValidationErrors".into(), validation_errors(messages));
    Value::Object(echo)
}

impl OrgData {
    fn payment_index(&self, id: &str) -> Option<usize> {
        index_of(&self.payments, "PaymentID", id)
    }

    /// One element of `PUT Payments`.
    fn apply_payment(&mut self, raw: &Map<String, Value>, i: usize) -> Result<Value, Value> {
        let path = format!("Payments[{i}]");
        let fail = |m: String| refused(raw, vec![m]);
        let amount = amount_field(raw, "Amount", &path).map_err(fail)?;
        let date = date_field(raw, "Date", &path).map_err(fail)?;
        let reference = text_field(raw, "Reference", &path).map_err(fail)?;
        let mut errors = Vec::new();
        let account = raw.get("Account").and_then(Value::as_object);
        let code = account.and_then(|a| a.get("Code")).and_then(Value::as_str);
        let account_id = account
            .and_then(|a| a.get("AccountID"))
            .and_then(Value::as_str);
        let bank = BANK_ACCOUNTS
            .iter()
            .find(|(c, _, id)| Some(*c) == code || Some(*id) == account_id);
        match (code.or(account_id), bank) {
            (None, _) => errors.push("An Account must be specified (AccountID or Code).".into()),
            (Some(_), None) => errors.push(
                "Account is not valid for payments (it must be a BANK account, or allow payments)."
                    .into(),
            ),
            _ => {}
        }
        let date = date.unwrap_or_else(|| Utc::now().date_naive());
        let amount = match amount {
            Some(a) if a > Decimal::ZERO => a,
            _ => {
                errors.push("Payment amount must be greater than zero.".into());
                Decimal::ZERO
            }
        };
        let invoice_id = raw
            .get("Invoice")
            .and_then(|v| v.get("InvoiceID"))
            .and_then(Value::as_str);
        let note_id = raw
            .get("CreditNote")
            .and_then(|v| v.get("CreditNoteID"))
            .and_then(Value::as_str);
        enum Target {
            Invoice(usize),
            CreditNote(usize),
        }
        let target = match (invoice_id, note_id) {
            (Some(id), None) => self.invoice_index(id).map(Target::Invoice),
            (None, Some(id)) => self.credit_note_index(id).map(Target::CreditNote),
            (Some(_), Some(_)) => {
                errors.push("Payment is applied to more than one document.".into());
                None
            }
            (None, None) => None,
        };
        let Some(target) = target else {
            errors.push("Invoice or CreditNote could not be found.".into());
            return Err(refused(raw, errors));
        };
        let (document, outstanding) = match &target {
            Target::Invoice(i) => (&self.invoices[*i], "AmountDue"),
            Target::CreditNote(i) => (&self.credit_notes[*i], "RemainingCredit"),
        };
        if document["Status"] != "AUTHORISED" {
            errors.push("Payments can only be made against Authorised documents".into());
        } else if amount > decimal(&document[outstanding]).unwrap_or_default() {
            errors.push(EXCEEDS.into());
        }
        if !errors.is_empty() {
            let mut echo = refused(raw, errors);
            // As Xero's example: the refused payment carries the document it named.
            let summary = json!({ "InvoiceID": document["InvoiceID"], "CreditNoteID": document["CreditNoteID"],
                "AmountDue": document["AmountDue"], "RemainingCredit": document["RemainingCredit"],
                "Status": document["Status"] });
            echo["Invoice"] = summary;
            return Err(echo);
        }
        let now = Utc::now();
        let (code, name, bank_id) = bank.expect("checked above");
        let payment_id = Uuid::new_v4().to_string();
        let left = decimal(&document[outstanding]).unwrap_or_default() - amount;
        let mut payment = json!({
            "PaymentID": payment_id, "Date": xero_date(date), "Amount": money(amount),
            "BankAmount": money(amount), "Reference": reference.unwrap_or_default(),
            "CurrencyRate": 1.0, "Status": "AUTHORISED", "HasAccount": true, "IsReconciled": false,
            "Account": { "AccountID": bank_id, "Code": code, "Name": name },
            "HasValidationErrors": false, "StatusAttributeString": "OK",
        });
        set_updated(&mut payment, now);
        let short = json!({ "PaymentID": payment_id, "Date": xero_date(date), "Amount": money(amount),
            "Reference": payment["Reference"], "CurrencyRate": 1.0, "HasAccount": false,
            "HasValidationErrors": false });
        match target {
            Target::Invoice(i) => {
                let invoice = &mut self.invoices[i];
                let paid = decimal(&invoice["AmountPaid"]).unwrap_or_default() + amount;
                invoice["AmountPaid"] = money(paid);
                invoice["AmountDue"] = money(left);
                if left == Decimal::ZERO {
                    invoice["Status"] = json!("PAID");
                    invoice["FullyPaidOnDate"] = json!(xero_date(date));
                }
                push(&mut invoice["Payments"], short);
                set_updated(invoice, now);
                payment["PaymentType"] = json!("ACCRECPAYMENT");
                payment["Invoice"] = json!({ "Type": "ACCREC", "InvoiceID": invoice["InvoiceID"],
                    "InvoiceNumber": invoice["InvoiceNumber"], "AmountDue": invoice["AmountDue"],
                    "AmountPaid": invoice["AmountPaid"], "Status": invoice["Status"],
                    "Contact": invoice["Contact"], "CurrencyCode": invoice["CurrencyCode"] });
            }
            Target::CreditNote(i) => {
                let note = &mut self.credit_notes[i];
                note["RemainingCredit"] = money(left);
                if left == Decimal::ZERO {
                    note["Status"] = json!("PAID");
                }
                push(&mut note["Payments"], short);
                set_updated(note, now);
                payment["PaymentType"] = json!("ARCREDITPAYMENT");
                payment["CreditNote"] = json!({ "Type": "ACCRECCREDIT",
                    "CreditNoteID": note["CreditNoteID"], "CreditNoteNumber": note["CreditNoteNumber"],
                    "RemainingCredit": note["RemainingCredit"], "Status": note["Status"] });
            }
        }
        self.payments.push(payment.clone());
        Ok(payment)
    }

    /// `Status: DELETED` on payment `index`: the document gets the amount back.
    fn delete_payment(&mut self, index: usize) -> Result<Value, String> {
        let payment = self.payments[index].clone();
        if payment["Status"] == "DELETED" {
            // [I] wording.
            return Err("This payment has already been deleted.".into());
        }
        let amount = decimal(&payment["Amount"]).unwrap_or_default();
        let id = payment["PaymentID"].clone();
        let now = Utc::now();
        let this = |p: &Value| p["PaymentID"] == id;
        if let Some(i) = payment["Invoice"]["InvoiceID"]
            .as_str()
            .and_then(|i| self.invoice_index(i))
        {
            let moved = [("AmountPaid", -amount), ("AmountDue", amount)];
            give_back(&mut self.invoices[i], &moved, "Payments", this, now);
        }
        if let Some(i) = payment["CreditNote"]["CreditNoteID"]
            .as_str()
            .and_then(|i| self.credit_note_index(i))
        {
            let moved = [("RemainingCredit", amount)];
            give_back(&mut self.credit_notes[i], &moved, "Payments", this, now);
        }
        let stored = &mut self.payments[index];
        stored["Status"] = json!("DELETED");
        set_updated(stored, now);
        Ok(stored.clone())
    }
}

/// Gives `amount` back to a document a payment or an allocation leaves: each `moved`
/// field changes by its share, a PAID document is AUTHORISED again, and the entry `this`
/// matches leaves its `list`.
pub(super) fn give_back(
    doc: &mut Value,
    moved: &[(&str, Decimal)],
    list: &str,
    this: impl Fn(&Value) -> bool,
    now: DateTime<Utc>,
) {
    for (field, change) in moved {
        doc[*field] = money(decimal(&doc[*field]).unwrap_or_default() + change);
    }
    if doc["Status"] == "PAID" {
        doc["Status"] = json!("AUTHORISED");
    }
    if let Some(entries) = doc[list].as_array_mut() {
        entries.retain(|e| !this(e));
    }
    set_updated(doc, now);
}

fn push(list: &mut Value, item: Value) {
    match list.as_array_mut() {
        Some(l) => l.push(item),
        None => *list = json!([item]),
    }
}

/// `PUT Payments` (or `POST Payments`, [I] the same for new payments): one payment per
/// element.
pub(super) fn create_payments(
    org: &mut Org,
    elements: &[Map<String, Value>],
    summarize: bool,
) -> (Answer, bool) {
    let indexed: Vec<(usize, &Map<String, Value>)> = elements.iter().enumerate().collect();
    write_batch(org, &indexed, summarize, "Payments", |data, (i, raw)| {
        data.apply_payment(raw, *i)
    })
}

/// `POST Payments/{PaymentID}` `{"Payments":[{"Status":"DELETED"}]}`: the only change
/// Xero allows to a payment.
pub(super) fn update_payment(
    org: &mut Org,
    key: &str,
    elements: &[Map<String, Value>],
) -> (Answer, bool) {
    let Some(index) = org.data.payment_index(key) else {
        return (not_found(), false);
    };
    let wanted = elements
        .first()
        .and_then(|e| e.get("Status"))
        .and_then(Value::as_str);
    if !wanted.is_some_and(|s| s.eq_ignore_ascii_case("DELETED")) {
        // [I] wording.
        let refusal = refused(
            &elements.first().cloned().unwrap_or_default(),
            vec!["Payments can only be deleted (Status DELETED); they cannot be edited.".into()],
        );
        return (super::answers::validation_exception(vec![refusal]), false);
    }
    match org.data.delete_payment(index) {
        Ok(payment) => (envelope("Payments", vec![payment]), true),
        Err(message) => {
            let refusal = refused(&elements[0], vec![message]);
            (super::answers::validation_exception(vec![refusal]), false)
        }
    }
}

/// `GET Payments[?where=&page=]`.
pub(super) fn list_payments(org: &Org, params: &Params) -> Answer {
    let found: Vec<&Value> = org.data.payments.iter().collect();
    list_answer(
        params,
        "Payments",
        ("Payment", WHERE_FIELDS),
        found,
        &[],
        |_| {},
    )
}

/// `GET Payments/{PaymentID}`.
pub(super) fn get_payment(org: &Org, key: &str) -> Answer {
    match org.data.payment_index(key) {
        Some(i) => envelope("Payments", vec![org.data.payments[i].clone()]),
        None => not_found(),
    }
}
