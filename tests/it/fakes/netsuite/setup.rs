//! Setting a fake NetSuite up and injecting faults: the concurrency limit, throttling,
//! outages, lost answers, slow calls, and reference data (items, accounts, tax codes).

use super::super::harness::lock;

use super::FakeNetSuite;
use super::state::{ACCOUNT_TYPES, Account, TaxItem};

impl FakeNetSuite {
    /// Requests allowed in flight at once (default [`DEFAULT_CONCURRENCY_LIMIT`]).
    pub fn set_concurrency_limit(&self, n: usize) {
        lock(&self.state).concurrency_limit = n;
    }

    /// The next `n` authenticated calls answer 429 `CONCURRENCY_LIMIT_EXCEEDED`.
    pub fn throttle_next(&self, n: usize) {
        lock(&self.state).faults.throttle = n;
    }

    /// The next `n` calls are refused as logins (`401 INVALID_LOGIN`, `InvalidToken` in
    /// the Login Audit Trail) though correctly signed: the token briefly not honoured, as
    /// NetSuite does while a token's role or the integration record is being changed [I].
    pub fn refuse_logins_next(&self, n: usize) {
        lock(&self.state).login_refusals = n;
    }

    /// Makes an item (or a tax code, which NetSuite keeps among its items) inactive:
    /// references to it answer 400, and SuiteQL shows it with `isinactive` `T`.
    pub fn remove_item(&self, id: &str) {
        let mut s = lock(&self.state);
        if let Some(tax) = s.tax_items.iter_mut().find(|t| t.id == id) {
            tax.active = false;
            return;
        }
        let item = s.items.iter_mut().find(|i| i.id == id);
        item.unwrap_or_else(|| panic!("no item {id}")).active = false;
    }

    /// Adds an active account to the chart of accounts. `kind` is SuiteQL's `accttype`
    /// (`Income`, `AcctRec`, `OthCurrLiab`, `Bank`, `DeferRevenue`, …); an unknown kind or
    /// a taken id panics, as a mistake in the test.
    pub fn add_account(&self, id: &str, number: &str, name: &str, kind: &str) {
        let mut s = lock(&self.state);
        assert!(ACCOUNT_TYPES.contains(&kind), "no account type {kind}");
        assert!(
            !s.accounts.iter().any(|a| a.id == id),
            "account {id} exists"
        );
        s.accounts.push(Account::new(id, number, name, kind));
    }

    /// Makes an account inactive (SuiteQL shows it with `isinactive` `T`).
    pub fn deactivate_account(&self, id: &str) {
        let mut s = lock(&self.state);
        let account = s.accounts.iter_mut().find(|a| a.id == id);
        account.unwrap_or_else(|| panic!("no account {id}")).active = false;
    }

    /// Adds an active legacy tax code (`salestaxitem`, also listed among the items with
    /// `itemtype` `TaxItem`); `rate` is a percentage such as `"7.25"`. A taken id panics.
    pub fn add_tax_item(&self, id: &str, name: &str, rate: &str) {
        let mut s = lock(&self.state);
        assert!(
            !s.items.iter().any(|i| i.id == id) && !s.tax_items.iter().any(|t| t.id == id),
            "item {id} exists"
        );
        s.tax_items.push(TaxItem::new(id, name, rate));
    }
}
