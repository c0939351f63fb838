//! `erp-sync migrate-store`: a store filled through the public API (webhook and
//! QuickBooks connections, a customer tweak, invoices in two versions) is copied into a
//! fresh PostgreSQL database and verified table by table; a second run copies nothing.
//!
//! The PostgreSQL tests need a server: `ERP_SYNC_TEST_POSTGRES` is an admin URL such as
//! `postgres://postgres@127.0.0.1:55432/postgres` (scripts/pg-cluster.sh starts one).
//! Each test creates its own database there and drops it at the end.

use std::time::Duration;

use erp_sync::store::migrate::{
    self as migrate_store, MigrateError, MigrateStoreArgs, MigrationReport,
};
use erp_sync_guest_artifacts as guests;
use reqwest::StatusCode;
use serde_json::json;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Connection, PgConnection, SqliteConnection};

use crate::fakes::quickbooks::FakeQuickBooks;
use crate::support::erp;
use crate::support::postgres::{admin_connection, admin_url, execute, unique_name};
use crate::support::{Receiver, TestServer, eventually, invoice};

const WAIT: Duration = Duration::from_secs(30);

/// Runs `test` with the URL of a fresh database, dropping it afterwards, even when the
/// test fails.
async fn with_database<F, Fut>(admin: &str, test: F)
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let name = unique_name("migrate");
    let mut conn = admin_connection(admin).await;
    let create = format!("CREATE DATABASE \"{name}\"");
    execute(&mut conn, &create, "a fresh database").await;
    let mut url = url::Url::parse(admin).expect("ERP_SYNC_TEST_POSTGRES is a URL");
    url.set_path(&format!("/{name}"));
    let outcome = tokio::spawn(test(url.to_string())).await;
    let drop_it = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
    execute(&mut conn, &drop_it, "the database is dropped").await;
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

fn args(server: &TestServer, to: &str) -> MigrateStoreArgs {
    MigrateStoreArgs {
        from: server.dir.path().to_path_buf(),
        to: to.to_string(),
    }
}

/// The store's tables (those a migration created), each with its row count, read from
/// the SQLite file independently of migrate-store.
async fn sqlite_counts(server: &TestServer) -> Vec<(String, u64)> {
    let mut db = sqlite(server, true).await;
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table'
         AND name NOT LIKE 'sqlite_%' AND name != '_sqlx_migrations' ORDER BY name",
    )
    .fetch_all(&mut db)
    .await
    .unwrap();
    let mut counts = Vec::new();
    for table in tables {
        let n: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
            .fetch_one(&mut db)
            .await
            .unwrap();
        counts.push((table, n as u64));
    }
    counts
}

async fn sqlite(server: &TestServer, read_only: bool) -> SqliteConnection {
    let options = SqliteConnectOptions::new()
        .filename(server.dir.path().join("erp-sync.db"))
        .read_only(read_only);
    SqliteConnection::connect_with(&options).await.unwrap()
}

/// Asserts that the report covers exactly the store's tables, with the source counts
/// and every row verified.
fn assert_counts(report: &MigrationReport, source: &[(String, u64)]) {
    let mut tables: Vec<&str> = report.tables.iter().map(|t| t.table).collect();
    tables.sort();
    let expected: Vec<&str> = source.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(
        tables, expected,
        "the report covers every table of the store"
    );
    for (table, rows) in source {
        let t = report.table(table).unwrap();
        assert_eq!(t.source_rows, *rows, "{table}: source rows\n{report}");
        assert_eq!(t.target_rows, *rows, "{table}: target rows\n{report}");
        assert_eq!(t.missing, 0, "{table}: missing rows\n{report}");
    }
}

/// Fills a store through the public API (every table gets rows), then stops the server.
async fn filled_store() -> (TestServer, FakeQuickBooks, Receiver) {
    let fake = FakeQuickBooks::start().await;
    let quickbooks = erp::quickbooks(&fake);
    let mut server = TestServer::start_with(move |c| {
        // The source is SQLite, also when the suite runs against PostgreSQL.
        c.database_url = None;
        quickbooks(c);
    })
    .await;
    let receiver = Receiver::start().await;

    let (status, body) = server.set_multi_erp(true).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    server.connect_webhook(&receiver, None).await;
    // QuickBooks: an OAuth state, sealed tokens, and ERP record mappings once it syncs.
    server
        .connect_oauth(json!({"provider": "quickbooks", "name": "Books"}))
        .await;

    // A Wasm module, a transform and a customer tweak using it.
    let tweak = server
        .upload_guest(guests::PO_REFERENCE, "world=invoice-tweak&name=po")
        .await;
    let (status, body) = server.set_tweak("cus_42", tweak["id"].clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Three invoices in two versions each, to both connections.
    for n in 1..=3 {
        let id = format!("inv_mig_{n}");
        let mut inv = invoice(&id);
        server.ingest(&inv).await;
        inv["metadata"]["po_number"] = json!("PO-8");
        server.ingest(&inv).await;
    }
    eventually("every delivery to succeed", WAIT, || async {
        let ok = server
            .log("status=SUCCESS")
            .await
            .iter()
            .filter(|e| e["invoice_id"].is_string())
            .count();
        (ok == 3 * 2 * 2).then_some(())
    })
    .await;
    // A payment, for the links between documents (QuickBooks fails it: it does not
    // book payments yet; the webhook takes it).
    let payment = json!({"id": "pay_mig", "status": "SUCCEEDED", "currency": "USD",
        "amount": "12.99", "received_at": "2026-11-21T09:00:00Z",
        "customer": {"id": "cus_42", "name": "Acme Inc"},
        "applied_to": [{"invoice_id": "inv_mig_1", "amount": "12.99"}]});
    let (status, body) = server.call("POST", "/v1/payments", Some(payment)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    eventually("the payment's two attempts", WAIT, || async {
        let n = server.log("document_id=pay_mig").await.len();
        (n == 2).then_some(())
    })
    .await;
    // Delivery control: an alert endpoint and its sealed secret, a recovery, and the
    // alert it raises when done (delivered to the alert endpoint).
    let alerts_in = Receiver::start().await;
    let (status, body) = server
        .call(
            "PATCH",
            "/v1/settings",
            Some(json!({"alert_url": alerts_in.url()})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, list) = server.connections().await;
    let webhook = list
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["provider"] == "webhook")
        .unwrap();
    let path = format!(
        "/v1/connections/{}/recover",
        webhook["id"].as_str().unwrap()
    );
    let (status, body) = server
        .call(
            "POST",
            &path,
            Some(json!({"since": "2026-01-01T00:00:00Z", "status": "FAILED"})),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    eventually("recovery.done delivered", WAIT, || async {
        (!alerts_in.received().is_empty()).then_some(())
    })
    .await;
    server.stop().await;
    (server, fake, receiver)
}

#[tokio::test]
async fn refuses_a_missing_store_a_running_server_and_a_bad_target() {
    let empty = tempfile::tempdir().unwrap();
    let err = migrate_store::run(&MigrateStoreArgs {
        from: empty.path().to_path_buf(),
        to: "postgres://u:hunter2@127.0.0.1:1/x".into(),
    })
    .await
    .unwrap_err();
    assert!(matches!(err, MigrateError::SourceMissing { .. }), "{err}");
    assert!(
        err.to_string().contains("--from takes the data dir"),
        "{err}"
    );

    // The source is SQLite, also when the suite runs against PostgreSQL.
    let mut server = TestServer::start_with(|c| c.database_url = None).await;
    let err = migrate_store::run(&args(&server, "postgres://u:hunter2@127.0.0.1:1/x"))
        .await
        .unwrap_err();
    assert!(matches!(err, MigrateError::SourceLocked { .. }), "{err}");
    assert!(err.to_string().contains("stop that server first"), "{err}");
    server.stop().await;

    let err = migrate_store::run(&args(&server, "mysql://u:hunter2@db.test/x"))
        .await
        .unwrap_err();
    assert!(matches!(err, MigrateError::BadTargetUrl { .. }), "{err}");
    let err = migrate_store::run(&args(&server, "postgres://u:hunter2@127.0.0.1:1/x"))
        .await
        .unwrap_err();
    assert!(matches!(err, MigrateError::ConnectTarget { .. }), "{err}");
    for err in [err.to_string(), format!("{err:?}")] {
        assert!(
            !err.contains("hunter2"),
            "the password is never shown: {err}"
        );
    }
}

#[tokio::test]
async fn copies_a_store_into_postgres_verifies_it_and_a_second_run_copies_nothing() {
    let Some(admin) = admin_url() else {
        eprintln!(
            "migrate_store: skipped, this test needs PostgreSQL: set ERP_SYNC_TEST_POSTGRES to an admin URL (scripts/pg-cluster.sh starts a server)"
        );
        return;
    };
    with_database(&admin, |url| async move {
        let (server, _fake, _receiver) = filled_store().await;

        // A crash mid-attempt leaves a job leased (simulated on the stopped store: its
        // newest job claimed once more, and the claim never settled).
        let mut db = sqlite(&server, false).await;
        let (leased_id, attempts): (String, i64) = sqlx::query_as(
            "UPDATE jobs SET state = 'leased', lease_token = 'lost', lease_until_ms = 1,
                             attempts = attempts + 1
             WHERE seq = (SELECT MAX(seq) FROM jobs) RETURNING id, attempts - 1",
        )
        .fetch_one(&mut db)
        .await
        .unwrap();
        db.close().await.unwrap();

        let source = sqlite_counts(&server).await;
        for (table, rows) in &source {
            assert!(*rows > 0, "the store has rows in {table}: {source:?}");
        }

        let first = migrate_store::run(&args(&server, &url))
            .await
            .expect("the first run migrates and verifies");
        assert_counts(&first, &source);
        for (table, rows) in &source {
            assert_eq!(
                first.table(table).unwrap().copied,
                *rows,
                "{table}: every row copied\n{first}"
            );
        }
        assert_eq!(first.requeued_leased_jobs, 1, "{first}");
        let text = first.to_string();
        assert!(
            text.ends_with("verified: every source row is in the target"),
            "{text}"
        );
        assert!(!text.contains("more rows than the source"), "{text}");

        let mut pg = PgConnection::connect(&url).await.unwrap();
        let mut lite = sqlite(&server, true).await;
        // Types converted: multi_erp 1 -> true.
        let multi: bool = sqlx::query_scalar("SELECT multi_erp FROM tenants")
            .fetch_one(&mut pg)
            .await
            .unwrap();
        assert!(multi);
        // Sealed secrets and Wasm bytes byte for byte (compared, never printed).
        let secrets: Vec<(String, Option<Vec<u8>>)> =
            sqlx::query_as("SELECT id, secrets FROM connections ORDER BY id")
                .fetch_all(&mut lite)
                .await
                .unwrap();
        assert_eq!(secrets.len(), 2);
        for (id, sealed) in secrets {
            assert!(sealed.is_some(), "connection {id} has sealed secrets");
            let copied: Option<Vec<u8>> =
                sqlx::query_scalar("SELECT secrets FROM connections WHERE id = $1")
                    .bind(&id)
                    .fetch_one(&mut pg)
                    .await
                    .unwrap();
            assert!(
                copied == sealed,
                "the sealed secrets of {id} are copied as they are"
            );
        }
        let module: Vec<u8> = sqlx::query_scalar("SELECT bytes FROM wasm_modules")
            .fetch_one(&mut lite)
            .await
            .unwrap();
        let copied: Vec<u8> = sqlx::query_scalar("SELECT bytes FROM wasm_modules")
            .fetch_one(&mut pg)
            .await
            .unwrap();
        assert!(copied == module, "the Wasm module is copied as it is");
        // The leased job is pending, lease cleared, without the cut attempt.
        let (state, token, until, tries): (String, Option<String>, Option<i64>, i64) =
            sqlx::query_as(
                "SELECT state, lease_token, lease_until_ms, attempts FROM jobs WHERE id = $1",
            )
            .bind(&leased_id)
            .fetch_one(&mut pg)
            .await
            .unwrap();
        assert_eq!(
            (state.as_str(), token, until, tries),
            ("pending", None, None, attempts)
        );
        // New rows get ids past the copied ones.
        for (table, column) in [("jobs", "seq"), ("sync_log", "id")] {
            let (max, next): (i64, i64) = sqlx::query_as(&format!(
                "SELECT (SELECT MAX({column}) FROM {table}),
                        nextval(pg_get_serial_sequence('{table}', '{column}'))"
            ))
            .fetch_one(&mut pg)
            .await
            .unwrap();
            assert!(
                next > max,
                "{table}: the next {column} {next} is past {max}"
            );
        }

        // Again: nothing new, still verified.
        let second = migrate_store::run(&args(&server, &url))
            .await
            .expect("the second run verifies");
        assert_counts(&second, &source);
        assert_eq!(second.copied(), 0, "{second}");

        // A target with more rows than the source is reported, not refused.
        let insert = "INSERT INTO tenants (id, name, created_ms) VALUES ('ten_pg_only', 'x', 0)";
        execute(&mut pg, insert, "a row only the target has").await;
        let third = migrate_store::run(&args(&server, &url))
            .await
            .expect("extra target rows are not an error");
        assert_eq!(third.table("tenants").unwrap().target_rows, 2);
        let text = third.to_string();
        assert!(
            text.contains(
                "warning: tenants: the target has 1 more rows than the source (already in use?)"
            ),
            "{text}"
        );

        // A different row under a copied key is not the source row: verification fails
        // and says which.
        let seq: i64 = sqlx::query_scalar("SELECT seq FROM jobs WHERE id = $1")
            .bind(&leased_id)
            .fetch_one(&mut pg)
            .await
            .unwrap();
        let update = format!("UPDATE jobs SET id = 'job_someone_else' WHERE seq = {seq}");
        execute(&mut pg, &update, "a different row under a copied key").await;
        let err = migrate_store::run(&args(&server, &url))
            .await
            .expect_err("a source job is missing in the target");
        let MigrateError::Incomplete { report } = &err else {
            panic!("expected Incomplete, got {err}");
        };
        assert_eq!(report.missing(), 1, "{report}");
        assert_eq!(report.table("jobs").unwrap().missing, 1, "{report}");
        let message = err.to_string();
        assert!(
            message.contains(&format!("jobs: 1, e.g. ({seq})")),
            "{message}"
        );
        assert!(message.contains("NOT verified"), "{message}");
        pg.close().await.unwrap();
    })
    .await;
}
