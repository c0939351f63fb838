//! The fake's state: companies (realms) with their lists, entities and limits bookkeeping,
//! the OAuth book, and faults.

use std::collections::{HashMap, VecDeque};
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use rust_decimal::Decimal;
use serde_json::Value;

use super::super::harness::limits::{Faults, InFlight};
use super::super::harness::oauth::Book;

use super::answers::{Answer, meta_time};
use super::{REALM, default_tax_codes};

const DEFAULT_ACCESS_TOKEN_LIFETIME: i64 = 3600;

pub(super) type Shared = Arc<Mutex<FakeState>>;

pub struct FakeState {
    pub(super) companies: HashMap<String, Company>,
    pub(super) authorizing_realm: String,
    /// Codes and tokens are for a realm (the company picked on authorize).
    pub(super) oauth: Book<String, String>,
    pub(super) access_token_lifetime: i64,
    pub(super) faults: Faults,
}

/// One QBO company (realm) and its per-realm limits bookkeeping.
pub(super) struct Company {
    pub(super) name: String,
    /// ISO 3166 alpha-2; `US` means the US tax model, anything else the global one.
    pub(super) country: String,
    pub(super) home_currency: String,
    pub(super) multicurrency: bool,
    /// The `CompanyCurrency` list: foreign currencies only (Intuit's samples of a USD
    /// company list JPY, ANG, AUD, EUR, CAD, never USD).
    pub(super) currencies: Vec<Currency>,
    next_currency_id: u64,
    /// Rates set with [`FakeQuickBooks::set_exchange_rate`], by currency code.
    pub(super) exchange_rates: HashMap<String, Decimal>,
    pub(super) tax_codes: Vec<TaxCode>,
    pub(super) tax_rates: Vec<TaxRate>,
    next_tax_rate_id: u64,
    pub(super) accounts: Vec<Account>,
    pub(super) items: Vec<Item>,
    pub(super) customers: Vec<Value>,
    pub(super) invoices: Vec<Stored>,
    pub(super) payments: Vec<Stored>,
    /// Credit memos, stored like invoices (`voided` stays false: QBO deletes them).
    pub(super) credit_memos: Vec<Stored>,
    /// Purchases (cheques, cash expenses); deleted ones are removed.
    pub(super) purchases: Vec<Stored>,
    pub(super) next_customer_id: u64,
    pub(super) next_invoice_id: u64,
    pub(super) next_payment_id: u64,
    pub(super) next_credit_memo_id: u64,
    pub(super) next_purchase_id: u64,
    /// Answers by `requestid`, replayed verbatim.
    pub(super) replays: HashMap<String, Answer>,
    /// API requests in flight, refused ones included until they are refused.
    pub(super) calls: InFlight,
    /// Arrival times of admitted requests in the last minute.
    pub(super) recent: VecDeque<Instant>,
}

pub(super) struct Item {
    pub(super) id: String,
    pub(super) name: String,
    pub(super) active: bool,
    /// Id of the income account in the company's chart of accounts.
    pub(super) income_account: String,
}

/// One entry of a company's currency list (`CompanyCurrency`).
pub(super) struct Currency {
    pub(super) id: String,
    pub(super) code: String,
    pub(super) active: bool,
    pub(super) created: String,
}

/// A sales tax code of the global tax model. [I] One rate per code (QBO allows groups of
/// rates; the fake's codes each reference a single `TaxRate`).
pub(super) struct TaxCode {
    pub(super) id: String,
    pub(super) name: String,
    pub(super) rate_id: String,
    pub(super) active: bool,
}

pub(super) struct TaxRate {
    pub(super) id: String,
    pub(super) name: String,
    /// Percent, as `RateValue` carries it (20 for 20%).
    pub(super) rate: Decimal,
    pub(super) active: bool,
}

/// An account of the chart of accounts. Its currency is the home currency [I] (Intuit:
/// "income and expense accounts always use the company's home currency").
pub(super) struct Account {
    pub(super) id: &'static str,
    pub(super) name: &'static str,
    pub(super) account_type: &'static str,
    pub(super) sub_type: &'static str,
    pub(super) classification: &'static str,
    pub(super) acct_num: &'static str,
}

/// A transaction the fake keeps: an invoice, credit memo, payment or purchase (`voided`
/// stays false for credit memos and purchases: QBO deletes them instead).
pub(super) struct Stored {
    pub(super) entity: Value,
    pub(super) voided: bool,
}

impl Stored {
    /// A new (live) transaction.
    pub(super) fn new(entity: &Value) -> Self {
        Stored {
            entity: entity.clone(),
            voided: false,
        }
    }
}

impl FakeState {
    pub(super) fn new() -> Self {
        FakeState {
            companies: HashMap::from([(REALM.to_string(), Company::new("Fake Co"))]),
            authorizing_realm: REALM.to_string(),
            oauth: Book::new(),
            access_token_lifetime: DEFAULT_ACCESS_TOKEN_LIFETIME,
            faults: Faults::default(),
        }
    }
}

impl AsMut<Faults> for FakeState {
    fn as_mut(&mut self) -> &mut Faults {
        &mut self.faults
    }
}

/// [I] The chart of accounts every company starts with: a sandbox-like minimum, with ids
/// apart from the item ids so a connector sending an account id as an `ItemRef` fails.
const DEFAULT_ACCOUNTS: [Account; 5] = [
    Account {
        id: "80",
        name: "Services",
        account_type: "Income",
        sub_type: "ServiceFeeIncome",
        classification: "Revenue",
        acct_num: "4000",
    },
    Account {
        id: "81",
        name: "Sales",
        account_type: "Income",
        sub_type: "SalesOfProductIncome",
        classification: "Revenue",
        acct_num: "4010",
    },
    Account {
        id: "35",
        name: "Checking",
        account_type: "Bank",
        sub_type: "Checking",
        classification: "Asset",
        acct_num: "1000",
    },
    Account {
        id: "4",
        name: "Undeposited Funds",
        account_type: "Other Current Asset",
        sub_type: "UndepositedFunds",
        classification: "Asset",
        acct_num: "1200",
    },
    Account {
        id: "84",
        name: "Accounts Receivable (A/R)",
        account_type: "Accounts Receivable",
        sub_type: "AccountsReceivable",
        classification: "Asset",
        acct_num: "1100",
    },
];

impl Company {
    pub(super) fn new(name: &str) -> Self {
        let items = [
            ("1", "Services", "80"),
            ("2", "Hours", "80"),
            ("3", "Setup", "81"),
        ]
        .into_iter()
        .map(|(id, name, account)| Item {
            id: id.to_string(),
            name: name.to_string(),
            active: true,
            income_account: account.to_string(),
        })
        .collect();
        Company {
            name: name.to_string(),
            country: "US".to_string(),
            home_currency: "USD".to_string(),
            multicurrency: false,
            currencies: Vec::new(),
            next_currency_id: 1,
            exchange_rates: HashMap::new(),
            tax_codes: Vec::new(),
            tax_rates: Vec::new(),
            // [I] Rate ids apart from code ids, so a connector sending a TaxRate id as a
            // TaxCodeRef fails.
            next_tax_rate_id: 31,
            accounts: DEFAULT_ACCOUNTS.into(),
            items,
            customers: Vec::new(),
            invoices: Vec::new(),
            payments: Vec::new(),
            credit_memos: Vec::new(),
            purchases: Vec::new(),
            // Distinct ranges, so a connector mixing up ids does not pass by accident.
            next_customer_id: 58,
            next_invoice_id: 239,
            next_payment_id: 1401,
            next_credit_memo_id: 2701,
            next_purchase_id: 3301,
            replays: HashMap::new(),
            calls: InFlight::default(),
            recent: VecDeque::new(),
        }
    }

    pub(super) fn active_item(&self, id: &str) -> Option<&Item> {
        self.items.iter().find(|i| i.id == id && i.active)
    }

    pub(super) fn customer_index(&self, id: &str) -> Option<usize> {
        self.customers.iter().position(|c| c["Id"] == id)
    }

    pub(super) fn invoice_mut(&mut self, id: &str) -> Option<&mut Stored> {
        self.invoices.iter_mut().find(|i| i.entity["Id"] == id)
    }

    /// Whether the company uses the US tax model (pseudo codes `TAX`/`NON`).
    pub(super) fn is_us(&self) -> bool {
        self.country == "US"
    }

    pub(super) fn currency(&self, code: &str) -> Option<&Currency> {
        self.currencies.iter().find(|c| c.code == code)
    }

    /// Adds `code` to the currency list, or makes it active again.
    pub(super) fn add_currency(&mut self, code: &str) {
        if let Some(currency) = self.currencies.iter_mut().find(|c| c.code == code) {
            currency.active = true;
            return;
        }
        let id = self.next_currency_id.to_string();
        self.next_currency_id += 1;
        self.currencies.push(Currency {
            id,
            code: code.to_string(),
            active: true,
            created: meta_time(),
        });
    }

    /// Replaces the tax codes and rates with the country's defaults.
    pub(super) fn reset_tax_codes(&mut self) {
        self.tax_codes.clear();
        self.tax_rates.clear();
        for (id, name, rate) in default_tax_codes(&self.country) {
            let rate = Decimal::from_str(&rate.to_string()).expect("a decimal rate");
            self.add_tax_code(id, name, rate);
        }
    }

    /// Adds a tax code with a new rate, or replaces the name and rate of an existing one.
    pub(super) fn add_tax_code(&mut self, id: &str, name: &str, rate: Decimal) {
        let rate_id = self.next_tax_rate_id.to_string();
        self.next_tax_rate_id += 1;
        self.tax_rates.push(TaxRate {
            id: rate_id.clone(),
            name: name.to_string(),
            rate,
            active: true,
        });
        let code = TaxCode {
            id: id.to_string(),
            name: name.to_string(),
            rate_id,
            active: true,
        };
        match self.tax_codes.iter_mut().find(|t| t.id == id) {
            Some(existing) => *existing = code,
            None => self.tax_codes.push(code),
        }
    }

    pub(super) fn active_tax_code(&self, id: &str) -> Option<&TaxCode> {
        self.tax_codes.iter().find(|t| t.id == id && t.active)
    }

    pub(super) fn tax_rate(&self, id: &str) -> Option<&TaxRate> {
        self.tax_rates.iter().find(|r| r.id == id)
    }

    pub(super) fn account(&self, id: &str) -> Option<&Account> {
        self.accounts.iter().find(|a| a.id == id)
    }
}
