//! The `erp-sync` binary: parses the command line and runs it.

use anyhow::Context;
use clap::Parser;
use erp_sync::cli::{Cli, Command, TenantCommand};
use erp_sync::store::Store;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("ERP_SYNC_LOG").unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new("info,tower_http=warn,sqlx=warn")
            }),
        )
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Serve(args) => serve(args).await,
        Command::Tenant(TenantCommand::Create { name, data_dir }) => {
            let store = Store::open_shared(&data_dir)
                .await
                .with_context(|| format!("opening the database in {}", data_dir.display()))?;
            let (tenant, key) = store.create_tenant(&name).await?;
            println!("tenant_id: {}", tenant.id);
            println!("api_key:   {key}");
            eprintln!("The API key is shown only now; store it somewhere safe.");
            store.close().await;
            Ok(())
        }
    }
}

async fn serve(args: erp_sync::cli::ServeArgs) -> anyhow::Result<()> {
    let config = args.config();
    let server = erp_sync::server::start(config)
        .await
        .context("starting erp-sync")?;
    if let Some(key) = &server.dev_api_key {
        println!("dev tenant api_key: {key}");
    }
    println!("listening on http://{}", server.addr);
    shutdown_signal().await;
    tracing::info!("shutting down: finishing deliveries in flight");
    server.shutdown().await;
    tracing::info!("stopped; nothing is left leased");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
