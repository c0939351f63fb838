//! The organisation's lists a mapping page picks from: items (by `Code`, for
//! `item_map`), accounts (by `Code`, for `account_code` and `account_map`), tax rates (by
//! `TaxType`, for `tax_type` and `tax_map`) and currencies (by ISO code).

use serde_json::Value;

use super::XeroConnector;
use super::client::Call;
use crate::connectors::mapping_aids::EntryShape;
use crate::connectors::{ErpEntry, ErpList, Outcome};
use crate::store::ConnectionRow;

const ITEMS: EntryShape = EntryShape {
    id: "/Code",
    name: &["/Name"],
    details: &[
        ("item_id", "/ItemID"),
        ("description", "/Description"),
        ("account_code", "/SalesDetails/AccountCode"),
        ("tax_type", "/SalesDetails/TaxType"),
    ],
};
/// Bank accounts may have no code; the maps take codes only, so those are left out.
const ACCOUNTS: EntryShape = EntryShape {
    id: "/Code",
    name: &["/Name"],
    details: &[
        ("type", "/Type"),
        ("class", "/Class"),
        ("tax_type", "/TaxType"),
        ("account_id", "/AccountID"),
    ],
};
const TAX_RATES: EntryShape = EntryShape {
    id: "/TaxType",
    name: &["/Name"],
    details: &[
        ("rate", "/EffectiveRate"),
        ("can_apply_to_revenue", "/CanApplyToRevenue"),
    ],
};
const CURRENCIES: EntryShape = EntryShape {
    id: "/Code",
    name: &["/Description"],
    details: &[],
};

impl XeroConnector {
    pub(super) async fn list(
        &self,
        connection: &ConnectionRow,
        list: ErpList,
    ) -> Result<Vec<ErpEntry>, Outcome> {
        let mut session = self.client.read_session(&connection.id).await?;
        let (collection, shape) = match list {
            ErpList::Items => ("Items", &ITEMS),
            ErpList::Accounts => ("Accounts", &ACCOUNTS),
            ErpList::TaxRates => ("TaxRates", &TAX_RATES),
            ErpList::Currencies => ("Currencies", &CURRENCIES),
        };
        let answer = self.call(&mut session, Call::get(collection, &[])).await?;
        let active = |v: &Value| v["Status"].as_str().is_none_or(|s| s == "ACTIVE");
        Ok(answer[collection]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|r| active(r))
            .filter_map(|r| shape.read(r))
            .collect())
    }
}
