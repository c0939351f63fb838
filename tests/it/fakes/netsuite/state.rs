//! The fake's state: the account's reference data (items, currencies, accounts, tax codes),
//! the stored records, the nonces and Login Audit Trail of TBA, and faults.

use std::collections::HashSet;
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use rust_decimal::Decimal;
use serde_json::{Map, Value, json};

use super::super::harness::limits::{Faults, InFlight};

use super::routes::{Key, RECORD_PREFIX, RecordType};
use super::{
    ACCOUNT_BANK, ACCOUNT_DEFERRED_REVENUE, ACCOUNT_DISCOUNTS, ACCOUNT_RECEIVABLE, ACCOUNT_REVENUE,
    ACCOUNT_TAX_PAYABLE, DEFAULT_CONCURRENCY_LIMIT, ITEM_DISCOUNT, ITEM_SERVICES, ITEM_TAX,
    ITEM_USAGE, TAX_CA, TAX_EXEMPT,
};

/// Account types as SuiteQL spells `account.accttype`.
pub(super) const ACCOUNT_TYPES: [&str; 19] = [
    "Bank",
    "OthCurrAsset",
    "FixedAsset",
    "OthAsset",
    "AcctRec",
    "Equity",
    "Expense",
    "OthExpense",
    "COGS",
    "AcctPay",
    "CredCard",
    "LongTermLiab",
    "OthCurrLiab",
    "Income",
    "OthIncome",
    "DeferExpense",
    "UnbilledRec",
    "DeferRevenue",
    "NonPosting",
];

pub(super) type Shared = Arc<Mutex<FakeState>>;

pub(super) struct Item {
    pub(super) id: String,
    pub(super) name: String,
    pub(super) record_type: &'static str,
    pub(super) active: bool,
}

/// An account of the chart of accounts.
pub(super) struct Account {
    pub(super) id: String,
    pub(super) number: String,
    pub(super) name: String,
    pub(super) kind: String,
    pub(super) active: bool,
}

impl Account {
    pub(super) fn new(id: &str, number: &str, name: &str, kind: &str) -> Self {
        Account {
            id: id.into(),
            number: number.into(),
            name: name.into(),
            kind: kind.into(),
            active: true,
        }
    }
}

/// A legacy tax code (`salestaxitem`): a percentage.
pub(super) struct TaxItem {
    pub(super) id: String,
    pub(super) name: String,
    pub(super) rate: Decimal,
    pub(super) active: bool,
}

impl TaxItem {
    pub(super) fn new(id: &str, name: &str, rate: &str) -> Self {
        TaxItem {
            id: id.into(),
            name: name.into(),
            rate: Decimal::from_str(rate).unwrap_or_else(|_| panic!("a tax rate: {rate}")),
            active: true,
        }
    }
}

/// A stored record: its internal id, external id and body fields (canonical names).
#[derive(Clone, Debug)]
pub(super) struct Stored {
    pub(super) id: String,
    pub(super) external_id: Option<String>,
    pub(super) fields: Map<String, Value>,
}

pub struct FakeState {
    pub(super) base: String,
    pub(super) items: Vec<Item>,
    pub(super) currencies: Vec<(&'static str, &'static str, &'static str)>,
    pub(super) accounts: Vec<Account>,
    pub(super) tax_items: Vec<TaxItem>,
    /// The `q` of every SuiteQL request that reached its query.
    pub(super) suiteql: Vec<String>,
    pub(super) customers: Vec<Stored>,
    pub(super) invoices: Vec<Stored>,
    pub(super) credit_memos: Vec<Stored>,
    pub(super) payments: Vec<Stored>,
    pub(super) refunds: Vec<Stored>,
    /// The next calls refused as a login the token no longer allows [I].
    pub(super) login_refusals: usize,
    next_id: u64,
    pub(super) nonces: HashSet<String>,
    pub(super) login_audit: Vec<String>,
    /// Requests in flight (account-wide), refused ones included.
    pub(super) calls: InFlight,
    pub(super) concurrency_limit: usize,
    pub(super) faults: Faults,
}

impl FakeState {
    pub(super) fn new(base: &str) -> Self {
        let item = |id: &str, name: &str, record_type| Item {
            id: id.into(),
            name: name.into(),
            record_type,
            active: true,
        };
        FakeState {
            base: base.to_string(),
            items: vec![
                item(ITEM_SERVICES, "Services", "serviceItem"),
                item(ITEM_USAGE, "API usage", "serviceItem"),
                item(ITEM_DISCOUNT, "Discount", "discountItem"),
                item(ITEM_TAX, "Sales Tax", "otherChargeItem"),
            ],
            currencies: vec![
                ("1", "USD", "US Dollar"),
                ("2", "GBP", "British pound"),
                ("3", "CAD", "Canadian Dollar"),
                ("4", "EUR", "Euro"),
            ],
            accounts: vec![
                Account::new(ACCOUNT_BANK, "1000", "Checking", "Bank"),
                Account::new(ACCOUNT_RECEIVABLE, "1200", "Accounts Receivable", "AcctRec"),
                Account::new(
                    ACCOUNT_TAX_PAYABLE,
                    "2200",
                    "Sales Tax Payable",
                    "OthCurrLiab",
                ),
                Account::new(
                    ACCOUNT_DEFERRED_REVENUE,
                    "2400",
                    "Deferred Revenue",
                    "DeferRevenue",
                ),
                Account::new(ACCOUNT_REVENUE, "4000", "Sales", "Income"),
                Account::new(ACCOUNT_DISCOUNTS, "4900", "Sales Discounts", "Income"),
            ],
            tax_items: vec![
                TaxItem::new(TAX_CA, "CA Sales Tax", "7.25"),
                TaxItem::new(TAX_EXEMPT, "Exempt", "0"),
            ],
            suiteql: Vec::new(),
            customers: Vec::new(),
            invoices: Vec::new(),
            credit_memos: Vec::new(),
            payments: Vec::new(),
            refunds: Vec::new(),
            login_refusals: 0,
            // One sequence of internal ids for every record type, as in NetSuite.
            next_id: 1200,
            nonces: HashSet::new(),
            login_audit: Vec::new(),
            calls: InFlight::default(),
            concurrency_limit: DEFAULT_CONCURRENCY_LIMIT,
            faults: Faults::default(),
        }
    }

    pub(super) fn new_id(&mut self) -> String {
        self.next_id += 1;
        self.next_id.to_string()
    }

    pub(super) fn record_url(&self, record_type: &str, id: &str) -> String {
        format!("{}{RECORD_PREFIX}{record_type}/{id}", self.base)
    }

    /// A record as `GET` returns it: `links`, `id`, `externalId`, then its fields.
    pub(super) fn view(&self, record_type: &str, r: &Stored) -> Value {
        let mut out = Map::new();
        out.insert(
            "links".into(),
            json!([{ "rel": "self", "href": self.record_url(record_type, &r.id) }]),
        );
        out.insert("id".into(), json!(r.id));
        if let Some(eid) = &r.external_id {
            out.insert("externalId".into(), json!(eid));
        }
        for (k, v) in &r.fields {
            out.insert(k.clone(), v.clone());
        }
        Value::Object(out)
    }

    pub(super) fn records(&self, record_type: RecordType) -> &Vec<Stored> {
        match record_type {
            RecordType::Customer => &self.customers,
            RecordType::Invoice => &self.invoices,
            RecordType::CreditMemo => &self.credit_memos,
            RecordType::CustomerPayment => &self.payments,
            RecordType::CustomerRefund => &self.refunds,
        }
    }

    pub(super) fn records_mut(&mut self, record_type: RecordType) -> &mut Vec<Stored> {
        match record_type {
            RecordType::Customer => &mut self.customers,
            RecordType::Invoice => &mut self.invoices,
            RecordType::CreditMemo => &mut self.credit_memos,
            RecordType::CustomerPayment => &mut self.payments,
            RecordType::CustomerRefund => &mut self.refunds,
        }
    }

    /// The index of the record a URL key (`4711` or `eid:X`) names.
    pub(super) fn find(&self, record_type: RecordType, key: &Key) -> Option<usize> {
        self.records(record_type).iter().position(|r| match key {
            Key::Internal(id) => &r.id == id,
            Key::External(eid) => r.external_id.as_deref() == Some(eid.as_str()),
        })
    }
}

impl AsMut<Faults> for FakeState {
    fn as_mut(&mut self) -> &mut Faults {
        &mut self.faults
    }
}
