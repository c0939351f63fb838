//! The PostgreSQL side: connecting and creating erp-sync's schema, warning about servers
//! already running there, and moving identity sequences past the copied ids.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection};

use super::{MigrateError, progress};

/// How long connecting to PostgreSQL may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// Connects to `to` (printed as the redacted `url`) and migrates it to erp-sync's
/// schema. One connection does all the writing (batches are sequential anyway); it is
/// made directly, so a wrong host or port fails at once instead of being retried.
pub(super) async fn connect(to: &str, url: &str) -> Result<PgConnection, MigrateError> {
    if !(to.starts_with("postgres://") || to.starts_with("postgresql://")) {
        return Err(MigrateError::BadTargetUrl { url: url.into() });
    }
    let options = PgConnectOptions::from_str(to)
        .map_err(|source| MigrateError::ParseTargetUrl {
            url: url.into(),
            source,
        })?
        .application_name("erp-sync migrate-store");
    let connect_err = |source| MigrateError::ConnectTarget {
        url: url.into(),
        source,
    };
    let mut target = tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect_with(&options))
        .await
        .map_err(|_| {
            connect_err(sqlx::Error::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no answer within {} s", CONNECT_TIMEOUT.as_secs()),
            )))
        })?
        .map_err(connect_err)?;
    progress(format_args!("migrating the schema of {url}"));
    // `run_direct`, not `run`: `run` over `&mut PgConnection` makes this future !Send.
    if let Err(source) = sqlx::migrate!("./migrations/postgres")
        .run_direct(&mut target)
        .await
    {
        let _ = target.close().await;
        return Err(MigrateError::MigrateTarget {
            url: url.into(),
            source,
        });
    }
    Ok(target)
}

/// Says so when erp-sync servers are running on the target: they deliver copied jobs
/// at once.
pub(super) async fn warn_if_hosts_running(target: &mut PgConnection, url: &str) {
    let since = crate::store::now_ms() - crate::store::postgres::HOST_TIMEOUT.as_millis() as i64;
    let live: Result<i64, _> =
        sqlx::query_scalar("SELECT COUNT(*) FROM hosts WHERE heartbeat_ms > $1")
            .bind(since)
            .fetch_one(&mut *target)
            .await;
    if let Ok(n @ 1..) = live {
        progress(format_args!(
            "warning: {n} erp-sync servers are running on {url}; they deliver copied pending jobs as soon as they arrive"
        ));
    }
}

/// Moves an identity sequence past the largest copied id, so that new rows get new ids.
pub(super) async fn set_sequence(
    target: &mut PgConnection,
    table: &'static str,
    column: &str,
) -> Result<(), MigrateError> {
    sqlx::query(&format!(
        "SELECT setval(pg_get_serial_sequence('{table}', '{column}'), GREATEST((SELECT MAX({column}) FROM {table}), 1))"
    ))
    .execute(&mut *target)
    .await
    .map_err(|source| MigrateError::Sequence { table, source })?;
    Ok(())
}
