//! The account's lists a mapping page picks from, read with SuiteQL (the record service
//! lists only ids): items and tax items by internal id (for `item_map` and
//! `default_item_id`), accounts, sales tax items with their rates, and currencies.

use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::{NetSuiteConnector, Request};
use crate::connectors::{ErpEntry, ErpList, Outcome};
use crate::store::ConnectionRow;

/// Rows per SuiteQL page (NetSuite's largest).
const PAGE: usize = 1000;
/// The most rows a list answers.
const MAX_ROWS: usize = 10_000;

impl NetSuiteConnector {
    pub(super) async fn list(
        &self,
        connection: &ConnectionRow,
        secrets: &Value,
        list: ErpList,
    ) -> Result<Vec<ErpEntry>, Outcome> {
        let session = self.session(connection, secrets, CancellationToken::new())?;
        let q = match list {
            ErpList::Items => {
                "SELECT id, itemid, displayname, itemtype FROM item WHERE isinactive = 'F' ORDER BY itemid"
            }
            ErpList::Accounts => {
                "SELECT id, acctnumber, acctname, accttype FROM account WHERE isinactive = 'F' ORDER BY acctnumber"
            }
            ErpList::TaxRates => {
                "SELECT id, itemid, rate FROM salestaxitem WHERE isinactive = 'F' ORDER BY itemid"
            }
            ErpList::Currencies => {
                "SELECT id, symbol, name, isbasecurrency FROM currency WHERE isinactive = 'F' ORDER BY symbol"
            }
        };
        let mut rows: Vec<Value> = Vec::new();
        loop {
            let answer = self
                .call_request(
                    &session,
                    Request::Query {
                        q,
                        limit: PAGE,
                        offset: rows.len(),
                    },
                )
                .await?;
            let page = answer.body["items"].as_array().cloned().unwrap_or_default();
            let more = answer.body["hasMore"] == true && !page.is_empty();
            rows.extend(page);
            if !more || rows.len() >= MAX_ROWS {
                break;
            }
        }
        let text = |v: &Value| match v {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => String::new(),
        };
        Ok(rows
            .iter()
            .map(|r| match list {
                ErpList::Items => {
                    let name = r
                        .get("displayname")
                        .filter(|v| !v.is_null())
                        .unwrap_or(&r["itemid"]);
                    ErpEntry::new(
                        text(&r["id"]),
                        text(name),
                        [
                            ("item_name", r["itemid"].clone()),
                            ("type", r["itemtype"].clone()),
                        ],
                    )
                }
                ErpList::Accounts => ErpEntry::new(
                    text(&r["id"]),
                    text(&r["acctname"]),
                    [
                        ("number", r["acctnumber"].clone()),
                        ("type", r["accttype"].clone()),
                    ],
                ),
                ErpList::TaxRates => ErpEntry::new(
                    text(&r["id"]),
                    text(&r["itemid"]),
                    [(
                        "rate",
                        Value::String(text(&r["rate"]).trim_end_matches('%').to_string()),
                    )],
                ),
                ErpList::Currencies => ErpEntry::new(
                    text(&r["id"]),
                    text(&r["symbol"]),
                    [
                        ("description", r["name"].clone()),
                        ("base", Value::Bool(r["isbasecurrency"] == "T")),
                    ],
                ),
            })
            .collect())
    }
}
