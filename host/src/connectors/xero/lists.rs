//! The organisation's lists a mapping page picks from: items (by `Code`, for
//! `item_map`), accounts (by `Code`, for `account_code` and `account_map`), tax rates (by
//! `TaxType`, for `tax_type` and `tax_map`) and currencies (by ISO code).

use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::XeroConnector;
use super::client::Call;
use crate::connectors::{ErpEntry, ErpList, Outcome};
use crate::store::ConnectionRow;

impl XeroConnector {
    pub(super) async fn list(
        &self,
        connection: &ConnectionRow,
        list: ErpList,
    ) -> Result<Vec<ErpEntry>, Outcome> {
        let mut session = self
            .client
            .fresh_session(&connection.id, CancellationToken::new())
            .await?;
        let (path, collection) = match list {
            ErpList::Items => ("Items", "Items"),
            ErpList::Accounts => ("Accounts", "Accounts"),
            ErpList::TaxRates => ("TaxRates", "TaxRates"),
            ErpList::Currencies => ("Currencies", "Currencies"),
        };
        let answer = self.call(&mut session, Call::get(path, &[])).await?;
        let rows = answer[collection].as_array().cloned().unwrap_or_default();
        let active = |v: &Value| v["Status"].as_str().is_none_or(|s| s == "ACTIVE");
        let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
        Ok(rows
            .iter()
            .filter(|r| active(r))
            .filter_map(|r| match list {
                ErpList::Items => Some(ErpEntry::new(
                    text(&r["Code"]),
                    text(&r["Name"]),
                    [
                        ("item_id", r["ItemID"].clone()),
                        ("description", r["Description"].clone()),
                        ("account_code", r["SalesDetails"]["AccountCode"].clone()),
                        ("tax_type", r["SalesDetails"]["TaxType"].clone()),
                    ],
                )),
                // Bank accounts may have no code; the maps take codes only.
                ErpList::Accounts => r["Code"].as_str().filter(|c| !c.is_empty()).map(|code| {
                    ErpEntry::new(
                        code,
                        text(&r["Name"]),
                        [
                            ("type", r["Type"].clone()),
                            ("class", r["Class"].clone()),
                            ("tax_type", r["TaxType"].clone()),
                            ("account_id", r["AccountID"].clone()),
                        ],
                    )
                }),
                ErpList::TaxRates => Some(ErpEntry::new(
                    text(&r["TaxType"]),
                    text(&r["Name"]),
                    [
                        ("rate", r["EffectiveRate"].clone()),
                        ("can_apply_to_revenue", r["CanApplyToRevenue"].clone()),
                    ],
                )),
                ErpList::Currencies => {
                    Some(ErpEntry::new(text(&r["Code"]), text(&r["Description"]), []))
                }
            })
            .collect())
    }
}
