//! A QuickBooks connection's config: `item_map`, `default_item_id` and `tax_code_map`
//! (see [`super::mapping`]), and `payment_account`, the deposit account payments land in
//! (optional here: a payment fails naming it when it is absent). `realm_id`, the company, is learnt at the OAuth callback and
//! cannot be set or changed: another company is another connection.

use serde_json::Value;

use crate::connectors::onboarding::{Checked, ConfigChange, ConfigError, Learned};

const KNOWN: [&str; 4] = [
    "item_map",
    "default_item_id",
    "tax_code_map",
    "payment_account",
];

/// The company, bound at the OAuth callback.
const REALM: Learned = Learned {
    key: "realm_id",
    why: "is set when the company is authorized; connect another company with a new connection",
};

/// Checks a QuickBooks config, for a new connection or a change of `current`.
pub fn check(change: ConfigChange<'_>) -> Checked {
    let (config, realm) = REALM.split(change)?;
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
            ("payment_account", Value::String(s)) if !s.trim().is_empty() => {}
            ("payment_account", _) => {
                return Err(ConfigError::new(
                    "config.payment_account",
                    "must be the id of the QuickBooks account payments are deposited to (a bank account or Undeposited Funds), e.g. \"35\"",
                ));
            }
            (other, _) => return Err(ConfigError::unknown(other, "QuickBooks", &KNOWN)),
        }
    }
    Ok(REALM.keep(config, realm))
}

/// The connection's `payment_account`, if set.
pub fn payment_account(config: &Value) -> Option<&str> {
    config
        .get("payment_account")
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
}
