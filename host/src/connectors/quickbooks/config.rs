//! A QuickBooks connection's config: `item_map`, `default_item_id` and `tax_code_map`
//! (see [`super::mapping`]). `realm_id`, the company, is learnt at the OAuth callback and
//! cannot be set or changed: another company is another connection.

use serde_json::{Map, Value};

use crate::connectors::onboarding::{CheckedConfig, ConfigError, without_nulls};
use crate::store::ConnectionRow;

const KNOWN: [&str; 3] = ["item_map", "default_item_id", "tax_code_map"];

/// Checks a QuickBooks config, for a new connection or a change of `current`.
pub fn check(
    config: Map<String, Value>,
    current: Option<&ConnectionRow>,
) -> Result<CheckedConfig, ConfigError> {
    let learned = current.and_then(|c| c.config.get("realm_id"));
    let mut config = without_nulls(config);
    match (config.remove("realm_id"), learned) {
        (None, _) => {}
        (Some(given), Some(learned)) if given == *learned => {}
        (Some(_), _) => {
            return Err(ConfigError::new(
                "config.realm_id",
                "is set when the company is authorized; connect another company with a new connection",
            ));
        }
    }
    for (key, value) in &config {
        match (key.as_str(), value) {
            ("item_map", Value::Object(m)) if m.values().all(Value::is_string) => {}
            ("item_map", _) => {
                return Err(ConfigError::new(
                    "config.item_map",
                    "must map product ids or line types to QuickBooks Item ids, e.g. {\"prod_api\": \"1\", \"SETUP_FEE\": \"3\"}",
                ));
            }
            ("default_item_id", Value::String(_)) => {}
            ("default_item_id", _) => {
                return Err(ConfigError::new(
                    "config.default_item_id",
                    "must be a string Item id",
                ));
            }
            ("tax_code_map", Value::Object(m)) if m.values().all(Value::is_string) => {}
            ("tax_code_map", _) => {
                return Err(ConfigError::new(
                    "config.tax_code_map",
                    "must map our tax codes (and NONE for untaxed lines) to QuickBooks TaxCode ids, e.g. {\"UK-VAT-20\": \"3\", \"NONE\": \"7\"}",
                ));
            }
            (other, _) => return Err(ConfigError::unknown(other, "QuickBooks", &KNOWN)),
        }
    }
    if let Some(realm) = learned {
        config.insert("realm_id".into(), realm.clone());
    }
    Ok(CheckedConfig::plain(Value::Object(config)))
}
