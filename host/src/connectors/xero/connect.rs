//! Connecting a Xero organisation: the authorization link (with PKCE), and the callback,
//! which lists the organisations the operator authorized (`/connections`), keeps them in
//! `available_tenants`, and binds the connection to the only one, or to the one it names
//! already; with several and no choice yet, the operator chooses with `PATCH`.

use async_trait::async_trait;
use serde_json::{Value, json};

use super::{XeroConnector, XeroTenant};
use crate::connectors::oauth::Authorization;
use crate::connectors::onboarding::{Callback, ConnectError, OAuthConnect};
use crate::store::ConnectionRow;

#[async_trait]
impl OAuthConnect for XeroConnector {
    async fn finish(
        &self,
        connection: &ConnectionRow,
        callback: &Callback<'_>,
    ) -> Result<(), ConnectError> {
        let tenants = self
            .authorized_tenants(connection, callback.code, callback.verifier.clone())
            .await
            .map_err(ConnectError::Upstream)?;
        let store_err = |e: crate::store::StoreError| ConnectError::Upstream(e.to_string());
        let mut row = self
            .store
            .connection(&connection.tenant_id, &connection.id)
            .await
            .map_err(store_err)?;
        let chosen = row
            .config
            .get("tenant_id")
            .and_then(Value::as_str)
            .map(str::to_string);
        let listed = |id: &str| tenants.iter().any(|t| t.tenant_id == id);
        let choice = match chosen {
            Some(id) if listed(&id) => id,
            Some(id) => {
                return Err(ConnectError::Conflict {
                    message: format!(
                        "connection {} is bound to Xero organisation {id}, which this authorization does not include; \
                         authorize that organisation, or create a new connection",
                        connection.id
                    ),
                    details: Vec::new(),
                });
            }
            None if tenants.len() == 1 => tenants[0].tenant_id.clone(),
            None if tenants.is_empty() => {
                return Err(ConnectError::NothingAuthorized(
                    "no Xero organisation was authorized; authorize again and select one".into(),
                ));
            }
            None => return Err(choose_one(&connection.id, &tenants)),
        };
        row.config["tenant_id"] = json!(choice);
        self.store
            .update_connection(&row)
            .await
            .map_err(store_err)?;
        Ok(())
    }

    fn authorize(&self) -> Result<Authorization, String> {
        self.client.authorize()
    }
}

/// The 409 asking the operator to choose among several organisations.
fn choose_one(connection_id: &str, tenants: &[XeroTenant]) -> ConnectError {
    let names: Vec<String> = tenants
        .iter()
        .map(|t| format!("{} ({})", t.tenant_id, t.name))
        .collect();
    ConnectError::Conflict {
        message: format!(
            "several Xero organisations were authorized: choose one with PATCH /v1/connections/{connection_id} \
             {{\"config\": {{\"tenant_id\": \"...\"}}}}; authorized: {}",
            names.join(", ")
        ),
        details: tenants
            .iter()
            .map(|t| json!({"tenant_id": t.tenant_id, "name": t.name}))
            .collect(),
    }
}
