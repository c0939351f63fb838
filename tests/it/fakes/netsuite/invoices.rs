//! Invoices and credit memos: item lines (the sublist rule that appends lines without a
//! `line` key unless `?replace=item`), totals recomputed from the lines, and crediting an
//! invoice once by transform.

use axum::http::StatusCode;
use chrono::{NaiveDate, Utc};
use rust_decimal::Decimal;
use serde_json::{Map, Value, json};

use super::super::harness::numbers::{decimal, plain};

use super::SUBSIDIARY_ID;
use super::answers::{Answer, error, invalid_reference, missing, not_found, user_error};
use super::records::{ref_id, round2};
use super::routes::{Key, RecordType};
use super::state::{FakeState, Stored};

impl FakeState {
    /// A body field every transaction checks the same way, as stored: the customer
    /// (`entity`, or `customer` on payments and refunds), `currency`, `subsidiary` and the
    /// dates. `None` for any other field.
    pub(super) fn transaction_field(&self, k: &str, v: &Value) -> Result<Option<Value>, Answer> {
        let id = ref_id(v).unwrap_or_default();
        Ok(Some(match k {
            "entity" | "customer" => {
                let Some(c) = self.customers.iter().find(|c| c.id == id) else {
                    return Err(invalid_reference(k, &id, k));
                };
                let name = c.fields.get("companyName").cloned().unwrap_or(Value::Null);
                json!({"id": id, "refName": name})
            }
            "currency" => {
                let Some(c) = self.currencies.iter().find(|c| c.0 == id) else {
                    return Err(invalid_reference("currency", &id, "currency"));
                };
                json!({"id": id, "refName": c.1})
            }
            "subsidiary" if id != SUBSIDIARY_ID => {
                return Err(invalid_reference("subsidiary", &id, "subsidiary"));
            }
            "subsidiary" => json!({"id": id, "refName": "Parent Company"}),
            "tranDate" | "dueDate" => {
                let ok = v
                    .as_str()
                    .is_some_and(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").is_ok());
                if !ok {
                    return Err(error(
                        StatusCode::BAD_REQUEST,
                        "INVALID_FLD_VALUE",
                        &format!("Invalid value for the {k} field: use YYYY-MM-DD."),
                        Some(k),
                    ));
                }
                v.clone()
            }
            _ => return Ok(None),
        }))
    }

    pub(super) fn apply_invoice(
        &self,
        record: &mut Stored,
        mut fields: Map<String, Value>,
        creating: bool,
        replace_items: bool,
    ) -> Result<(), Answer> {
        let sublist = fields.remove("item");
        for (k, v) in fields {
            let value = self.transaction_field(&k, &v)?.unwrap_or(v);
            record.fields.insert(k, value);
        }
        if !record.fields.contains_key("entity") {
            return Err(missing("Customer", "entity"));
        }
        if creating {
            record
                .fields
                .entry("tranDate")
                .or_insert_with(|| json!(Utc::now().format("%Y-%m-%d").to_string()));
            let entity = ref_id(&record.fields["entity"]).unwrap_or_default();
            let customer = self.customers.iter().find(|c| c.id == entity);
            let from_customer = |name: &str| customer.and_then(|c| c.fields.get(name)).cloned();
            if !record.fields.contains_key("subsidiary")
                && let Some(s) = from_customer("subsidiary")
            {
                record.fields.insert("subsidiary".into(), s);
            }
            if !record.fields.contains_key("currency")
                && let Some(c) = from_customer("currency")
            {
                record.fields.insert("currency".into(), c);
            }
        }
        let mut lines: Vec<Value> = if creating || replace_items {
            Vec::new()
        } else {
            record
                .fields
                .get("item")
                .and_then(|i| i["items"].as_array())
                .cloned()
                .unwrap_or_default()
        };
        let old_lines: Vec<Value> = record
            .fields
            .get("item")
            .and_then(|i| i["items"].as_array())
            .cloned()
            .unwrap_or_default();
        if let Some(sublist) = sublist {
            let Some(items) = sublist.get("items").and_then(Value::as_array) else {
                return Err(user_error(
                    "The item sublist must be an object with an items array.",
                    Some("item"),
                ));
            };
            let mut next_line = old_lines
                .iter()
                .chain(lines.iter())
                .filter_map(|l| l["line"].as_u64())
                .max()
                .unwrap_or(0);
            for (i, sent) in items.iter().enumerate() {
                let path = format!("item.items[{i}]");
                let Some(sent) = sent.as_object() else {
                    return Err(user_error("A sublist line must be an object.", Some(&path)));
                };
                let key = sent
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case("line"))
                    .and_then(|(_, v)| v.as_u64());
                // A line with a matching `line` key updates that line; every other line
                // is added (appended to the old ones unless `replace=item`).
                let base =
                    key.and_then(|n| old_lines.iter().find(|l| l["line"].as_u64() == Some(n)));
                let mut line = self.item_line(base, sent, &path)?;
                match key.filter(|_| base.is_some()) {
                    Some(n) => {
                        line["line"] = json!(n);
                        match lines.iter_mut().find(|l| l["line"].as_u64() == Some(n)) {
                            Some(existing) => *existing = line,
                            None => lines.push(line),
                        }
                    }
                    None => {
                        next_line += 1;
                        line["line"] = json!(next_line);
                        lines.push(line);
                    }
                }
            }
        } else if creating || replace_items {
            lines = old_lines;
        }
        if lines.is_empty() {
            return Err(user_error(
                "You must enter at least one line item for this transaction.",
                Some("item"),
            ));
        }
        let total: Decimal = lines.iter().filter_map(|l| decimal(&l["amount"])).sum();
        let credited = self.applied_to(&record.id, None);
        let remaining = (total - credited).max(Decimal::ZERO);
        record.fields.insert("item".into(), json!({"items": lines}));
        record.fields.insert("total".into(), plain(round2(total)));
        record
            .fields
            .insert("amountRemaining".into(), plain(round2(remaining)));
        let status = if remaining.is_zero() {
            "Paid In Full"
        } else {
            "Open"
        };
        record
            .fields
            .insert("status".into(), json!({"id": status, "refName": status}));
        Ok(())
    }

    /// One `item` sublist line: a known, active item and an amount (given, or quantity
    /// × rate); when all three are given they must agree to the cent [I].
    pub(super) fn item_line(
        &self,
        base: Option<&Value>,
        sent: &Map<String, Value>,
        path: &str,
    ) -> Result<Value, Answer> {
        const KNOWN: [&str; 6] = ["item", "quantity", "rate", "amount", "description", "line"];
        let mut line = base.and_then(Value::as_object).cloned().unwrap_or_default();
        for (k, v) in sent {
            let Some(canon) = KNOWN.iter().find(|f| f.eq_ignore_ascii_case(k)) else {
                return Err(user_error(
                    &format!("Invalid field: {k} is not a field of the item sublist."),
                    Some(&format!("{path}.{k}")),
                ));
            };
            if *canon != "line" {
                line.insert(canon.to_string(), v.clone());
            }
        }
        let item_path = format!("{path}.item");
        let Some(item_id) = line.get("item").and_then(ref_id) else {
            return Err(missing("Item", &item_path));
        };
        let Some(item) = self.items.iter().find(|i| i.id == item_id && i.active) else {
            return Err(invalid_reference("item", &item_id, &item_path));
        };
        line.insert(
            "item".into(),
            json!({"id": item.id, "refName": item.name, "type": item.record_type}),
        );
        let field = |name: &str| -> Result<Option<Decimal>, Answer> {
            match line.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(v) => decimal(v).map(Some).ok_or_else(|| {
                    error(
                        StatusCode::BAD_REQUEST,
                        "INVALID_FLD_VALUE",
                        &format!("Invalid number for {name}."),
                        Some(&format!("{path}.{name}")),
                    )
                }),
            }
        };
        let (quantity, rate, amount) = (field("quantity")?, field("rate")?, field("amount")?);
        let amount = match (quantity, rate, amount) {
            (Some(q), Some(r), Some(a)) => {
                if round2(q * r) != round2(a) {
                    return Err(user_error(
                        &format!("The amount {a} does not equal quantity {q} times rate {r}."),
                        Some(&format!("{path}.amount")),
                    ));
                }
                a
            }
            (_, _, Some(a)) => a,
            (Some(q), Some(r), None) => q * r,
            _ => return Err(missing("Amount", &format!("{path}.amount"))),
        };
        line.insert("amount".into(), plain(round2(amount)));
        Ok(Value::Object(line))
    }

    /// `POST /invoice/<key>/!transform/creditMemo`: a credit memo for what remains to be
    /// paid, applied to the invoice, which is then paid in full.
    pub(super) fn credit_invoice(&mut self, key: &Key, body: Map<String, Value>) -> Answer {
        let Some(index) = self.find(RecordType::Invoice, key) else {
            return not_found();
        };
        let invoice = self.invoices[index].clone();
        let remaining = decimal(&invoice.fields["amountRemaining"]).unwrap_or_default();
        if remaining <= Decimal::ZERO {
            // [I] NetSuite's wording for crediting a settled invoice is not published.
            return user_error("The invoice has no amount remaining to credit.", None);
        }
        let mut memo = Stored {
            id: String::new(),
            external_id: None,
            fields: Map::new(),
        };
        // [I] The transform takes a few body fields beside what it copies.
        for (name, value) in body {
            match ["externalId", "memo", "tranDate"]
                .iter()
                .find(|f| f.eq_ignore_ascii_case(&name))
            {
                Some(&"externalId") => {
                    let eid = value.as_str().unwrap_or_default().to_string();
                    if !super::routes::valid_external_id(&eid) {
                        return user_error(
                            &format!("Invalid external ID {eid:?}."),
                            Some("externalId"),
                        );
                    }
                    memo.external_id = Some(eid);
                }
                Some(field) => {
                    memo.fields.insert(field.to_string(), value);
                }
                None => {
                    return user_error(
                        &format!(
                            "Invalid field: {name} is not a field of a transform to creditMemo."
                        ),
                        Some(&name),
                    );
                }
            }
        }
        if let Some(eid) = &memo.external_id
            && self
                .find(RecordType::CreditMemo, &Key::External(eid.clone()))
                .is_some()
        {
            return user_error(
                &format!("A creditMemo record with external ID {eid} already exists."),
                Some("externalId"),
            );
        }
        for field in ["entity", "currency", "subsidiary", "item"] {
            if let Some(v) = invoice.fields.get(field) {
                memo.fields.insert(field.into(), v.clone());
            }
        }
        memo.fields
            .insert("createdFrom".into(), json!({"id": invoice.id}));
        memo.fields.insert("total".into(), plain(remaining));
        memo.fields.insert(
            "apply".into(),
            json!({"items": [{"doc": {"id": invoice.id}, "apply": true, "amount": plain(remaining)}]}),
        );
        memo.id = self.new_id();
        let location = self.record_url("creditMemo", &memo.id);
        self.credit_memos.push(memo);
        let fields = &mut self.invoices[index].fields;
        fields.insert("amountRemaining".into(), plain(Decimal::ZERO));
        fields.insert(
            "status".into(),
            json!({"id": "Paid In Full", "refName": "Paid In Full"}),
        );
        Answer::no_content(Some(location))
    }
}
