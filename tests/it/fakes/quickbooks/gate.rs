//! The API gate: every `/v3/company/{realm}/...` call is admitted (see `limits`), answered
//! under one lock (`requestid` replay is atomic) and routed to its handler.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode};
use serde_json::{Map, Value};

use super::super::harness::lock;
use super::super::harness::wire::{Params, content_type_is};

use super::answers::{Answer, fault, object_not_found, system_fault, unsupported_property};
use super::customers::write_customer;
use super::entities::{
    company_info_entity, preferences_entity, read_customer, read_invoice, read_item,
    read_list_entity,
};
use super::invoices::{void_invoice, write_invoice};
use super::ledger::{
    delete_credit_memo, delete_payment, read_credit_memo, read_payment, void_payment,
    write_credit_memo, write_payment,
};
use super::limits::admit;
use super::purchases::{delete_purchase, read_purchase, write_purchase};
use super::query::query;
use super::state::{Company, FakeState, Shared};

/// Admits the call (faults, `Accept`, bearer token, `minorversion`, `requestid`, limits),
/// waits the configured delay, then answers it under one lock, so `requestid` replay is
/// atomic.
pub(super) async fn api(
    State(state): State<Shared>,
    method: Method,
    Path((realm, rest)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    let params = Params::parse(query.as_deref().unwrap_or_default());
    let (in_flight, delay) = match admit(&state, &realm, &headers, &params) {
        Ok(admitted) => admitted,
        Err(refusal) => return refusal,
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let answer = lock(&state).answer(&realm, &method, &rest, &params, &headers, &body);
    drop(in_flight);
    answer
}

impl FakeState {
    /// Answers an admitted call: replays a known `requestid` (POST) verbatim, else handles
    /// it and remembers the answer under its `requestid`.
    fn answer(
        &mut self,
        realm: &str,
        method: &Method,
        rest: &str,
        params: &Params,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Answer {
        let FakeState {
            companies, faults, ..
        } = self;
        let company = companies
            .get_mut(realm)
            .expect("admitted calls name a known company");
        let requestid = if method == Method::POST {
            params.get("requestid")
        } else {
            None
        };
        if let Some(replay) = requestid.and_then(|id| company.replays.get(id)) {
            return replay.clone();
        }
        let call = Call {
            realm,
            method,
            rest,
            params,
            headers,
            body,
        };
        let (answer, ledger_write) = call.dispatch(company);
        if method == Method::POST {
            // An invoice update resets its balance: the payments on it count again.
            company.settle();
        }
        if let Some(id) = requestid {
            company.replays.insert(id.to_string(), answer.clone());
        }
        if ledger_write && answer.status.is_success() && faults.take_lost_answer() {
            return system_fault();
        }
        answer
    }
}

/// Any other path: 404 with a JSON fault. [I] shape.
pub(super) async fn unknown_path(method: Method, uri: axum::http::Uri) -> Answer {
    not_found(&method, uri.path())
}

fn not_found(method: &Method, path: &str) -> Answer {
    let detail = format!("Unsupported operation or resource: {method} {path}");
    fault(
        StatusCode::NOT_FOUND,
        "ValidationFault",
        "404",
        "Resource not found",
        &detail,
        "",
    )
}

/// An admitted API call.
struct Call<'a> {
    realm: &'a str,
    method: &'a Method,
    /// The path after `/v3/company/{realm}/`.
    rest: &'a str,
    params: &'a Params,
    headers: &'a HeaderMap,
    body: &'a [u8],
}

impl Call<'_> {
    /// Routes the call; the flag tells whether it was a write of an invoice, payment,
    /// credit memo or purchase (whose answers fault injection may lose).
    fn dispatch(&self, company: &mut Company) -> (Answer, bool) {
        // Entity names are case-insensitive; ids are numeric.
        let path = self.rest.trim_matches('/').to_ascii_lowercase();
        let segments: Vec<&str> = path.split('/').collect();
        match (self.method.as_str(), segments.as_slice()) {
            ("GET", ["companyinfo", id]) => (self.company_info(company, id), false),
            ("GET", ["preferences"]) => (
                Answer::entity("Preferences", &preferences_entity(company)),
                false,
            ),
            ("GET", ["query"]) => (
                query(
                    company,
                    self.realm,
                    self.params.get("query").unwrap_or_default(),
                ),
                false,
            ),
            ("GET", ["customer", id]) => (read_customer(company, id), false),
            ("POST", ["customer"]) => (self.with_body(|b| write_customer(company, b)), false),
            ("GET", ["item", id]) => (read_item(company, id), false),
            (
                "GET",
                [
                    kind @ ("account" | "taxcode" | "taxrate" | "companycurrency"),
                    id,
                ],
            ) => (read_list_entity(company, self.realm, kind, id), false),
            ("GET", ["invoice", id]) => (read_invoice(company, id), false),
            ("POST", ["invoice"]) => {
                let answer = match self.params.get("operation") {
                    None => self.with_body(|b| write_invoice(company, b)),
                    Some("void") => self.with_body(|b| void_invoice(company, b)),
                    Some(other) => unsupported_property(
                        "operation",
                        &format!("operation={other} is not supported by the fake"),
                    ),
                };
                (answer, true)
            }
            ("GET", ["payment", id]) => (read_payment(company, id), false),
            ("POST", ["payment"]) => {
                let operation = self.params.get("operation");
                let include = self.params.get("include");
                let answer = match (operation, include) {
                    (None, None) | (Some("update"), None) => {
                        self.with_body(|b| write_payment(company, b))
                    }
                    (Some("update"), Some("void")) => self.with_body(|b| void_payment(company, b)),
                    (Some("delete"), None) => self.with_body(|b| delete_payment(company, b)),
                    (other, include) => unsupported_property(
                        "operation",
                        &format!(
                            "operation={other:?} include={include:?} is not supported for Payment by the fake"
                        ),
                    ),
                };
                (answer, true)
            }
            ("GET", ["creditmemo", id]) => (read_credit_memo(company, id), false),
            ("POST", ["creditmemo"]) => {
                let (write, delete) = (write_credit_memo, delete_credit_memo);
                let unsupported = "for CreditMemo by the fake";
                (
                    self.write_or_delete(company, write, delete, unsupported),
                    true,
                )
            }
            ("GET", ["purchase", id]) => (read_purchase(company, id), false),
            // Integrators report void refused for a Purchase [S].
            ("POST", ["purchase"]) => {
                let (write, delete) = (write_purchase, delete_purchase);
                (
                    self.write_or_delete(company, write, delete, "for Purchase"),
                    true,
                )
            }
            _ => (
                not_found(
                    self.method,
                    &format!("/v3/company/{}/{}", self.realm, self.rest),
                ),
                false,
            ),
        }
    }

    /// `POST` of an entity QBO deletes rather than voids: a write (create, or update), or
    /// with `operation=delete` a delete; any other operation is `unsupported` (its wording).
    fn write_or_delete(
        &self,
        company: &mut Company,
        write: fn(&mut Company, &Map<String, Value>) -> Answer,
        delete: fn(&mut Company, &Map<String, Value>) -> Result<Answer, Answer>,
        unsupported: &str,
    ) -> Answer {
        match self.params.get("operation") {
            None | Some("update") => self.with_body(|b| write(company, b)),
            Some("delete") => self.with_body(|b| delete(company, b)),
            Some(other) => unsupported_property(
                "operation",
                &format!("operation={other} is not supported {unsupported}"),
            ),
        }
    }

    /// Parses a JSON object body (`Content-Type: application/json` required) for `handler`,
    /// whose refusals are answers too.
    fn with_body<A: Into<Answer>>(&self, handler: impl FnOnce(&Map<String, Value>) -> A) -> Answer {
        if !content_type_is(self.headers, "application/json") {
            // [I] shape: QBO's exact answer to a non-JSON content type is undocumented.
            let detail = "Content-Type must be application/json";
            return fault(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "ValidationFault",
                "415",
                "Unsupported Media Type",
                detail,
                "",
            );
        }
        match serde_json::from_slice::<Value>(self.body) {
            Ok(Value::Object(map)) => handler(&map).into(),
            Ok(_) => unsupported_property("(body)", "the body must be a JSON object"),
            Err(e) => unsupported_property("(body)", &format!("malformed JSON: {e}")),
        }
    }

    /// `GET companyinfo/{realm}`.
    fn company_info(&self, company: &Company, id: &str) -> Answer {
        if id != self.realm {
            return object_not_found("CompanyInfo", id);
        }
        Answer::entity("CompanyInfo", &company_info_entity(company, self.realm))
    }
}
