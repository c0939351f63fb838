//! Items: the defaults of every organisation, `GET Items` and `GET Items/{ItemID or Code}`,
//! and what a line naming an `ItemCode` takes from its item.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use uuid::Uuid;

use super::super::harness::numbers::{decimal, rounded};
use super::super::harness::wire::Params;

use super::answers::{Answer, envelope, not_found};
use super::lines::LineInput;
use super::lists::filtered;
use super::settings::ACCOUNTS;
use super::state::OrgData;

pub(super) const MAX_ITEM_CODE_LEN: usize = 30;
pub(super) const MAX_ITEM_NAME_LEN: usize = 50;

/// The items every organisation starts with: (Code, Name, Description, sales UnitPrice,
/// sales AccountCode); the sales TaxType is the account's.
const DEFAULT_ITEMS: &[(&str, &str, &str, &str, &str)] = &[
    (
        "PRO-PLAN",
        "Pro plan",
        "Pro plan, one month",
        "20.00",
        "200",
    ),
    (
        "HOURS",
        "Consulting hours",
        "Consulting, per hour",
        "10.25",
        "260",
    ),
];

/// Fields an item `where` may name.
const ITEM_WHERE_FIELDS: &[&str] = &[
    "ItemID",
    "Code",
    "Name",
    "Description",
    "IsSold",
    "IsPurchased",
    "IsTrackedAsInventory",
    "SalesDetails.AccountCode",
    "SalesDetails.TaxType",
];

/// The default items, new for each organisation.
pub(super) fn default_items() -> Vec<Value> {
    let updated = DateTime::from_timestamp_millis(1_704_067_200_000).expect("a date");
    DEFAULT_ITEMS
        .iter()
        .map(|(code, name, description, price, account)| {
            let tax_type = ACCOUNTS
                .iter()
                .find(|a| a.0 == *account)
                .map_or("NONE", |a| a.2);
            let price = rounded(Decimal::from_str(price).expect("a price"), 4);
            let sales = json!({ "UnitPrice": price, "AccountCode": account, "TaxType": tax_type });
            item_json(code, name, Some(description), sales, updated)
        })
        .collect()
}

/// An item as Xero returns it (the shape of its spec's GET Items example): sold, not
/// purchased, not tracked as inventory.
pub(super) fn item_json(
    code: &str,
    name: &str,
    description: Option<&str>,
    sales: Value,
    updated: DateTime<Utc>,
) -> Value {
    let mut item = json!({
        "ItemID": Uuid::new_v4().to_string(), "Code": code, "Name": name,
        "PurchaseDetails": {}, "SalesDetails": sales, "IsTrackedAsInventory": false,
        "IsSold": true, "IsPurchased": false,
    });
    if let Some(description) = description {
        item["Description"] = json!(description);
    }
    item["UpdatedDateUTC"] = json!(format!("/Date({}+0000)/", updated.timestamp_millis()));
    item
}

/// An item as answered: unit prices at 2 decimal places, or 4 with `unitdp=4`.
fn item_view(item: &Value, unitdp: u32) -> Value {
    let mut item = item.clone();
    for details in ["SalesDetails", "PurchaseDetails"] {
        if let Some(price) = decimal(&item[details]["UnitPrice"]) {
            item[details]["UnitPrice"] = rounded(price, unitdp);
        }
    }
    item
}

/// `GET Items[?where=&unitdp=]`: every item (Items has no paging).
pub(super) fn list_items(data: &OrgData, params: &Params, unitdp: u32) -> Answer {
    let list = data.items.iter().map(|i| item_view(i, unitdp)).collect();
    match filtered(params, "Item", ITEM_WHERE_FIELDS, list) {
        Ok(list) => envelope("Items", list),
        Err(refusal) => refusal,
    }
}

/// `GET Items/{ItemID or Code}`; 404 in plain text when unknown.
pub(super) fn get_item(data: &OrgData, key: &str, unitdp: u32) -> Answer {
    let found = data
        .items
        .iter()
        .find(|i| {
            i["ItemID"]
                .as_str()
                .is_some_and(|id| id.eq_ignore_ascii_case(key))
        })
        .or_else(|| data.item_by_code(key));
    match found {
        Some(item) => envelope("Items", vec![item_view(item, unitdp)]),
        None => not_found(),
    }
}

impl OrgData {
    /// The item with this Code ([I] compared case-insensitively).
    pub(super) fn item_by_code(&self, code: &str) -> Option<&Value> {
        self.items.iter().find(|i| {
            i["Code"]
                .as_str()
                .is_some_and(|c| c.eq_ignore_ascii_case(code.trim()))
        })
    }

    /// A line naming an `ItemCode`: [I] what it leaves out (Description, UnitAmount,
    /// AccountCode, TaxType) comes from the item's sales details, and the stored line
    /// carries the item's own code. An unknown code is an error.
    pub(super) fn with_item(&self, line: &LineInput) -> Result<LineInput, String> {
        let Some(code) = &line.item_code else {
            return Ok(line.clone());
        };
        let Some(item) = self.item_by_code(code) else {
            // [I] wording.
            return Err(format!("Item code '{code}' is not valid."));
        };
        let sales = &item["SalesDetails"];
        let text = |v: &Value| v.as_str().map(str::to_string);
        let mut line = line.clone();
        line.item_code = text(&item["Code"]);
        if line.description.is_none() {
            line.description = text(&item["Description"]);
        }
        if line.unit_amount.is_none() {
            line.unit_amount = decimal(&sales["UnitPrice"]);
        }
        if line.account_code.is_none() {
            line.account_code = text(&sales["AccountCode"]);
        }
        if line.tax_type.is_none() {
            line.tax_type = text(&sales["TaxType"]);
        }
        Ok(line)
    }
}
