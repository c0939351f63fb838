//! Intuit's OAuth endpoints and what an API call needs (token, realm, `Accept`,
//! `minorversion`).

use axum::http::header;
use serde_json::{Value, json};

use super::super::super::harness::testing::http;

use super::super::oauth::{INVALID_CLIENT, INVALID_GRANT};
use super::super::{CLIENT_ID, CLIENT_SECRET, FakeQuickBooks, REALM};
use super::{REDIRECT, authorize_code, code_of, connect, detail_of, token_request};

#[tokio::test]
async fn auth_code_flow_rotates_refresh_tokens_and_rejects_bad_grants() {
    let fake = FakeQuickBooks::start().await;
    let (code, realm) = authorize_code(&fake).await;
    assert_eq!(realm, REALM);

    let exchange = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
    ];
    let (status, tokens) = token_request(&fake, &exchange).await;
    assert_eq!(status, 200);
    assert_eq!(tokens["token_type"], "bearer");
    assert_eq!(tokens["expires_in"], 3600);
    assert_eq!(tokens["x_refresh_token_expires_in"], 8_726_400);
    let rt1 = tokens["refresh_token"].as_str().unwrap().to_string();

    // Codes are single use.
    let (status, body) = token_request(&fake, &exchange).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );

    // Refresh rotates; client_secret_post is accepted too.
    let response = http()
        .post(fake.token_url())
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", rt1.as_str()),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers().contains_key("intuit_tid"));
    let refreshed: Value = response.json().await.unwrap();
    let rt2 = refreshed["refresh_token"].as_str().unwrap();
    assert_ne!(rt2, rt1);
    assert_eq!(fake.token_refreshes(), 1);

    let refresh_with = |secret: &str| {
        let request = http().post(fake.token_url());
        let request = request.basic_auth(CLIENT_ID, Some(secret));
        request.form(&[("grant_type", "refresh_token"), ("refresh_token", rt2)])
    };
    // A wrong secret is invalid_client.
    let response = refresh_with("wrong").send().await.unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(response.text().await.unwrap(), INVALID_CLIENT);

    // Revoked refresh tokens answer QBO's exact invalid_grant.
    fake.revoke_refresh_tokens();
    let response = refresh_with(CLIENT_SECRET).send().await.unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(response.text().await.unwrap(), INVALID_GRANT);
    assert_eq!(fake.token_refreshes(), 2);
}

#[tokio::test]
async fn api_calls_need_a_valid_token_accept_and_minorversion() {
    let fake = FakeQuickBooks::start().await;
    let api = connect(&fake).await;
    let (status, body) = api.get(&format!("companyinfo/{REALM}"), &[]).await;
    assert_eq!(status, 200);
    assert_eq!(body["CompanyInfo"]["CompanyName"], "Fake Co");
    assert_eq!(body["CompanyInfo"]["Id"], REALM);

    // Expired token: the lowercase gateway envelope.
    fake.expire_access_tokens();
    let (status, body) = api.get(&format!("companyinfo/{REALM}"), &[]).await;
    assert_eq!(status, 401);
    assert_eq!(body["fault"]["error"][0]["code"], "3200");
    assert_eq!(body["fault"]["type"], "AUTHENTICATION");
    assert!(body["time"].is_i64());
    assert!(body.get("Fault").is_none());

    let api = connect(&fake).await;
    // No minorversion.
    let url = api.url(&format!("companyinfo/{REALM}"));
    let request = http().get(url).bearer_auth(&api.token);
    let request = request.header(header::ACCEPT, "application/json");
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["Fault"]["type"], "ValidationFault");
    assert!(detail_of(&body).contains("minorversion"), "{body}");
    // No Accept: XML.
    let url = api.url(&format!("companyinfo/{REALM}"));
    let response = api.authorized(http().get(url)).send().await.unwrap();
    assert_eq!(response.headers()[header::CONTENT_TYPE], "application/xml");
    // Over-long requestid.
    let long = "x".repeat(51);
    let (status, body) = api
        .post(
            "customer",
            &[("requestid", &long)],
            &json!({ "DisplayName": "A" }),
        )
        .await;
    assert_eq!((status, code_of(&body)), (400, "2050"));
    // Another company's path.
    fake.add_company("9130350000000002", "Other Co");
    let other = "9130350000000002";
    let url = format!("{}/v3/company/{other}/companyinfo/{other}", fake.url);
    let response = api.well_formed(http().get(url)).send().await.unwrap();
    assert_eq!(response.status(), 403);
    // Unknown paths are 404 with a JSON fault.
    let (status, body) = api.get("nosuchthing/1", &[]).await;
    assert_eq!(status, 404);
    assert!(body["Fault"].is_object());
}

#[tokio::test]
async fn authorize_picks_the_configured_company_and_tokens_can_be_short_lived() {
    let fake = FakeQuickBooks::start().await;
    let other = "9130350000000002";
    fake.add_company(other, "Other Co");
    fake.set_authorizing_realm(other);
    let existing = fake.add_customer(other, "Preexisting Ltd");
    let api = connect(&fake).await;
    assert_eq!(api.realm, other);
    let (status, body) = api.get(&format!("companyinfo/{other}"), &[]).await;
    assert_eq!(status, 200);
    assert_eq!(body["CompanyInfo"]["CompanyName"], "Other Co");
    let query = "select * from Customer where DisplayName = 'Preexisting Ltd'";
    let (_, body) = api.get("query", &[("query", query)]).await;
    assert_eq!(
        body["QueryResponse"]["Customer"][0]["Id"],
        existing.as_str()
    );
    api.post(
        "customer",
        &[("requestid", "c-1")],
        &json!({ "DisplayName": "New" }),
    )
    .await;
    assert!(fake.customers(REALM).is_empty());
    assert_eq!(fake.customers(other).len(), 2);

    let recorded = fake.requests();
    let post = recorded
        .iter()
        .find(|r| r.method == "POST" && r.path.ends_with("/customer"));
    let post = post.expect("the customer POST is recorded");
    assert_eq!(post.requestid.as_deref(), Some("c-1"));
    assert!(post.query.contains("minorversion=75"));

    fake.set_access_token_lifetime(0);
    let api = connect(&fake).await;
    let (status, body) = api.get(&format!("companyinfo/{other}"), &[]).await;
    assert_eq!(status, 401);
    assert_eq!(body["fault"]["error"][0]["detail"], "Token expired");
}
