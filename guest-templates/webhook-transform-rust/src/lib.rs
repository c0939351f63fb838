//! A webhook transform: turns an erp-sync invoice into the body your endpoint wants.
//!
//! erp-sync calls `transform` once per delivery with the invoice as the contract's JSON.
//! Return the body, its content type and any extra headers, or an error. An error fails
//! that delivery at once (a retry would run the same code on the same input), and the
//! message appears in the sync log. Whatever you print to stdout or stderr is captured
//! (bounded) into the sync log too.
//!
//! Build: `cargo build --release --target wasm32-wasip2`, then upload
//! `target/wasm32-wasip2/release/webhook_transform_template.wasm`.

use serde::Deserialize;

wit_bindgen::generate!({
    world: "webhook-transform",
    path: "../../wit/erp-sync-transform@1.0.0",
});

use exports::erp_sync::transform::webhook::Guest;
use erp_sync::transform::types::{Context, Header, Payload, TransformError};

/// The parts of the invoice this transform reads. Unknown fields are ignored, so new
/// fields in the contract never break it. Amounts are decimal strings: keep them so.
#[derive(Deserialize)]
struct Invoice {
    id: String,
    number: String,
    status: String,
    currency: String,
    total: String,
    customer: Customer,
    #[serde(default)]
    lines: Vec<Line>,
}

#[derive(Deserialize)]
struct Customer {
    id: String,
    name: String,
}

#[derive(Deserialize)]
struct Line {
    description: String,
    amount: String,
}

struct Component;

impl Guest for Component {
    fn transform(ctx: Context, invoice: String) -> Result<Payload, TransformError> {
        let invoice: Invoice = serde_json::from_str(&invoice)
            .map_err(|e| TransformError::Rejected(format!("unexpected invoice shape: {e}")))?;
        eprintln!("transforming {} for {}", invoice.number, ctx.event_type);

        // Shape the body as your endpoint expects; here, a small flat document.
        let body = serde_json::json!({
            "event": ctx.event_type,
            "invoice": invoice.id,
            "number": invoice.number,
            "status": invoice.status,
            "customer": {"id": invoice.customer.id, "name": invoice.customer.name},
            "total": {"amount": invoice.total, "currency": invoice.currency},
            "lines": invoice.lines.iter().map(|l| serde_json::json!({
                "text": l.description, "amount": l.amount,
            })).collect::<Vec<_>>(),
        });
        Ok(Payload {
            body: serde_json::to_vec(&body).map_err(|e| TransformError::Other(e.to_string()))?,
            content_type: "application/json".into(),
            headers: vec![Header {
                name: "X-Invoice-Number".into(),
                value: invoice.number,
            }],
        })
    }
}

export!(Component);
