//! Token-Based Authentication: the signer against published vectors, and every way a
//! login is refused.

use chrono::Utc;
use erp_sync::connectors::netsuite::client::request_url;
use erp_sync::connectors::netsuite::tba::{self, Credentials};

use super::super::tba::fully_encoded;
use super::super::{
    ACCOUNT_ID, CONSUMER_KEY, CONSUMER_SECRET, FakeNetSuite, TOKEN_ID, TOKEN_SECRET, signature,
};
use super::{Client, code, credentials};

#[test]
fn the_fakes_signer_matches_the_published_vectors() {
    let oauth: Vec<(String, String)> = [
        ("oauth_consumer_key", CONSUMER_KEY),
        ("oauth_token", TOKEN_ID),
        ("oauth_signature_method", "HMAC-SHA256"),
        ("oauth_timestamp", "1508242306"),
        ("oauth_nonce", "fjaLirsIcCGVZWzBX0pg"),
        ("oauth_version", "1.0"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let base = "https://1234567-sb1.suitetalk.api.netsuite.com/services/rest/record/v1";
    let sig = |method: &str, uri: &str, extra: &[(&str, &str)]| {
        let mut params = oauth.clone();
        params.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        signature(method, uri, &params, CONSUMER_SECRET, TOKEN_SECRET)
    };
    assert_eq!(
        sig("PUT", &format!("{base}/invoice/eid:BILL-2024-0001"), &[]),
        "CJjNoAMzFA9UN7KpSYMalMZaluM4ZhbO/Q3wAMb+8EM="
    );
    assert_eq!(
        sig(
            "PATCH",
            &format!("{base}/invoice/4711"),
            &[("replace", "item")]
        ),
        "3Lm8jHnwFdAN/aGwJl96FzBXA9R8zcTqSRfEGdHrziQ="
    );
    assert_eq!(
        sig(
            "GET",
            &format!("{base}/invoice"),
            &[("q", "externalId IS \"BILL-2024-0001\""), ("limit", "5")]
        ),
        "VKHrY3rCmGy2oRPxzeTXDA/T39ETp5+UCClznDZchnE="
    );
    assert!(fully_encoded(
        "CJjNoAMzFA9UN7KpSYMalMZaluM4ZhbO%2FQ3wAMb%2B8EM%3D"
    ));
    assert!(!fully_encoded(
        "CJjNoAMzFA9UN7KpSYMalMZaluM4ZhbO/Q3wAMb%2B8EM="
    ));
    assert!(!fully_encoded("abc%2"));
}

#[tokio::test]
async fn every_login_is_checked_like_netsuite() {
    let fake = FakeNetSuite::start().await;
    let client = Client::new(&fake);
    let (status, _, body) = client
        .send("GET", "customer", &[("limit", "1")], None)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["count"], 0);

    let url = |path: &str, query: &[(&str, &str)]| request_url(&fake.url, path, query).unwrap();
    let mut refused = Vec::new();
    // A wrong token secret.
    let wrong = Credentials {
        token_secret: "not-the-secret".into(),
        ..credentials()
    };
    let now = Utc::now().timestamp();
    let header = tba::authorization(
        "GET",
        &url("customer", &[]),
        ACCOUNT_ID,
        &wrong,
        &tba::nonce(),
        now,
    );
    refused.push(client.send_with("GET", "customer", &[], None, header).await);
    // A timestamp ten minutes old.
    let header = tba::authorization(
        "GET",
        &url("customer", &[]),
        ACCOUNT_ID,
        &credentials(),
        &tba::nonce(),
        now - 600,
    );
    refused.push(client.send_with("GET", "customer", &[], None, header).await);
    // A nonce used twice: the first use passes, the replay does not.
    let header = client.header("GET", "customer", &[]);
    assert_eq!(
        client
            .send_with("GET", "customer", &[], None, header.clone())
            .await
            .0,
        200
    );
    refused.push(client.send_with("GET", "customer", &[], None, header).await);
    // The realm spelled like the host.
    let header = client
        .header("GET", "customer", &[])
        .replace("realm=\"1234567_SB1\"", "realm=\"1234567-sb1\"");
    refused.push(client.send_with("GET", "customer", &[], None, header).await);
    // HMAC-SHA1.
    let header = client
        .header("GET", "customer", &[])
        .replace("HMAC-SHA256", "HMAC-SHA1");
    refused.push(client.send_with("GET", "customer", &[], None, header).await);
    // A query parameter that was not signed.
    let header = client.header("GET", "customer", &[]);
    refused.push(
        client
            .send_with("GET", "customer", &[("limit", "1")], None, header)
            .await,
    );
    // A signature with only `+` escaped.
    let header = client.header("GET", "customer", &[]);
    let header = header.replace("%2F", "/").replace("%3D", "=");
    refused.push(client.send_with("GET", "customer", &[], None, header).await);
    for (status, _, body) in &refused {
        assert_eq!(*status, 401, "{body}");
        assert_eq!(code(body), "INVALID_LOGIN");
        assert!(body["type"].is_string() && body["title"] == "Unauthorized");
    }
    let audit = fake.login_audit();
    assert_eq!(audit[0], "InvalidSignature");
    assert_eq!(audit[1], "InvalidTimestamp");
    assert_eq!(audit[2], "InvalidNonce(reused)");
    assert!(audit[3].starts_with("InvalidRealm"), "{audit:?}");
    assert_eq!(audit[4], "UnsupportedSignatureMethod");
    assert_eq!(audit[5], "InvalidSignature");
    assert_eq!(audit[6], "NotPercentEncoded(oauth_signature)");
}
