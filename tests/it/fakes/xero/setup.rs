//! Setting a fake Xero up and injecting faults: organisations, what the consent screen
//! grants, data made as if in Xero's UI (contacts, items, currencies, bills, payments), and
//! throttling, outages, lost answers, dead tokens and tighter limits.

use std::str::FromStr;
use std::time::{Duration, Instant};

use chrono::Utc;
use rust_decimal::Decimal;
use serde_json::json;
use uuid::Uuid;

use super::super::harness::lock;
use super::super::harness::numbers::{decimal, money};

use super::FakeXero;
use super::answers::{date_string, set_updated, xero_date};
use super::contacts::ContactInput;
use super::items::{MAX_ITEM_CODE_LEN, MAX_ITEM_NAME_LEN, item_json};
use super::state::Org;

impl FakeXero {
    /// Adds an organisation (base currency GBP); renames it if it exists. It is reachable
    /// only through grants that authorize it (see [`FakeXero::authorize_tenants`]).
    pub fn add_tenant(&self, tenant_id: &str, name: &str) {
        let mut s = lock(&self.state);
        let org = s.orgs.entry(tenant_id.to_string());
        org.or_insert_with(|| Org::new(name)).name = name.to_string();
    }

    /// The organisations authorizations grant from now on, in this order (default
    /// `[TENANT_ID]`): what the user ticks on Xero's consent screen.
    pub fn authorize_tenants(&self, tenants: &[&str]) {
        let mut s = lock(&self.state);
        for t in tenants {
            assert!(s.orgs.contains_key(*t), "unknown tenant {t}");
        }
        s.authorizing = tenants.iter().map(|t| t.to_string()).collect();
    }

    /// With `true`, the app behaves like one created after 2026-03-02: authorize requests
    /// naming `accounting.transactions(.read)` or `accounting.reports.read` get `invalid_scope`.
    pub fn refuse_retired_scopes(&self, refuse: bool) {
        lock(&self.state).refuse_retired_scopes = refuse;
    }

    /// Creates a contact directly (as if made in Xero's UI) and returns its ContactID.
    pub fn add_contact(&self, tenant: &str, name: &str) -> String {
        self.with_org(tenant, |o| {
            let raw = json!({ "Name": name });
            let input = ContactInput::parse(raw.as_object().expect("an object"), "Contacts[0]")
                .expect("a well-formed contact");
            let contact = o
                .data
                .create_contact(&input, Utc::now())
                .unwrap_or_else(|e| panic!("contact {name:?} could not be added: {e:?}"));
            contact["ContactID"]
                .as_str()
                .expect("a ContactID")
                .to_string()
        })
    }

    /// Creates an item directly (as if made in Xero's UI) and returns its ItemID: sold (on
    /// account 200, `OUTPUT2`, [I] no unit price), not purchased, not tracked. Panics if
    /// the code is taken, longer than 30 characters, or the name longer than 50.
    pub fn add_item(&self, tenant: &str, code: &str, name: &str) -> String {
        assert!(
            (1..=MAX_ITEM_CODE_LEN).contains(&code.chars().count()),
            "an item code has 1 to {MAX_ITEM_CODE_LEN} characters"
        );
        assert!(
            name.chars().count() <= MAX_ITEM_NAME_LEN,
            "an item name has at most {MAX_ITEM_NAME_LEN} characters"
        );
        self.with_org(tenant, |o| {
            assert!(
                o.data.item_by_code(code).is_none(),
                "item code {code:?} is taken"
            );
            let sales = json!({ "AccountCode": "200", "TaxType": "OUTPUT2" });
            let item = item_json(code, name, None, sales, Utc::now());
            let id = item["ItemID"].as_str().expect("an ItemID").to_string();
            o.data.items.push(item);
            id
        })
    }

    /// Subscribes the organisation to a currency (Settings > Currencies in Xero), so that
    /// invoices may be raised in it and `GET Currencies` lists it. `code` is a 3-letter
    /// ISO 4217 code; adding one twice is harmless.
    pub fn add_currency(&self, tenant: &str, code: &str) {
        let code = code.trim().to_ascii_uppercase();
        assert!(
            code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase()),
            "a currency code is three letters: {code:?}"
        );
        self.with_org(tenant, |o| {
            if !o.data.currencies.contains(&code) {
                o.data.currencies.push(code);
            }
        })
    }

    /// Creates an AUTHORISED purchase bill (ACCPAY) directly, as if entered in Xero, and
    /// returns its InvoiceID: `total` (decimal text) with no tax, due in 30 days. A bill's
    /// InvoiceNumber need not be unique, so it may repeat a sales invoice's number: lookups
    /// by `InvoiceNumbers` then return both.
    pub fn add_bill(&self, tenant: &str, contact_id: &str, number: &str, total: &str) -> String {
        let total = Decimal::from_str(total).expect("a decimal total");
        self.with_org(tenant, |o| {
            let index = o
                .data
                .contact_index(contact_id)
                .unwrap_or_else(|| panic!("no contact {contact_id}"));
            let contact = &o.data.contacts[index];
            let now = Utc::now();
            let (date, due) = (now.date_naive(), now.date_naive() + chrono::Days::new(30));
            let id = Uuid::new_v4().to_string();
            let mut bill = json!({
                "Type": "ACCPAY", "InvoiceID": id, "InvoiceNumber": number, "Reference": "",
                "Payments": [], "CreditNotes": [], "Prepayments": [], "Overpayments": [],
                "AmountDue": money(total), "AmountPaid": money(Decimal::ZERO),
                "AmountCredited": money(Decimal::ZERO), "CurrencyRate": 1.0,
                "IsDiscounted": false, "HasAttachments": false, "HasErrors": false,
                "Contact": {
                    "ContactID": contact["ContactID"], "ContactStatus": contact["ContactStatus"],
                    "Name": contact["Name"], "Addresses": [], "Phones": [], "ContactGroups": [],
                    "ContactPersons": [], "HasValidationErrors": false,
                },
                "DateString": date_string(date), "Date": xero_date(date),
                "DueDateString": date_string(due), "DueDate": xero_date(due),
                "Status": "AUTHORISED", "LineAmountTypes": "NoTax",
                "LineItems": [{
                    "LineItemID": Uuid::new_v4().to_string(), "Description": "Bill",
                    "Quantity": 1.0, "UnitAmount": money(total), "AccountCode": "429",
                    "TaxType": "NONE", "TaxAmount": 0.0, "LineAmount": money(total),
                    "Tracking": [],
                }],
                "SubTotal": money(total), "TotalTax": 0.0, "Total": money(total),
                "CurrencyCode": o.data.currencies[0],
            });
            set_updated(&mut bill, now);
            o.data.invoices.push(bill);
            id
        })
    }

    /// Records a payment of `amount` (decimal text) against an AUTHORISED invoice, as if
    /// made in Xero: `AmountPaid`/`AmountDue` change, a full payment makes it PAID, and
    /// from then on the invoice can no longer be edited or voided through the API.
    pub fn add_payment(&self, tenant: &str, invoice_id: &str, amount: &str) {
        let amount = Decimal::from_str(amount).expect("a decimal amount");
        self.with_org(tenant, |o| {
            let invoice = o
                .data
                .invoices
                .iter_mut()
                .find(|i| i["InvoiceID"] == invoice_id)
                .unwrap_or_else(|| panic!("no invoice {invoice_id}"));
            assert_eq!(
                invoice["Status"], "AUTHORISED",
                "only AUTHORISED invoices take payments"
            );
            let now = Utc::now();
            let paid = decimal(&invoice["AmountPaid"]).unwrap_or_default() + amount;
            let due = decimal(&invoice["Total"]).unwrap_or_default() - paid;
            invoice["AmountPaid"] = money(paid);
            invoice["AmountDue"] = money(due);
            let payment = json!({
                "PaymentID": Uuid::new_v4().to_string(), "Date": xero_date(now.date_naive()),
                "Amount": money(amount), "CurrencyRate": 1.0, "HasAccount": false,
                "HasValidationErrors": false,
            });
            if let Some(payments) = invoice["Payments"].as_array_mut() {
                payments.push(payment);
            }
            if due <= Decimal::ZERO {
                invoice["Status"] = json!("PAID");
                invoice["FullyPaidOnDate"] = json!(xero_date(now.date_naive()));
            }
            set_updated(invoice, now);
        })
    }

    /// The next `n` accounting calls (past authentication) answer 429 with `Retry-After: 1`
    /// and `X-Rate-Limit-Problem: <problem>` (`minute`, `day`, `concurrent`, `appminute`).
    pub fn throttle_next(&self, n: usize, problem: &str) {
        let mut s = lock(&self.state);
        s.faults.throttle = n;
        s.throttle_problem = problem.to_string();
    }

    /// Calls per minute each organisation may make (default 60).
    pub fn set_minute_limit(&self, n: u32) {
        lock(&self.state).minute_limit = n;
    }

    /// Calls per day each organisation may make (default 5000; 1000 on the Starter tier).
    pub fn set_day_limit(&self, n: u32) {
        lock(&self.state).day_limit = n;
    }

    /// With `true`, the organisation is over Xero's high volume threshold (more than 100k
    /// contacts or invoices): `GET Contacts` and `GET Invoices` then refuse, with 400
    /// HighVolumeException, a `where` that is not optimised (contacts: `==` on Name,
    /// EmailAddress or AccountNumber, joined by AND, without ToLower/ToUpper; invoices: `==`
    /// on Status, Type, InvoiceID, InvoiceNumber, Reference, Contact.ContactID, Contact.Name
    /// or Contact.ContactNumber joined by AND, or InvoiceID equalities joined by OR), and a
    /// request that neither pages nor narrows by a list parameter, `where` or `searchTerm`.
    pub fn set_high_volume(&self, tenant: &str, on: bool) {
        self.with_org(tenant, |o| o.high_volume = on)
    }

    /// Records `n` calls in `tenant`'s minute and day windows now, as if another process
    /// of the same app (a second worker or deployment with the same client id) had just
    /// made them: `X-MinLimit-Remaining` and `X-DayLimit-Remaining` drop by `n`, and they
    /// leave the windows 60 seconds (24 hours) from now like any call. The app-wide minute
    /// count and [`FakeXero::calls_for`] are unchanged. (Xero counts per app and
    /// organisation: another app connected to the same organisation has its own budget.)
    pub fn spend_minute_budget(&self, tenant: &str, n: u32) {
        let now = Instant::now();
        self.with_org(tenant, |o| {
            for _ in 0..n {
                o.minute.push_back(now);
                o.day.push_back(now);
            }
        })
    }

    /// `expires_in` of access tokens issued from now on (default 1800 s).
    pub fn set_access_token_lifetime(&self, secs: u64) {
        lock(&self.state).access_token_lifetime = secs;
    }

    /// How long a superseded refresh token keeps working (default 30 minutes).
    pub fn set_refresh_grace(&self, d: Duration) {
        lock(&self.state).refresh_grace = d;
    }

    /// How long an `Idempotency-Key` answer is replayed (default 6 minutes).
    pub fn set_idempotency_window(&self, d: Duration) {
        lock(&self.state).idempotency_window = d;
    }
}
