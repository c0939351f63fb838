//! The servers under test, and the webhook connection to the sink, made through the
//! public API as a customer would.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::{Value, json};

use super::{BenchArgs, PayloadPath};
use crate::config::Config;
use crate::server::RunningServer;

/// The sealing key bench servers share on PostgreSQL (throwaway data).
const BENCH_SECRET_KEY: &str = "6265686e63682d6f6e6c792d6b65792d6e6f742d666f722d7265616c2d757365";

/// Starts `--hosts` real servers (fresh data dir, private targets allowed): on SQLite
/// one in `data_dir`, on PostgreSQL each in a dir of its own, sharing the store.
pub(super) async fn start(args: &BenchArgs, data_dir: &Path) -> anyhow::Result<Vec<RunningServer>> {
    let mut config = Config::for_data_dir(data_dir);
    config.allow_private_targets = true;
    if args.backlog {
        // The held deliveries must neither time out nor lose their lease while the
        // sink is down.
        config.request_timeout = Duration::from_secs(args.timeout_secs.max(3600));
        config.worker.lease = config.request_timeout * 2;
    }
    let mut servers = Vec::new();
    for host in 0..args.hosts {
        let mut config = config.clone();
        if let Some(url) = &args.database_url {
            // One store, one sealing key; each host keeps its own component cache.
            config.database_url = Some(url.clone());
            config.secret_key = Some(BENCH_SECRET_KEY.into());
            config.data_dir = data_dir.join(format!("host-{host}"));
        }
        servers.push(
            crate::server::start(config)
                .await
                .context("starting erp-sync")?,
        );
    }
    Ok(servers)
}

/// Creates the tenant's webhook connection to `hook_url`, shaped as `--path` asks: the
/// envelope, a payload template, or a Wasm transform or tweak uploaded first.
pub(super) async fn connect_sink(
    client: &reqwest::Client,
    base: &str,
    api_key: &str,
    args: &BenchArgs,
    hook_url: String,
) -> anyhow::Result<()> {
    let mut webhook = json!({ "url": hook_url });
    if let Some(file) = &args.component {
        let id = upload_component(client, base, api_key, file, args.path).await?;
        if args.path == PayloadPath::Transform {
            webhook["transform_id"] = id;
        } else {
            set_tweak(client, base, api_key, id).await?;
        }
    }
    if args.path == PayloadPath::Template {
        webhook["template"] = json!({
            "invoice_id": "$.id", "event": "$event.type", "number": "$.number",
            "currency": "$.currency", "total": "$.total",
            "lines": { "$each": "$.lines", "$map": { "id": "$.id", "net": "$.amount" } }
        });
    }
    let created = client
        .post(format!("{base}/v1/connections"))
        .bearer_auth(api_key)
        .json(&json!({ "provider": "webhook", "name": "bench sink", "config": webhook }))
        .send()
        .await
        .context("creating the webhook connection")?;
    if !created.status().is_success() {
        let status = created.status();
        bail!(
            "creating the connection answered {status}: {}",
            created.text().await.unwrap_or_default()
        );
    }
    Ok(())
}

/// Uploads the `--component` for `path` (transform or tweak); answers its transform id.
async fn upload_component(
    client: &reqwest::Client,
    base: &str,
    api_key: &str,
    file: &Path,
    path: PayloadPath,
) -> anyhow::Result<Value> {
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let world = if path == PayloadPath::Tweak {
        "invoice-tweak"
    } else {
        "webhook-transform"
    };
    let uploaded = client
        .post(format!("{base}/v1/transforms?name=bench&world={world}"))
        .bearer_auth(api_key)
        .body(bytes)
        .send()
        .await
        .context("uploading the component")?;
    let status = uploaded.status();
    let answer: Value = uploaded.json().await.unwrap_or_default();
    if !status.is_success() {
        bail!("uploading {} answered {status}: {answer}", file.display());
    }
    Ok(answer["id"].clone())
}

/// Makes the transform `id` the tweak of the bench invoices' customer.
async fn set_tweak(
    client: &reqwest::Client,
    base: &str,
    api_key: &str,
    id: Value,
) -> anyhow::Result<()> {
    let tweak = client
        .put(format!("{base}/v1/customers/cus_42/tweak"))
        .bearer_auth(api_key)
        .json(&json!({ "transform_id": id }))
        .send()
        .await
        .context("setting the customer's tweak")?;
    if !tweak.status().is_success() {
        bail!("setting the tweak answered {}", tweak.status());
    }
    Ok(())
}
