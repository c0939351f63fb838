//! Connecting a QuickBooks company: the authorization link, and the callback, which names
//! the company in `realmId` and binds the connection to it for good (another company is
//! another connection).

use async_trait::async_trait;
use serde_json::{Value, json};

use super::QuickBooksConnector;
use crate::connectors::oauth::Authorization;
use crate::connectors::onboarding::{Callback, ConnectError, OAuthConnect};
use crate::store::ConnectionRow;

#[async_trait]
impl OAuthConnect for QuickBooksConnector {
    fn authorize(&self) -> Result<Authorization, String> {
        self.client.authorize()
    }

    /// Exchanges the code, seals the tokens, and keeps the company as `realm_id`.
    async fn finish(
        &self,
        connection: &ConnectionRow,
        callback: &Callback<'_>,
    ) -> Result<(), ConnectError> {
        let Some(realm) = callback.params.get("realmId").filter(|r| !r.is_empty()) else {
            return Err(ConnectError::BadCallback(
                "QuickBooks did not say which company was authorized (no realmId)".into(),
            ));
        };
        if let Some(previous) = connection.config.get("realm_id").and_then(Value::as_str)
            && previous != realm
        {
            return Err(ConnectError::Conflict {
                message: format!(
                    "connection {} is bound to QuickBooks company {previous}, but company {realm} was authorized; \
                     re-authorize the same company, or create a new connection for the other one",
                    connection.id
                ),
                details: Vec::new(),
            });
        }
        let tokens = self
            .client
            .tokens
            .flow()
            .map_err(ConnectError::Upstream)?
            .exchange(callback.code, None)
            .await
            .map_err(|e| ConnectError::Upstream(e.to_string()))?;
        let mut config = connection.config.clone();
        config["realm_id"] = json!(realm);
        self.client
            .tokens
            .save(&connection.id, Some(&config), &tokens)
            .await
            .map_err(ConnectError::Upstream)
    }
}
