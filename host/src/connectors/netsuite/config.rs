//! A NetSuite connection's config: `account_id` and the four Token-Based Authentication
//! credentials (all required; the credentials are split off to be sealed, and cannot be
//! changed later: a new token is a new connection), `item_map`, `default_item_id`,
//! `subsidiary_id`, `payment_account` (the internal id of the account customer payments and
//! refunds go through; optional, but payments and refunds fail without it), and `api_base`
//! (a public address unless private targets are allowed).

use serde_json::{Map, Value};

use crate::connectors::egress;
use crate::connectors::onboarding::{
    Checked, CheckedConfig, ConfigChange, ConfigError, without_nulls,
};

/// The NetSuite credentials, which are sealed; everything else stays in the config.
pub const SECRETS: [&str; 4] = [
    "consumer_key",
    "consumer_secret",
    "token_id",
    "token_secret",
];

const KNOWN: [&str; 10] = [
    "account_id",
    "consumer_key",
    "consumer_secret",
    "token_id",
    "token_secret",
    "item_map",
    "default_item_id",
    "subsidiary_id",
    "api_base",
    "payment_account",
];

/// Checks a NetSuite config: on create (`current` is `None`) the credentials are
/// required and split off; on a change they are refused.
pub async fn check(change: ConfigChange<'_>) -> Checked {
    let ConfigChange {
        ctx,
        config,
        current,
    } = change;
    let mut config = without_nulls(config);
    let mut secrets = Map::new();
    for key in SECRETS {
        match (current, config.remove(key)) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::new(
                    format!("config.{key}"),
                    "credentials cannot be changed by PATCH; create a new connection with the new token",
                ));
            }
            (None, Some(Value::String(v))) if !v.trim().is_empty() => {
                secrets.insert(key.into(), Value::String(v));
            }
            (None, Some(_)) => {
                return Err(ConfigError::new(
                    format!("config.{key}"),
                    "must be a non-empty string",
                ));
            }
            (None, None) => {
                return Err(ConfigError::new(
                    format!("config.{key}"),
                    "is required: NetSuite Token-Based Authentication needs consumer_key, consumer_secret, token_id and token_secret",
                ));
            }
            (Some(_), None) => {}
        }
    }
    match config.get("account_id") {
        Some(Value::String(a))
            if !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') => {}
        Some(_) => {
            return Err(ConfigError::new(
                "config.account_id",
                "must be the NetSuite account id, e.g. 1234567 or 1234567_SB1",
            ));
        }
        None => {
            return Err(ConfigError::new(
                "config.account_id",
                "is required, e.g. 1234567 or 1234567_SB1",
            ));
        }
    }
    for (key, value) in &config {
        match (key.as_str(), value) {
            ("account_id", _) => {}
            ("item_map", Value::Object(m)) if m.values().all(Value::is_string) => {}
            ("default_item_id" | "subsidiary_id", Value::String(_)) => {}
            ("payment_account", Value::String(a)) if !a.trim().is_empty() => {}
            ("api_base", Value::String(u)) => {
                let parsed = url::Url::parse(u).map_err(|e| {
                    ConfigError::new("config.api_base", format!("is not a valid URL: {e}"))
                })?;
                egress::check_target(&parsed, ctx.allow_private_targets)
                    .await
                    .map_err(|m| ConfigError::new("config.api_base", m))?;
            }
            (other, _) if KNOWN.contains(&other) => {
                return Err(ConfigError::new(
                    format!("config.{other}"),
                    "has the wrong type",
                ));
            }
            (other, _) => return Err(ConfigError::unknown(other, "NetSuite", &KNOWN)),
        }
    }
    Ok(CheckedConfig {
        config: Value::Object(config),
        secrets: current.is_none().then_some(Value::Object(secrets)),
        generated_secret: None,
    })
}
