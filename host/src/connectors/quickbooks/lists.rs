//! The company's lists a mapping page picks from: Items (by `Id`, for `item_map` and
//! `default_item_id`), Accounts, TaxCodes (by `Id`, for `tax_code_map`; a US company has
//! only `TAX` and `NON`) and currencies (the home currency, then the company's others).

use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::QuickBooksConnector;
use crate::connectors::{ErpEntry, ErpList, Outcome};
use crate::store::ConnectionRow;

/// The most entries a list answers.
const MAX_ENTRIES: usize = 10_000;

impl QuickBooksConnector {
    pub(super) async fn list(
        &self,
        connection: &ConnectionRow,
        list: ErpList,
    ) -> Result<Vec<ErpEntry>, Outcome> {
        let mut session = self
            .client
            .fresh_session(&connection.id, CancellationToken::new())
            .await?;
        let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
        let entries = match list {
            ErpList::Items => self
                .query_all(&mut session, "Item", "", MAX_ENTRIES)
                .await?
                .iter()
                .map(|r| {
                    ErpEntry::new(
                        text(&r["Id"]),
                        text(&r["Name"]),
                        [
                            ("type", r["Type"].clone()),
                            ("income_account", r["IncomeAccountRef"]["name"].clone()),
                        ],
                    )
                })
                .collect(),
            ErpList::Accounts => self
                .query_all(&mut session, "Account", "", MAX_ENTRIES)
                .await?
                .iter()
                .map(|r| {
                    ErpEntry::new(
                        text(&r["Id"]),
                        text(&r["Name"]),
                        [
                            ("type", r["AccountType"].clone()),
                            ("subtype", r["AccountSubType"].clone()),
                            ("number", r["AcctNum"].clone()),
                        ],
                    )
                })
                .collect(),
            ErpList::TaxRates => self
                .query_all(&mut session, "TaxCode", "", MAX_ENTRIES)
                .await?
                .iter()
                .map(|r| {
                    ErpEntry::new(
                        text(&r["Id"]),
                        text(&r["Name"]),
                        [
                            ("taxable", r["Taxable"].clone()),
                            ("description", r["Description"].clone()),
                        ],
                    )
                })
                .collect(),
            ErpList::Currencies => {
                let company = self.company(&mut session).await?;
                let mut entries = vec![ErpEntry::new(
                    company.home_currency.clone(),
                    company.home_currency.clone(),
                    [("home", Value::Bool(true))],
                )];
                if company.multicurrency {
                    let others = self
                        .query_all(&mut session, "CompanyCurrency", "", MAX_ENTRIES)
                        .await?;
                    entries.extend(
                        others
                            .iter()
                            .filter(|r| r["Active"] != false)
                            .map(|r| ErpEntry::new(text(&r["Code"]), text(&r["Name"]), [])),
                    );
                }
                entries
            }
        };
        Ok(entries)
    }
}
