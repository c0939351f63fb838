//! Sends operational alerts to tenants' `alert_url`: the alert's event JSON, signed with
//! the tenant's alert secret exactly as webhook deliveries are signed (the `X-Aforo-*`
//! and Standard Webhooks headers), retried on the server's retry schedule.
//!
//! Alerts are rows of the store (`Store::raise_alert`); this task leases the due ones,
//! so with several hosts each alert is sent by one of them, and a host that dies
//! mid-send leaves its alerts due again when the lease ends.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::api::settings::alert_secret_aad;
use crate::connectors::egress;
use crate::crypto::seal::Sealer;
use crate::store::{DueAlert, Store, now_ms};
use crate::sync::RetryPolicy;

/// Alerts sent per round.
const BATCH: i64 = 32;
/// How long a claimed alert is held for its send; longer than any request.
const LEASE: Duration = Duration::from_secs(120);
/// How often due alerts are looked for.
const POLL: Duration = Duration::from_millis(250);

/// What sending alerts needs.
pub struct AlertSender {
    pub store: Store,
    pub sealer: Sealer,
    pub client: reqwest::Client,
    pub policy: RetryPolicy,
}

impl AlertSender {
    /// Sends due alerts until `shutdown` fires.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        loop {
            match self
                .store
                .claim_due_alerts(BATCH, LEASE.as_millis() as i64)
                .await
            {
                Ok(due) if !due.is_empty() => {
                    let mut sends = tokio::task::JoinSet::new();
                    for alert in due {
                        let me = self.clone();
                        sends.spawn(async move { me.send(alert).await });
                    }
                    sends.join_all().await;
                    continue;
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::error!(error = %e, "claiming due alerts failed; trying again shortly")
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(POLL) => {}
                _ = shutdown.cancelled() => return,
            }
        }
    }

    /// One attempt of one alert, recorded.
    async fn send(&self, alert: DueAlert) {
        let (delivered, retry_after, error) = match self.post(&alert).await {
            Ok(()) => (true, None, None),
            Err((retry_after, error)) => (false, retry_after, Some(error)),
        };
        let retry_at = (!delivered)
            .then(|| self.policy.next_delay(alert.attempts as u32, retry_after))
            .flatten()
            .map(|d| now_ms() + d.as_millis() as i64);
        if let Some(error) = &error {
            tracing::warn!(alert = %alert.id, tenant = %alert.tenant_id, attempt = alert.attempts,
                gives_up = retry_at.is_none(), %error, "an alert delivery failed");
        }
        if let Err(e) = self
            .store
            .settle_alert(&alert.id, delivered, retry_at, error.as_deref())
            .await
        {
            tracing::error!(alert = %alert.id, error = %e, "recording an alert delivery failed; it is sent again when its lease ends");
        }
    }

    /// POSTs the alert; on failure, the endpoint's `Retry-After` and what went wrong.
    async fn post(&self, alert: &DueAlert) -> Result<(), (Option<Duration>, String)> {
        let secret = alert
            .alert_secret
            .as_ref()
            .ok_or((None, "the tenant has no alert secret".to_string()))?;
        let secret = self
            .sealer
            .open(secret, alert_secret_aad(&alert.tenant_id).as_bytes())
            .map_err(|e| {
                (
                    None,
                    format!("the tenant's alert secret cannot be opened: {e}"),
                )
            })?;
        let secret = String::from_utf8_lossy(&secret).into_owned();
        let headers = crate::connectors::webhook::sign_with(
            &secret,
            &[],
            &alert.id,
            alert.body.as_bytes(),
            "application/json",
        );
        let mut request = self.client.post(&alert.alert_url);
        for (name, value) in &headers {
            request = request.header(name.as_str(), value.as_str());
        }
        let response = request.body(alert.body.clone()).send().await.map_err(|e| {
            (
                None,
                egress::is_blocked(&e)
                    .unwrap_or_else(|| format!("the alert_url could not be reached: {e}")),
            )
        })?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(crate::connectors::webhook::parse_retry_after);
        Err((retry_after, format!("the alert_url answered {status}")))
    }
}
