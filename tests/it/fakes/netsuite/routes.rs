//! Routing the record service (`/services/rest/record/v1/...`): record types, keys (internal
//! ids and `eid:` external ids), query parameters and JSON bodies.

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use serde_json::{Map, Value, json};

use super::super::harness::wire::Params;

use super::SUBSIDIARY_ID;
use super::answers::{Answer, error, not_found};
use super::state::FakeState;
use super::suiteql::SUITEQL_PATH;
use super::tba::pct_decode;

pub(super) const RECORD_PREFIX: &str = "/services/rest/record/v1/";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum RecordType {
    Customer,
    Invoice,
    CreditMemo,
    CustomerPayment,
    CustomerRefund,
}

impl RecordType {
    fn parse(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "customer" => Some(RecordType::Customer),
            "invoice" => Some(RecordType::Invoice),
            "creditmemo" => Some(RecordType::CreditMemo),
            "customerpayment" => Some(RecordType::CustomerPayment),
            "customerrefund" => Some(RecordType::CustomerRefund),
            _ => None,
        }
    }

    pub(super) fn name(self) -> &'static str {
        match self {
            RecordType::Customer => "customer",
            RecordType::Invoice => "invoice",
            RecordType::CreditMemo => "creditMemo",
            RecordType::CustomerPayment => "customerPayment",
            RecordType::CustomerRefund => "customerRefund",
        }
    }

    /// Body fields a write may set (canonical spelling); matched case-insensitively.
    pub(super) fn fields(self) -> &'static [&'static str] {
        match self {
            RecordType::Customer => &[
                "companyName",
                "firstName",
                "lastName",
                "isPerson",
                "email",
                "phone",
                "subsidiary",
                "currency",
                "entityId",
                "comments",
                "externalId",
            ],
            RecordType::Invoice => &[
                "entity",
                "tranId",
                "tranDate",
                "dueDate",
                "currency",
                "subsidiary",
                "memo",
                "otherRefNum",
                "item",
                "externalId",
                "terms",
                "location",
                "department",
                "class",
                "postingPeriod",
                "exchangeRate",
            ],
            RecordType::CreditMemo => &[
                "entity",
                "tranId",
                "tranDate",
                "currency",
                "subsidiary",
                "memo",
                "otherRefNum",
                "item",
                "apply",
                "autoApply",
                "externalId",
            ],
            RecordType::CustomerPayment => &[
                "customer",
                "account",
                "currency",
                "payment",
                "tranDate",
                "memo",
                "checkNum",
                "paymentMethod",
                "subsidiary",
                "apply",
                "autoApply",
                "externalId",
            ],
            RecordType::CustomerRefund => &[
                "customer",
                "account",
                "currency",
                "tranDate",
                "memo",
                "paymentMethod",
                "subsidiary",
                "apply",
                "externalId",
            ],
        }
    }
}

/// A record key in the URL: an internal id or `eid:<external id>`.
#[derive(Clone, Debug)]
pub(super) enum Key {
    Internal(String),
    External(String),
}

impl Key {
    fn parse(segment: &str) -> Key {
        let decoded = pct_decode(segment);
        match decoded.strip_prefix("eid:") {
            Some(eid) => Key::External(eid.to_string()),
            None => Key::Internal(decoded),
        }
    }
}

pub(super) fn valid_external_id(eid: &str) -> bool {
    !eid.is_empty()
        && eid
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

pub(super) fn route(
    s: &mut FakeState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &Bytes,
) -> Answer {
    if uri.path() == SUITEQL_PATH {
        return s.suiteql(method, uri, headers, body);
    }
    let Some(rest) = uri.path().strip_prefix(RECORD_PREFIX) else {
        return error(
            StatusCode::NOT_FOUND,
            "INVALID_URL",
            "The requested URL was not found on this server.",
            None,
        );
    };
    let segments: Vec<&str> = rest.split('/').filter(|p| !p.is_empty()).collect();
    let params = Params::parse(uri.query().unwrap_or_default());
    let allowed: &[&str] = match (method.as_str(), segments.len()) {
        ("GET", 1) => &["q", "limit", "offset"],
        ("PUT" | "PATCH", 2) => &["replace", "replaceSelectedFields"],
        _ => &[],
    };
    // [I] Unknown query parameters are refused, so a typo is not silently ignored.
    if let Some((name, _)) = params
        .0
        .iter()
        .find(|(k, _)| !allowed.contains(&k.as_str()))
    {
        return error(
            StatusCode::BAD_REQUEST,
            "INVALID_PARAMETER",
            &format!("Invalid query parameter: {name}."),
            None,
        );
    }
    let body_or = |required: bool| json_body(headers, body, required);
    let name = segments.first().copied().unwrap_or_default();
    let result = match (method.as_str(), segments.as_slice()) {
        ("GET", ["currency"]) => Ok(s.list_currencies(&params)),
        ("GET", ["currency", id]) => Ok(s.get_currency(id)),
        ("GET", ["account", id]) => Ok(s.get_account(id)),
        ("GET", ["subsidiary", id]) => Ok(if *id == SUBSIDIARY_ID {
            Answer::json(
                StatusCode::OK,
                json!({"id": SUBSIDIARY_ID, "name": "Parent Company", "isInactive": false}),
            )
        } else {
            not_found()
        }),
        ("POST", [_, key, "!transform", target])
            if RecordType::parse(name) == Some(RecordType::Invoice) =>
        {
            if RecordType::parse(target) != Some(RecordType::CreditMemo) {
                Ok(error(
                    StatusCode::BAD_REQUEST,
                    "INVALID_TRANSFORM",
                    &format!("Transformation from invoice to {target} is not supported."),
                    None,
                ))
            } else {
                body_or(false).map(|b| s.credit_invoice(&Key::parse(key), b))
            }
        }
        (_, [_, ..]) if RecordType::parse(name).is_none() => Ok(error(
            StatusCode::NOT_FOUND,
            "INVALID_RCRD_TYPE",
            &format!("Record type '{name}' does not exist."),
            None,
        )),
        ("GET", [_]) => Ok(s.list(RecordType::parse(name).expect("checked"), &params)),
        ("GET", [_, key]) => Ok(s.get(RecordType::parse(name).expect("checked"), &Key::parse(key))),
        ("POST", [_]) => {
            let record_type = RecordType::parse(name).expect("checked");
            body_or(true).map(|b| s.create(record_type, None, b))
        }
        ("PUT", [_, key]) => {
            let record_type = RecordType::parse(name).expect("checked");
            match Key::parse(key) {
                Key::Internal(_) => Ok(error(
                    StatusCode::BAD_REQUEST,
                    "INVALID_REQUEST",
                    "You can only use the upsert operation with an external ID in the request URL.",
                    None,
                )),
                Key::External(eid) => {
                    body_or(true).map(|b| s.upsert(record_type, &eid, b, &params))
                }
            }
        }
        ("DELETE", [_, key]) => {
            let record_type = RecordType::parse(name).expect("checked");
            Ok(s.delete(record_type, &Key::parse(key)))
        }
        ("PATCH", [_, key]) => {
            let record_type = RecordType::parse(name).expect("checked");
            body_or(true).map(|b| s.patch(record_type, &Key::parse(key), b, &params))
        }
        _ => Ok(error(
            StatusCode::METHOD_NOT_ALLOWED,
            "METHOD_NOT_ALLOWED",
            "The HTTP method is not allowed for this resource.",
            None,
        )),
    };
    let answer = result.unwrap_or_else(|e| e);
    // Every balance follows the writes: invoices' amounts remaining, what is unapplied
    // on credit memos and payments.
    if method != Method::GET && answer.status.is_success() {
        s.settle();
    }
    answer
}

/// A JSON object body (`Content-Type` with `json`); an empty body is an empty object
/// unless `required`.
pub(super) fn json_body(
    headers: &HeaderMap,
    body: &Bytes,
    required: bool,
) -> Result<Map<String, Value>, Answer> {
    if body.is_empty() {
        if !required {
            return Ok(Map::new());
        }
        return Err(error(
            StatusCode::BAD_REQUEST,
            "INVALID_CONTENT",
            "The request body is empty.",
            None,
        ));
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !content_type.contains("json") {
        return Err(error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "INVALID_CONTENT_TYPE",
            "Content-Type must be application/json.",
            None,
        ));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(error(
            StatusCode::BAD_REQUEST,
            "INVALID_CONTENT",
            "The request body is not a valid JSON object.",
            None,
        )),
    }
}
