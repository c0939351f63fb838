//! The fake's state: organisations with their data and limits bookkeeping, grants and
//! connections, faults, and the app-wide counters.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::super::harness::limits::{Faults, InFlight};
use super::super::harness::oauth::Book;
use super::super::harness::wire::random_string;

use super::TENANT_ID;
use super::connections::Connection;
use super::idempotency::Cached;
use super::items::default_items;
use super::oauth::{Consent, Grant};
use super::settings::BASE_CURRENCY;

const DEFAULT_ACCESS_TOKEN_LIFETIME: u64 = 1800;
/// A superseded refresh token keeps working this long (Xero: "a grace period of 30 minutes").
const DEFAULT_REFRESH_GRACE: Duration = Duration::from_secs(30 * 60);

const DEFAULT_MINUTE_LIMIT: u32 = 60;
const DEFAULT_DAY_LIMIT: u32 = 5000;

const DEFAULT_IDEMPOTENCY_WINDOW: Duration = Duration::from_secs(6 * 60);

pub(super) type Shared = Arc<Mutex<FakeState>>;

pub struct FakeState {
    pub(super) orgs: HashMap<String, Org>,
    /// The organisations the next authorization grants.
    pub(super) authorizing: Vec<String>,
    pub(super) refuse_retired_scopes: bool,
    /// Codes carry what the user consented to; tokens are for an `authEventId`.
    pub(super) oauth: Book<Consent, String>,
    /// Authorizations by `authEventId`.
    pub(super) grants: HashMap<String, Grant>,
    /// The user's connections to this app, by tenant id.
    pub(super) connections: HashMap<String, Connection>,
    pub(super) access_token_lifetime: u64,
    pub(super) refresh_grace: Duration,
    pub(super) faults: Faults,
    /// `X-Rate-Limit-Problem` of injected throttles.
    pub(super) throttle_problem: String,
    pub(super) minute_limit: u32,
    pub(super) day_limit: u32,
    /// Admitted calls of the whole app in the last minute.
    pub(super) app_recent: VecDeque<Instant>,
    /// Calls answered 429 for going over a limit (injected throttles excluded).
    pub(super) rate_limited: usize,
    pub(super) calls_during_retry_after: usize,
    pub(super) idempotency_window: Duration,
    /// Answers by `Idempotency-Key` (keys are per app).
    pub(super) idempotency: HashMap<String, Cached>,
}

/// One organisation and its per-tenant limits bookkeeping.
pub(super) struct Org {
    pub(super) name: String,
    pub(super) created: DateTime<Utc>,
    pub(super) short_code: String,
    pub(super) data: OrgData,
    /// Accounting calls in flight, refused ones included until they are refused.
    pub(super) calls: InFlight,
    /// Arrival times of counted calls in the last minute and the last day (rolling
    /// windows), including those recorded by [`FakeXero::spend_minute_budget`].
    pub(super) minute: VecDeque<Instant>,
    pub(super) day: VecDeque<Instant>,
    /// Accounting calls admitted so far.
    pub(super) admitted: usize,
    /// Over Xero's high volume threshold (more than 100k contacts or invoices).
    pub(super) high_volume: bool,
    /// Until when the last 429's `Retry-After` asked this organisation's callers to wait.
    pub(super) retry_after_until: Option<Instant>,
}

/// What a write changes; cloned so that a rejected element (or request) leaves no trace.
#[derive(Clone)]
pub(super) struct OrgData {
    pub(super) contacts: Vec<Value>,
    pub(super) invoices: Vec<Value>,
    pub(super) next_invoice_number: u64,
    /// Sales credit notes (ACCRECCREDIT), in creation order.
    pub(super) credit_notes: Vec<Value>,
    pub(super) next_credit_note_number: u64,
    /// Payments on invoices and credit notes (deleted ones stay, `Status: DELETED`).
    pub(super) payments: Vec<Value>,
    /// Items, with prices at 4 decimal places.
    pub(super) items: Vec<Value>,
    /// Subscribed currency codes, the base currency first.
    pub(super) currencies: Vec<String>,
}

/// Where the record whose `field` is `id` (ignoring case, as Xero's ids) stands in `list`.
pub(super) fn index_of(list: &[Value], field: &str, id: &str) -> Option<usize> {
    let matches = |r: &Value| {
        r[field]
            .as_str()
            .is_some_and(|v| v.eq_ignore_ascii_case(id))
    };
    list.iter().position(matches)
}

/// Where the live (not DELETED) record whose number `field` is `number` (ignoring case)
/// stands in `list`, among those `kind` accepts.
pub(super) fn live_by_number(
    list: &[Value],
    field: &str,
    number: &str,
    kind: impl Fn(&Value) -> bool,
) -> Option<usize> {
    let number = number.trim();
    list.iter().position(|r| {
        kind(r)
            && r["Status"] != "DELETED"
            && r[field]
                .as_str()
                .is_some_and(|n| n.eq_ignore_ascii_case(number))
    })
}

impl FakeState {
    pub(super) fn new() -> Self {
        FakeState {
            orgs: HashMap::from([(TENANT_ID.to_string(), Org::new("Fake Ltd"))]),
            authorizing: vec![TENANT_ID.to_string()],
            refuse_retired_scopes: false,
            oauth: Book::new(),
            grants: HashMap::new(),
            connections: HashMap::new(),
            access_token_lifetime: DEFAULT_ACCESS_TOKEN_LIFETIME,
            refresh_grace: DEFAULT_REFRESH_GRACE,
            faults: Faults::default(),
            throttle_problem: String::new(),
            minute_limit: DEFAULT_MINUTE_LIMIT,
            day_limit: DEFAULT_DAY_LIMIT,
            app_recent: VecDeque::new(),
            rate_limited: 0,
            calls_during_retry_after: 0,
            idempotency_window: DEFAULT_IDEMPOTENCY_WINDOW,
            idempotency: HashMap::new(),
        }
    }
}

impl AsMut<Faults> for FakeState {
    fn as_mut(&mut self) -> &mut Faults {
        &mut self.faults
    }
}

impl Org {
    pub(super) fn new(name: &str) -> Self {
        Org {
            name: name.to_string(),
            created: Utc::now(),
            short_code: format!("!{}", random_string(5)),
            data: OrgData {
                contacts: Vec::new(),
                invoices: Vec::new(),
                next_invoice_number: 1,
                credit_notes: Vec::new(),
                next_credit_note_number: 1,
                payments: Vec::new(),
                items: default_items(),
                currencies: vec![BASE_CURRENCY.to_string()],
            },
            calls: InFlight::default(),
            minute: VecDeque::new(),
            day: VecDeque::new(),
            admitted: 0,
            high_volume: false,
            retry_after_until: None,
        }
    }
}
