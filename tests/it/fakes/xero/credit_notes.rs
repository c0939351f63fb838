//! Sales credit notes (`ACCRECCREDIT`) and their allocations to invoices, checked and
//! computed as Xero does: a unique `CreditNoteNumber`, lines computed like an invoice's,
//! `RemainingCredit`, allocations only from an AUTHORISED credit note to an AUTHORISED
//! invoice of the same contact and currency, never above what is left on either, and no
//! edit or void while anything is allocated or paid out of it. An allocation moves the
//! invoice's `AmountCredited`/`AmountDue` (and makes it PAID at zero) and the credit
//! note's `RemainingCredit` (PAID at zero).

use chrono::{NaiveDate, Utc};
use rust_decimal::Decimal;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::super::harness::numbers::{decimal, money};
use super::super::harness::wire::Params;

use super::answers::{Answer, date_string, envelope, not_found, set_updated, xero_date};
use super::elements::{
    Write, ZERO_GUID, amount_field, date_field, enum_field, object_field, refused, text_field,
    validation_errors, write_batch,
};
use super::gate::Mode;
use super::invoices::{INVOICE_WHERE_FIELDS, PAYMENT_ALLOCATED, STATUSES};
use super::lines::{LINE_AMOUNT_TYPES, LineInput, Totals, merge_lines, parse_lines};
use super::lists::list_answer;
use super::payments::give_back;
use super::state::{Org, OrgData, index_of, live_by_number};

/// Fields a credit note `where` may name: its id and number, and those of an invoice's
/// but the contact's number.
fn where_fields() -> Vec<&'static str> {
    let shared = INVOICE_WHERE_FIELDS
        .iter()
        .filter(|f| !f.starts_with("Invoice") && **f != "Contact.ContactNumber");
    let own = ["CreditNoteID", "CreditNoteNumber"];
    own.into_iter().chain(shared.copied()).collect()
}

/// One credit note element as sent.
struct CreditNoteInput {
    raw: Map<String, Value>,
    kind: Option<String>,
    id: Option<String>,
    number: Option<String>,
    reference: Option<String>,
    contact_id: Option<String>,
    date: Option<NaiveDate>,
    status: Option<String>,
    amount_types: Option<String>,
    currency: Option<String>,
    lines: Option<Vec<LineInput>>,
}

impl CreditNoteInput {
    /// The element refused: with its id (or the zero GUID) and the messages.
    fn echo(&self, id: Option<&str>, messages: Vec<String>) -> Value {
        let mut echo = self.raw.clone();
        echo.insert("CreditNoteID".into(), json!(id.unwrap_or(ZERO_GUID)));
        echo.insert("HasErrors".into(), json!(true));
        echo.insert("StatusAttributeString".into(), json!("ERROR"));
        echo.insert("ValidationErrors".into(), validation_errors(messages));
        Value::Object(echo)
    }

    fn parse(raw: &Map<String, Value>, path: &str) -> Result<Self, String> {
        let lines = parse_lines(raw, path)?;
        let contact_path = format!("{path}.Contact");
        let contact_id = match object_field(raw, "Contact", "Contact", path)? {
            Some(c) => text_field(c, "ContactID", &contact_path)?,
            None => None,
        };
        Ok(CreditNoteInput {
            raw: raw.clone(),
            kind: enum_field(raw, "Type", path, &["ACCRECCREDIT", "ACCPAYCREDIT"])?,
            id: text_field(raw, "CreditNoteID", path)?,
            number: text_field(raw, "CreditNoteNumber", path)?.filter(|n| !n.trim().is_empty()),
            reference: text_field(raw, "Reference", path)?,
            contact_id,
            date: date_field(raw, "Date", path)?,
            status: enum_field(raw, "Status", path, STATUSES)?,
            amount_types: enum_field(raw, "LineAmountTypes", path, LINE_AMOUNT_TYPES)?,
            currency: text_field(raw, "CurrencyCode", path)?,
            lines,
        })
    }
}

impl OrgData {
    pub(super) fn credit_note_index(&self, key: &str) -> Option<usize> {
        index_of(&self.credit_notes, "CreditNoteID", key)
    }

    /// The live ACCRECCREDIT credit note with this number ([I] unique like invoice numbers).
    fn credit_note_by_number(&self, number: &str) -> Option<usize> {
        live_by_number(&self.credit_notes, "CreditNoteNumber", number, |_| true)
    }

    fn apply_credit_note(
        &mut self,
        given: &CreditNoteInput,
        mode: &Mode,
        unitdp: u32,
    ) -> Result<Value, Value> {
        let target = match mode {
            Mode::Create if given.id.is_some() => {
                let message = "A CreditNoteID cannot be given when creating credit notes.";
                return Err(given.echo(given.id.as_deref(), vec![message.into()]));
            }
            Mode::Create => None,
            Mode::Upsert => match &given.id {
                Some(id) => match self.credit_note_index(id) {
                    Some(i) => Some(i),
                    None => {
                        let message = "An existing Credit Note with the specified CreditNoteID could not be found";
                        return Err(given.echo(Some(id), vec![message.into()]));
                    }
                },
                None => None,
            },
            Mode::Update(key) => self.credit_note_index(key),
        };
        let now = Utc::now();
        let Some(index) = target else {
            let stored = self
                .build_credit_note(given, None, unitdp)
                .map_err(|m| given.echo(None, m))?;
            self.credit_notes.push(stored.clone());
            return Ok(stored);
        };
        let current = self.credit_notes[index].clone();
        let id = current["CreditNoteID"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let refuse = |m: &str| given.echo(Some(&id), vec![m.to_string()]);
        let status_now = current["Status"].as_str().unwrap_or("DRAFT").to_string();
        if matches!(status_now.as_str(), "VOIDED" | "DELETED") {
            return Err(refuse("Credit note not of valid status for modification"));
        }
        let busy = current["Allocations"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
            || current["Payments"]
                .as_array()
                .is_some_and(|p| !p.is_empty());
        if busy || status_now == "PAID" {
            return Err(refuse(PAYMENT_ALLOCATED));
        }
        let target_status = given.status.clone().unwrap_or(status_now.clone());
        let allowed = match status_now.as_str() {
            "DRAFT" | "SUBMITTED" => {
                matches!(
                    target_status.as_str(),
                    "DRAFT" | "SUBMITTED" | "AUTHORISED" | "DELETED"
                )
            }
            "AUTHORISED" => matches!(target_status.as_str(), "AUTHORISED" | "VOIDED"),
            _ => false,
        };
        if !allowed {
            let m =
                format!("A credit note cannot be changed from {status_now} to {target_status}.");
            return Err(refuse(&m));
        }
        if matches!(target_status.as_str(), "VOIDED" | "DELETED") {
            let mut stored = current;
            stored["Status"] = json!(target_status);
            stored["RemainingCredit"] = money(Decimal::ZERO);
            set_updated(&mut stored, now);
            self.credit_notes[index] = stored.clone();
            return Ok(stored);
        }
        let stored = self
            .build_credit_note(given, Some(&current), unitdp)
            .map_err(|m| given.echo(Some(&id), m))?;
        self.credit_notes[index] = stored.clone();
        Ok(stored)
    }

    /// Validates a new credit note, or `given` laid over `existing`, and computes it.
    fn build_credit_note(
        &mut self,
        given: &CreditNoteInput,
        existing: Option<&Value>,
        unitdp: u32,
    ) -> Result<Value, Vec<String>> {
        let old = |k: &str| existing.and_then(|e| e[k].as_str()).map(str::to_string);
        let mut errors = Vec::new();
        let kind = given.kind.clone().or_else(|| old("Type"));
        match kind.as_deref() {
            Some("ACCRECCREDIT") => {}
            None => errors.push("The credit note Type must be specified.".to_string()),
            Some(other) => errors.push(format!(
                "Credit note type {other} is not supported by this fake (ACCRECCREDIT only)."
            )),
        }
        let contact_id = given.contact_id.clone().or_else(|| {
            existing.and_then(|e| e["Contact"]["ContactID"].as_str().map(str::to_string))
        });
        let contact = match contact_id.as_deref().and_then(|id| self.contact_index(id)) {
            Some(i) => Some(self.contacts[i].clone()),
            None => {
                errors.push("A Contact must be specified for this type of transaction".to_string());
                None
            }
        };
        let status = given
            .status
            .clone()
            .or_else(|| old("Status"))
            .unwrap_or_else(|| "DRAFT".to_string());
        if existing.is_none() && !matches!(status.as_str(), "DRAFT" | "SUBMITTED" | "AUTHORISED") {
            errors.push(format!(
                "A new credit note cannot have the status {status}."
            ));
        }
        let currency = given
            .currency
            .clone()
            .or_else(|| old("CurrencyCode"))
            .unwrap_or_else(|| self.currencies[0].clone());
        if !self
            .currencies
            .iter()
            .any(|c| c.eq_ignore_ascii_case(&currency))
        {
            errors.push(format!(
                "Organisation is not subscribed to currency {currency}"
            ));
        }
        let own_id = old("CreditNoteID");
        let number = match given.number.clone().or_else(|| old("CreditNoteNumber")) {
            Some(n) => {
                let taken = self.credit_note_by_number(&n).is_some_and(|i| {
                    self.credit_notes[i]["CreditNoteID"].as_str() != own_id.as_deref()
                });
                if taken {
                    // [I] wording, after the invoice's.
                    errors.push("Credit Note # must be unique.".to_string());
                }
                n.trim().to_string()
            }
            None => loop {
                let n = format!("CN-{:04}", self.next_credit_note_number);
                self.next_credit_note_number += 1;
                if self.credit_note_by_number(&n).is_none() {
                    break n;
                }
            },
        };
        let amount_types = given
            .amount_types
            .clone()
            .or_else(|| old("LineAmountTypes"))
            .unwrap_or_else(|| "Exclusive".to_string());
        let lines: Vec<LineInput> = match (&given.lines, existing) {
            (Some(lines), Some(e)) => merge_lines(e, lines),
            (Some(lines), None) => lines.clone(),
            (None, Some(e)) => e["LineItems"]
                .as_array()
                .into_iter()
                .flatten()
                .map(LineInput::from_stored)
                .collect(),
            (None, None) => Vec::new(),
        };
        if lines.is_empty() {
            errors.push("A credit note must have at least one line item.".to_string());
        }
        let totals = self.build_lines(&lines, &amount_types, unitdp, &mut errors);
        let Totals {
            lines: stored_lines,
            sub_total,
            tax: tax_total,
            total,
            ..
        } = totals;
        if errors.is_empty() && total <= Decimal::ZERO {
            errors.push("The credit note total must be more than zero.".to_string());
        }
        refused(errors)?;
        let contact = contact.expect("validated above");
        let date = given
            .date
            .or_else(|| {
                existing
                    .and_then(|e| e["DateString"].as_str())
                    .and_then(|s| NaiveDate::parse_from_str(s.get(..10)?, "%Y-%m-%d").ok())
            })
            .unwrap_or_else(|| Utc::now().date_naive());
        let mut note = json!({
            "Type": "ACCRECCREDIT",
            "CreditNoteID": own_id.unwrap_or_else(|| Uuid::new_v4().to_string()),
            "CreditNoteNumber": number,
            "Reference": given.reference.clone().or_else(|| old("Reference")).unwrap_or_default(),
            "Contact": { "ContactID": contact["ContactID"], "Name": contact["Name"],
                         "ContactNumber": contact["ContactNumber"] },
            "DateString": date_string(date), "Date": xero_date(date), "Status": status,
            "LineAmountTypes": amount_types, "LineItems": stored_lines,
            "SubTotal": money(sub_total), "TotalTax": money(tax_total), "Total": money(total),
            "RemainingCredit": money(total), "CurrencyCode": currency.to_ascii_uppercase(),
            "CurrencyRate": 1.0, "Allocations": [], "Payments": [], "HasErrors": false,
            "HasAttachments": false, "StatusAttributeString": "OK",
        });
        set_updated(&mut note, Utc::now());
        Ok(note)
    }

    /// One allocation of credit note `index` to an invoice.
    fn allocate(&mut self, index: usize, raw: &Map<String, Value>) -> Result<Value, Vec<String>> {
        let path = "Allocations[0]";
        let amount = amount_field(raw, "Amount", path).map_err(|e| vec![e])?;
        let date = date_field(raw, "Date", path).map_err(|e| vec![e])?;
        let invoice_id = raw
            .get("Invoice")
            .and_then(|i| i.get("InvoiceID"))
            .and_then(Value::as_str);
        let note = self.credit_notes[index].clone();
        let mut errors = Vec::new();
        let Some(amount) = amount.filter(|a| *a > Decimal::ZERO) else {
            return Err(vec![
                "The allocation Amount must be greater than zero.".into(),
            ]);
        };
        let Some(date) = date else {
            return Err(vec!["The allocation Date must be specified.".into()]);
        };
        let Some(i) = invoice_id.and_then(|id| self.invoice_index(id)) else {
            return Err(vec!["Invoice could not be found.".into()]);
        };
        let invoice = self.invoices[i].clone();
        if note["Status"] != "AUTHORISED" {
            errors.push("Only AUTHORISED credit notes can be allocated.".to_string());
        }
        if invoice["Type"] != "ACCREC" || invoice["Status"] != "AUTHORISED" {
            errors.push("Credit notes can only be allocated to AUTHORISED sales invoices.".into());
        }
        if invoice["Contact"]["ContactID"] != note["Contact"]["ContactID"] {
            errors.push("The invoice and the credit note must be for the same contact.".into());
        }
        if invoice["CurrencyCode"] != note["CurrencyCode"] {
            errors.push("The invoice and the credit note must be in the same currency.".into());
        }
        let remaining = decimal(&note["RemainingCredit"]).unwrap_or_default();
        let due = decimal(&invoice["AmountDue"]).unwrap_or_default();
        if amount > remaining {
            errors.push(format!(
                "The amount allocated ({amount}) exceeds the remaining credit ({remaining})."
            ));
        }
        if amount > due {
            errors.push(format!(
                "The amount allocated ({amount}) exceeds the amount due on the invoice ({due})."
            ));
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let now = Utc::now();
        let allocation_id = Uuid::new_v4().to_string();
        let allocation = json!({
            "AllocationID": allocation_id, "Amount": money(amount), "Date": xero_date(date),
            "Invoice": { "InvoiceID": invoice["InvoiceID"], "InvoiceNumber": invoice["InvoiceNumber"] },
            "CreditNote": { "CreditNoteID": note["CreditNoteID"], "CreditNoteNumber": note["CreditNoteNumber"] },
            "IsDeleted": false,
        });
        let note = &mut self.credit_notes[index];
        note["RemainingCredit"] = money(remaining - amount);
        if remaining - amount == Decimal::ZERO {
            note["Status"] = json!("PAID");
        }
        note["Allocations"]
            .as_array_mut()
            .expect("allocations")
            .push(allocation.clone());
        set_updated(note, now);
        let invoice = &mut self.invoices[i];
        let credited = decimal(&invoice["AmountCredited"]).unwrap_or_default() + amount;
        invoice["AmountCredited"] = money(credited);
        invoice["AmountDue"] = money(due - amount);
        if due - amount == Decimal::ZERO {
            invoice["Status"] = json!("PAID");
        }
        let applied = json!({ "CreditNoteID": allocation["CreditNote"]["CreditNoteID"],
            "CreditNoteNumber": allocation["CreditNote"]["CreditNoteNumber"],
            "AppliedAmount": money(amount), "AllocationID": allocation_id });
        match invoice["CreditNotes"].as_array_mut() {
            Some(list) => list.push(applied),
            None => invoice["CreditNotes"] = json!([applied]),
        }
        set_updated(invoice, now);
        let mut answer = allocation;
        answer["StatusAttributeString"] = json!("OK");
        answer["ValidationErrors"] = json!([]);
        Ok(answer)
    }
}

/// `PUT CreditNotes`, `POST CreditNotes` and `POST CreditNotes/{CreditNoteID}`.
pub(super) fn write_credit_notes(org: &mut Org, write: &Write) -> (Answer, bool) {
    let find = OrgData::credit_note_index;
    let inputs = match write.read(org, "CreditNotes", CreditNoteInput::parse, find) {
        Ok(inputs) => inputs,
        Err(refusal) => return refusal,
    };
    write_batch(
        org,
        &inputs,
        write.summarize,
        "CreditNotes",
        |data, input| data.apply_credit_note(input, write.mode, write.unitdp),
    )
}

/// `PUT CreditNotes/{CreditNoteID}/Allocations`: one allocation (the fake takes one per
/// request, [I]).
pub(super) fn allocate_credit_note(
    org: &mut Org,
    key: &str,
    elements: &[Map<String, Value>],
    summarize: bool,
) -> (Answer, bool) {
    let Some(index) = org.data.credit_note_index(key) else {
        return (not_found(), false);
    };
    write_batch(org, elements, summarize, "Allocations", |data, raw| {
        data.allocate(index, raw).map_err(|messages| {
            let mut echo = raw.clone();
            echo.insert("StatusAttributeString".into(), json!("ERROR"));
            echo.insert("ValidationErrors".into(), validation_errors(messages));
            Value::Object(echo)
        })
    })
}

/// `DELETE CreditNotes/{CreditNoteID}/Allocations/{AllocationID}`: the allocation with
/// `IsDeleted: true`; the invoice and the credit note get their amounts back.
pub(super) fn delete_allocation(org: &mut Org, key: &str, allocation_id: &str) -> (Answer, bool) {
    let data = &mut org.data;
    let Some(index) = data.credit_note_index(key) else {
        return (not_found(), false);
    };
    let note = &mut data.credit_notes[index];
    let allocations = note["Allocations"].as_array().expect("allocations");
    let Some(at) = index_of(allocations, "AllocationID", allocation_id) else {
        return (not_found(), false);
    };
    let allocation = allocations[at].clone();
    let amount = decimal(&allocation["Amount"]).unwrap_or_default();
    let now = Utc::now();
    let this = |a: &Value| a["AllocationID"] == allocation["AllocationID"];
    give_back(
        note,
        &[("RemainingCredit", amount)],
        "Allocations",
        this,
        now,
    );
    let invoice_id = allocation["Invoice"]["InvoiceID"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    if let Some(i) = data.invoice_index(&invoice_id) {
        let moved = [("AmountCredited", -amount), ("AmountDue", amount)];
        give_back(&mut data.invoices[i], &moved, "CreditNotes", this, now);
    }
    let answer = json!({
        "AllocationID": allocation["AllocationID"], "Date": allocation["Date"],
        "Invoice": [ { "InvoiceID": invoice_id } ], "IsDeleted": true,
    });
    (Answer::json(axum::http::StatusCode::OK, &answer), true)
}

/// `GET CreditNotes[?where=&page=]`.
pub(super) fn list_credit_notes(org: &Org, params: &Params) -> Answer {
    let found: Vec<&Value> = org.data.credit_notes.iter().collect();
    list_answer(
        params,
        "CreditNotes",
        ("CreditNote", &where_fields()),
        found,
        &["LineItems", "Payments", "Allocations"],
        |_| {},
    )
}

/// `GET CreditNotes/{CreditNoteID}`.
pub(super) fn get_credit_note(org: &Org, key: &str) -> Answer {
    match org.data.credit_note_index(key) {
        Some(i) => envelope("CreditNotes", vec![org.data.credit_notes[i].clone()]),
        None => not_found(),
    }
}
