//! The checks each fuzz target makes on one input, shared by the libFuzzer targets in
//! `fuzz_targets/` and by the ordinary test `tests/it/fuzz_inputs.rs`, which replays the
//! committed seeds and every past finding (`fuzz/regressions/`) on each `cargo test`.
//!
//! Each function takes raw bytes, panics when a rule is broken, and returns otherwise.

use erp_sync_contracts::domain::sample::SAMPLE_INVOICE_JSON;
use erp_sync_contracts::domain::{Document, parse_invoice};
use erp_sync_contracts::signature::{sign, verify};
use erp_sync_contracts::template::Template;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use std::fmt::{Debug, Display};

/// Invoice ingest (`POST /v1/invoices`): never panics; whatever is accepted adds up
/// exactly, and its stored (canonical) form reads back as the same invoice with the same
/// content hash, so re-posting it is a no-op.
pub fn invoice_parse(data: &[u8]) {
    let Ok(invoice) = parse_invoice(data) else {
        return;
    };
    let lines = invoice
        .lines
        .iter()
        .try_fold(Decimal::ZERO, |sum, l| sum.checked_add(l.amount));
    assert_eq!(
        lines,
        Some(invoice.subtotal),
        "lines add up to the subtotal"
    );
    assert_eq!(
        invoice.subtotal.checked_add(invoice.tax_total),
        Some(invoice.total),
        "subtotal + tax_total = total"
    );
    canonical_round_trip(&invoice, parse_invoice);
}

/// The stored (canonical) form of an accepted document is what the direct writer gives,
/// reads back as the same document with the same content hash (so re-posting it is a
/// no-op), and `reparse` accepts it.
pub fn canonical_round_trip<D, E>(document: &D, reparse: impl Fn(&[u8]) -> Result<D, E>)
where
    D: Document + PartialEq + Debug,
    E: Display,
{
    let canonical = serde_json::to_vec(&document.canonical_json()).expect("serializes");
    assert_eq!(
        document.canonical_text().as_bytes(),
        canonical.as_slice(),
        "the directly written canonical text is the canonical JSON"
    );
    let again = reparse(&canonical)
        .unwrap_or_else(|e| panic!("the canonical form of an accepted document is refused: {e}"));
    assert_eq!(
        &again, document,
        "the canonical form reads back as the same document"
    );
    assert_eq!(again.content_hash(), document.content_hash());
}

/// Payload templates: JSON input is compiled (what saving a connection does) and, when
/// accepted, rendered on the sample invoice (what every delivery does). Neither panics;
/// a refusal or a render error is a fine answer; a rendered body serializes.
pub fn template_render(data: &[u8]) {
    let Ok(doc) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let Ok(template) = Template::compile(&doc) else {
        return;
    };
    let invoice: Value = serde_json::from_str(SAMPLE_INVOICE_JSON).expect("the sample is JSON");
    let event = json!({"id": "evt_fuzz", "type": "invoice.finalized",
                       "created_at": "2026-11-01T10:00:00Z"});
    if let Ok(body) = template.render(&invoice, &event) {
        serde_json::to_vec(&body).expect("a rendered body serializes");
    }
}

const SECRET: &[u8] = b"whsec_fuzzing_secret_0123456789";
const NOW: i64 = 1_800_000_000;

/// The `X-Aforo-Signature` check: the input is a header, `\n`, and a body. Any header is
/// answered without a panic; one that verifies carries our real HMAC of this body at its
/// `t` (nothing verifies without the secret). The body, properly signed, verifies, and
/// fails once changed.
pub fn signature_verify(data: &[u8]) {
    let (header, body) = match data.iter().position(|b| *b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let header = String::from_utf8_lossy(header);
    if verify(&header, body, SECRET, NOW, 300).is_ok() {
        let t = header
            .split(',')
            .filter_map(|p| p.trim().split_once('='))
            .filter(|(k, _)| *k == "t")
            .filter_map(|(_, v)| v.parse::<i64>().ok())
            .next_back()
            .expect("a verified header has a t");
        let ours = sign(t, body, &[SECRET]);
        let mac = ours.split_once(",v1=").expect("one v1").1;
        assert!(
            header.to_ascii_lowercase().contains(mac),
            "a header verified without our signature: {header:?}"
        );
    }
    let signed = sign(NOW, body, &[SECRET]);
    assert_eq!(verify(&signed, body, SECRET, NOW, 300), Ok(()));
    let mut changed = body.to_vec();
    changed.push(b'x');
    assert!(verify(&signed, &changed, SECRET, NOW, 300).is_err());
}
