//! How a provider's connections come to life and change: the checks of their config,
//! which split the secrets off to be sealed, and, for OAuth providers, the round trip at
//! the provider's sign-in page. Each provider answers these in its own folder
//! (`<provider>/config.rs`, `<provider>/connect.rs`); the API only calls them, so adding
//! a provider touches its folder and one registration line.

use std::collections::HashMap;

use async_trait::async_trait;
use serde_json::{Map, Value};

use super::oauth::Authorization;
use crate::store::{ConnectionRow, Store};

/// How a provider's new connections are made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Onboarding {
    /// Stored `active` at once, then tested (a webhook: the test is a signed event).
    Immediate,
    /// Stored `pending_auth` with an authorization link; the OAuth callback authorizes
    /// it and runs the test sync (QuickBooks, Xero).
    OAuth,
    /// Tested on the credentials given; stored only when the test passes (NetSuite).
    TestFirst,
}

/// What the checks of a config may consult.
pub struct ConfigContext<'a> {
    pub store: &'a Store,
    pub tenant_id: &'a str,
    /// Whether targets on private addresses are allowed (`--allow-private-targets`).
    pub allow_private_targets: bool,
}

/// A config to check: for a new connection (`current` is `None`) or for a change of
/// `current` (the keys already merged).
pub struct ConfigChange<'a> {
    pub ctx: &'a ConfigContext<'a>,
    pub config: Map<String, Value>,
    pub current: Option<&'a ConnectionRow>,
}

/// What a provider's config check answers.
pub type Checked = Result<CheckedConfig, ConfigError>;

/// A config that passed its provider's checks.
#[derive(Debug, Clone)]
pub struct CheckedConfig {
    /// What is stored and shown.
    pub config: Value,
    /// What is sealed and never shown again (a webhook's secret, NetSuite's token).
    pub secrets: Option<Value>,
    /// A secret erp-sync made up (shown this once, in the create's answer).
    pub generated_secret: Option<String>,
}

impl CheckedConfig {
    /// A config with nothing to seal.
    pub fn plain(config: Value) -> Self {
        CheckedConfig {
            config,
            secrets: None,
            generated_secret: None,
        }
    }
}

/// A config key its provider refuses, with what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ConfigError {
    /// The key, e.g. `config.url`.
    pub field: String,
    pub message: String,
}

impl ConfigError {
    /// A refusal of `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError {
            field: field.into(),
            message: message.into(),
        }
    }

    /// A key the provider does not know, naming the ones it does.
    pub fn unknown(key: &str, provider: &str, known: &[&str]) -> Self {
        ConfigError::new(
            format!("config.{key}"),
            format!("is not a {provider} setting (known: {})", known.join(", ")),
        )
    }
}

/// The config keys of a request, with `null`s (which remove a key) dropped.
pub fn without_nulls(mut config: Map<String, Value>) -> Map<String, Value> {
    config.retain(|_, v| !v.is_null());
    config
}

/// A config key erp-sync learns itself (at the OAuth callback) and keeps: a request may
/// repeat its value unchanged but not set it.
pub struct Learned<'a> {
    pub key: &'a str,
    /// Why it cannot be set, for the refusal.
    pub why: &'a str,
}

impl Learned<'_> {
    /// The change's keys without `null`s or this key, and its value kept in `current`.
    pub fn split<'c>(
        &self,
        change: ConfigChange<'c>,
    ) -> Result<(Map<String, Value>, Option<&'c Value>), ConfigError> {
        let learned = change.current.and_then(|c| c.config.get(self.key));
        let mut config = without_nulls(change.config);
        match (config.remove(self.key), learned) {
            (None, _) => Ok((config, learned)),
            (Some(given), Some(learned)) if given == *learned => Ok((config, Some(learned))),
            (Some(_), _) => Err(ConfigError::new(format!("config.{}", self.key), self.why)),
        }
    }

    /// The checked `config`, with the learned value put back.
    pub fn keep(&self, mut config: Map<String, Value>, learned: Option<&Value>) -> CheckedConfig {
        if let Some(value) = learned {
            config.insert(self.key.into(), value.clone());
        }
        CheckedConfig::plain(Value::Object(config))
    }
}

/// What the OAuth callback brought back.
pub struct Callback<'a> {
    pub code: &'a str,
    /// Every query parameter (QuickBooks names the company in `realmId`).
    pub params: &'a HashMap<String, String>,
    /// The PKCE verifier kept for this authorization, if the provider uses PKCE.
    pub verifier: Option<String>,
}

/// Why a callback could not finish the connection.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConnectError {
    /// The callback lacks what the provider always sends (400 `invalid_oauth_callback`).
    #[error("{0}")]
    BadCallback(String),
    /// The authorization reached nothing to book into (400 `authorization_failed`).
    #[error("{0}")]
    NothingAuthorized(String),
    /// The authorization does not fit the connection, or a choice is needed (409), with
    /// the choices.
    #[error("{message}")]
    Conflict {
        message: String,
        details: Vec<Value>,
    },
    /// The provider's token or organisation endpoints failed (502 `authorization_failed`).
    #[error("{0}")]
    Upstream(String),
}

/// An OAuth provider's side of connecting.
#[async_trait]
pub trait OAuthConnect: Send + Sync {
    /// A fresh authorization link (with its `state` and PKCE verifier), or why this server
    /// cannot connect the provider (no app credentials).
    fn authorize(&self) -> Result<Authorization, String>;

    /// Finishes a callback: exchanges the code, keeps the tokens, and binds the connection
    /// to what was authorized (the QuickBooks company, the Xero organisation). After it,
    /// the connection's test sync can run.
    async fn finish(
        &self,
        connection: &ConnectionRow,
        callback: &Callback<'_>,
    ) -> Result<(), ConnectError>;
}
