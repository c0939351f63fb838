//! What the connector must know of a company to book into it: its country (US companies
//! book tax differently), its home currency and whether multicurrency is on, and the
//! Item named `Services` (the default Item when `default_item_id` is absent).
//!
//! Read from the company's `Preferences` and `CompanyInfo`, and kept for a few minutes
//! per company: settings change rarely, and a bill run must not read them per invoice.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;

use super::QuickBooksConnector;
use super::client::Session;
use super::mapping::{Company, ItemRules};
use crate::connectors::Outcome;

/// How long a company's settings are kept.
const KEEP: Duration = Duration::from_secs(300);

/// The name of the Item lines book to when `default_item_id` is absent.
pub const DEFAULT_ITEM_NAME: &str = "Services";

/// Each company's settings and `Services` Item, with when they were read.
#[derive(Default)]
pub struct Companies {
    kept: Kept<Company>,
    services: Kept<Option<String>>,
}

/// Values per company, each with when it was read.
struct Kept<T>(Mutex<HashMap<String, (Instant, T)>>);

impl<T> Default for Kept<T> {
    fn default() -> Self {
        Kept(Mutex::default())
    }
}

impl<T: Clone> Kept<T> {
    /// The company's value, if it was read within [`KEEP`].
    fn get(&self, account: &str) -> Option<T> {
        let kept = self.0.lock().expect("companies lock");
        kept.get(account)
            .filter(|(at, _)| at.elapsed() < KEEP)
            .map(|(_, value)| value.clone())
    }

    /// Keeps a value just read.
    fn put(&self, account: &str, value: T) {
        let mut kept = self.0.lock().expect("companies lock");
        kept.insert(account.to_string(), (Instant::now(), value));
    }

    /// Forgets the company's value.
    fn forget(&self, account: &str) {
        self.0.lock().expect("companies lock").remove(account);
    }
}

impl QuickBooksConnector {
    /// The session's company settings (kept for [`KEEP`]).
    pub(super) async fn company(&self, session: &mut Session) -> Result<Company, Outcome> {
        if let Some(company) = self.companies.kept.get(&session.account_id) {
            return Ok(company);
        }
        let company = self.read_company(session).await?;
        self.companies
            .kept
            .put(&session.account_id, company.clone());
        Ok(company)
    }

    /// Reads `Preferences` (currency) and `CompanyInfo` (country) now.
    pub(super) async fn read_company(&self, session: &mut Session) -> Result<Company, Outcome> {
        let path = format!("companyinfo/{}", session.account_id);
        let info = self
            .call(session, reqwest::Method::GET, &path, &[], None)
            .await?;
        let preferences = self
            .call(session, reqwest::Method::GET, "preferences", &[], None)
            .await?;
        let currency = &preferences["Preferences"]["CurrencyPrefs"];
        let country = info["CompanyInfo"]["Country"]
            .as_str()
            .unwrap_or("US")
            .to_string();
        Ok(Company {
            name: info["CompanyInfo"]["CompanyName"]
                .as_str()
                .unwrap_or("the company")
                .to_string(),
            country,
            home_currency: currency["HomeCurrency"]["value"]
                .as_str()
                .unwrap_or("USD")
                .to_string(),
            multicurrency: currency["MultiCurrencyEnabled"] == Value::Bool(true),
        })
    }

    /// The connection's item rules, with the company's `Services` Item as the default
    /// when `default_item_id` is absent (looked up once, then remembered).
    pub(super) async fn item_rules(&self, session: &mut Session) -> Result<ItemRules, Outcome> {
        let mut rules = ItemRules::from_config(&session.connection.config);
        if rules.default_item_id.is_none() {
            rules.default_item_id = self.services_item(session).await?;
        }
        Ok(rules)
    }

    /// The id of the company's Item named `Services`, if it has one (kept for [`KEEP`]).
    pub(super) async fn services_item(
        &self,
        session: &mut Session,
    ) -> Result<Option<String>, Outcome> {
        if let Some(id) = self.companies.services.get(&session.account_id) {
            return Ok(id);
        }
        let id = self
            .query_one(session, "Item", "Name", DEFAULT_ITEM_NAME)
            .await?
            .and_then(|item| item["Id"].as_str().map(str::to_string));
        self.companies.services.put(&session.account_id, id.clone());
        Ok(id)
    }

    /// Forgets what is kept of the session's company, so the next read is fresh (a test
    /// sync reads everything anew).
    pub(super) fn forget_company(&self, session: &Session) {
        self.companies.kept.forget(&session.account_id);
        self.companies.services.forget(&session.account_id);
    }
}
