//! Security promises checked from the outside: no secret is ever written in clear to the
//! data dir, to the logs or to an API answer after creation; API keys are stored only as
//! hashes; an OAuth `state` completes its own connection once and nothing else; and the
//! SSRF guard refuses private, loopback and link-local targets however they are spelled,
//! never follows a redirect, and re-checks names when it connects.
//!
//! Tenant isolation on every endpoint is `isolation.rs`; the basic private-target refusals
//! and the webhook secret's sealing are in `connections.rs`. What is here adds the other
//! secrets (OAuth tokens, NetSuite credentials, the API key), the logs of the real binary,
//! and the SSRF spellings, redirects and resolver.
//!
//! Constant-time comparisons are a code property, reviewed rather than timed: API keys are
//! looked up by their SHA-256 (`store/tenants.rs`, `tenant_by_api_key`), so no comparison
//! ever runs over the key itself, and webhook signatures are compared with
//! `subtle::ConstantTimeEq` (`crypto/signature.rs`, `verify`).

use std::path::Path;
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use erp_sync::crypto::api_key::hash_api_key;
use serde_json::{Value, json};

use crate::fakes::netsuite::{self as ns, FakeNetSuite};
use crate::fakes::quickbooks::{self as qbo, FakeQuickBooks};
use crate::support::erp::{netsuite_config, oauth_round_trip, quickbooks_server};
use crate::support::process::{Serve, call, http, tenant_create};
use crate::support::{Receiver, TestServer, eventually, invoice, string};

const WAIT: Duration = Duration::from_secs(30);

/// Every file of `dir` (recursively) that holds `needle`, read as raw bytes.
fn files_holding(dir: &Path, needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).expect("the data dir") {
        let path = entry.expect("an entry").path();
        if path.is_dir() {
            found.extend(files_holding(&path, needle));
            continue;
        }
        // SQLite may remove its -wal and -shm files while we list them.
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        if bytes.windows(needle.len()).any(|w| w == needle.as_bytes()) {
            found.push(path.display().to_string());
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_the_data_dir_the_logs_or_an_api_answer() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let (_, key) = tenant_create(dir.path(), "t").await;
    let quickbooks = FakeQuickBooks::start().await;
    let netsuite = FakeNetSuite::start().await;
    let receiver = Receiver::start().await;
    let (auth, token, api) = (
        quickbooks.auth_url(),
        quickbooks.token_url(),
        quickbooks.api_base(),
    );
    // Debug logs: more than an operator runs with, so more chances to leak.
    let env = [
        ("ERP_SYNC_LOG", "debug"),
        ("ERP_SYNC_PUBLIC_URL", "http://erp-sync.test"),
        ("ERP_SYNC_QUICKBOOKS_CLIENT_ID", qbo::CLIENT_ID),
        ("ERP_SYNC_QUICKBOOKS_CLIENT_SECRET", qbo::CLIENT_SECRET),
        ("ERP_SYNC_QUICKBOOKS_AUTH_URL", auth.as_str()),
        ("ERP_SYNC_QUICKBOOKS_TOKEN_URL", token.as_str()),
        ("ERP_SYNC_QUICKBOOKS_API_BASE", api.as_str()),
    ];
    let mut server = Serve::start_tuned(dir.path(), 50, 2000, &env, &[]).await;
    let client = http();
    let base = server.base.clone();
    let api = |method: &'static str, path: String, body: Option<Value>| {
        let (client, base, key) = (client.clone(), base.clone(), key.clone());
        async move { call(&client, &base, &key, method, &path, body.as_ref()).await }
    };
    let (status, _) = api(
        "PATCH",
        "/v1/settings".into(),
        Some(json!({"multi_erp": true})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    // A webhook with the operator's own secret, and one with a generated secret.
    let own_secret = "whsec_operator-brought-this-one-4a9c";
    let (status, own) = api(
        "POST",
        "/v1/connections".into(),
        Some(json!({"provider": "webhook", "name": "own", "entity": "US",
                    "config": {"url": receiver.url(), "secret": own_secret}})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{own}");
    let (status, generated) = api(
        "POST",
        "/v1/connections".into(),
        Some(
            json!({"provider": "webhook", "name": "generated", "entity": "US",
                    "config": {"url": receiver.url()}}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{generated}");
    let generated_secret = generated["secret"]
        .as_str()
        .expect("shown once")
        .to_string();

    // QuickBooks through OAuth, NetSuite with token-based credentials.
    let (status, created) = api(
        "POST",
        "/v1/connections".into(),
        Some(json!({"provider": "quickbooks", "name": "qbo", "entity": "US"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let (status, done) = oauth_round_trip(&base, string(&created["authorize_url"])).await;
    assert_eq!(status, StatusCode::OK, "{done}");
    let mut ns_config = netsuite_config(&netsuite);
    ns_config["item_map"] = json!({"prod_api": ns::ITEM_USAGE, "TAX": ns::ITEM_TAX});
    let (status, ns_conn) = api(
        "POST",
        "/v1/connections".into(),
        Some(json!({"provider": "netsuite", "name": "ns", "entity": "US", "config": ns_config})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{ns_conn}");

    // Deliveries to all four, then a forced token refresh and another round.
    let (status, _) = api("POST", "/v1/invoices".into(), Some(invoice("inv_sec_1"))).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let delivered = |id: &'static str, n: usize| async move {
        eventually(&format!("{n} deliveries of {id}"), WAIT, || async {
            let (_, log) = api(
                "GET",
                format!("/v1/sync-log?invoice_id={id}&status=SUCCESS"),
                None,
            )
            .await;
            (log["entries"].as_array().map_or(0, Vec::len) >= n).then_some(())
        })
        .await
    };
    delivered("inv_sec_1", 4).await;
    quickbooks.expire_access_tokens();
    let (status, _) = api("POST", "/v1/invoices".into(), Some(invoice("inv_sec_2"))).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    delivered("inv_sec_2", 4).await;
    assert!(
        quickbooks.token_refreshes() >= 1,
        "the access token was refreshed"
    );

    let tokens = quickbooks.issued_tokens();
    assert!(
        tokens.len() >= 4,
        "two access and two refresh tokens: {tokens:?}"
    );
    let mut secrets: Vec<(&str, String)> = vec![
        ("the API key", key.clone()),
        ("an operator's webhook secret", own_secret.to_string()),
        ("a generated webhook secret", generated_secret.clone()),
        (
            "the NetSuite consumer secret",
            ns::CONSUMER_SECRET.to_string(),
        ),
        ("the NetSuite token secret", ns::TOKEN_SECRET.to_string()),
    ];
    secrets.extend(tokens.into_iter().map(|t| ("a QuickBooks token", t)));

    // Every API answer an operator can read after creation.
    let mut answers = Vec::new();
    for path in [
        "/v1/connections".to_string(),
        format!("/v1/connections/{}", string(&own["id"])),
        format!("/v1/connections/{}", string(&generated["id"])),
        format!("/v1/connections/{}", string(&created["id"])),
        format!("/v1/connections/{}", string(&ns_conn["id"])),
        "/v1/sync-log?limit=1000".into(),
        "/v1/invoices/inv_sec_1".into(),
        "/v1/invoices/inv_sec_2".into(),
        "/v1/settings".into(),
        "/v1/transforms".into(),
    ] {
        let (status, body) = api("GET", path.clone(), None).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        answers.push((path, body.to_string()));
    }
    let metrics = client.get(format!("{base}/metrics")).send().await.unwrap();
    answers.push(("/metrics".into(), metrics.text().await.unwrap()));
    // The OAuth callback's own answer, shown to the operator's browser.
    answers.push(("the OAuth callback".into(), done.to_string()));

    // The data dir while the server runs (database, WAL, shared memory), then after a
    // SIGKILL, which leaves the WAL as it was.
    let running: Vec<(&str, Vec<String>)> = secrets
        .iter()
        .map(|(what, s)| (*what, files_holding(dir.path(), s)))
        .collect();
    server.kill().await;
    let logs = server.stderr();
    assert!(logs.contains("DEBUG"), "debug logs were captured:\n{logs}");
    for (what, secret) in &secrets {
        for (path, answer) in &answers {
            assert!(!answer.contains(secret.as_str()), "{path} shows {what}");
        }
        assert!(!logs.contains(secret.as_str()), "the logs hold {what}");
        let after_kill = files_holding(dir.path(), secret);
        assert!(
            after_kill.is_empty(),
            "{what} is in clear in {after_kill:?}"
        );
    }
    for (what, files) in running {
        assert!(
            files.is_empty(),
            "{what} is in clear in {files:?} while running"
        );
    }
    // The API key is stored as its SHA-256 only.
    let hashed = files_holding(dir.path(), &hash_api_key(&key));
    assert!(
        hashed.iter().any(|f| f.contains("erp-sync.db")),
        "the API key's hash is what the database holds"
    );
}

/// The `state` parameter of an authorize URL.
fn state_of(authorize_url: &str) -> String {
    url::Url::parse(authorize_url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .expect("a state")
}

#[tokio::test]
async fn an_oauth_state_completes_its_own_connection_once_and_nothing_else() {
    let fake = FakeQuickBooks::start().await;
    let server = quickbooks_server(&fake).await;
    let other_key = server.second_tenant().await;
    let body = json!({"provider": "quickbooks", "name": "Books"});
    let (_, mine) = server.post_connection(body.clone()).await;
    let (_, theirs) = server
        .call_as(&other_key, "POST", "/v1/connections", Some(body))
        .await;
    let my_url = string(&mine["authorize_url"]);
    let their_url = string(&theirs["authorize_url"]);
    assert_ne!(
        state_of(my_url),
        state_of(their_url),
        "one state per connection"
    );

    // My state activates my connection, and only mine.
    let (status, done) = server.authorize(my_url).await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["connection"]["id"], mine["id"]);
    let (_, their_conn) = server
        .connection_as(&other_key, string(&theirs["id"]))
        .await;
    assert_eq!(their_conn["status"], "pending_auth", "{their_conn}");
    let (status, _) = server.connection_as(&other_key, string(&mine["id"])).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "the other tenant still cannot see mine"
    );

    // Replayed, it is refused, whoever replays it.
    let replay = format!(
        "{}/v1/oauth/callback?code=again&state={}&realmId={}",
        server.base,
        state_of(my_url),
        qbo::REALM
    );
    let answer = reqwest::get(&replay).await.unwrap();
    assert_eq!(answer.status(), StatusCode::BAD_REQUEST);
    let answer = reqwest::Client::new()
        .get(&replay)
        .bearer_auth(&other_key)
        .send()
        .await
        .unwrap();
    assert_eq!(
        answer.status(),
        StatusCode::BAD_REQUEST,
        "an API key does not revive it"
    );

    // A state is not a credential for the API.
    let (status, _) = server
        .call_as(&state_of(their_url), "GET", "/v1/connections", None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // The other tenant's own state still works, for its own connection.
    let (status, done) = server.authorize(their_url).await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["connection"]["id"], theirs["id"]);

    // A state whose connection was disconnected meanwhile activates nothing.
    let (status, _) = server.set_multi_erp(true).await;
    assert_eq!(status, StatusCode::OK);
    let later = server
        .create_connection(json!({"provider": "quickbooks", "name": "Later"}))
        .await;
    let id = string(&later["id"]);
    let (status, _) = server.disconnect(id).await;
    assert_eq!(status, StatusCode::OK);
    let (status, answer) = server.authorize(string(&later["authorize_url"])).await;
    assert!(status.is_client_error(), "{status} {answer}");
    let (_, conn) = server.connection(id).await;
    assert_eq!(conn["status"], "disconnected", "{conn}");
}

/// A webhook target that answers every request with a redirect to `location`.
async fn redirector(status: u16, location: String) -> String {
    let app = axum::Router::new().fallback(move || {
        let location = location.clone();
        async move {
            let mut headers = HeaderMap::new();
            headers.insert("location", location.parse().unwrap());
            (StatusCode::from_u16(status).unwrap(), headers)
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

#[tokio::test]
async fn ssrf_refusals_cover_other_spellings_of_private_addresses() {
    let server = TestServer::start_with(|c| c.allow_private_targets = false).await;
    for url in [
        "http://2130706433/hook",            // 127.0.0.1 as one decimal number
        "http://0x7f000001/hook",            // … in hex
        "http://0177.0.0.1/hook",            // … in octal
        "http://127.1/hook",                 // … shortened
        "http://0/hook",                     // 0.0.0.0
        "http://LOCALHOST:9/hook",           // a name, upper case
        "http://localhost./hook",            // a name, fully qualified
        "http://[::ffff:127.0.0.1]/hook",    // IPv4-mapped IPv6
        "http://[::ffff:169.254.169.254]/x", // the metadata service, mapped
        "http://[fe80::1]/hook",             // IPv6 link-local
        "http://[fd00::1]/hook",             // IPv6 unique local
        "http://100.64.0.1/hook",            // carrier-grade NAT
        "http://172.31.255.255/hook",        // private, top of 172.16/12
        "https://user:pw@127.0.0.1:443/x",   // credentials in the URL
    ] {
        let (status, body) = server
            .post_connection(json!({"provider": "webhook", "config": {"url": url}}))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{url}: {body}");
    }
    let (_, list) = server.connections().await;
    assert_eq!(list.as_array().map(Vec::len), Some(0), "{list}");
}

#[tokio::test]
async fn a_name_resolving_to_loopback_is_refused_when_connecting() {
    // The guard inside the HTTP client, which re-checks each name as it connects (so a
    // DNS answer that changes after the connection was saved cannot slip through).
    let receiver = Receiver::start().await;
    let port = receiver
        .url()
        .split(':')
        .nth(2)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_string();
    let by_name = format!("http://localhost:{port}/hook");
    let post = |allow_private| {
        let client =
            erp_sync::connectors::egress::http_client(allow_private, Duration::from_secs(2));
        client.post(&by_name).body("{}").send()
    };
    let err = post(false).await.expect_err("refused");
    let why = erp_sync::connectors::egress::is_blocked(&err).expect("refused by the guard");
    assert!(
        why.contains("localhost") && why.contains("127.0.0.1"),
        "{why}"
    );
    assert_eq!(receiver.received().len(), 0, "nothing reached the target");
    // The same client with private targets allowed reaches it: the refusal was the guard.
    let answer = post(true).await.expect("reached");
    assert_eq!(answer.status(), StatusCode::OK);
}

#[tokio::test]
async fn redirects_are_never_followed() {
    // Private targets allowed so the loopback endpoints are reachable at all: what is
    // tested is that a redirect, even to an allowed place, is an answer, not a hop.
    let server = TestServer::start().await;
    let inner = Receiver::start().await;
    for status in [301, 302, 307, 308] {
        let target = redirector(status, inner.url()).await;
        let conn = server
            .create_connection(json!({"provider": "webhook", "config": {"url": target}}))
            .await;
        assert_eq!(conn["test_sync"]["status"], "FAILED", "{status}: {conn}");
        assert_eq!(conn["test_sync"]["response_code"], status, "{conn}");
        let id = string(&conn["id"]);
        let (code, _) = server.disconnect(id).await;
        assert_eq!(code, StatusCode::OK);
    }
    assert_eq!(inner.received().len(), 0, "no redirect was followed");
}
