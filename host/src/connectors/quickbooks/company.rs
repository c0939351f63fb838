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
    kept: Mutex<HashMap<String, (Instant, Company)>>,
    services: Mutex<HashMap<String, (Instant, Option<String>)>>,
}

impl QuickBooksConnector {
    /// The session's company settings (kept for [`KEEP`]).
    pub(super) async fn company(&self, session: &mut Session) -> Result<Company, Outcome> {
        if let Some((at, company)) = self
            .companies
            .kept
            .lock()
            .expect("companies lock")
            .get(&session.account_id)
            && at.elapsed() < KEEP
        {
            return Ok(company.clone());
        }
        let company = self.read_company(session).await?;
        self.companies.kept.lock().expect("companies lock").insert(
            session.account_id.clone(),
            (Instant::now(), company.clone()),
        );
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
        if let Some((at, id)) = self
            .companies
            .services
            .lock()
            .expect("companies lock")
            .get(&session.account_id)
            && at.elapsed() < KEEP
        {
            return Ok(id.clone());
        }
        let id = self
            .query_one(session, "Item", "Name", DEFAULT_ITEM_NAME)
            .await?
            .and_then(|item| item["Id"].as_str().map(str::to_string));
        self.companies
            .services
            .lock()
            .expect("companies lock")
            .insert(session.account_id.clone(), (Instant::now(), id.clone()));
        Ok(id)
    }

    /// Forgets what is kept of the session's company, so the next read is fresh (a test
    /// sync reads everything anew).
    pub(super) fn forget_company(&self, session: &Session) {
        self.companies
            .kept
            .lock()
            .expect("companies lock")
            .remove(&session.account_id);
        self.companies
            .services
            .lock()
            .expect("companies lock")
            .remove(&session.account_id);
    }
}
