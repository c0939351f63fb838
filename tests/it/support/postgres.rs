//! The PostgreSQL side of the suite: when `ERP_SYNC_TEST_POSTGRES` holds an admin URL
//! (`.ci/run` starts a throwaway cluster and sets it), every test server stores into a
//! fresh schema of that cluster instead of SQLite, so the same tests prove both
//! backends. Schemas rather than databases: creating one costs a millisecond, not a
//! copy of the template database.

use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgConnection};

/// The sealing key test servers share on PostgreSQL (a shared store needs one key).
pub const TEST_SECRET_KEY: &str =
    "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

/// The admin URL of the test cluster, if the suite runs against PostgreSQL.
pub fn admin_url() -> Option<String> {
    std::env::var("ERP_SYNC_TEST_POSTGRES")
        .ok()
        .filter(|u| !u.trim().is_empty())
}

/// The admin URL for a test that needs PostgreSQL; without one, says that the test is
/// skipped (the caller then returns at once).
pub fn admin_url_or_skip() -> Option<String> {
    let admin = admin_url();
    if admin.is_none() {
        eprintln!("skipped: needs PostgreSQL (set ERP_SYNC_TEST_POSTGRES; .ci/run does)");
    }
    admin
}

/// An admin connection to the test cluster, to create (and drop) schemas and databases.
pub async fn admin_connection(admin: &str) -> PgConnection {
    let options = PgConnectOptions::from_str(admin).expect("a valid admin URL");
    sqlx::ConnectOptions::connect(&options)
        .await
        .expect("the test PostgreSQL cluster answers (ERP_SYNC_TEST_POSTGRES)")
}

/// A schema or database name no other test uses.
pub fn unique_name(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::new_v4().simple())
}

/// Runs one statement on `conn`, failing the test with `what` (what it was for) when it
/// does not succeed.
pub async fn execute(conn: &mut PgConnection, sql: &str, what: &str) {
    sqlx::query(sql)
        .execute(conn)
        .await
        .unwrap_or_else(|e| panic!("{what}: {e}"));
}

/// Creates an empty schema and answers a URL whose connections use it.
pub async fn fresh_schema(admin: &str) -> String {
    let name = unique_name("t");
    let mut conn = admin_connection(admin).await;
    execute(&mut conn, &format!("CREATE SCHEMA {name}"), "a test schema").await;
    let _ = sqlx::Connection::close(conn).await;
    let separator = if admin.contains('?') { '&' } else { '?' };
    format!("{admin}{separator}options=-c%20search_path%3D{name}")
}
