//! Standard Webhooks signatures and secret rotation, checked the way a customer's
//! endpoint would: every delivery is verified with the `standardwebhooks` crate (an
//! independent implementation of the spec), never with erp-sync's own signer, and the
//! `X-Aforo-Signature` beside it still verifies. A rotation is followed by a receiver
//! that refuses anything it cannot verify, so a gap would show as a FAILED delivery.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode as AxumStatus};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::erp::{quickbooks_company, quickbooks_server};
use crate::support::{Received, TestServer, error_message, eventually, invoice, string};

const WAIT: Duration = Duration::from_secs(15);

/// Whether the Standard Webhooks headers verify with `secret`, by the reference crate.
fn standard_ok(headers: &HeaderMap, body: &[u8], secret: &str) -> bool {
    standardwebhooks::Webhook::new(secret)
        .and_then(|wh| wh.verify(body, headers))
        .is_ok()
}

/// Whether `X-Aforo-Signature` verifies with `secret` (keyed with its UTF-8 bytes).
fn aforo_ok(headers: &HeaderMap, body: &[u8], secret: &str) -> bool {
    let header = headers
        .get("x-aforo-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    erp_sync::crypto::signature::verify(
        header,
        body,
        secret.as_bytes(),
        chrono::Utc::now().timestamp(),
        300,
    )
    .is_ok()
}

/// Checks one received request verifies under both schemes with `library_secret` (what
/// a receiver passes to a standardwebhooks library) and `secret` (the secret itself), and
/// that both id headers are the body's event id.
fn assert_verifies(got: &Received, library_secret: &str, secret: &str) {
    let what = got.json()["type"].clone();
    assert!(
        standard_ok(&got.headers, &got.body, library_secret),
        "{what}: webhook-signature verifies with the standardwebhooks crate: {:?}",
        got.headers
    );
    assert!(
        aforo_ok(&got.headers, &got.body, secret),
        "{what}: X-Aforo-Signature verifies"
    );
    let id = got.json()["id"].as_str().unwrap().to_string();
    assert_eq!(got.header("webhook-id"), id);
    assert_eq!(got.header("x-aforo-event-id"), id);
    assert_eq!(
        got.header("webhook-timestamp"),
        got.header("x-aforo-timestamp")
    );
}

/// A fresh secret in the generated form, made here rather than by erp-sync.
fn whsec() -> String {
    let bytes: [u8; 32] = rand::random();
    format!("whsec_{}", STANDARD.encode(bytes))
}

/// A payment of 10.82 applied to `invoice_id`.
fn payment(id: &str, invoice_id: &str) -> Value {
    json!({
        "id": id, "status": "SUCCEEDED", "entity": "US", "currency": "USD",
        "amount": "10.82", "received_at": "2026-11-21T09:00:00Z", "method": "card",
        "reference": "ch_3N8x", "customer": { "id": "cus_42", "name": "Acme Inc" },
        "applied_to": [ { "invoice_id": invoice_id, "amount": "10.82" } ], "metadata": {}
    })
}

/// `POST /v1/connections/{id}/rotate-secret` with `body`.
async fn rotate(server: &TestServer, id: &str, body: Value) -> (StatusCode, Value) {
    let path = format!("/v1/connections/{id}/rotate-secret");
    server.call("POST", &path, Some(body)).await
}

#[tokio::test]
async fn every_delivery_verifies_with_the_standard_webhooks_library() {
    let (server, receiver, created) = TestServer::start_with_webhook().await;
    let secret = string(&created["secret"]).to_string();
    let key = secret.strip_prefix("whsec_").expect("a whsec_ secret");
    assert_eq!(STANDARD.decode(key).expect("padded base64").len(), 32);

    server.ingest(&invoice("inv_1")).await;
    let (status, accepted) = server
        .call("POST", "/v1/payments", Some(payment("pay_1", "inv_1")))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    let test = receiver.received().remove(0);
    assert_eq!(test.json()["type"], "test");
    assert_verifies(&test, &secret, &secret);
    for id in ["inv_1", "pay_1"] {
        let got = eventually(&format!("the delivery of {id}"), WAIT, || async {
            receiver.for_invoice(id).pop()
        })
        .await;
        assert_verifies(&got, &secret, &secret);
        let signature = got.header("webhook-signature");
        assert!(
            signature.starts_with("v1,") && !signature.contains(' '),
            "one signature outside a rotation: {signature}"
        );
        // Another secret does not verify: the check is not vacuous.
        assert!(!standard_ok(&got.headers, &got.body, &whsec()));
    }
}

#[tokio::test]
async fn an_operators_own_secret_verifies_as_whsec_base64_of_it() {
    let server = TestServer::start().await;
    let receiver = crate::support::Receiver::start().await;
    let own = "my own secret, not base64!";
    let created = server
        .create_connection(json!({"provider": "webhook",
            "config": {"url": receiver.url(), "secret": own}}))
        .await;
    assert_eq!(
        created["secret"],
        Value::Null,
        "a brought secret is not echoed"
    );
    assert_eq!(created["test_sync"]["status"], "SUCCESS");
    server.ingest(&invoice("inv_own")).await;
    let got = eventually("the delivery", WAIT, || async {
        receiver.for_invoice("inv_own").pop()
    })
    .await;
    let library_secret = format!("whsec_{}", STANDARD.encode(own));
    for got in [receiver.received().remove(0), got] {
        assert_verifies(&got, &library_secret, own);
    }
}

/// A webhook endpoint that verifies every request with the standardwebhooks crate and the
/// one secret it knows, answering 401 to what does not verify (as a customer's would).
#[derive(Clone)]
struct StrictReceiver {
    secret: Arc<Mutex<String>>,
    received: Arc<Mutex<Vec<Received>>>,
    addr: std::net::SocketAddr,
}

async fn strict(
    State(receiver): State<StrictReceiver>,
    headers: HeaderMap,
    body: Bytes,
) -> AxumStatus {
    let secret = receiver.secret.lock().unwrap().clone();
    let ok = standard_ok(&headers, &body, &secret);
    receiver.received.lock().unwrap().push(Received {
        at: std::time::Instant::now(),
        headers,
        body,
        signature_ok: ok,
    });
    if ok {
        AxumStatus::OK
    } else {
        AxumStatus::UNAUTHORIZED
    }
}

impl StrictReceiver {
    async fn start(secret: &str) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let receiver = StrictReceiver {
            secret: Arc::new(Mutex::new(secret.to_string())),
            received: Arc::default(),
            addr: listener.local_addr().unwrap(),
        };
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(strict))
            .with_state(receiver.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        receiver
    }

    fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    /// The receiver switches to another secret.
    fn switch_to(&self, secret: &str) {
        *self.secret.lock().unwrap() = secret.to_string();
    }

    /// The accepted request of document `id`.
    async fn delivered(&self, id: &str) -> Received {
        eventually(&format!("the delivery of {id}"), WAIT, || async {
            let received = self.received.lock().unwrap();
            received
                .iter()
                .find(|r| r.signature_ok && r.json()["data"]["id"] == id)
                .cloned()
        })
        .await
    }
}

#[tokio::test]
async fn a_rotation_lets_the_receiver_switch_secrets_without_a_failed_delivery() {
    let server = TestServer::start().await;
    let old = whsec();
    let receiver = StrictReceiver::start(&old).await;
    let created = server
        .create_connection(json!({"provider": "webhook",
            "config": {"url": receiver.url(), "secret": old}}))
        .await;
    assert_eq!(created["test_sync"]["status"], "SUCCESS", "{created}");
    let id = string(&created["id"]).to_string();
    server.ingest(&invoice("inv_before")).await;
    receiver.delivered("inv_before").await;

    let (status, rotated) = rotate(&server, &id, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let new = string(&rotated["secret"]).to_string();
    assert!(new.starts_with("whsec_") && new != old);
    let expires = chrono::DateTime::parse_from_rfc3339(string(&rotated["previous_expires_at"]))
        .expect("a time");
    let grace = expires.timestamp() - chrono::Utc::now().timestamp();
    assert!((86_300..=86_400).contains(&grace), "a day's grace: {grace}");

    // During the grace: the receiver still knows only the old secret, and both verify.
    server.ingest(&invoice("inv_grace")).await;
    let got = receiver.delivered("inv_grace").await;
    assert_verifies(&got, &old, &old);
    assert_verifies(&got, &new, &new);
    let standard = got.header("webhook-signature");
    assert_eq!(
        standard.split(' ').count(),
        2,
        "v1,<new> v1,<old>: {standard}"
    );
    assert_eq!(got.header("x-aforo-signature").matches("v1=").count(), 2);
    let new_only = HeaderMap::from_iter(got.headers.iter().map(|(k, v)| {
        let first = v.to_str().unwrap().split(' ').next().unwrap().to_string();
        let value = if k == "webhook-signature" {
            first
        } else {
            v.to_str().unwrap().into()
        };
        (k.clone(), value.parse().unwrap())
    }));
    assert!(
        standard_ok(&new_only, &got.body, &new),
        "the new secret's signature is first"
    );

    // The receiver switches; deliveries go on verifying.
    receiver.switch_to(&new);
    server.ingest(&invoice("inv_switched")).await;
    assert_verifies(&receiver.delivered("inv_switched").await, &new, &new);

    // Ending the grace: only the new secret signs.
    let (status, ended) = rotate(&server, &id, json!({"expire_previous_now": true})).await;
    assert_eq!(status, StatusCode::OK, "{ended}");
    assert_eq!(ended["secret"], Value::Null);
    server.ingest(&invoice("inv_after")).await;
    let got = receiver.delivered("inv_after").await;
    assert_verifies(&got, &new, &new);
    assert!(!got.header("webhook-signature").contains(' '));
    assert_eq!(got.header("x-aforo-signature").matches("v1=").count(), 1);
    assert!(
        !standard_ok(&got.headers, &got.body, &old),
        "the old secret no longer verifies"
    );
    assert!(!aforo_ok(&got.headers, &got.body, &old));

    let log = server.log("").await;
    assert!(
        log.iter().all(|e| e["status"] != "FAILED"),
        "no failed delivery across the rotation: {log:?}"
    );
    assert_eq!(log.iter().filter(|e| e["status"] == "SUCCESS").count(), 5);
    let (_, shown) = server.connection(&id).await;
    for secret in [&old, &new] {
        assert!(!shown.to_string().contains(secret.as_str()), "{shown}");
    }
}

#[tokio::test]
async fn rotating_with_no_grace_and_with_a_given_secret() {
    let (server, receiver, created) = TestServer::start_with_webhook().await;
    let id = string(&created["id"]).to_string();
    let first = string(&created["secret"]).to_string();
    let own = "a brand new secret of mine";
    let (status, rotated) = rotate(&server, &id, json!({"secret": own, "grace_seconds": 0})).await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    assert_eq!(rotated["secret"], own);
    server.ingest(&invoice("inv_1")).await;
    let got = eventually("the delivery", WAIT, || async {
        receiver.for_invoice("inv_1").pop()
    })
    .await;
    assert_verifies(&got, &format!("whsec_{}", STANDARD.encode(own)), own);
    assert!(
        !aforo_ok(&got.headers, &got.body, &first),
        "no grace: the old secret is gone"
    );
    assert!(!standard_ok(&got.headers, &got.body, &first));
}

#[tokio::test]
async fn rotation_refuses_what_it_cannot_do_and_names_the_problem() {
    let fake = quickbooks_company("US", "USD", &[]).await;
    let server = quickbooks_server(&fake).await;
    let (status, body) = server.set_multi_erp(true).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let qbo = server
        .create_connection(json!({"provider": "quickbooks"}))
        .await;
    let (status, refused) = rotate(&server, string(&qbo["id"]), json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    assert!(error_message(&refused).contains("quickbooks"), "{refused}");
    assert!(
        error_message(&refused).contains("only webhook"),
        "{refused}"
    );

    let receiver = crate::support::Receiver::start().await;
    let hook = server.connect_webhook(&receiver, None).await;
    let id = string(&hook["id"]).to_string();
    let secret = string(&hook["secret"]).to_string();
    let other = server.second_tenant().await;
    let path = format!("/v1/connections/{id}/rotate-secret");
    let (status, body) = server.call_as(&other, "POST", &path, Some(json!({}))).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");

    for (body, words) in [
        (
            json!({"secret": "x", "graceSeconds": 1, "ttl": 2}),
            vec!["\"graceSeconds\"", "\"ttl\""],
        ),
        (json!({"secret": "short"}), vec!["secret", "16"]),
        (json!({"secret": secret}), vec!["secret", "already"]),
        (
            json!({"grace_seconds": 604_801}),
            vec!["grace_seconds", "604800"],
        ),
        (json!({"grace_seconds": -1}), vec!["grace_seconds"]),
        (json!({"grace_seconds": "1d"}), vec!["grace_seconds"]),
        (
            json!({"expire_previous_now": true, "grace_seconds": 5}),
            vec!["grace_seconds", "expire_previous_now"],
        ),
    ] {
        let (status, refused) = rotate(&server, &id, body.clone()).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {refused}"
        );
        for word in words {
            assert!(
                error_message(&refused).contains(word),
                "{word} in {refused}"
            );
        }
    }
    let (status, malformed) = server.post_raw(&path, b"{not json".to_vec()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{malformed}");

    let (status, body) = server.disconnect(&id).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, refused) = rotate(&server, &id, json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    assert!(
        error_message(&refused).contains("disconnected"),
        "{refused}"
    );
}
