//! The per-invoice costs of the payload path, for invoices of 1, 20 and 200 lines:
//! parse + validate, signing, JSONPath template render, the same mapping written as
//! native Rust, and Wasm transform and tweak calls (fresh instance + call each time).
//!
//! Run: `cargo bench --bench transforms`. Figures go in docs/performance.md.

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use erp_sync::domain::{Invoice, parse_invoice};
use erp_sync::transform::template::Template;
use erp_sync::transform::wasm::{GuestContext, Limits, WasmHost, sha256_hex};
use serde_json::{Value, json};

fn invoice_json(lines: usize) -> Vec<u8> {
    let mut items = Vec::new();
    for i in 0..lines {
        items.push(json!({"id": format!("li_{i}"), "type": "USAGE_FEE", "description": format!("API calls, tier {i}"),
            "product_id": "prod_api", "quantity": "1000", "unit_price": "0.01", "amount": "10.00",
            "tax_amount": "0.80", "tax_code": "TX-STATE"}));
    }
    let cents = |c: usize| format!("{}.{:02}", c / 100, c % 100);
    let (subtotal, tax, total) = (cents(1000 * lines), cents(80 * lines), cents(1080 * lines));
    serde_json::to_vec(&json!({
        "id": "inv_bench", "number": "INV-BENCH-1", "status": "OPEN", "entity": "US", "currency": "USD",
        "issue_date": "2026-11-01", "due_date": "2026-12-01", "finalized_at": "2026-11-01T10:00:00Z",
        "customer": {"id": "cus_42", "name": "Acme Inc", "email": "ap@acme.test"},
        "lines": items, "subtotal": subtotal, "tax_total": tax, "total": total,
        "metadata": {"po_number": "PO-7"}
    }))
    .unwrap()
}

/// The flat-accounting mapping, by hand, as a native baseline for the template and Wasm.
fn native_flat(inv: &Invoice, event: &Value) -> Value {
    json!({
        "event": event["type"], "event_id": event["id"], "document_number": inv.number,
        "document_date": inv.issue_date, "due_date": inv.due_date, "customer_ref": inv.customer.id,
        "customer_name": inv.customer.name, "currency": inv.currency, "net": inv.subtotal.to_string(),
        "tax": inv.tax_total.to_string(), "gross": inv.total.to_string(),
        "purchase_order": inv.metadata.get("po_number"),
        "lines": inv.lines.iter().map(|l| json!({"text": l.description, "item": l.product_id,
            "net": l.amount.to_string(), "tax": l.tax_amount.map(|t| t.to_string()), "tax_code": l.tax_code,
            "currency": inv.currency})).collect::<Vec<_>>(),
    })
}

fn benches(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let template: Value = serde_json::from_str(include_str!(
        "../../examples/templates/flat-accounting.json"
    ))
    .unwrap();
    let template = Template::compile(&template).unwrap();
    let event = json!({"id": "evt_1", "type": "invoice.finalized", "created_at": "2026-11-01T10:00:00.000Z"});
    let host = WasmHost::new(Limits::default(), None).unwrap();
    let flat = std::fs::read(erp_sync_guest_artifacts::FLAT_ACCOUNTING).unwrap();
    let flat_sha = sha256_hex(&flat);
    let tweak = std::fs::read(erp_sync_guest_artifacts::PO_REFERENCE).unwrap();
    let tweak_sha = sha256_hex(&tweak);
    rt.block_on(async {
        host.check(&flat, None).await.unwrap();
        host.check(&tweak, None).await.unwrap();
    });
    let ctx = GuestContext {
        event_type: "invoice.finalized".into(),
        event_id: "evt_1".into(),
        ..GuestContext::default()
    };

    let mut group = c.benchmark_group("per_invoice");
    for lines in [1usize, 20, 200] {
        let bytes = invoice_json(lines);
        let invoice = parse_invoice(&bytes).unwrap();
        let canonical = invoice.canonical_json();
        let text = canonical.to_string();
        group.bench_with_input(
            BenchmarkId::new("parse_validate", lines),
            &bytes,
            |b, bytes| b.iter(|| parse_invoice(bytes).unwrap()),
        );
        group.bench_with_input(
            BenchmarkId::new("envelope_sign", lines),
            &text,
            |b, text| {
                let event = erp_sync::connectors::webhook::payload::Event {
                    id: "evt_1",
                    event_type: "invoice.finalized",
                    created_ms: 1_700_000_000_000,
                };
                b.iter(|| {
                    // What a delivery does: the stored canonical text spliced into the envelope.
                    let body = erp_sync::connectors::webhook::payload::envelope(&event, text);
                    erp_sync::crypto::signature::sign(
                        1_700_000_000,
                        &body.body,
                        &[b"whsec_0123456789abcdef"],
                    )
                })
            },
        );
        group.bench_with_input(
            BenchmarkId::new("template_render", lines),
            &canonical,
            |b, data| b.iter(|| template.render(data, &event).unwrap()),
        );
        group.bench_with_input(
            BenchmarkId::new("native_mapping", lines),
            &invoice,
            |b, inv| b.iter(|| serde_json::to_vec(&native_flat(inv, &event)).unwrap()),
        );
        group.bench_with_input(
            BenchmarkId::new("wasm_transform", lines),
            &text,
            |b, text| {
                b.to_async(&rt).iter(|| async {
                    let run = host.run_webhook(&flat_sha, &[], &ctx, text).await;
                    run.result.unwrap()
                })
            },
        );
        group.bench_with_input(BenchmarkId::new("wasm_tweak", lines), &text, |b, text| {
            b.to_async(&rt).iter(|| async {
                let run = host.run_tweak(&tweak_sha, &[], &ctx, text).await;
                run.result.unwrap()
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = transforms;
    config = Criterion::default().sample_size(30).measurement_time(std::time::Duration::from_secs(3));
    targets = benches
}
criterion_main!(transforms);
