//! Invoices: writes (`PUT`/`POST Invoices`) checked and computed as Xero does (the status
//! table, payment locks, numbers, currencies, contacts), and lookups.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::super::harness::numbers::{decimal, money, rounded};
use super::super::harness::wire::Params;

use super::answers::{
    Answer, date_string, envelope, high_volume, not_found, set_updated, xero_date,
};
use super::contacts::ContactInput;
use super::elements::{
    Messages, Write, ZERO_GUID, amount_field, date_field, enum_field, object_field, refused,
    text_field, validation_errors, write_batch,
};
use super::gate::Mode;
use super::lines::{LINE_AMOUNT_TYPES, LineInput, Totals, merge_lines, parse_lines};
use super::lists::{list_answer, split_list, too_broad};
use super::state::{Org, OrgData, index_of, live_by_number};

const MAX_INVOICE_NUMBER_LEN: usize = 255;

const INVOICE_TYPES: &[&str] = &[
    "ACCREC",
    "ACCPAY",
    "ACCRECCREDIT",
    "ACCPAYCREDIT",
    "AROVERPAYMENT",
    "ARPREPAYMENT",
    "APOVERPAYMENT",
    "APPREPAYMENT",
];
/// The statuses of invoices and credit notes.
pub(super) const STATUSES: &[&str] = &[
    "DRAFT",
    "SUBMITTED",
    "DELETED",
    "AUTHORISED",
    "PAID",
    "VOIDED",
];

/// Fields an invoice `where` may name.
pub(super) const INVOICE_WHERE_FIELDS: &[&str] = &[
    "InvoiceID",
    "InvoiceNumber",
    "Reference",
    "Type",
    "Status",
    "CurrencyCode",
    "Contact.ContactID",
    "Contact.Name",
    "Contact.ContactNumber",
];

pub(super) const PAYMENT_ALLOCATED: &str =
    "This document cannot be edited as it has a payment or credit note allocated to it.";
const NOT_MODIFIABLE: &str = "Invoice not of valid status for modification";

/// An invoice element as sent (or as stored, for an update's base): `None` where absent.
#[derive(Clone, Default)]
struct InvoiceInput {
    raw: Map<String, Value>,
    kind: Option<String>,
    invoice_id: Option<String>,
    number: Option<String>,
    reference: Option<String>,
    url: Option<String>,
    contact: Option<Map<String, Value>>,
    date: Option<NaiveDate>,
    due_date: Option<NaiveDate>,
    status: Option<String>,
    amount_types: Option<String>,
    currency: Option<String>,
    currency_rate: Option<Decimal>,
    lines: Option<Vec<LineInput>>,
}

impl InvoiceInput {
    fn parse(raw: &Map<String, Value>, path: &str) -> Result<Self, String> {
        let contact = object_field(raw, "Contact", "Contact", path)?.cloned();
        let lines = parse_lines(raw, path)?;
        Ok(InvoiceInput {
            raw: raw.clone(),
            kind: enum_field(raw, "Type", path, INVOICE_TYPES)?,
            invoice_id: text_field(raw, "InvoiceID", path)?,
            number: text_field(raw, "InvoiceNumber", path)?.filter(|n| !n.trim().is_empty()),
            reference: text_field(raw, "Reference", path)?,
            url: text_field(raw, "Url", path)?,
            contact,
            date: date_field(raw, "Date", path)?,
            due_date: date_field(raw, "DueDate", path)?,
            status: enum_field(raw, "Status", path, STATUSES)?,
            amount_types: enum_field(raw, "LineAmountTypes", path, LINE_AMOUNT_TYPES)?,
            currency: text_field(raw, "CurrencyCode", path)?,
            currency_rate: amount_field(raw, "CurrencyRate", path)?,
            lines,
        })
    }

    /// A stored invoice as the base of an update.
    fn from_stored(stored: &Value) -> Self {
        let text = |key: &str| stored[key].as_str().map(str::to_string);
        let date = |key: &str| {
            stored[key]
                .as_str()
                .and_then(|s| NaiveDate::parse_from_str(s.get(..10)?, "%Y-%m-%d").ok())
        };
        let contact = json!({ "ContactID": stored["Contact"]["ContactID"] });
        InvoiceInput {
            raw: Map::new(),
            kind: text("Type"),
            invoice_id: text("InvoiceID"),
            number: text("InvoiceNumber"),
            reference: text("Reference"),
            url: text("Url"),
            contact: contact.as_object().cloned(),
            date: date("DateString"),
            due_date: date("DueDateString"),
            status: text("Status"),
            amount_types: text("LineAmountTypes"),
            currency: text("CurrencyCode"),
            currency_rate: decimal(&stored["CurrencyRate"]),
            lines: Some(
                stored["LineItems"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(LineInput::from_stored)
                    .collect(),
            ),
        }
    }

    /// The given element's properties laid over this base (line items excluded).
    fn overlay(mut self, given: &InvoiceInput) -> Self {
        fn over<T: Clone>(base: &mut Option<T>, given: &Option<T>) {
            if given.is_some() {
                base.clone_from(given);
            }
        }
        over(&mut self.kind, &given.kind);
        over(&mut self.number, &given.number);
        over(&mut self.reference, &given.reference);
        over(&mut self.url, &given.url);
        over(&mut self.contact, &given.contact);
        over(&mut self.date, &given.date);
        over(&mut self.due_date, &given.due_date);
        over(&mut self.status, &given.status);
        over(&mut self.amount_types, &given.amount_types);
        over(&mut self.currency, &given.currency);
        over(&mut self.currency_rate, &given.currency_rate);
        self
    }
}

/// Per-request settings of a write.
struct Ctx {
    /// Decimal places of `UnitAmount` (2, or 4 with `unitdp=4`).
    unitdp: u32,
    today: NaiveDate,
    now: DateTime<Utc>,
}

/// A refused invoice element: its id (if it named an existing invoice) and messages.
struct Rejected {
    id: Option<String>,
    messages: Messages,
}

fn rejected(id: Option<&str>, message: impl Into<String>) -> Rejected {
    Rejected {
        id: id.map(str::to_string),
        messages: vec![message.into()],
    }
}

/// The documented status table: which status an invoice may move to from which.
fn transition_allowed(from: &str, to: &str) -> bool {
    match from {
        "DRAFT" => matches!(to, "DRAFT" | "SUBMITTED" | "AUTHORISED" | "DELETED"),
        "SUBMITTED" => matches!(to, "SUBMITTED" | "AUTHORISED" | "DRAFT" | "DELETED"),
        "AUTHORISED" => matches!(to, "AUTHORISED" | "VOIDED"),
        _ => false,
    }
}

impl OrgData {
    pub(super) fn invoice_index(&self, id: &str) -> Option<usize> {
        index_of(&self.invoices, "InvoiceID", id)
    }

    /// The live (not DELETED) sales invoice with this number ([I] case-insensitive).
    fn accrec_by_number(&self, number: &str) -> Option<usize> {
        live_by_number(&self.invoices, "InvoiceNumber", number, |i| {
            i["Type"] == "ACCREC"
        })
    }

    /// By InvoiceID, or else by InvoiceNumber (as `GET Invoices/{InvoiceNumber}` does).
    fn find_invoice(&self, key: &str) -> Option<usize> {
        self.invoice_index(key)
            .or_else(|| self.accrec_by_number(key))
            .or_else(|| self.invoices.iter().position(|i| i["InvoiceNumber"] == key))
    }

    /// The next free `INV-0001`-style number.
    fn next_number(&mut self) -> String {
        loop {
            let number = format!("INV-{:04}", self.next_invoice_number);
            self.next_invoice_number += 1;
            if self.accrec_by_number(&number).is_none() {
                return number;
            }
        }
    }

    /// Applies one element of `PUT`/`POST Invoices`.
    fn apply_invoice(
        &mut self,
        given: &InvoiceInput,
        mode: &Mode,
        ctx: &Ctx,
    ) -> Result<Value, Rejected> {
        let target = match mode {
            Mode::Create => {
                if let Some(id) = &given.invoice_id {
                    // [I] wording: PUT only creates.
                    let message =
                        "An InvoiceID cannot be given when creating invoices; use POST to update.";
                    return Err(rejected(Some(id), message));
                }
                None
            }
            Mode::Upsert => match (&given.invoice_id, &given.number) {
                (Some(id), _) => match self.invoice_index(id) {
                    Some(index) => Some(index),
                    // [I] wording.
                    None => {
                        let message = format!("Invoice {id} could not be found.");
                        return Err(rejected(Some(id), message));
                    }
                },
                (None, Some(number)) if given.kind.as_deref().is_none_or(|k| k == "ACCREC") => {
                    self.accrec_by_number(number)
                }
                _ => None,
            },
            Mode::Update(key) => self.find_invoice(key),
        };
        let Some(index) = target else {
            let undo = self
                .apply_contact_fields(given, ctx.now)
                .map_err(|messages| Rejected { id: None, messages })?;
            let stored = self.build_invoice(given, None, ctx).map_err(|messages| {
                self.undo_contact(undo);
                Rejected { id: None, messages }
            })?;
            self.invoices.push(stored.clone());
            return Ok(stored);
        };
        self.update_invoice(index, given, ctx)
    }

    /// Updates a stored invoice: status table, payment lock, VOIDED/DELETED as pure status
    /// changes, else a partial update (given properties over stored ones, the LineItemID
    /// rule for lines) validated like a new invoice.
    fn update_invoice(
        &mut self,
        index: usize,
        given: &InvoiceInput,
        ctx: &Ctx,
    ) -> Result<Value, Rejected> {
        let current = self.invoices[index].clone();
        let id = current["InvoiceID"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let refuse = |message: &str| rejected(Some(&id), message);
        let status_now = current["Status"].as_str().unwrap_or("DRAFT").to_string();
        let status_now = status_now.as_str();
        if matches!(status_now, "VOIDED" | "DELETED") {
            return Err(refuse(NOT_MODIFIABLE));
        }
        let paid = decimal(&current["AmountPaid"]).unwrap_or_default();
        let credited = decimal(&current["AmountCredited"]).unwrap_or_default();
        if status_now == "PAID" || paid > Decimal::ZERO || credited > Decimal::ZERO {
            return Err(refuse(PAYMENT_ALLOCATED));
        }
        if let Some(kind) = &given.kind
            && current["Type"] != kind.as_str()
        {
            return Err(refuse("The Type of an existing invoice cannot be changed."));
        }
        let target = given.status.as_deref().unwrap_or(status_now);
        if !transition_allowed(status_now, target) {
            // [I] wording.
            let message = format!("An invoice cannot be changed from {status_now} to {target}.");
            return Err(refuse(&message));
        }
        if matches!(target, "VOIDED" | "DELETED") {
            let mut stored = current;
            stored["Status"] = json!(target);
            stored["AmountDue"] = money(Decimal::ZERO);
            set_updated(&mut stored, ctx.now);
            self.invoices[index] = stored.clone();
            return Ok(stored);
        }
        let mut merged = InvoiceInput::from_stored(&current).overlay(given);
        if let Some(lines) = &given.lines {
            merged.lines = Some(merge_lines(&current, lines));
        }
        let with_id = |messages| Rejected {
            id: Some(id.clone()),
            messages,
        };
        let undo = self.apply_contact_fields(given, ctx.now).map_err(with_id)?;
        let stored = self
            .build_invoice(&merged, Some(&current), ctx)
            .map_err(|messages| {
                self.undo_contact(undo);
                with_id(messages)
            })?;
        self.invoices[index] = stored.clone();
        Ok(stored)
    }

    /// Contact properties sent besides `ContactID` update that contact (as Xero does).
    /// Returns the contact as it was, to put back if the invoice is refused.
    fn apply_contact_fields(
        &mut self,
        given: &InvoiceInput,
        now: DateTime<Utc>,
    ) -> Result<Option<(usize, Value)>, Messages> {
        let Some(contact) = &given.contact else {
            return Ok(None);
        };
        let Some(index) = contact
            .get("ContactID")
            .and_then(Value::as_str)
            .and_then(|id| self.contact_index(id))
        else {
            return Ok(None);
        };
        let extra: Map<String, Value> = contact
            .iter()
            .filter(|(k, _)| k.as_str() != "ContactID")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if extra.is_empty() {
            return Ok(None);
        }
        let input = ContactInput::parse(&extra, "Contact").map_err(|e| vec![e])?;
        let before = self.contacts[index].clone();
        self.update_contact(index, &input, now)?;
        Ok(Some((index, before)))
    }

    /// Puts back a contact [`OrgData::apply_contact_fields`] changed.
    fn undo_contact(&mut self, undo: Option<(usize, Value)>) {
        if let Some((index, before)) = undo {
            self.contacts[index] = before;
        }
    }

    /// Validates a complete invoice (new, or merged for an update) and computes what Xero
    /// computes: totals, AmountDue, numbers, dates and ids. Only ACCREC is supported.
    fn build_invoice(
        &mut self,
        input: &InvoiceInput,
        existing: Option<&Value>,
        ctx: &Ctx,
    ) -> Result<Value, Messages> {
        let mut errors = Vec::new();
        match input.kind.as_deref() {
            Some("ACCREC") => {}
            // [I] wording.
            None => errors.push("The invoice Type must be specified.".to_string()),
            Some(other) => errors.push(format!(
                "Invoice type {other} is not supported by this fake (ACCREC only)."
            )),
        }
        let contact_id = input
            .contact
            .as_ref()
            .and_then(|c| c.get("ContactID"))
            .and_then(Value::as_str);
        let contact = match contact_id {
            // [I] wording (the fake requires a ContactID; Xero also matches by Name).
            None => {
                errors.push("A Contact must be specified for this type of transaction".to_string());
                None
            }
            Some(id) => match self.contact_index(id) {
                Some(i) if self.contacts[i]["ContactStatus"] == "ARCHIVED" => {
                    let name = self.contacts[i]["Name"].as_str().unwrap_or_default();
                    errors.push(format!("The contact {name} is archived."));
                    None
                }
                Some(i) => Some(self.contacts[i].clone()),
                None => {
                    errors.push(format!(
                        "The contact with ContactID {id} could not be found."
                    ));
                    None
                }
            },
        };
        let status = input.status.clone().unwrap_or_else(|| "DRAFT".to_string());
        if existing.is_none() && !matches!(status.as_str(), "DRAFT" | "SUBMITTED" | "AUTHORISED") {
            errors.push(format!("A new invoice cannot have the status {status}."));
        }
        let date = input.date.unwrap_or(ctx.today);
        if input.due_date.is_none() && matches!(status.as_str(), "SUBMITTED" | "AUTHORISED") {
            errors.push("Due Date must be specified.".to_string());
        }
        let base = self.currencies[0].clone();
        let currency = match &input.currency {
            None => base.clone(),
            Some(given) => match self
                .currencies
                .iter()
                .find(|c| c.eq_ignore_ascii_case(given.trim()))
            {
                Some(code) => code.clone(),
                None => {
                    errors.push(format!(
                        "Organisation is not subscribed to currency {given}"
                    ));
                    given.clone()
                }
            },
        };
        // [I] Without a CurrencyRate Xero takes the day's XE.com rate; the fake takes 1.
        let rate = match input.currency_rate {
            _ if currency == base => Decimal::ONE,
            Some(rate) if rate > Decimal::ZERO => rate,
            _ => Decimal::ONE,
        };
        let currency_rate = rounded(rate, 6);
        let amount_types = input
            .amount_types
            .clone()
            .unwrap_or_else(|| "Exclusive".to_string());
        let own_id = existing.and_then(|e| e["InvoiceID"].as_str());
        let number = match &input.number {
            Some(n) if n.chars().count() > MAX_INVOICE_NUMBER_LEN => {
                errors.push(format!(
                    "Invoice Number must be no more than {MAX_INVOICE_NUMBER_LEN} characters."
                ));
                n.clone()
            }
            Some(n) => {
                let taken = self
                    .accrec_by_number(n)
                    .is_some_and(|i| self.invoices[i]["InvoiceID"].as_str() != own_id);
                if taken {
                    errors.push("Invoice # must be unique.".to_string());
                }
                n.trim().to_string()
            }
            None => self.next_number(),
        };
        let lines = input.lines.as_deref().unwrap_or_default();
        if lines.is_empty() {
            // [I] wording.
            errors.push("An invoice must have at least one line item.".to_string());
        }
        let Totals {
            lines: stored_lines,
            sub_total,
            tax: tax_total,
            total,
            discount: discount_total,
        } = self.build_lines(lines, &amount_types, ctx.unitdp, &mut errors);
        if errors.is_empty() && total < Decimal::ZERO {
            errors.push("The invoice total must be zero or more.".to_string());
        }
        refused(errors)?;
        let contact = contact.expect("validated above");
        let paid = existing
            .and_then(|e| decimal(&e["AmountPaid"]))
            .unwrap_or_default();
        let mut invoice = json!({
            "Type": "ACCREC",
            "InvoiceID": own_id.map_or_else(|| Uuid::new_v4().to_string(), str::to_string),
            "InvoiceNumber": number, "Reference": input.reference.clone().unwrap_or_default(),
            "Payments": existing.map_or_else(|| json!([]), |e| e["Payments"].clone()),
            "CreditNotes": [], "Prepayments": [], "Overpayments": [],
            "AmountDue": money(total - paid), "AmountPaid": money(paid),
            "AmountCredited": money(Decimal::ZERO), "SentToContact": false,
            "CurrencyRate": currency_rate,
            "IsDiscounted": discount_total != Decimal::ZERO, "HasAttachments": false,
            "HasErrors": false,
            "Contact": {
                "ContactID": contact["ContactID"], "ContactStatus": contact["ContactStatus"],
                "Name": contact["Name"], "Addresses": [], "Phones": [], "ContactGroups": [],
                "ContactPersons": [], "HasValidationErrors": false,
            },
            "DateString": date_string(date), "Date": xero_date(date), "Status": status,
            "LineAmountTypes": amount_types, "LineItems": stored_lines,
            "SubTotal": money(sub_total), "TotalTax": money(tax_total), "Total": money(total),
            "CurrencyCode": currency,
        });
        if let Some(number) = contact.get("ContactNumber").filter(|n| !n.is_null()) {
            invoice["Contact"]["ContactNumber"] = number.clone();
        }
        if let Some(due) = input.due_date {
            invoice["DueDateString"] = json!(date_string(due));
            invoice["DueDate"] = json!(xero_date(due));
        }
        if discount_total != Decimal::ZERO {
            invoice["TotalDiscount"] = money(discount_total);
        }
        if let Some(url) = &input.url {
            invoice["Url"] = json!(url);
        }
        set_updated(&mut invoice, ctx.now);
        Ok(invoice)
    }
}

/// A failed invoice element: the input with its id, `HasErrors`, `StatusAttributeString:
/// "ERROR"` and `ValidationErrors`.
fn invoice_echo(input: &InvoiceInput, rejected: Rejected) -> Value {
    let mut echo = input.raw.clone();
    let id = rejected.id.unwrap_or_else(|| ZERO_GUID.to_string());
    echo.insert("InvoiceID".into(), json!(id));
    echo.insert("HasErrors".into(), json!(true));
    echo.insert("StatusAttributeString".into(), json!("ERROR"));
    echo.insert(
        "ValidationErrors".into(),
        validation_errors(rejected.messages),
    );
    Value::Object(echo)
}

/// `PUT Invoices` (create only), `POST Invoices` (update when an element names an
/// existing invoice by InvoiceID, or an ACCREC one by InvoiceNumber; else create) and
/// `POST Invoices/{InvoiceID}`. The flag tells whether anything was stored.
pub(super) fn write_invoices(org: &mut Org, write: &Write) -> (Answer, bool) {
    let inputs = match write.read(org, "Invoices", InvoiceInput::parse, OrgData::find_invoice) {
        Ok(inputs) => inputs,
        Err(refusal) => return refusal,
    };
    let now = Utc::now();
    let ctx = Ctx {
        unitdp: write.unitdp,
        today: now.date_naive(),
        now,
    };
    write_batch(
        org,
        &inputs,
        write.summarize,
        "Invoices",
        |data, input| match data.apply_invoice(input, write.mode, &ctx) {
            Ok(mut stored) => {
                stored["StatusAttributeString"] = json!("OK");
                Ok(stored)
            }
            Err(rejected) => Err(invoice_echo(input, rejected)),
        },
    )
}

/// Invoice `where` fields Xero optimises when joined by AND, and the one it optimises
/// when joined by OR ("the optimisation of the or operator is restricted to InvoiceId").
const INVOICE_OPTIMISED: &[&str] = &[
    "Status",
    "Type",
    "InvoiceID",
    "InvoiceNumber",
    "Reference",
    "Contact.ContactID",
    "Contact.Name",
    "Contact.ContactNumber",
];
const INVOICE_OPTIMISED_OR: &[&str] = &["InvoiceID"];
/// What `summaryOnly=true` leaves out of invoices (Xero's list).
const INVOICE_SUMMARY_EXCLUDED: &[&str] =
    &["Payments", "HasAttachments", "LineItems", "CISDeduction"];

/// `GET Invoices[?InvoiceNumbers=&IDs=&ContactIDs=&Statuses=&where=&summaryOnly=&page=
/// &pageSize=]`: every type (sales invoices and bills) matching all the filters given; the
/// list parameters match any of their comma-separated values exactly ([I] ignoring case).
/// Without `page` the invoices come without their line items (`"LineItems": []`), as
/// Xero's list does; with it, 100 a page with lines and `pagination`; `summaryOnly=true`
/// pages and leaves out lines, payments and attachments.
pub(super) fn list_invoices(org: &Org, params: &Params) -> Answer {
    if org.high_volume
        && too_broad(
            params,
            &[
                "IDs",
                "InvoiceNumbers",
                "ContactIDs",
                "Statuses",
                "searchTerm",
            ],
            "Invoice",
            INVOICE_WHERE_FIELDS,
            |f| f.optimised(INVOICE_OPTIMISED, INVOICE_OPTIMISED_OR),
        )
    {
        return high_volume("Invoices", "Invoice");
    }
    let mut found: Vec<&Value> = org.data.invoices.iter().collect();
    let matches_any = |list: &[String], value: &Value| {
        value
            .as_str()
            .is_some_and(|v| list.iter().any(|l| l.eq_ignore_ascii_case(v)))
    };
    if let Some(ids) = params.get_ci("IDs") {
        let ids = split_list(ids);
        found.retain(|i| matches_any(&ids, &i["InvoiceID"]));
    }
    if let Some(numbers) = params.get_ci("InvoiceNumbers") {
        let numbers = split_list(numbers);
        found.retain(|i| matches_any(&numbers, &i["InvoiceNumber"]));
    }
    if let Some(ids) = params.get_ci("ContactIDs") {
        let ids = split_list(ids);
        found.retain(|i| matches_any(&ids, &i["Contact"]["ContactID"]));
    }
    if let Some(statuses) = params.get_ci("Statuses") {
        let statuses = split_list(statuses);
        found.retain(|i| matches_any(&statuses, &i["Status"]));
    }
    let filter = ("Invoice", INVOICE_WHERE_FIELDS);
    list_answer(
        params,
        "Invoices",
        filter,
        found,
        INVOICE_SUMMARY_EXCLUDED,
        |i| {
            i["LineItems"] = json!([]);
        },
    )
}

/// `GET Invoices/{InvoiceID or InvoiceNumber}`: the full invoice; 404 in plain text.
pub(super) fn get_invoice(org: &Org, key: &str) -> Answer {
    match org.data.find_invoice(key) {
        Some(i) => envelope("Invoices", vec![org.data.invoices[i].clone()]),
        None => not_found(),
    }
}
