//! The identity server: PKCE code flow, refresh token rotation, authorize refusals,
//! connections, and what an accounting call needs (token, tenant, scope, `Accept`).

use std::time::Duration;

use axum::http::header;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use uuid::Uuid;

use super::super::super::harness::testing::http;

use super::super::answers::NOT_FOUND_TEXT;
use super::super::oauth::s256;
use super::super::{CLIENT_ID, CLIENT_SECRET, FakeXero, TENANT_ID};
use super::{
    Api, CHALLENGE, OTHER, REDIRECT, SCOPES, VERIFIER, authorize_code, authorize_params,
    authorize_raw, callback, connect, connect_with, connections, exchange, is_uuid, refresh,
    status_json, token_request,
};

#[test]
fn s256_matches_the_rfc_7636_vector() {
    assert_eq!(s256(VERIFIER), CHALLENGE);
}

#[tokio::test]
async fn pkce_code_flow_rotates_refresh_tokens_with_a_grace_period() {
    let fake = FakeXero::start().await;
    let (code, params) = authorize_code(&fake, SCOPES).await;
    assert_eq!(params["state"], "csrf-1");
    assert_eq!(params["scope"], SCOPES);
    let mut keys: Vec<&str> = params.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["code", "scope", "session_state", "state"]);

    // A wrong verifier spends the code.
    let (status, body) = exchange(&fake, &code, &"x".repeat(43)).await;
    assert_eq!((status, &body), (400, &json!({ "error": "invalid_grant" })));
    let (status, _) = exchange(&fake, &code, VERIFIER).await;
    assert_eq!(status, 400);

    // Another redirect_uri.
    let (code, _) = authorize_code(&fake, SCOPES).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", "https://elsewhere.example/cb"),
        ("code_verifier", VERIFIER),
    ];
    let (status, body) = token_request(&fake, &form, true).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );

    // client_secret_post works; the answer has Xero's fields.
    let (code, _) = authorize_code(&fake, SCOPES).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
        ("client_id", CLIENT_ID),
        ("client_secret", CLIENT_SECRET),
    ];
    let (status, tokens) = token_request(&fake, &form, false).await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(tokens["expires_in"], 1800);
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["scope"], SCOPES);
    assert_eq!(tokens["id_token"].as_str().unwrap().split('.').count(), 3);
    let access = tokens["access_token"].as_str().unwrap();
    let payload = access.split('.').nth(1).unwrap();
    let payload: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    assert_eq!(payload["client_id"], CLIENT_ID);
    // Codes are single use.
    let (status, _) = token_request(&fake, &form, false).await;
    assert_eq!(status, 400);

    // Every refresh rotates; superseded tokens work during the grace period.
    let rt1 = tokens["refresh_token"].as_str().unwrap().to_string();
    let (status, body) = refresh(&fake, &rt1).await;
    assert_eq!(status, 200);
    let rt2 = body["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(rt2, rt1);
    let (status, body) = refresh(&fake, &rt1).await;
    assert_eq!(status, 200, "the previous token is reusable for 30 minutes");
    let rt3 = body["refresh_token"].as_str().unwrap().to_string();
    let (status, body) = refresh(&fake, &rt2).await;
    assert_eq!(status, 200);
    let rt4 = body["refresh_token"].as_str().unwrap().to_string();
    assert!(rt3 != rt4 && rt2 != rt3);

    // After the grace period only the newest token works.
    fake.set_refresh_grace(Duration::ZERO);
    for old in [&rt1, &rt2, &rt3] {
        let (status, body) = refresh(&fake, old).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_grant"))
        );
    }
    let (status, body) = refresh(&fake, &rt4).await;
    assert_eq!(status, 200);
    let rt5 = body["refresh_token"].as_str().unwrap().to_string();

    fake.revoke_refresh_tokens();
    let (status, body) = refresh(&fake, &rt5).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert_eq!(fake.token_refreshes(), 8);

    // Bad client or JSON instead of a form.
    let response = http()
        .post(fake.token_url())
        .basic_auth(CLIENT_ID, Some("wrong"))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", &rt5)])
        .send()
        .await
        .unwrap();
    let (status, body) = status_json(response).await;
    assert_eq!((status, body), (400, json!({ "error": "invalid_client" })));
    let response = http()
        .post(fake.token_url())
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .json(&json!({ "grant_type": "refresh_token", "refresh_token": rt5 }))
        .send()
        .await
        .unwrap();
    let (status, body) = status_json(response).await;
    assert_eq!(
        (status, body),
        (400, json!({ "error": "unsupported_grant_type" }))
    );
    assert_eq!(fake.token_refreshes(), 8);
}

#[tokio::test]
async fn authorize_refuses_bad_requests() {
    let fake = FakeXero::start().await;
    let mut params = authorize_params(SCOPES);
    params[1].1 = "someone-else".into();
    let response = authorize_raw(&fake, &params).await;
    assert_eq!(response.status(), 400);

    let cases: [(&str, Option<&str>, &str); 5] = [
        ("code_challenge", None, "invalid_request"),
        ("code_challenge_method", Some("plain"), "invalid_request"),
        ("state", None, "invalid_request"),
        (
            "scope",
            Some("openid accounting.transactions accounting.contacts"),
            "invalid_scope",
        ),
        (
            "scope",
            Some(
                "offline_access accounting.transactions accounting.contacts accounting.everything",
            ),
            "invalid_scope",
        ),
    ];
    for (name, value, error) in cases {
        let mut params = authorize_params(SCOPES);
        params.retain(|(k, _)| *k != name);
        if let Some(value) = value {
            params.push((name, value.to_string()));
        }
        let query = callback(&authorize_raw(&fake, &params).await);
        assert_eq!(query["error"], error, "{name}={value:?}");
        assert!(!query.contains_key("code"));
    }

    // An app created after 2026-03-02: broad scopes are refused, granular ones work.
    fake.refuse_retired_scopes(true);
    let query = callback(&authorize_raw(&fake, &authorize_params(SCOPES)).await);
    assert_eq!(query["error"], "invalid_scope");
    let granular =
        "offline_access accounting.invoices accounting.contacts accounting.settings.read";
    let api = connect_with(&fake, granular).await;
    let (status, _) = api.get("Invoices", &[]).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn connections_list_the_authorized_organisations_and_the_tenant_is_checked() {
    let fake = FakeXero::start().await;
    fake.add_tenant(OTHER, "Other Ltd");
    let api = connect(&fake).await;
    let (status, list) = connections(&fake, &api.token).await;
    assert_eq!(status, 200);
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["tenantId"], TENANT_ID);
    assert_eq!(list[0]["tenantType"], "ORGANISATION");
    assert_eq!(list[0]["tenantName"], "Fake Ltd");
    assert!(is_uuid(list[0]["id"].as_str().unwrap()));
    assert!(is_uuid(list[0]["authEventId"].as_str().unwrap()));

    // An organisation this grant did not authorize.
    let other = api.for_tenant(OTHER);
    let (status, body) = other.get("Organisation", &[]).await;
    assert_eq!(status, 403);
    assert_eq!(body["Title"], "Forbidden");
    assert_eq!(body["Detail"], "AuthenticationUnsuccessful");

    // Two organisations: "take the first" would pick the wrong one.
    fake.authorize_tenants(&[OTHER, TENANT_ID]);
    let both = connect(&fake).await;
    let (_, list) = connections(&fake, &both.token).await;
    let tenants: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["tenantId"].as_str().unwrap())
        .collect();
    assert_eq!(tenants, [OTHER, TENANT_ID]);
    let other = both.for_tenant(OTHER);
    let (status, body) = other.get("Organisation", &[]).await;
    assert_eq!(status, 200);
    assert_eq!(body["Organisations"][0]["Name"], "Other Ltd");
    assert_eq!(body["Organisations"][0]["OrganisationID"], OTHER);

    // Disconnecting one.
    let id = list[0]["id"].as_str().unwrap();
    let response = http()
        .delete(format!("{}/connections/{id}", fake.api_base()))
        .bearer_auth(&both.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let (status, _) = other.get("Organisation", &[]).await;
    assert_eq!(status, 403);
    let (_, list) = connections(&fake, &both.token).await;
    assert_eq!(list.as_array().unwrap().len(), 1);

    // Revoking the refresh token removes the grant's connections.
    let (code, _) = authorize_code(&fake, SCOPES).await;
    let (_, tokens) = exchange(&fake, &code, VERIFIER).await;
    let refresh_token = tokens["refresh_token"].as_str().unwrap();
    let response = http()
        .post(fake.revocation_url())
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .form(&[
            ("token", refresh_token),
            ("token_type_hint", "refresh_token"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(refresh(&fake, refresh_token).await.0, 400);
    assert_eq!(api.get("Organisation", &[]).await.0, 403);

    // No tenant header at all.
    let response = http()
        .get(format!("{}/api.xro/2.0/Organisation", fake.api_base()))
        .bearer_auth(&both.token)
        .header(header::ACCEPT, "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
}

#[tokio::test]
async fn accounting_calls_need_a_token_a_scope_and_json() {
    let fake = FakeXero::start().await;
    let api = connect(&fake).await;
    let (status, body) = api.get("Organisation", &[]).await;
    assert_eq!(status, 200);
    assert_eq!(body["Status"], "OK");
    assert!(body["DateTimeUTC"].as_str().unwrap().starts_with("/Date("));
    let organisation = &body["Organisations"][0];
    assert_eq!(organisation["Name"], "Fake Ltd");
    assert_eq!(organisation["BaseCurrency"], "GBP");

    // No token, a bad token: the older lowercase problem.
    let url = format!("{}/api.xro/2.0/Invoices", fake.api_base());
    let response = http()
        .get(&url)
        .header("xero-tenant-id", TENANT_ID)
        .header(header::ACCEPT, "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert!(response.headers().contains_key(header::WWW_AUTHENTICATE));
    let (_, body) = status_json(response).await;
    assert_eq!(body["detail"], "AuthenticationUnsuccessful");
    let bad = Api {
        fake: &fake,
        token: "nonsense".into(),
        tenant: TENANT_ID.into(),
    };
    assert_eq!(bad.get("Invoices", &[]).await.0, 401);

    // Unknown paths and ids: plain-text 404.
    let response = api.send_get("Nothing").await;
    assert_eq!(response.status(), 404);
    assert!(response.headers().contains_key("x-minlimit-remaining"));
    assert_eq!(response.text().await.unwrap(), NOT_FOUND_TEXT);
    let (status, body) = api.get(&format!("Invoices/{}", Uuid::new_v4()), &[]).await;
    assert_eq!((status, body), (404, json!(NOT_FOUND_TEXT)));

    // Without Accept: application/json, XML.
    let response = http()
        .get(&url)
        .bearer_auth(&api.token)
        .header("xero-tenant-id", TENANT_ID)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 406);
    assert!(response.text().await.unwrap().starts_with("<ApiException>"));

    // A grant without a settings scope cannot read the organisation.
    let narrow = connect_with(
        &fake,
        "offline_access accounting.transactions accounting.contacts",
    )
    .await;
    assert_eq!(narrow.get("Organisation", &[]).await.0, 403);
    assert_eq!(narrow.get("Invoices", &[]).await.0, 200);

    // Short-lived tokens expire by the clock.
    fake.set_access_token_lifetime(0);
    let short = connect(&fake).await;
    assert_eq!(short.get("Organisation", &[]).await.0, 401);

    // Expired: the capitalised problem with TokenExpired.
    fake.expire_access_tokens();
    let response = api.send_get("Invoices").await;
    assert_eq!(response.status(), 401);
    assert!(response.headers().contains_key("xero-correlation-id"));
    let (_, body) = status_json(response).await;
    assert_eq!(body["Title"], "Unauthorized");
    assert!(
        body["Detail"]
            .as_str()
            .unwrap()
            .starts_with("TokenExpired: token expired at ")
    );
}
