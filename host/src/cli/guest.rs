//! `erp-sync transform run|check|new|test` and `erp-sync template run`: the guest developer's
//! loop, running components and templates exactly as the server does.

use std::path::{Path, PathBuf};

use super::TransformCommand;
use crate::domain::parse_invoice;
use crate::transform::template::Template;
use crate::transform::wasm::{Checked, GuestContext, Invocation, WasmHost, World};

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

pub(super) fn read(path: &Path) -> Result<Vec<u8>, GuestCommandError> {
    std::fs::read(path).map_err(|source| GuestCommandError::Read {
        path: path.display().to_string(),
        source,
    })
}

/// A component loaded for local runs: compiled (or taken from the artifact cache) and
/// checked exactly as an upload is.
pub(super) struct LocalGuest {
    host: WasmHost,
    checked: Checked,
    bytes: Vec<u8>,
}

/// What one local call produced, before it is shown.
pub(super) enum Output {
    Webhook(crate::transform::wasm::WebhookOutput),
    Tweak(Box<crate::domain::Invoice>),
}

impl LocalGuest {
    /// Loads `module` into a sandbox with `limits`; compiled artifacts are cached in
    /// `cache_dir` if given.
    pub(super) async fn load(
        module: &Path,
        limits: crate::transform::wasm::Limits,
        cache_dir: Option<PathBuf>,
    ) -> Result<LocalGuest, GuestCommandError> {
        let bytes = read(module)?;
        let host = WasmHost::new(limits, cache_dir)
            .map_err(|e| GuestCommandError::Failed(e.to_string()))?;
        let checked = host
            .check(&bytes, None)
            .await
            .map_err(|e| GuestCommandError::Invalid {
                path: module.display().to_string(),
                message: e.to_string(),
            })?;
        Ok(LocalGuest {
            host,
            checked,
            bytes,
        })
    }

    pub(super) fn world(&self) -> World {
        self.checked.world
    }

    /// Runs the component on `invoice` as a delivery would: a webhook transform's output
    /// as the worker sends it, an invoice tweak's result after the worker's validation.
    pub(super) async fn invoke(
        &self,
        invoice: &crate::domain::Invoice,
        event_type: &str,
        config: Vec<(String, String)>,
    ) -> Invocation<Output> {
        let ctx = GuestContext {
            event_type: event_type.to_string(),
            event_id: "evt_local_run".into(),
            tenant_id: "ten_local".into(),
            connection_id: "conn_local".into(),
            config,
        };
        let json = invoice.canonical_text();
        let sha = &self.checked.sha256;
        match self.checked.world {
            World::WebhookTransform => self
                .host
                .run_webhook(sha, &self.bytes, &ctx, &json)
                .await
                .and_then(|o| Ok(Output::Webhook(o))),
            World::InvoiceTweak => self
                .host
                .run_tweak(sha, &self.bytes, &ctx, &json)
                .await
                .and_then(|text| {
                    crate::transform::check_tweaked(invoice, &text)
                        .map(|i| Output::Tweak(Box::new(i)))
                }),
        }
    }
}

pub(super) fn invoice(path: &Path) -> Result<crate::domain::Invoice, GuestCommandError> {
    parse_invoice(&read(path)?).map_err(|e| GuestCommandError::Invalid {
        path: path.display().to_string(),
        message: e.to_string(),
    })
}

/// Runs a `transform` subcommand and returns its report.
pub async fn transform(command: TransformCommand) -> Result<String, GuestCommandError> {
    match command {
        TransformCommand::Run {
            module,
            invoice,
            event_type,
            config,
            wasm,
            cache,
        } => {
            run(
                &module,
                &invoice,
                &event_type,
                &config,
                wasm.limits(),
                cache.dir(),
            )
            .await
        }
        TransformCommand::Check { module, cache } => check(&module, cache.dir()).await,
        TransformCommand::New { lang, world, dir } => super::new::new(lang, world.into(), &dir),
        TransformCommand::Test {
            module,
            dir,
            update,
            wasm,
            cache,
        } => super::guest_test::test(&module, &dir, update, wasm.limits(), cache.dir()).await,
    }
}

/// `transform check`: prints the world and export, or the reason for refusal.
pub async fn check(module: &Path, cache_dir: Option<PathBuf>) -> Result<String, GuestCommandError> {
    let guest = LocalGuest::load(module, Default::default(), cache_dir).await?;
    let checked = &guest.checked;
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
    cache_dir: Option<PathBuf>,
) -> Result<String, GuestCommandError> {
    let invoice = invoice(invoice_path)?;
    let mut pairs = Vec::new();
    for entry in config {
        let (k, v) = entry.split_once('=').ok_or_else(|| {
            GuestCommandError::Failed(format!("--config {entry:?} must be KEY=VALUE"))
        })?;
        pairs.push((k.to_string(), v.to_string()));
    }
    let guest = LocalGuest::load(module, limits, cache_dir).await?;
    let checked = &guest.checked;
    let mut out = String::new();
    let shown = guest
        .invoke(&invoice, event_type, pairs)
        .await
        .and_then(|output| {
            Ok(match output {
                Output::Webhook(o) => {
                    let mut text = format!("content-type: {}\n", o.content_type);
                    for (name, value) in &o.headers {
                        text.push_str(&format!("{name}: {value}\n"));
                    }
                    text.push('\n');
                    text.push_str(&String::from_utf8_lossy(&o.body));
                    text
                }
                Output::Tweak(i) => serde_json::to_string_pretty(&i.canonical_json())
                    .expect("a JSON value always serializes"),
            })
        });
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
        guest.host.limits().fuel,
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
