//! QBO's answers: the capital-`Fault` envelope of application errors with Intuit's error
//! codes, the API gateway's lowercase envelope (401, 403), the throttle answer, the load
//! balancer's HTML 503, and the Pacific-time timestamps Intuit writes.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, FixedOffset, Utc};
use serde_json::{Value, json};

/// A complete answer; kept verbatim for `requestid` replay.
#[derive(Clone, Debug)]
pub struct Answer {
    pub(super) status: StatusCode,
    pub(super) content_type: &'static str,
    pub(super) body: String,
}

impl Answer {
    pub(super) fn json(status: StatusCode, body: &Value) -> Self {
        Answer {
            status,
            content_type: "application/json",
            body: body.to_string(),
        }
    }

    /// A 200 with one entity wrapped in its type name, plus `time`.
    pub(super) fn entity(kind: &str, entity: &Value) -> Self {
        Answer::json(
            StatusCode::OK,
            &json!({ kind: entity, "time": response_time() }),
        )
    }
}

/// A handler's answer: what it wrote, or why it refused.
impl From<Result<Answer, Answer>> for Answer {
    fn from(done: Result<Answer, Answer>) -> Self {
        done.unwrap_or_else(|refusal| refusal)
    }
}

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        (
            self.status,
            [(header::CONTENT_TYPE, self.content_type)],
            self.body,
        )
            .into_response()
    }
}

/// The capital-`Fault` envelope of application errors.
pub(super) fn fault(
    status: StatusCode,
    kind: &str,
    code: &str,
    message: &str,
    detail: &str,
    element: &str,
) -> Answer {
    let error = json!({ "Message": message, "Detail": detail, "code": code, "element": element });
    let body = json!({ "Fault": { "Error": [error], "type": kind }, "time": response_time() });
    Answer::json(status, &body)
}

pub(super) fn validation(code: &str, message: &str, detail: &str, element: &str) -> Answer {
    fault(
        StatusCode::BAD_REQUEST,
        "ValidationFault",
        code,
        message,
        detail,
        element,
    )
}

pub(super) fn required(element: &str) -> Answer {
    let message = "Required param missing, need to supply the required value for the API";
    let detail = format!("Required parameter {element} is missing in the request");
    validation("2020", message, &detail, element)
}

/// 2010, what QBO's JSON binder answers for unknown properties and wrongly typed values.
pub(super) fn unsupported_property(property: &str, why: &str) -> Answer {
    let detail = format!("Property Name:{property} specified is unsupported or invalid ({why})");
    validation(
        "2010",
        "Request has invalid or unsupported property",
        &detail,
        "",
    )
}

pub(super) fn too_long(element: &str, max: usize, supplied: usize) -> Answer {
    let message = "String length is either shorter or longer than supported by specification";
    let detail = format!(
        "String length specified does not match the supported length. Min:0 Max:{max} supplied length:{supplied}"
    );
    validation("2050", message, &detail, element)
}

pub(super) fn invalid_reference(element: &str, kind: &str, id: &str) -> Answer {
    let detail =
        format!("Invalid Reference Id : {kind} with Id {id} does not exist or is inactive");
    validation("2500", "Invalid Reference Id", &detail, element)
}

pub(super) fn object_not_found(kind: &str, id: &str) -> Answer {
    let detail = format!(
        "Object Not Found : Something you're trying to use has been made inactive. Check the fields with accounts, customers, items, vendors or employees. ({kind} {id})"
    );
    validation("610", "Object Not Found", &detail, "")
}

/// 5010, word for word as QBO answers a stale `SyncToken`.
pub(super) fn stale_object() -> Answer {
    let detail = "Stale Object Error : You and Craig Carlson were working on this at the same time. Craig Carlson finished before you did, so your work was not saved.";
    validation("5010", "Stale Object Error", detail, "")
}

pub(super) fn business(detail: &str) -> Answer {
    let message = "A business validation error has occurred while processing your request";
    validation(
        "6000",
        message,
        &format!("Business Validation Error: {detail}"),
        "",
    )
}

pub(super) fn duplicate_name() -> Answer {
    let detail = "The name supplied already exists. : Another customer, vendor or employee is already using this name. Please use a different name.";
    validation("6240", "Duplicate Name Exists Error", detail, "")
}

pub(super) fn query_parser_error(detail: &str) -> Answer {
    validation(
        "4000",
        "Error parsing query",
        &format!("QueryParserError: {detail}"),
        "",
    )
}

/// 4001, what QBO answers a well-formed query it will not run: an unknown property
/// ("QueryValidationError: Property NoSuchField not found for Entity Purchase", a sandbox
/// answer quoted verbatim in the wild [S]) or a too large `MAXRESULTS` ("value 1500 is too
/// large. Max allowed value is 1000", ruckus/quickbooks-ruby#24 [S]).
pub(super) fn query_validation_error(detail: &str) -> Answer {
    validation(
        "4001",
        "Invalid query",
        &format!("QueryValidationError: {detail}"),
        "",
    )
}

/// 2170 (Intuit's error table: "Invalid Enumeration", e.g. "Invalid Enumeration:
/// HAS_BEEN_BILLED").
pub(super) fn invalid_enumeration(element: &str, value: &str) -> Answer {
    let detail = format!("Invalid Enumeration: {value}");
    validation("2170", "Invalid Enumeration", &detail, element)
}

/// 2220, Intuit's code for "Invalid Currency Type" ("The specified currency type isn't
/// valid"). [I] Detail wording.
pub(super) fn invalid_currency(element: &str, code: &str) -> Answer {
    let detail = format!("Invalid Currency Type : {code} is not a currency QuickBooks supports");
    validation("2220", "Invalid Currency Type", &detail, element)
}

/// [I] A currency other than the home currency while multicurrency is off. Intuit only
/// says multicurrency "must be enabled in order to track transactions with currencies other
/// than the company's home currency" and, of `CurrencyRef` on a Bill, "Do not use this
/// field if multicurrency is not enabled"; the code and wording here are the fake's.
pub(super) fn multicurrency_off(code: &str, home: &str) -> Answer {
    business(&format!(
        "Multicurrency is not turned on for this company, so {code} cannot be used. The home currency is {home}."
    ))
}

/// [I] A currency of the company's list that was made inactive (Intuit: an inactive
/// currency "is not availble for use with financial transactions"; the wording is the
/// fake's).
pub(super) fn inactive_currency(code: &str) -> Answer {
    business(&format!(
        "The currency {code} is inactive. Make it active in the Currency Center before you use it."
    ))
}

/// An invoice in a currency other than its customer's. The message is the one QBO gives
/// when a transaction mixes currencies of names and accounts ("You can only use one foreign
/// currency per transaction", passed through by Expensify/App#53932 [S]); that it is the
/// answer to this very case is [I].
pub(super) fn currency_mismatch() -> Answer {
    business("You can only use one foreign currency per transaction.")
}

/// [I] A customer update naming another currency. Intuit: the customer's currency "Once
/// set, it cannot be changed"; whether QBO refuses or silently keeps it is undocumented.
pub(super) fn currency_locked() -> Answer {
    business("You can't change the currency of a customer that already has one.")
}

/// 6100, word for word as QBO answers a US line `TaxCodeRef` other than `TAX`/`NON` (a
/// real response quoted on Stack Overflow, "Quickbooks IPP v3 Invalid Line TaxCode in the
/// request"; Intuit's error table: "The TaxCode value isn't valid. For US, specify TAX or
/// NON").
pub(super) fn invalid_line_tax_code(value: &str) -> Answer {
    let detail =
        format!("Valid line TaxCodes for US should be TAX or NON. Supplied value: {value}");
    validation(
        "6100",
        "Invalid Line TaxCode in the request",
        &detail,
        "Line.SalesItemLineDetail.TaxCodeRef",
    )
}

/// 6000 as QBO answers a non-US sales line without a usable `TaxCodeRef` (none, the
/// pseudo codes, a name instead of an id, an unknown or inactive id). Seen in the wild [S]:
/// "Make sure all your transactions have a VAT rate before you save." (UK, for a
/// `TaxCodeRef` holding a code's name), "... a GST/HST rate ..." (Canada, line without a
/// code), "... a GST rate ..." (Singapore), "... a sales tax rate ..." (South Africa).
/// [I] The word for other countries.
pub(super) fn missing_tax_rate(country: &str) -> Answer {
    let word = match country {
        "GB" | "IE" => "VAT",
        "CA" => "GST/HST",
        "AU" | "NZ" | "SG" | "IN" => "GST",
        _ => "sales tax",
    };
    business(&format!(
        "Make sure all your transactions have a {word} rate before you save."
    ))
}

/// 6170, from Intuit's error table: "The TxnTaxDetail attribute isn't allowed when
/// GlobalTaxCalculation is set to NotApplicable."
pub(super) fn tax_detail_not_applicable() -> Answer {
    let detail = "The TxnTaxDetail attribute isn't allowed when GlobalTaxCalculation is set to NotApplicable.";
    validation("6170", "Invalid TxnTaxDetail Error", detail, "TxnTaxDetail")
}

/// 500 SystemFault, as QBO answers an application error.
pub(super) fn system_fault() -> Answer {
    let detail = "System Failure Error: An unexpected error occurred while accessing or saving your data. Please wait a few minutes and try again. If the problem persists, contact customer support.";
    let message = "An application error has occurred while processing your request";
    let status = StatusCode::INTERNAL_SERVER_ERROR;
    fault(
        status,
        "SystemFault",
        "10000",
        message,
        detail,
        "SystemFailureError",
    )
}

/// 429 code 3001, QBO's throttle answer (no `Retry-After`).
pub(super) fn throttled() -> Answer {
    let error = json!({
        "Message": "message=ThrottleExceeded; errorCode=003001; statusCode=429",
        "Detail": "The request limit was reached.  Try again later",
        "code": "3001",
    });
    let body = json!({ "Fault": { "Error": [error], "type": "SERVICE" }, "time": response_time() });
    Answer::json(StatusCode::TOO_MANY_REQUESTS, &body)
}

/// 503 from the load balancer: an HTML page, not JSON.
pub(super) fn outage() -> Answer {
    Answer {
        status: StatusCode::SERVICE_UNAVAILABLE,
        content_type: "text/html",
        body: "<!DOCTYPE HTML PUBLIC \"-//IETF//DTD HTML 2.0//EN\">\n<html><head>\n<title>503 Service Temporarily Unavailable</title>\n</head><body>\n<h1>Service Temporarily Unavailable</h1>\n<p>The server is temporarily unable to service your request due to maintenance downtime or capacity problems. Please try again later.</p>\n</body></html>\n".to_string(),
    }
}

/// The API gateway's lowercase envelope (401 authentication, 403 authorization).
fn gateway_fault(status: StatusCode, kind: &str, code: &str, name: &str, detail: &str) -> Answer {
    let message = format!(
        "message={name}; errorCode=00{code}; statusCode={}",
        status.as_u16()
    );
    let body = json!({
        "warnings": null, "intuitObject": null,
        "fault": { "error": [{ "message": message, "detail": detail, "code": code, "element": null }],
                   "type": kind },
        "report": null, "queryResponse": null, "batchItemResponse": [], "attachableResponse": [],
        "syncErrorResponse": null, "requestId": null, "time": Utc::now().timestamp_millis(),
        "status": null, "cdcresponse": [],
    });
    Answer::json(status, &body)
}

pub(super) fn unauthenticated(detail: &str) -> Answer {
    gateway_fault(
        StatusCode::UNAUTHORIZED,
        "AUTHENTICATION",
        "3200",
        "AuthenticationFailed",
        detail,
    )
}

/// [I] A valid token used on another company's path: 403 3100, like an unauthorised realm.
pub(super) fn unauthorized_realm() -> Answer {
    let detail = "Authorization Failure: the access token was not issued for this company";
    gateway_fault(
        StatusCode::FORBIDDEN,
        "SERVICE",
        "3100",
        "AuthorizationFailed",
        detail,
    )
}

/// [I] Without `Accept: application/json` QBO answers XML. The fake refuses instead, in XML,
/// so a connector relying on the default format fails loudly.
pub(super) fn xml_only() -> Answer {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n<IntuitResponse xmlns=\"http://schema.intuit.com/finance/v3\" time=\"{}\"><Fault type=\"ValidationFault\"><Error code=\"4000\"><Message>Accept: application/json is required by this fake</Message><Detail>Without Accept: application/json QuickBooks Online answers in XML.</Detail></Error></Fault></IntuitResponse>",
        response_time()
    );
    Answer {
        status: StatusCode::BAD_REQUEST,
        content_type: "application/xml",
        body,
    }
}

/// Now, in the Pacific offset Intuit's timestamps carry.
fn pacific_now() -> DateTime<FixedOffset> {
    Utc::now().with_timezone(&FixedOffset::west_opt(7 * 3600).expect("a valid offset"))
}

/// `time` of API answers: RFC 3339 with milliseconds.
pub(super) fn response_time() -> String {
    pacific_now().format("%Y-%m-%dT%H:%M:%S%.3f%:z").to_string()
}

/// `MetaData` timestamps: RFC 3339 to the second.
pub(super) fn meta_time() -> String {
    pacific_now().format("%Y-%m-%dT%H:%M:%S%:z").to_string()
}

/// The default `TxnDate`.
pub(super) fn today() -> String {
    pacific_now().format("%Y-%m-%d").to_string()
}
