//! `erp-sync transform run|check` and `erp-sync template run`: the guest developer's
//! loop, running components and templates exactly as the server does.

use std::path::Path;

use crate::domain::parse_invoice;
use crate::transform::template::Template;
use crate::transform::wasm::{Checked, GuestContext, Invocation, WasmHost, World, sha256_hex};

/// Why a guest command failed; printed to stderr with exit code 1.
#[derive(Debug, thiserror::Error)]
pub enum GuestCommandError {
    #[error("reading {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
    #[error("{0}")]
    Failed(String),
}

fn read(path: &Path) -> Result<Vec<u8>, GuestCommandError> {
    std::fs::read(path).map_err(|source| GuestCommandError::Read {
        path: path.display().to_string(),
        source,
    })
}

/// A sandbox with `limits`, and what it makes of the component `bytes` read from `module`.
async fn load(
    module: &Path,
    bytes: &[u8],
    limits: crate::transform::wasm::Limits,
) -> Result<(WasmHost, Checked), GuestCommandError> {
    let host = WasmHost::new(limits, None).map_err(|e| GuestCommandError::Failed(e.to_string()))?;
    let checked = host
        .check(bytes, None)
        .await
        .map_err(|e| GuestCommandError::Invalid {
            path: module.display().to_string(),
            message: e.to_string(),
        })?;
    Ok((host, checked))
}

fn invoice(path: &Path) -> Result<crate::domain::Invoice, GuestCommandError> {
    parse_invoice(&read(path)?).map_err(|e| GuestCommandError::Invalid {
        path: path.display().to_string(),
        message: e.to_string(),
    })
}

/// `transform check`: prints the world and export, or the reason for refusal.
pub async fn check(module: &Path) -> Result<String, GuestCommandError> {
    let bytes = read(module)?;
    let (_, checked) = load(module, &bytes, Default::default()).await?;
    Ok(format!(
        "{}: implements the {} world (exports {})\nsha256: {}\nupload: curl -X POST --data-binary @{} -H \"Authorization: Bearer $KEY\" \"$SERVER/v1/transforms?world={}&name=my-transform\"",
        module.display(),
        checked.world.as_str(),
        checked.export,
        checked.sha256,
        module.display(),
        checked.world.as_str()
    ))
}

/// `transform run`: runs the component and reports like the dry-run endpoint.
pub async fn run(
    module: &Path,
    invoice_path: &Path,
    event_type: &str,
    config: &[String],
    limits: crate::transform::wasm::Limits,
) -> Result<String, GuestCommandError> {
    let bytes = read(module)?;
    let invoice = invoice(invoice_path)?;
    let mut pairs = Vec::new();
    for entry in config {
        let (k, v) = entry.split_once('=').ok_or_else(|| {
            GuestCommandError::Failed(format!("--config {entry:?} must be KEY=VALUE"))
        })?;
        pairs.push((k.to_string(), v.to_string()));
    }
    let (host, checked) = load(module, &bytes, limits).await?;
    let sha = sha256_hex(&bytes);
    let ctx = GuestContext {
        event_type: event_type.to_string(),
        event_id: "evt_local_run".into(),
        tenant_id: "ten_local".into(),
        connection_id: "conn_local".into(),
        config: pairs,
    };
    let json = invoice.canonical_text();
    let mut out = String::new();
    let shown = match checked.world {
        World::WebhookTransform => {
            host.run_webhook(&sha, &bytes, &ctx, &json)
                .await
                .and_then(|o| {
                    let mut text = format!("content-type: {}\n", o.content_type);
                    for (name, value) in &o.headers {
                        text.push_str(&format!("{name}: {value}\n"));
                    }
                    text.push('\n');
                    text.push_str(&String::from_utf8_lossy(&o.body));
                    Ok(text)
                })
        }
        World::InvoiceTweak => host
            .run_tweak(&sha, &bytes, &ctx, &json)
            .await
            .and_then(|text| {
                let i = crate::transform::check_tweaked(&invoice, &text)?;
                Ok(serde_json::to_string_pretty(&i.canonical_json())
                    .expect("a JSON value always serializes"))
            }),
    };
    let Invocation {
        result,
        stdout,
        stderr,
        logs_truncated: truncated,
        fuel_used: fuel,
        duration,
        peak_memory_bytes: memory,
    } = shown;
    out.push_str(&format!(
        "== {} ({})\n",
        checked.world.as_str(),
        checked.export
    ));
    match &result {
        Ok(text) => out.push_str(&format!("== output\n{text}\n")),
        Err(e) => out.push_str(&format!("== FAILED\n{e}\n")),
    }
    if !stdout.is_empty() {
        out.push_str(&format!("== guest stdout\n{stdout}\n"));
    }
    if !stderr.is_empty() {
        out.push_str(&format!("== guest stderr\n{stderr}\n"));
    }
    if truncated {
        out.push_str("== (guest output truncated at the log limit)\n");
    }
    out.push_str(&format!(
        "== time {} µs, fuel {} of {}, peak memory {} KiB\n",
        duration.as_micros(),
        fuel,
        host.limits().fuel,
        memory / 1024
    ));
    match result {
        Ok(_) => Ok(out),
        Err(_) => Err(GuestCommandError::Failed(out)),
    }
}

/// `template run`: prints the rendered body.
pub fn template_run(
    template: &Path,
    invoice_path: &Path,
    event_type: &str,
) -> Result<String, GuestCommandError> {
    let doc: serde_json::Value =
        serde_json::from_slice(&read(template)?).map_err(|e| GuestCommandError::Invalid {
            path: template.display().to_string(),
            message: format!("not valid JSON: {e}"),
        })?;
    let compiled = Template::compile(&doc).map_err(|e| GuestCommandError::Invalid {
        path: template.display().to_string(),
        message: e.to_string(),
    })?;
    let invoice = invoice(invoice_path)?;
    let event = serde_json::json!({"id": "evt_local_run", "type": event_type, "created_at": crate::store::format_ms(crate::store::now_ms())});
    let body = compiled
        .render(&invoice.canonical_json(), &event)
        .map_err(|e| GuestCommandError::Failed(e.to_string()))?;
    Ok(serde_json::to_string_pretty(&body).expect("a JSON value always serializes"))
}
