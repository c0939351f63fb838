//! What every ERP mapping shares: amounts on the wire, which ERP item a line books to,
//! and the invoice's reference.

use std::collections::HashMap;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde_json::Value;

use super::Gap;
use crate::domain::{Invoice, Line};

/// A decimal as a JSON number, the ERPs' wire form for amounts. The value goes through
/// its decimal text, so nothing is computed in floating point here.
pub fn amount(d: Decimal) -> Value {
    Value::Number(
        serde_json::Number::from_str(&d.normalize().to_string()).unwrap_or_else(|_| 0.into()),
    )
}

/// Which ERP item each line books to: `item_map` by product id, then by line type, then
/// `default_item_id`.
#[derive(Debug, Clone, Default)]
pub struct ItemRules {
    pub item_map: HashMap<String, String>,
    pub default_item_id: Option<String>,
}

impl ItemRules {
    /// Reads `item_map` and `default_item_id` from a connection config.
    pub fn from_config(config: &Value) -> Self {
        ItemRules {
            item_map: config
                .get("item_map")
                .and_then(Value::as_object)
                .map(|m| {
                    m.iter()
                        .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                        .collect()
                })
                .unwrap_or_default(),
            default_item_id: config
                .get("default_item_id")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_string),
        }
    }

    /// The item for a line.
    pub fn item_for(&self, product_id: Option<&str>, line_type: &str) -> Option<&String> {
        product_id
            .and_then(|p| self.item_map.get(p))
            .or_else(|| self.item_map.get(line_type))
            .or(self.default_item_id.as_ref())
    }
    /// The item for line `i`, or `None` with its [`Gap`] pushed to `gaps`; `what` is the
    /// ERP's name for an item (`NetSuite item`).
    pub fn item_or_gap(
        &self,
        i: usize,
        line: &Line,
        what: &str,
        gaps: &mut Vec<Gap>,
    ) -> Option<&String> {
        let item = self.item_for(line.product_id.as_deref(), line.line_type.as_str());
        if item.is_none() {
            gaps.push(Gap::new(
                format!("lines[{i}].product_id"),
                format!(
                    "line {} has no {what}: add {:?} or {:?} to the connection's item_map, or set default_item_id",
                    line.id,
                    line.product_id.as_deref().unwrap_or("<product id>"),
                    line.line_type.as_str()
                ),
            ));
        }
        item
    }
}

/// The invoice's reference: the text of the first of the metadata `keys` it has (each
/// ERP has its own order of `reference` and `po_number`).
pub fn reference<'a>(invoice: &'a Invoice, keys: [&str; 2]) -> Option<&'a str> {
    keys.iter()
        .find_map(|k| invoice.metadata.get(*k))
        .and_then(Value::as_str)
}
