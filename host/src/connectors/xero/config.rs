//! A Xero connection's config: the maps and defaults of [`super::mapping`], `status`,
//! `payment_account` (the code of the bank account payments and refunds are booked to;
//! optional here, a payment without it fails naming it), and
//! `tenant_id`, the organisation. The organisations an authorization reached are kept by
//! the callback in `available_tenants`, which cannot be set; a `tenant_id` must be one of
//! them (before any authorization, any `tenant_id` is taken, and checked at the callback).

use serde_json::Value;

use crate::connectors::onboarding::{Checked, ConfigChange, ConfigError, Learned};

/// The organisations an authorization reached, kept by the OAuth callback.
const TENANTS: Learned = Learned {
    key: "available_tenants",
    why: "lists the organisations an authorization reached; it is kept by the OAuth callback",
};

const KNOWN: [&str; 8] = [
    "tenant_id",
    "account_code",
    "payment_account",
    "tax_type",
    "status",
    "account_map",
    "tax_map",
    "item_map",
];

/// Checks a Xero config, for a new connection or a change of `current`.
pub fn check(change: ConfigChange<'_>) -> Checked {
    let (config, learned) = TENANTS.split(change)?;
    for (key, value) in &config {
        match (key.as_str(), value) {
            ("tenant_id", Value::String(t)) => {
                if let Some(list) = learned.and_then(Value::as_array)
                    && !list.iter().any(|x| x["tenant_id"] == *t)
                {
                    let names: Vec<String> = list
                        .iter()
                        .map(|x| {
                            format!(
                                "{} ({})",
                                x["tenant_id"].as_str().unwrap_or(""),
                                x["name"].as_str().unwrap_or("")
                            )
                        })
                        .collect();
                    return Err(ConfigError::new(
                        "config.tenant_id",
                        format!(
                            "is not an organisation this connection authorized; choose one of {}",
                            names.join(", ")
                        ),
                    ));
                }
            }
            ("account_code" | "tax_type", Value::String(_)) => {}
            ("payment_account", Value::String(code)) if !code.trim().is_empty() => {}
            ("status", Value::String(s)) if s == "AUTHORISED" || s == "DRAFT" => {}
            ("status", _) => {
                return Err(ConfigError::new(
                    "config.status",
                    "must be AUTHORISED or DRAFT",
                ));
            }
            ("account_map" | "tax_map" | "item_map", Value::Object(m))
                if m.values().all(Value::is_string) => {}
            (other, _) if KNOWN.contains(&other) => {
                return Err(ConfigError::new(
                    format!("config.{other}"),
                    "has the wrong type",
                ));
            }
            (other, _) => return Err(ConfigError::unknown(other, "Xero", &KNOWN)),
        }
    }
    Ok(TENANTS.keep(config, learned))
}
