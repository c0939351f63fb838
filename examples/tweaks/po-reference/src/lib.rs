//! Example invoice tweak: this customer's accounts-payable team matches invoices by
//! purchase order, so copy `metadata.po_number` into `metadata.reference` (which
//! connectors send as the ERP document's reference) and prefix the PO to each line.
//! An invoice without a PO number is refused: better a FAILED sync than an invoice the
//! customer's AP team will bounce.

use serde_json::Value;

wit_bindgen::generate!({
    world: "invoice-tweak",
    path: "../../../wit/erp-sync-transform@1.0.0",
});

use erp_sync::transform::types::{Context, TransformError};
use exports::erp_sync::transform::tweak::Guest;

struct Component;

impl Guest for Component {
    fn adjust(_ctx: Context, invoice: String) -> Result<String, TransformError> {
        let mut inv: Value = serde_json::from_str(&invoice).map_err(|e| TransformError::Other(e.to_string()))?;
        let po = inv["metadata"]["po_number"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| TransformError::Rejected("this customer requires metadata.po_number".into()))?;
        inv["metadata"]["reference"] = Value::String(po.clone());
        if let Some(lines) = inv["lines"].as_array_mut() {
            for line in lines {
                let text = line["description"].as_str().unwrap_or_default();
                line["description"] = Value::String(format!("[{po}] {text}"));
            }
        }
        Ok(inv.to_string())
    }
}

export!(Component);
