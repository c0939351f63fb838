//! An invoice tweak that returns what the host must refuse, chosen by `mode`: a changed
//! currency (immutable), totals that no longer add up, or text that is not JSON.

wit_bindgen::generate!({
    world: "invoice-tweak",
    path: "../../../wit/erp-sync-transform@1.0.0",
});

use erp_sync::transform::types::{Context, TransformError};
use exports::erp_sync::transform::tweak::Guest;

struct Component;

impl Guest for Component {
    fn adjust(ctx: Context, invoice: String) -> Result<String, TransformError> {
        let mode = ctx.config.iter().find(|(k, _)| k == "mode").map(|(_, v)| v.clone());
        let mut v: serde_json::Value = serde_json::from_str(&invoice).map_err(|e| TransformError::Other(e.to_string()))?;
        match mode.as_deref() {
            Some("not-json") => return Ok("this is not an invoice".into()),
            Some("unbalanced") => v["total"] = serde_json::json!("999.99"),
            _ => v["currency"] = serde_json::json!("EUR"),
        }
        Ok(v.to_string())
    }
}

export!(Component);
