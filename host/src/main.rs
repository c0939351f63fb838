//! The `erp-sync` binary: parses the command line and runs it.

use anyhow::Context;
use clap::Parser;
use erp_sync::cli::{Cli, Command, TemplateCommand, TenantCommand, guest};
use erp_sync::store::{Location, Store};

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
        Command::Tenant(TenantCommand::Create {
            name,
            data_dir,
            database_url,
        }) => {
            let at = Location::new(&data_dir, database_url.as_deref())?;
            let store = Store::open_shared(at.clone())
                .await
                .with_context(|| format!("opening the store ({at})"))?;
            let (tenant, key) = store.create_tenant(&name).await?;
            println!("tenant_id: {}", tenant.id);
            println!("api_key:   {key}");
            eprintln!("The API key is shown only now; store it somewhere safe.");
            store.close().await;
            Ok(())
        }
        Command::Transform(command) => finish(guest::transform(command).await),
        Command::Template(TemplateCommand::Run {
            template,
            invoice,
            event_type,
        }) => finish(guest::template_run(&template, &invoice, &event_type)),
        Command::Bench(args) => erp_sync::cli::bench::run(args).await,
        Command::MigrateStore(args) => {
            let report = erp_sync::store::migrate::run(&args).await?;
            println!("{report}");
            Ok(())
        }
    }
}

/// Prints a guest command's report; a failure goes to stderr with exit code 1.
fn finish(result: Result<String, guest::GuestCommandError>) -> anyhow::Result<()> {
    match result {
        Ok(text) => {
            println!("{text}");
            Ok(())
        }
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    }
}

async fn serve(args: erp_sync::cli::ServeArgs) -> anyhow::Result<()> {
    // Listen for signals before anything starts, so an early SIGTERM still drains.
    let stop = ShutdownSignal::install()?;
    let config = args.config();
    let server = erp_sync::server::start(config)
        .await
        .context("starting erp-sync")?;
    if let Some(key) = &server.dev_api_key {
        println!("dev tenant api_key: {key}");
    }
    println!("listening on http://{}", server.addr);
    stop.wait().await;
    tracing::info!("shutting down: finishing deliveries in flight");
    server.shutdown().await;
    tracing::info!("stopped; nothing is left leased");
    Ok(())
}

/// SIGTERM and SIGINT (Ctrl-C), registered up front.
struct ShutdownSignal {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
}

impl ShutdownSignal {
    fn install() -> anyhow::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(ShutdownSignal {
                term: signal(SignalKind::terminate()).context("installing the SIGTERM handler")?,
                int: signal(SignalKind::interrupt()).context("installing the SIGINT handler")?,
            })
        }
        #[cfg(not(unix))]
        Ok(ShutdownSignal {})
    }

    async fn wait(mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    }
}
