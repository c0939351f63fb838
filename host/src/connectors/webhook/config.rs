//! A webhook connection's config: its target, and how its body is shaped.
//!
//! `url` (required, and a public address unless private targets are allowed), and either
//! `template` (a JSONPath payload template, compiled now so a bad path is refused with
//! its location) or `transform_id` (a webhook-transform component of the tenant, with
//! `transform_config`). The signing secret is split off to be sealed: the one given (16
//! characters at least), or a generated one, `whsec_` + base64 of 32 random bytes, shown
//! once. Either signs both signature headers (see [`super::signing`]); a given secret not
//! in the `whsec_` form keys the Standard Webhooks signature with its own bytes.

use serde_json::Value;

use crate::connectors::egress;
use crate::connectors::onboarding::{
    Checked, CheckedConfig, ConfigChange, ConfigError, without_nulls,
};
use crate::crypto::api_key::generate_webhook_secret;
use crate::transform::template::Template;
use crate::transform::wasm::World;

const KNOWN: [&str; 5] = [
    "url",
    "secret",
    "template",
    "transform_id",
    "transform_config",
];

/// Checks a webhook config; on create (`current` is `None`) it also makes its secrets.
pub async fn check(change: ConfigChange<'_>) -> Checked {
    let ConfigChange {
        ctx,
        mut config,
        current,
    } = change;
    let secret = match (current, config.remove("secret")) {
        (_, None | Some(Value::Null)) => None,
        (Some(_), Some(_)) => {
            return Err(ConfigError::new(
                "config.secret",
                "secrets cannot be changed by PATCH; create a new connection to use another secret",
            ));
        }
        (None, Some(Value::String(s))) if s.len() >= 16 => Some(s),
        (None, Some(Value::String(_))) => {
            return Err(ConfigError::new(
                "config.secret",
                "must be at least 16 characters",
            ));
        }
        (None, Some(_)) => return Err(ConfigError::new("config.secret", "must be a string")),
    };
    let config = without_nulls(config);
    if let Some(key) = config.keys().find(|k| !KNOWN.contains(&k.as_str())) {
        return Err(ConfigError::unknown(key, "webhook", &KNOWN));
    }
    let url = match config.get("url") {
        Some(Value::String(u)) => u.clone(),
        Some(_) => return Err(ConfigError::new("config.url", "must be a string")),
        None => {
            return Err(ConfigError::new(
                "config.url",
                "is required: the https URL that receives the events",
            ));
        }
    };
    let parsed = url::Url::parse(&url)
        .map_err(|e| ConfigError::new("config.url", format!("is not a valid URL: {e}")))?;
    egress::check_target(&parsed, ctx.allow_private_targets)
        .await
        .map_err(|m| ConfigError::new("config.url", m))?;
    if config.contains_key("template") && config.contains_key("transform_id") {
        return Err(ConfigError::new(
            "config.transform_id",
            "cannot be combined with config.template: choose one way to shape the payload",
        ));
    }
    if let Some(doc) = config.get("template") {
        Template::compile(doc).map_err(|e| {
            ConfigError::new(
                "config.template",
                format!("at {}: {}", e.location, e.message),
            )
        })?;
    }
    match config.get("transform_id") {
        None => {}
        Some(Value::String(id)) => {
            let row = ctx.store.transform(ctx.tenant_id, id).await.map_err(|_| {
                ConfigError::new(
                    "config.transform_id",
                    format!("transform {id} not found; upload it with POST /v1/transforms"),
                )
            })?;
            if row.world != World::WebhookTransform.as_str() {
                return Err(ConfigError::new(
                    "config.transform_id",
                    format!(
                        "transform {id} is an {} component; a webhook needs a webhook-transform",
                        row.world
                    ),
                ));
            }
        }
        Some(_) => return Err(ConfigError::new("config.transform_id", "must be a string")),
    }
    match config.get("transform_config") {
        None => {}
        Some(Value::Object(map)) if map.values().all(Value::is_string) => {}
        Some(_) => {
            return Err(ConfigError::new(
                "config.transform_config",
                "must be an object of string values, handed to the transform as its config",
            ));
        }
    }
    if current.is_some() {
        return Ok(CheckedConfig::plain(Value::Object(config)));
    }
    let generated = secret.is_none().then(generate_webhook_secret);
    let secret = secret
        .or_else(|| generated.clone())
        .expect("given or generated");
    Ok(CheckedConfig {
        config: Value::Object(config),
        secrets: Some(
            serde_json::to_value(super::WebhookSecrets::new(secret))
                .expect("webhook secrets serialize"),
        ),
        generated_secret: generated,
    })
}
