//! Shaping what connectors send: JSONPath templates and sandboxed Wasm components.
//!
//! [`template`] renders a JSON document of JSONPath queries; [`wasm`] runs customers'
//! components. [`Transforms`] is what the rest of the service calls: it finds a stored
//! component by id (components are immutable, so lookups are cached), runs it, and for
//! invoice tweaks re-validates the result exactly like an ingested invoice.

pub use erp_sync_contracts::template;
pub mod wasm;

use std::collections::HashMap;
use std::sync::Mutex;

use crate::domain::{Invoice, parse_invoice};
use crate::store::{Store, StoreError, TransformRow};
use wasm::{GuestContext, Invocation, TransformFailure, WasmHost, WebhookOutput, World};

/// Runs stored transforms for the worker, the connectors and the API.
pub struct Transforms {
    store: Store,
    pub wasm: WasmHost,
    rows: Mutex<HashMap<(String, String), TransformRow>>,
}

impl Transforms {
    /// A service over the store's components.
    pub fn new(store: Store, wasm: WasmHost) -> Self {
        Transforms {
            store,
            wasm,
            rows: Mutex::new(HashMap::new()),
        }
    }

    async fn row(&self, tenant_id: &str, id: &str) -> Result<TransformRow, StoreError> {
        let key = (tenant_id.to_string(), id.to_string());
        if let Some(row) = self.rows.lock().expect("rows lock").get(&key) {
            return Ok(row.clone());
        }
        let row = self.store.transform(tenant_id, id).await?;
        self.rows
            .lock()
            .expect("rows lock")
            .insert(key, row.clone());
        Ok(row)
    }

    async fn bytes(&self, row: &TransformRow) -> Result<Vec<u8>, StoreError> {
        if self.wasm.is_loaded(&row.sha256) {
            Ok(Vec::new())
        } else {
            self.store.wasm_bytes(&row.sha256).await
        }
    }

    async fn prepare(
        &self,
        tenant_id: &str,
        id: &str,
        world: World,
    ) -> Result<(TransformRow, Vec<u8>), TransformFailure> {
        let row = self
            .row(tenant_id, id)
            .await
            .map_err(|e| TransformFailure::Load(e.to_string()))?;
        if row.world != world.as_str() {
            return Err(TransformFailure::Load(format!(
                "transform {id} is an {} component, not a {}",
                row.world,
                world.as_str()
            )));
        }
        let bytes = self
            .bytes(&row)
            .await
            .map_err(|e| TransformFailure::Load(e.to_string()))?;
        Ok((row, bytes))
    }

    /// Runs a webhook transform on an invoice, given as its canonical JSON text
    /// ([`Invoice::canonical_text`]), which is what the guest receives.
    pub async fn webhook(
        &self,
        tenant_id: &str,
        transform_id: &str,
        ctx: &GuestContext,
        invoice_json: &str,
    ) -> Invocation<WebhookOutput> {
        match self
            .prepare(tenant_id, transform_id, World::WebhookTransform)
            .await
        {
            Ok((row, bytes)) => {
                self.wasm
                    .run_webhook(&row.sha256, &bytes, ctx, invoice_json)
                    .await
            }
            Err(f) => Invocation::failed(f),
        }
    }

    /// Runs an invoice tweak and validates what it returns: the same rules as ingest,
    /// and `id`, `currency`, `status` and `customer.id` must not change. `invoice_json`
    /// is the invoice's canonical text ([`Invoice::canonical_text`]), what the guest gets.
    pub async fn tweak(
        &self,
        tenant_id: &str,
        transform_id: &str,
        ctx: &GuestContext,
        invoice: &Invoice,
        invoice_json: &str,
    ) -> Invocation<Invoice> {
        let run = match self
            .prepare(tenant_id, transform_id, World::InvoiceTweak)
            .await
        {
            Ok((row, bytes)) => {
                self.wasm
                    .run_tweak(&row.sha256, &bytes, ctx, invoice_json)
                    .await
            }
            Err(f) => Invocation::failed(f),
        };
        run.and_then(|text| check_tweaked(invoice, &text))
    }
}

/// Validates a tweaked invoice against the original.
pub fn check_tweaked(original: &Invoice, text: &str) -> Result<Invoice, TransformFailure> {
    let tweaked = parse_invoice(text.as_bytes()).map_err(|e| {
        TransformFailure::BadOutput(format!("the adjusted invoice is invalid: {e}"))
    })?;
    let mut changed = Vec::new();
    if tweaked.id != original.id {
        changed.push("id");
    }
    if tweaked.currency != original.currency {
        changed.push("currency");
    }
    if tweaked.status != original.status {
        changed.push("status");
    }
    if tweaked.customer.id != original.customer.id {
        changed.push("customer.id");
    }
    if !changed.is_empty() {
        return Err(TransformFailure::BadOutput(format!(
            "a tweak may not change {}",
            changed.join(", ")
        )));
    }
    Ok(tweaked)
}
