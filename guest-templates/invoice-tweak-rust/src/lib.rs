//! An invoice tweak: adjusts one customer's invoices before any connector sees them.
//!
//! erp-sync calls `adjust` with the invoice as the contract's JSON and expects the
//! adjusted invoice back, as JSON. The host validates the result exactly like
//! `POST /v1/invoices` (lines must still sum to the subtotal, and so on) and refuses
//! changes to `id`, `currency`, `status` and `customer.id`. Working on a
//! `serde_json::Value` keeps every field you do not touch exactly as it was.
//!
//! Build: `cargo build --release --target wasm32-wasip2`, then upload
//! `target/wasm32-wasip2/release/invoice_tweak_template.wasm` with `world=invoice-tweak`.

use serde_json::Value;

wit_bindgen::generate!({
    world: "invoice-tweak",
    path: "../../wit/erp-sync-transform@1.0.0",
});

use exports::erp_sync::transform::tweak::Guest;
use erp_sync::transform::types::{Context, TransformError};

struct Component;

impl Guest for Component {
    fn adjust(_ctx: Context, invoice: String) -> Result<String, TransformError> {
        let mut invoice: Value = serde_json::from_str(&invoice)
            .map_err(|e| TransformError::Rejected(format!("unexpected invoice shape: {e}")))?;

        // Example: make every line description start with the invoice number.
        let number = invoice["number"].as_str().unwrap_or_default().to_string();
        if let Some(lines) = invoice["lines"].as_array_mut() {
            for line in lines {
                let text = line["description"].as_str().unwrap_or_default();
                line["description"] = Value::String(format!("{number}: {text}"));
            }
        }
        serde_json::to_string(&invoice).map_err(|e| TransformError::Other(e.to_string()))
    }
}

export!(Component);
