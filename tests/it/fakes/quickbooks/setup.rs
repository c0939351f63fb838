//! Setting a fake QuickBooks Online up and injecting faults: companies and their country,
//! currencies and tax codes, what authorize picks, data made as if in QBO's UI, and
//! throttling, outages, lost answers, dead tokens and edits made elsewhere.

use std::str::FromStr;

use rust_decimal::Decimal;
use serde_json::json;

use super::super::harness::lock;

use super::FakeQuickBooks;
use super::answers::meta_time;
use super::currencies::known_currency;
use super::fields::sync_token;
use super::state::Company;

impl FakeQuickBooks {
    /// Adds a company (with the same three items as [`REALM`]); renames it if it exists.
    pub fn add_company(&self, realm: &str, name: &str) {
        lock(&self.state)
            .companies
            .entry(realm.to_string())
            .and_modify(|c| c.name = name.to_string())
            .or_insert_with(|| Company::new(name));
    }

    /// The company the next authorization "picks" (returned as `realmId` in the callback).
    pub fn set_authorizing_realm(&self, realm: &str) {
        let mut s = lock(&self.state);
        assert!(s.companies.contains_key(realm), "unknown realm {realm}");
        s.authorizing_realm = realm.to_string();
    }

    /// Creates a customer directly (as if made in QBO's UI) and returns its Id.
    pub fn add_customer(&self, realm: &str, display_name: &str) -> String {
        self.with_company(realm, |c| {
            let body = json!({ "DisplayName": display_name });
            let entity = c
                .create_customer(body.as_object().expect("an object"))
                .unwrap_or_else(|_| panic!("customer {display_name:?} could not be added"));
            entity["Id"].as_str().expect("an Id").to_string()
        })
    }

    /// Makes the item named `name` inactive: queries no longer find it and references to
    /// it answer 2500 "Invalid Reference Id".
    pub fn remove_item(&self, realm: &str, name: &str) {
        self.with_company(realm, |c| {
            let item = c.items.iter_mut().find(|i| i.name == name);
            item.unwrap_or_else(|| panic!("no item {name:?}")).active = false;
        })
    }

    /// Sets a company's country (ISO 3166 alpha-2: `US`, `GB`, `CA`, `AU`, ...), home
    /// currency (ISO 4217) and whether multicurrency is on. Every company starts as `US`,
    /// `USD`, multicurrency off.
    ///
    /// The country decides the tax model: `US` uses the pseudo tax codes `TAX`/`NON`, any
    /// other country the global tax model with `TaxCode` entities. Changing the country
    /// replaces the company's tax codes and rates with that country's default set (see
    /// [`default_tax_codes`]). Customers keep the currency they were created with, so set
    /// this up before adding customers. (In QBO the home currency cannot be changed once
    /// set and multicurrency cannot be turned off once on; the fake lets a test do both.)
    pub fn set_company_settings(
        &self,
        realm: &str,
        country: &str,
        home_currency: &str,
        multicurrency: bool,
    ) {
        assert!(
            known_currency(home_currency),
            "{home_currency:?} is not a currency QBO knows"
        );
        assert!(
            country.len() == 2 && country.chars().all(|c| c.is_ascii_uppercase()),
            "country {country:?} must be an upper-case ISO 3166 alpha-2 code"
        );
        self.with_company(realm, |c| {
            c.home_currency = home_currency.to_string();
            c.multicurrency = multicurrency;
            c.currencies.retain(|cur| cur.code != home_currency);
            if c.country != country {
                c.country = country.to_string();
                c.reset_tax_codes();
            }
        })
    }

    /// Adds a foreign currency, active, to the company's currency list (the `CompanyCurrency`
    /// entities), or makes it active again. Multicurrency must be on.
    pub fn add_currency(&self, realm: &str, code: &str) {
        assert!(known_currency(code), "{code:?} is not a currency QBO knows");
        self.with_company(realm, |c| {
            assert!(c.multicurrency, "multicurrency is off for {realm}");
            assert!(code != c.home_currency, "{code} is the home currency");
            c.add_currency(code);
        })
    }

    /// Makes a currency of the company's list inactive: customers and invoices in it are
    /// refused from now on (Intuit: an inactive currency "is not availble for use with
    /// financial transactions").
    pub fn deactivate_currency(&self, realm: &str, code: &str) {
        self.with_company(realm, |c| {
            let currency = c.currencies.iter_mut().find(|cur| cur.code == code);
            currency
                .unwrap_or_else(|| panic!("no currency {code} in {realm}"))
                .active = false;
        })
    }

    /// The exchange rate (home-currency units per unit of `code`, e.g. `"1.0850"`) that
    /// invoices in `code` get when the request carries no `ExchangeRate`. Without one set,
    /// such invoices get 1, as QBO does [S] (WordPress/wordcamp.org#1325: "if you don't
    /// include the ExchangeRate in the API call now, QBO will automatically set the value
    /// to 1").
    pub fn set_exchange_rate(&self, realm: &str, code: &str, rate: &str) {
        let rate = Decimal::from_str(rate).unwrap_or_else(|_| panic!("bad rate {rate:?}"));
        assert!(rate > Decimal::ZERO, "an exchange rate must be positive");
        self.with_company(realm, |c| {
            c.exchange_rates.insert(code.to_string(), rate);
        })
    }

    /// Adds a sales `TaxCode` with one `TaxRate` of `rate_percent` (e.g. 20.0 for 20%), or
    /// replaces the name and rate of the code with that id (and makes it active). A US
    /// company lists the code in queries, but its invoice lines still take only `TAX`/`NON`.
    pub fn add_tax_code(&self, realm: &str, id: &str, name: &str, rate_percent: f64) {
        // The shortest decimal that reads back as the float: 7.1 is 7.1, not 7.0999...
        let rate = Decimal::from_str(&rate_percent.to_string())
            .unwrap_or_else(|_| panic!("bad rate {rate_percent}"));
        self.with_company(realm, |c| c.add_tax_code(id, name, rate))
    }

    /// Makes a `TaxCode` inactive: lines naming it are refused from now on.
    pub fn deactivate_tax_code(&self, realm: &str, id: &str) {
        self.with_company(realm, |c| {
            let code = c.tax_codes.iter_mut().find(|t| t.id == id);
            code.unwrap_or_else(|| panic!("no tax code {id} in {realm}"))
                .active = false;
        })
    }

    /// The next `n` API calls answer 429 code 3001, without `Retry-After` (as QBO does).
    pub fn throttle_next(&self, n: usize) {
        lock(&self.state).faults.throttle = n;
    }

    /// Someone edits the invoice in QBO: its `SyncToken` goes up by one.
    pub fn edit_invoice_elsewhere(&self, realm: &str, id: &str) {
        self.with_company(realm, |c| {
            let invoice = c
                .invoice_mut(id)
                .unwrap_or_else(|| panic!("no invoice {id}"));
            let next = sync_token(&invoice.entity) + 1;
            invoice.entity["SyncToken"] = json!(next.to_string());
            invoice.entity["MetaData"]["LastUpdatedTime"] = json!(meta_time());
        })
    }

    /// `expires_in` of access tokens issued from now on (default 3600 s).
    pub fn set_access_token_lifetime(&self, secs: i64) {
        lock(&self.state).access_token_lifetime = secs;
    }
}
