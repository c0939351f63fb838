//! The accounting gate: every `/api.xro/2.0/...` call is parsed into a route, admitted
//! (see `limits`), answered under one lock (see `idempotency`) and dispatched to its
//! handler.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, Method};

use super::super::harness::lock;
use super::super::harness::wire::Params;

use super::answers::{Answer, not_found};
use super::contacts::{get_contact, list_contacts, write_contacts};
use super::credit_notes::{
    allocate_credit_note, delete_allocation, get_credit_note, list_credit_notes, write_credit_notes,
};
use super::elements::{Write, elements};
use super::invoices::{get_invoice, list_invoices, write_invoices};
use super::items::{get_item, list_items};
use super::limits::admit;
use super::oauth::{
    CONTACT_READ, CONTACT_WRITE, INVOICE_READ, INVOICE_WRITE, PAYMENT_READ, PAYMENT_WRITE,
    SETTINGS_READ,
};
use super::payments::{create_payments, get_payment, list_payments, update_payment};
use super::settings::{accounts, currencies, organisation, tax_rates};
use super::state::{Org, Shared};

/// [I] exact figure: the longest (percent-encoded) query string Xero's web servers take,
/// IIS's default `maxQueryString`. Longer ones answer the plain-text 404: GET Contacts with
/// 52 ContactIDs works and 53 fail (xero-node#404), invoices above ~55 IDs fail
/// (Xero-NetStandard#413), "a total URL length of >2091" fails (Xero-NetStandard#471), and
/// an older answer was IIS's "404.15 ... the query string is too long" (Xero-Net#280).
pub(super) const MAX_QUERY_LEN: usize = 2048;

/// What an accounting call addresses.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Route {
    Organisation,
    Accounts,
    TaxRates,
    Currencies,
    ListItems,
    /// `GET Items/{ItemID or Code}`.
    GetItem(String),
    ListContacts,
    GetContact(String),
    /// `PUT /Contacts` (create only) or `POST /Contacts` (create or update).
    WriteContacts(Mode),
    ListInvoices,
    GetInvoice(String),
    /// `PUT /Invoices`, `POST /Invoices` or `POST /Invoices/{id}`.
    WriteInvoices(Mode),
    ListCreditNotes,
    GetCreditNote(String),
    /// `PUT /CreditNotes`, `POST /CreditNotes` or `POST /CreditNotes/{id}`.
    WriteCreditNotes(Mode),
    /// `PUT /CreditNotes/{id}/Allocations`.
    Allocate(String),
    /// `DELETE /CreditNotes/{id}/Allocations/{AllocationID}`.
    DeleteAllocation(String, String),
    ListPayments,
    GetPayment(String),
    /// `PUT /Payments` (or `POST /Payments`).
    CreatePayments,
    /// `POST /Payments/{id}` (delete).
    UpdatePayment(String),
    NotFound,
}

/// How a write treats its elements.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Mode {
    /// PUT: every element is new.
    Create,
    /// POST: update when the element names an existing record, else create.
    Upsert,
    /// POST to a record's own path (id or number as given).
    Update(String),
}

impl Route {
    /// Resource names are case-insensitive, as in Xero.
    fn parse(method: &Method, rest: &str) -> Route {
        let segments: Vec<&str> = rest.trim_matches('/').split('/').collect();
        let resource = segments[0].to_ascii_lowercase();
        let id = segments.get(1).map(|s| s.to_string());
        match (method.as_str(), resource.as_str(), id, segments.len()) {
            ("GET", "organisation", None, 1) => Route::Organisation,
            ("GET", "accounts", None, 1) => Route::Accounts,
            ("GET", "taxrates", None, 1) => Route::TaxRates,
            ("GET", "currencies", None, 1) => Route::Currencies,
            ("GET", "items", None, 1) => Route::ListItems,
            ("GET", "items", Some(id), 2) => Route::GetItem(id),
            ("GET", "contacts", None, 1) => Route::ListContacts,
            ("GET", "contacts", Some(id), 2) => Route::GetContact(id),
            ("PUT", "contacts", None, 1) => Route::WriteContacts(Mode::Create),
            ("POST", "contacts", None, 1) => Route::WriteContacts(Mode::Upsert),
            ("POST", "contacts", Some(id), 2) => Route::WriteContacts(Mode::Update(id)),
            ("GET", "invoices", None, 1) => Route::ListInvoices,
            ("GET", "invoices", Some(id), 2) => Route::GetInvoice(id),
            ("PUT", "invoices", None, 1) => Route::WriteInvoices(Mode::Create),
            ("POST", "invoices", None, 1) => Route::WriteInvoices(Mode::Upsert),
            ("POST", "invoices", Some(id), 2) => Route::WriteInvoices(Mode::Update(id)),
            ("GET", "creditnotes", None, 1) => Route::ListCreditNotes,
            ("GET", "creditnotes", Some(id), 2) => Route::GetCreditNote(id),
            ("PUT", "creditnotes", None, 1) => Route::WriteCreditNotes(Mode::Create),
            ("POST", "creditnotes", None, 1) => Route::WriteCreditNotes(Mode::Upsert),
            ("POST", "creditnotes", Some(id), 2) => Route::WriteCreditNotes(Mode::Update(id)),
            ("PUT", "creditnotes", Some(id), 3)
                if segments[2].eq_ignore_ascii_case("allocations") =>
            {
                Route::Allocate(id)
            }
            ("DELETE", "creditnotes", Some(id), 4)
                if segments[2].eq_ignore_ascii_case("allocations") =>
            {
                Route::DeleteAllocation(id, segments[3].to_string())
            }
            ("GET", "payments", None, 1) => Route::ListPayments,
            ("GET", "payments", Some(id), 2) => Route::GetPayment(id),
            ("PUT" | "POST", "payments", None, 1) => Route::CreatePayments,
            ("POST", "payments", Some(id), 2) => Route::UpdatePayment(id),
            _ => Route::NotFound,
        }
    }

    /// The scopes of which the grant needs one (403 otherwise).
    pub(super) fn scopes(&self) -> &'static [&'static str] {
        match self {
            Route::Organisation
            | Route::Accounts
            | Route::TaxRates
            | Route::Currencies
            | Route::ListItems
            | Route::GetItem(_) => SETTINGS_READ,
            Route::ListContacts | Route::GetContact(_) => CONTACT_READ,
            Route::WriteContacts(_) => CONTACT_WRITE,
            Route::ListInvoices | Route::GetInvoice(_) => INVOICE_READ,
            Route::WriteInvoices(_) => INVOICE_WRITE,
            Route::ListCreditNotes | Route::GetCreditNote(_) => INVOICE_READ,
            Route::WriteCreditNotes(_) | Route::Allocate(_) | Route::DeleteAllocation(..) => {
                INVOICE_WRITE
            }
            Route::ListPayments | Route::GetPayment(_) => PAYMENT_READ,
            Route::CreatePayments | Route::UpdatePayment(_) => PAYMENT_WRITE,
            Route::NotFound => &[],
        }
    }
}

/// Admits the call (token, tenant, scope, `Accept`, faults, limits), waits the configured
/// delay, then answers it under one lock, so `Idempotency-Key` replay is atomic. Every
/// answer past the token and tenant checks carries the `X-*Limit-Remaining` headers. An
/// admitted call whose query string is longer than Xero's web servers take is answered
/// the plain-text 404 ([I] it counts against the limits: the gateway admitted it).
pub(super) async fn api(
    State(state): State<Shared>,
    method: Method,
    Path(rest): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    let route = Route::parse(&method, &rest);
    let admitted = match admit(&state, &headers, &route) {
        Ok(admitted) => admitted,
        Err(refusal) => return refusal,
    };
    if !admitted.delay.is_zero() {
        tokio::time::sleep(admitted.delay).await;
    }
    let query = query.unwrap_or_default();
    if query.len() > MAX_QUERY_LEN {
        let mut answer = not_found();
        answer
            .headers
            .extend(admitted.limit_headers.iter().cloned());
        return answer;
    }
    let request = ApiRequest {
        tenant: &admitted.tenant,
        method: &method,
        target: format!("/api.xro/2.0/{rest}?{query}"),
        route: &route,
        params: Params::parse(&query),
        headers: &headers,
        body: &body,
    };
    let mut answer = lock(&state).answer(&request);
    answer
        .headers
        .extend(admitted.limit_headers.iter().cloned());
    answer
}

/// An admitted accounting call.
pub(super) struct ApiRequest<'a> {
    pub(super) tenant: &'a str,
    pub(super) method: &'a Method,
    /// Path and query, part of the idempotency fingerprint.
    pub(super) target: String,
    route: &'a Route,
    params: Params,
    pub(super) headers: &'a HeaderMap,
    pub(super) body: &'a [u8],
}

/// Routes an admitted call; the flag tells whether a write (invoices, credit notes,
/// allocations, payments) committed anything.
pub(super) fn dispatch(org: &mut Org, request: &ApiRequest) -> (Answer, bool) {
    let params = &request.params;
    let summarize = !params
        .get_ci("summarizeErrors")
        .is_some_and(|v| v.eq_ignore_ascii_case("false"));
    let unitdp = if params.get_ci("unitdp") == Some("4") {
        4
    } else {
        2
    };
    let write = |elements, mode| Write {
        elements,
        mode,
        summarize,
        unitdp,
    };
    match request.route {
        Route::Organisation => (organisation(org, request.tenant), false),
        Route::Accounts => (accounts(params), false),
        Route::TaxRates => (tax_rates(params), false),
        Route::Currencies => (currencies(&org.data, params), false),
        Route::ListItems => (list_items(&org.data, params, unitdp), false),
        Route::GetItem(key) => (get_item(&org.data, key, unitdp), false),
        Route::ListContacts => (list_contacts(org, params), false),
        Route::GetContact(id) => (get_contact(org, id), false),
        Route::WriteContacts(mode) => {
            let answer = match elements(request, "Contacts", "Contact") {
                Ok(elements) => write_contacts(org, &elements, mode, summarize),
                Err(refusal) => refusal,
            };
            (answer, false)
        }
        Route::ListInvoices => (list_invoices(org, params), false),
        Route::GetInvoice(id) => (get_invoice(org, id), false),
        Route::WriteInvoices(mode) => match elements(request, "Invoices", "Invoice") {
            Ok(elements) => write_invoices(org, &write(&elements, mode)),
            Err(refusal) => (refusal, false),
        },
        Route::ListCreditNotes => (list_credit_notes(org, params), false),
        Route::GetCreditNote(id) => (get_credit_note(org, id), false),
        Route::WriteCreditNotes(mode) => match elements(request, "CreditNotes", "CreditNote") {
            Ok(elements) => write_credit_notes(org, &write(&elements, mode)),
            Err(refusal) => (refusal, false),
        },
        Route::Allocate(id) => match elements(request, "Allocations", "Allocation") {
            Ok(elements) => allocate_credit_note(org, id, &elements, summarize),
            Err(refusal) => (refusal, false),
        },
        Route::DeleteAllocation(id, allocation) => delete_allocation(org, id, allocation),
        Route::ListPayments => (list_payments(org, params), false),
        Route::GetPayment(id) => (get_payment(org, id), false),
        Route::CreatePayments => match elements(request, "Payments", "Payment") {
            Ok(elements) => create_payments(org, &elements, summarize),
            Err(refusal) => (refusal, false),
        },
        Route::UpdatePayment(id) => match elements(request, "Payments", "Payment") {
            Ok(elements) => update_payment(org, id, &elements),
            Err(refusal) => (refusal, false),
        },
        Route::NotFound => (not_found(), false),
    }
}
