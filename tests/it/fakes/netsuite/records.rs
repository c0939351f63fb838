//! The record service's operations on customers and the record types alike: list (with
//! `q`), get, create, upsert by external id, update, and the field checks of customers.

use axum::http::StatusCode;
use rust_decimal::Decimal;
use serde_json::{Map, Value, json};

use super::super::harness::numbers::round;
use super::super::harness::wire::Params;

use super::SUBSIDIARY_ID;
use super::answers::{Answer, error, invalid_reference, missing, not_found, user_error};
use super::routes::{Key, RECORD_PREFIX, RecordType, valid_external_id};
use super::state::{FakeState, Stored};

/// The canonical spelling of a body field, matched case-insensitively [I].
fn canonical(record_type: RecordType, name: &str) -> Option<&'static str> {
    record_type
        .fields()
        .iter()
        .copied()
        .find(|f| f.eq_ignore_ascii_case(name))
}

/// A reference `{"id": "..."}` (or a bare id).
pub(super) fn ref_id(v: &Value) -> Option<String> {
    match v {
        Value::Object(o) => o.iter().find_map(|(k, v)| {
            k.eq_ignore_ascii_case("id").then(|| match v {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            })?
        }),
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

pub(super) fn round2(d: Decimal) -> Decimal {
    round(d, 2)
}

impl FakeState {
    pub(super) fn list(&self, record_type: RecordType, params: &Params) -> Answer {
        let filter = match params.get("q").map(parse_query).transpose() {
            Ok(f) => f,
            Err(detail) => {
                return error(StatusCode::BAD_REQUEST, "INVALID_PARAMETER", &detail, None);
            }
        };
        let views: Vec<Value> = self
            .records(record_type)
            .iter()
            .map(|r| self.view(record_type.name(), r))
            .filter(|v| {
                filter
                    .as_ref()
                    .is_none_or(|(f, value)| field_is(v, f, value))
            })
            .collect();
        self.collection(record_type.name(), views, params)
    }

    /// A collection page: `items` with `links` and `id` only, as NetSuite lists records.
    fn collection(&self, record_type: &str, views: Vec<Value>, params: &Params) -> Answer {
        let limit: usize = params
            .get("limit")
            .and_then(|l| l.parse().ok())
            .unwrap_or(1000);
        let offset: usize = params
            .get("offset")
            .and_then(|o| o.parse().ok())
            .unwrap_or(0);
        let total = views.len();
        let page = views.iter().skip(offset).take(limit);
        let items: Vec<Value> = page
            .map(|v| {
                let id = v["id"].as_str().unwrap_or_default().to_string();
                json!({"links": [{"rel": "self", "href": self.record_url(record_type, &id)}], "id": id})
            })
            .collect();
        Answer::json(
            StatusCode::OK,
            json!({
                "links": [{"rel": "self", "href": format!("{}{RECORD_PREFIX}{record_type}", self.base)}],
                "count": items.len(),
                "hasMore": offset + items.len() < total,
                "items": items,
                "offset": offset,
                "totalResults": total,
            }),
        )
    }

    fn currency_view(&self, (id, symbol, name): (&str, &str, &str)) -> Value {
        json!({"links": [{"rel": "self", "href": self.record_url("currency", id)}],
               "id": id, "symbol": symbol, "name": name, "isBaseCurrency": id == "1"})
    }

    pub(super) fn list_currencies(&self, params: &Params) -> Answer {
        let filter = match params.get("q").map(parse_query).transpose() {
            Ok(f) => f,
            Err(detail) => {
                return error(StatusCode::BAD_REQUEST, "INVALID_PARAMETER", &detail, None);
            }
        };
        let views: Vec<Value> = self
            .currencies
            .iter()
            .map(|c| self.currency_view(*c))
            .filter(|v| {
                filter
                    .as_ref()
                    .is_none_or(|(f, value)| field_is(v, f, value))
            })
            .collect();
        self.collection("currency", views, params)
    }

    pub(super) fn get_currency(&self, id: &str) -> Answer {
        match self.currencies.iter().find(|c| c.0 == id) {
            Some(c) => Answer::json(StatusCode::OK, self.currency_view(*c)),
            None => not_found(),
        }
    }

    pub(super) fn get(&self, record_type: RecordType, key: &Key) -> Answer {
        match self.find(record_type, key) {
            Some(i) => Answer::json(
                StatusCode::OK,
                self.view(record_type.name(), &self.records(record_type)[i]),
            ),
            None => not_found(),
        }
    }

    /// `POST /<type>`: a new record; a taken external id is refused.
    pub(super) fn create(
        &mut self,
        record_type: RecordType,
        eid: Option<&str>,
        body: Map<String, Value>,
    ) -> Answer {
        let mut record = Stored {
            id: String::new(),
            external_id: eid.map(str::to_string),
            fields: Map::new(),
        };
        if let Err(e) = self.apply(record_type, &mut record, body, true, &[]) {
            return e;
        }
        if let Some(eid) = &record.external_id
            && self
                .find(record_type, &Key::External(eid.clone()))
                .is_some()
        {
            return user_error(
                &format!(
                    "A {} record with external ID {eid} already exists.",
                    record_type.name()
                ),
                Some("externalId"),
            );
        }
        record.id = self.new_id();
        let location = self.record_url(record_type.name(), &record.id);
        self.records_mut(record_type).push(record);
        Answer::no_content(Some(location))
    }

    /// `PUT /<type>/eid:<id>`: create (204 with `Location`) or update (204) [I].
    pub(super) fn upsert(
        &mut self,
        record_type: RecordType,
        eid: &str,
        body: Map<String, Value>,
        params: &Params,
    ) -> Answer {
        if !valid_external_id(eid) {
            return user_error(
                &format!(
                    "Invalid external ID {eid:?}: use letters, numbers, underscore (_) and hyphen (-) only."
                ),
                None,
            );
        }
        match self.find(record_type, &Key::External(eid.to_string())) {
            None => self.create(record_type, Some(eid), body),
            Some(i) => self.update(record_type, i, body, params),
        }
    }

    /// `PATCH /<type>/<key>`: update (204 with `Location`).
    pub(super) fn patch(
        &mut self,
        record_type: RecordType,
        key: &Key,
        body: Map<String, Value>,
        params: &Params,
    ) -> Answer {
        let Some(i) = self.find(record_type, key) else {
            return not_found();
        };
        let answer = self.update(record_type, i, body, params);
        if answer.status.is_success() {
            let id = self.records(record_type)[i].id.clone();
            return Answer::no_content(Some(self.record_url(record_type.name(), &id)));
        }
        answer
    }

    fn update(
        &mut self,
        record_type: RecordType,
        index: usize,
        body: Map<String, Value>,
        params: &Params,
    ) -> Answer {
        let mut record = self.records(record_type)[index].clone();
        let replace: Vec<String> = params
            .get("replace")
            .map(|r| {
                r.split(',')
                    .map(|s| s.trim().to_ascii_lowercase())
                    .collect()
            })
            .unwrap_or_default();
        if let Err(e) = self.apply(record_type, &mut record, body, false, &replace) {
            return e;
        }
        self.records_mut(record_type)[index] = record;
        Answer::no_content(None)
    }

    /// Applies a write body to a record: field names, references, required fields, the
    /// `item` sublist (replaced or merged), totals.
    pub(super) fn apply(
        &self,
        record_type: RecordType,
        record: &mut Stored,
        body: Map<String, Value>,
        creating: bool,
        replace: &[String],
    ) -> Result<(), Answer> {
        let replace_items = replace.iter().any(|r| r == "item");
        let replace_apply = replace.iter().any(|r| r == "apply");
        let mut fields = Map::new();
        for (name, value) in body {
            let Some(canon) = canonical(record_type, &name) else {
                return Err(user_error(
                    &format!(
                        "Invalid field: {name} is not a field of the {} record.",
                        record_type.name()
                    ),
                    Some(&name),
                ));
            };
            fields.insert(canon.to_string(), value);
        }
        if let Some(eid) = fields.remove("externalId") {
            let eid = eid.as_str().unwrap_or_default().to_string();
            if !valid_external_id(&eid) {
                return Err(user_error(
                    &format!(
                        "Invalid external ID {eid:?}: use letters, numbers, underscore (_) and hyphen (-) only."
                    ),
                    Some("externalId"),
                ));
            }
            match &record.external_id {
                Some(current) if *current != eid => {
                    return Err(user_error(
                        "The external ID in the body differs from the one in the URL.",
                        Some("externalId"),
                    ));
                }
                _ => record.external_id = Some(eid),
            }
        }
        match record_type {
            RecordType::Customer => self.apply_customer(record, fields, creating),
            RecordType::Invoice => self.apply_invoice(record, fields, creating, replace_items),
            RecordType::CreditMemo => {
                self.apply_credit_memo(record, fields, creating, replace_items, replace_apply)
            }
            RecordType::CustomerPayment | RecordType::CustomerRefund => {
                self.apply_money(record_type, record, fields, creating, replace_apply)
            }
        }
    }

    fn apply_customer(
        &self,
        record: &mut Stored,
        fields: Map<String, Value>,
        creating: bool,
    ) -> Result<(), Answer> {
        for (k, v) in &fields {
            match k.as_str() {
                "subsidiary" => {
                    let id = ref_id(v).unwrap_or_default();
                    if id != SUBSIDIARY_ID {
                        return Err(invalid_reference("subsidiary", &id, "subsidiary"));
                    }
                    record
                        .fields
                        .insert(k.clone(), json!({"id": id, "refName": "Parent Company"}));
                }
                "currency" => {
                    let id = ref_id(v).unwrap_or_default();
                    if !self.currencies.iter().any(|c| c.0 == id) {
                        return Err(invalid_reference("currency", &id, "currency"));
                    }
                    record.fields.insert(k.clone(), json!({"id": id}));
                }
                "email" => {
                    let email = v.as_str().unwrap_or_default();
                    if !email.is_empty() && !email.contains('@') {
                        return Err(user_error(
                            "Please enter a valid email address.",
                            Some("email"),
                        ));
                    }
                    record.fields.insert(k.clone(), v.clone());
                }
                _ => {
                    record.fields.insert(k.clone(), v.clone());
                }
            }
        }
        let text = |name: &str| {
            record
                .fields
                .get(name)
                .and_then(Value::as_str)
                .is_some_and(|s| !s.trim().is_empty())
        };
        let person = record.fields.get("isPerson").and_then(Value::as_bool) == Some(true);
        if person && !(text("firstName") && text("lastName")) {
            return Err(missing("First Name, Last Name", "firstName"));
        }
        if !person && !text("companyName") {
            return Err(missing("Company Name", "companyName"));
        }
        if creating && !record.fields.contains_key("subsidiary") {
            return Err(missing("Primary Subsidiary", "subsidiary"));
        }
        record
            .fields
            .entry("currency")
            .or_insert_with(|| json!({"id": "1", "refName": "USD"}));
        Ok(())
    }
}

/// `q` of record collection filtering, the one form supported here: `<field> IS <value>`
/// (value optionally in double quotes).
fn parse_query(q: &str) -> Result<(String, String), String> {
    let mut parts = q.trim().splitn(3, ' ');
    let (Some(field), Some(op), Some(value)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(format!("Invalid search query: {q}"));
    };
    if !op.eq_ignore_ascii_case("IS") {
        return Err(format!("Invalid search query: unsupported operator {op}"));
    }
    let value = value.trim();
    let value = value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(value);
    Ok((field.to_string(), value.to_string()))
}

fn field_is(view: &Value, field: &str, value: &str) -> bool {
    view.as_object().is_some_and(|o| {
        o.iter().any(|(k, v)| {
            k.eq_ignore_ascii_case(field)
                && match v {
                    Value::String(s) => s == value,
                    Value::Number(n) => n.to_string() == value,
                    Value::Bool(b) => b.to_string() == value,
                    other => ref_id(other).as_deref() == Some(value),
                }
        })
    })
}
