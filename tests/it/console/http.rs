//! The console over plain HTTP: what a browser would be sent, checked header by header.

use erp_sync_guest_artifacts as guests;
use reqwest::StatusCode;
use serde_json::json;

use super::{Operator, client, form, location, log_in, sent_on, set_cookie};
use crate::fakes::quickbooks::FakeQuickBooks;
use crate::support::{TestServer, erp, error_message, invoice};

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                   connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

fn header<'a>(headers: &'a reqwest::header::HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("a {name} header"))
}

#[tokio::test]
async fn signing_in_sets_a_strict_cookie_pages_need_it_and_carry_security_headers() {
    let server = TestServer::start().await;
    let http = client();

    // Without the cookie, every page sends the browser to the sign-in page.
    for path in [
        "/",
        "/connections",
        "/sync-log",
        "/invoices/inv_1",
        "/settings",
        "/transforms",
    ] {
        let answer = http
            .get(format!("{}{path}", server.base))
            .send()
            .await
            .unwrap();
        assert!(
            answer.status().is_redirection(),
            "{path}: {}",
            answer.status()
        );
        let to = location(answer.headers());
        assert!(
            to == "/login" || (path == "/" && to == "/overview"),
            "{path} -> {to}"
        );
    }

    // A wrong key: the sign-in page again, 401, a clear message, no cookie.
    let answer = log_in(&http, &server.base, "esk_not_a_real_key").await;
    assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);
    assert!(answer.headers().get("set-cookie").is_none());
    let page = answer.text().await.unwrap();
    assert!(page.contains("That API key is not valid here"), "{page}");

    // The right key: a cookie that scripts cannot read and other sites do not send.
    let answer = log_in(&http, &server.base, &server.key).await;
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(answer.headers()), "/overview");
    let cookie = set_cookie(answer.headers());
    assert!(
        cookie.starts_with(&format!("erp_sync_session={}", server.key)),
        "{cookie}"
    );
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attribute), "{cookie} lacks {attribute}");
    }
    assert!(!cookie.contains("Secure"), "plain http: {cookie}");
    assert!(!location(answer.headers()).contains(&server.key));

    let operator = Operator::sign_in(&server).await;
    for path in [
        "/overview",
        "/connections",
        "/connections/new",
        "/sync-log",
        "/settings",
        "/transforms",
    ] {
        let (status, headers, page) = operator.get(path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {page}");
        assert_eq!(header(&headers, "content-security-policy"), CSP, "{path}");
        assert_eq!(header(&headers, "x-content-type-options"), "nosniff");
        assert_eq!(header(&headers, "referrer-policy"), "same-origin");
        assert_eq!(header(&headers, "cache-control"), "no-store");
        assert!(header(&headers, "content-type").starts_with("text/html"));
        assert!(
            !page.contains("<script>") && !page.contains("style="),
            "{path}: nothing inline"
        );
        assert!(
            !page.contains(&server.key),
            "{path}: the key is never in a page"
        );
    }
    let (status, headers, _) = operator.get("/assets/console.js").await;
    assert_eq!(status, StatusCode::OK);
    assert!(header(&headers, "content-type").starts_with("text/javascript"));

    // Signing out clears the cookie.
    let (status, headers, _) = operator.post("/logout", &[("csrf", &operator.csrf)]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(set_cookie(&headers).contains("Max-Age=0"));

    // Served at an https public URL, the cookie is also `Secure`.
    let secure = TestServer::start_with(|c| c.public_url = "https://erp-sync.example".into()).await;
    let answer = log_in(&http, &secure.base, &secure.key).await;
    assert!(set_cookie(answer.headers()).contains("; Secure"));
}

#[tokio::test]
async fn forms_without_the_right_token_or_from_another_site_are_refused_and_change_nothing() {
    let (server, _receiver, connection) = TestServer::start_with_webhook().await;
    let id = connection["id"].as_str().unwrap();
    let operator = Operator::sign_in(&server).await;
    let other = Operator::sign_in(&server).await;
    assert_eq!(operator.csrf, other.csrf, "one token per key and process");

    let disconnect = format!("/connections/{id}/disconnect");
    let attempts: Vec<(&str, Vec<(&str, &str)>)> = vec![
        ("/settings", vec![("multi_erp", "on")]),
        ("/settings", vec![("multi_erp", "on"), ("csrf", "0000")]),
        ("/settings", vec![("multi_erp", "on"), ("csrf", "")]),
        (disconnect.as_str(), vec![]),
        (disconnect.as_str(), vec![("csrf", "wrong")]),
    ];
    for (path, fields) in attempts {
        let (status, _, page) = operator.post(path, &fields).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path} {fields:?}");
        assert!(page.contains("This form was refused"), "{page}");
    }
    // The right token, but sent from another site's page.
    let answer = operator
        .http
        .post(format!("{}/settings", server.base))
        .header("cookie", &operator.cookie)
        .header("origin", "https://evil.example")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[("multi_erp", "on"), ("csrf", &operator.csrf)]))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::FORBIDDEN);

    let (_, settings) = server.call("GET", "/v1/settings", None).await;
    assert_eq!(settings["multi_erp"], false, "nothing changed");
    let (_, shown) = server.connection(id).await;
    assert_eq!(shown["status"], "active", "nothing changed");

    // With the token, from this site, the same forms work.
    let (status, _, page) = operator
        .post(
            "/settings",
            &[("multi_erp", "on"), ("csrf", &operator.csrf)],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("Settings saved"));
    let (_, settings) = server.call("GET", "/v1/settings", None).await;
    assert_eq!(settings["multi_erp"], true);
    let (status, headers, _) = operator
        .post(&disconnect, &[("csrf", &operator.csrf)])
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(location(&headers).starts_with(&format!("/connections/{id}?disconnected=")));
    let (_, shown) = server.connection(id).await;
    assert_eq!(shown["status"], "disconnected");
}

#[tokio::test]
async fn outside_values_show_as_text_and_api_errors_in_the_apis_words() {
    let server = TestServer::start().await;
    let hostile = "<img src=x onerror=alert(1)>";
    let mut body = invoice("inv_<b>x</b>");
    body["customer"]["name"] = json!(hostile);
    body["lines"][0]["description"] = json!("</td><script>alert(2)</script>");
    server.ingest(&body).await;
    let operator = Operator::sign_in(&server).await;

    let (status, _, page) = operator.get("/invoices/inv_%3Cb%3Ex%3C%2Fb%3E").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(
        page.contains("&lt;img src=x onerror=alert(1)&gt;"),
        "{page}"
    );
    assert!(page.contains("&lt;/td&gt;&lt;script&gt;alert(2)&lt;/script&gt;"));
    assert!(page.contains("inv_&lt;b&gt;x&lt;/b&gt;"));
    assert!(!page.contains("<img") && !page.contains("<script>") && !page.contains("<b>"));

    let (status, _, page) = operator.get("/invoices/inv_missing").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(page.contains("inv_missing"), "the API's message: {page}");

    // A bad filter: the API's own words on the page, not a server error.
    let (status, _, page) = operator.get("/sync-log?from=yesterday").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("must be an RFC 3339 time"), "{page}");

    // A refused webhook: the connect page again, with the API's reason.
    let (status, _, page) = operator
        .post(
            "/connections",
            &[
                ("csrf", &operator.csrf),
                ("provider", "webhook"),
                ("url", "ftp://x"),
                ("secret", "short"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{page}");
    assert!(
        page.contains("config.secret: must be at least 16 characters"),
        "{page}"
    );
    assert!(
        !page.contains("value=\"short\""),
        "a secret is never shown again"
    );
}

#[tokio::test]
async fn transforms_upload_shows_refusals_and_runs_on_the_sample_invoice() {
    let server = TestServer::start().await;
    let operator = Operator::sign_in(&server).await;
    let upload = |bytes: Vec<u8>, world: &'static str| {
        let boundary = "----console-test-boundary";
        let mut body = Vec::new();
        for (name, value) in [
            ("csrf", operator.csrf.as_str()),
            ("name", "flat"),
            ("world", world),
        ] {
            body.extend_from_slice(
                format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").as_bytes(),
            );
        }
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"component\"; filename=\"t.wasm\"\r\nContent-Type: application/wasm\r\n\r\n").as_bytes(),
        );
        body.extend_from_slice(&bytes);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        operator
            .http
            .post(format!("{}/transforms", server.base))
            .header("cookie", &operator.cookie)
            .header(
                "content-type",
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(body)
            .send()
    };
    let answer = upload(b"not wasm".to_vec(), "webhook-transform")
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = answer.text().await.unwrap();
    let (_, api) = server
        .post_raw(
            "/v1/transforms?world=webhook-transform",
            b"not wasm".to_vec(),
        )
        .await;
    let words = api["error"]["message"].as_str().expect("the API's message");
    let escaped = words
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;");
    assert!(page.contains(&escaped), "{words} in {page}");

    let bytes = std::fs::read(guests::FLAT_ACCOUNTING).expect("a built guest");
    let answer = upload(bytes, "webhook-transform").await.unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    let page = answer.text().await.unwrap();
    assert!(page.contains("Uploaded flat (webhook-transform)"), "{page}");
    let (_, list) = server.call("GET", "/v1/transforms", None).await;
    let id = list[0]["id"].as_str().unwrap();

    let (status, _, page) = operator
        .post(
            &format!("/transforms/{id}/run"),
            &[("csrf", &operator.csrf)],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("SUCCESS"), "{page}");
    assert!(
        page.contains("INV-2026-0042"),
        "the sample invoice's number in the output: {page}"
    );
    assert!(page.contains("Guest logs"));
}

#[tokio::test]
async fn the_oauth_callback_answers_json_to_api_clients_and_sends_browsers_to_the_console() {
    let fake = FakeQuickBooks::start().await;
    let server = erp::quickbooks_server(&fake).await;
    let operator = Operator::sign_in(&server).await;
    let http = client();

    // Connect from the console: the form's answer goes to the provider, which the CSP's
    // form-action allows.
    let (status, headers, _) = operator.connect_erp("quickbooks", "Books").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let authorize_url = location(&headers);
    let fake_origin = url::Url::parse(&fake.auth_url())
        .unwrap()
        .origin()
        .ascii_serialization();
    assert!(authorize_url.starts_with(&fake_origin), "{authorize_url}");
    assert!(
        header(&headers, "content-security-policy")
            .contains(&format!("form-action 'self' {fake_origin}"))
    );

    // The provider sends the browser back; a browser is sent on to the console.
    let callback = erp::callback_url(&http, &authorize_url, &server.base).await;
    let to = sent_on(
        &http,
        &callback,
        "text/html,application/xhtml+xml,*/*;q=0.8",
    )
    .await;
    let (_, list) = server.connections().await;
    let id = list[0]["id"].as_str().unwrap();
    assert_eq!(to, format!("/connections/{id}?oauth=done"));
    assert_eq!(list[0]["status"], "active");
    let (status, _, page) = operator.get(&to).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("Authorized at QuickBooks Online. Status: active."),
        "{page}"
    );

    // Re-authorize from the console: back to the provider's page.
    let (status, headers, _) = operator
        .post(
            &format!("/connections/{id}/reauthorize"),
            &[("csrf", &operator.csrf)],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(location(&headers).starts_with(&fake_origin));

    // An API client completing the same kind of round trip still gets JSON.
    let (_, again) = server.reauthorize(id).await;
    let (status, done) = server
        .authorize(again["authorize_url"].as_str().unwrap())
        .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["connection"]["id"], id);
    assert_eq!(done["test_sync"]["status"], "SUCCESS");

    // A used state: a 400 JSON error for API clients; the console with the reason for a browser.
    let answer = http.get(&callback).send().await.unwrap();
    assert_eq!(answer.status(), StatusCode::BAD_REQUEST);
    let body: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_oauth_state");
    let to = sent_on(&http, &callback, "text/html").await;
    assert!(to.starts_with("/connections?oauth=failed&message="), "{to}");
}

#[tokio::test]
async fn the_rows_fragment_answers_only_newer_rows_escaped() {
    let (server, _receiver, _) = TestServer::start_with_webhook().await;
    let operator = Operator::sign_in(&server).await;
    let first = server.log("").await;
    let newest = first[0]["id"].as_str().unwrap().to_string();
    let (status, headers, rows) = operator
        .get(&format!("/sync-log/rows?after={newest}"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(rows.trim(), "", "nothing newer yet");
    assert_eq!(header(&headers, "x-newest-id"), newest);

    server.ingest(&invoice("inv_<i>1</i>")).await;
    let entries =
        crate::support::eventually("a delivery", std::time::Duration::from_secs(20), || async {
            let e = server.log("").await;
            let e: Vec<_> = e.into_iter().filter(|e| e["kind"] == "sync").collect();
            (!e.is_empty()).then_some(e)
        })
        .await;
    let (_, headers, rows) = operator
        .get(&format!("/sync-log/rows?after={newest}"))
        .await;
    assert_eq!(
        header(&headers, "x-newest-id"),
        entries[0]["id"].as_str().unwrap()
    );
    assert!(
        rows.contains("inv_&lt;i&gt;1&lt;/i&gt;") && !rows.contains("<i>"),
        "{rows}"
    );
    assert!(rows.contains("SUCCESS"));
    let (_, _, filtered) = operator
        .get(&format!("/sync-log/rows?after={newest}&status=FAILED"))
        .await;
    assert_eq!(filtered.trim(), "", "filters apply to new rows too");
    // Without the cookie the fragment is not served.
    let answer = client()
        .get(format!("{}/sync-log/rows", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn a_browser_back_from_xero_with_several_organisations_chooses_one_in_the_console() {
    let fake = crate::fakes::xero::FakeXero::start().await;
    let second = erp::authorize_two_organisations(&fake, "Second <Ltd>");
    let server = erp::xero_server(&fake).await;
    let operator = Operator::sign_in(&server).await;
    let http = client();
    let (status, headers, _) = operator.connect_erp("xero", "UK books").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let callback = erp::callback_url(&http, &location(&headers), &server.base).await;
    let to = sent_on(&http, &callback, "text/html").await;
    let (_, list) = server.connections().await;
    let id = list[0]["id"].as_str().unwrap();
    assert!(
        to.starts_with(&format!("/connections/{id}?oauth=failed&message=")),
        "{to}"
    );

    // The page says why, in the API's words, and offers the organisations by name.
    let (status, _, page) = operator.get(&to).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("several Xero organisations were authorized"),
        "{page}"
    );
    assert!(
        page.contains(&format!(
            "<option value=\"{second}\">Second &lt;Ltd&gt; ({second})</option>"
        )),
        "{page}"
    );
    let (status, _, page) = operator
        .post(
            &format!("/connections/{id}/organisation"),
            &[("csrf", &operator.csrf), ("tenant_id", second)],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(
        page.contains("Organisation chosen; test sync SUCCESS."),
        "{page}"
    );
    let (_, shown) = server.connection(id).await;
    assert_eq!(shown["status"], "active");
    assert_eq!(shown["config"]["tenant_id"], second);
}

#[tokio::test]
async fn netsuite_credentials_are_taken_once_and_never_shown_again() {
    use crate::fakes::netsuite::{self as ns, FakeNetSuite};
    let fake = FakeNetSuite::start().await;
    let api_base = fake.url.clone();
    let server = TestServer::start_with(move |c| c.netsuite_api_base = Some(api_base)).await;
    let operator = Operator::sign_in(&server).await;
    let mut fields = vec![
        ("csrf", operator.csrf.as_str()),
        ("provider", "netsuite"),
        ("name", "Books"),
        ("account_id", ns::ACCOUNT_ID),
        ("consumer_key", ns::CONSUMER_KEY),
        ("consumer_secret", ns::CONSUMER_SECRET),
        ("token_id", ns::TOKEN_ID),
        ("token_secret", "not-the-secret"),
        ("default_item_id", ns::ITEM_SERVICES),
    ];
    // Refused credentials: the API's reason, the form again without the secrets.
    let (status, _, page) = operator.post("/connections", &fields).await;
    assert!(status.is_client_error(), "{status}: {page}");
    assert!(page.contains("notice error"), "{page}");
    assert!(page.contains(ns::ACCOUNT_ID), "non-secret values stay");
    for secret in [
        ns::CONSUMER_KEY,
        ns::CONSUMER_SECRET,
        ns::TOKEN_ID,
        "not-the-secret",
    ] {
        assert!(!page.contains(secret), "a credential was shown again");
    }
    let (_, list) = server.connections().await;
    assert_eq!(list, json!([]), "nothing stored");

    fields[7] = ("token_secret", ns::TOKEN_SECRET);
    let (status, headers, _) = operator.post("/connections", &fields).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let to = location(&headers);
    let (_, list) = server.connections().await;
    let id = list[0]["id"].as_str().unwrap();
    assert_eq!(to, format!("/connections/{id}?created=1"));
    let (status, _, page) = operator.get(&to).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("Connection created.") && page.contains("SUCCESS"),
        "{page}"
    );
    for secret in erp::NETSUITE_SECRETS {
        assert!(!page.contains(secret), "a credential was shown again");
    }

    // Disconnecting asks first, saying the ERP keeps its data.
    let (status, _, page) = operator.get(&format!("/connections/{id}/disconnect")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Nothing is deleted in NetSuite"), "{page}");
}

#[tokio::test]
async fn the_sync_log_pages_with_the_api_cursor_and_keeps_its_filters() {
    let (server, _receiver, _) = TestServer::start_with_webhook().await;
    for id in ["inv_p1", "inv_p2", "inv_p3"] {
        server.ingest(&invoice(id)).await;
    }
    crate::support::eventually(
        "three deliveries",
        std::time::Duration::from_secs(20),
        || async { (server.log("status=SUCCESS").await.len() >= 4).then_some(()) },
    )
    .await;
    let operator = Operator::sign_in(&server).await;

    // Two per page, SUCCESS only: the newest two, and an "Older" link keeping the filter.
    let (status, _, page) = operator.get("/sync-log?status=SUCCESS&limit=2").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(
        page.contains("inv_p3") && page.contains("inv_p2") && !page.contains("inv_p1"),
        "{page}"
    );
    assert!(page.contains("data-poll="), "the first page updates itself");
    let at =
        page.find("rel=\"next\" href=\"").expect("an Older link") + "rel=\"next\" href=\"".len();
    let older = page[at..page[at..].find('"').unwrap() + at].replace("&amp;", "&");
    assert!(
        older.starts_with("/sync-log?status=SUCCESS&limit=2&cursor="),
        "{older}"
    );

    let (_, _, page) = operator.get(&older).await;
    assert!(
        page.contains("inv_p1") && !page.contains("inv_p3"),
        "{page}"
    );
    assert!(page.contains(">Newest<"), "{page}");
    assert!(!page.contains("data-poll="), "older pages stay still");
}

#[tokio::test]
async fn manual_sync_of_one_connection_and_a_refusal_in_the_apis_words() {
    let (server, _receiver, hook) = TestServer::start_with_webhook().await;
    let id = hook["id"].as_str().unwrap();
    server.ingest(&invoice("inv_m")).await;
    // The first delivery ends first: a manual sync of a still-open job only pulls that
    // job forward (it stays kind `sync`), and this test wants a new `manual` attempt.
    crate::support::eventually(
        "the first delivery",
        std::time::Duration::from_secs(20),
        || async {
            let log = server.log("invoice_id=inv_m&status=SUCCESS").await;
            (!log.is_empty()).then_some(())
        },
    )
    .await;
    let operator = Operator::sign_in(&server).await;
    let (status, headers, _) = operator
        .post(
            "/invoices/inv_m/sync",
            &[("csrf", &operator.csrf), ("connection_id", id)],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location(&headers), "/invoices/inv_m?queued=1");
    crate::support::eventually(
        "the manual attempt",
        std::time::Duration::from_secs(20),
        || async {
            let log = server.log("invoice_id=inv_m").await;
            log.iter()
                .any(|e| e["kind"] == "manual" && e["status"] == "SUCCESS")
                .then_some(())
        },
    )
    .await;

    let (status, _, page) = operator
        .post(
            "/invoices/inv_m/sync",
            &[("csrf", &operator.csrf), ("connection_id", "conn_nope")],
        )
        .await;
    let (api_status, api) = server.resync("inv_m", Some("conn_nope")).await;
    assert_eq!(status.as_u16(), api_status.as_u16(), "{page}");
    let words = error_message(&api);
    assert!(page.contains(words), "{words} in {page}");
}

/// The Mapping page of a QuickBooks connection: the Item drop-downs list the company's
/// Items, the sample invoice's unmapped product is marked as a gap in the preview,
/// saving a choice goes through the API (PATCH), and a pasted invoice is previewed.
#[tokio::test]
async fn the_mapping_page_maps_from_the_erps_lists_and_marks_the_gaps() {
    use crate::fakes::quickbooks as qbo;
    // The sample invoice is in dollars.
    let fake = erp::quickbooks_company("GB", "GBP", &["USD"]).await;
    let server = erp::quickbooks_server(&fake).await;
    let (id, _) = server
        .connect_oauth(serde_json::json!({"provider": "quickbooks", "name": "UK books"}))
        .await;
    let operator = Operator::sign_in(&server).await;
    let (status, _, page) = operator.get(&format!("/connections/{id}/mapping")).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    for (shown, why) in [
        ("Services (1)", "the company's Items fill the drop-downs"),
        ("20.0% S (3)", "and its TaxCodes"),
        ("mapping gap", "the sample's tax code has no TaxCode yet"),
        ("status bad", "its row is marked"),
    ] {
        assert!(page.contains(shown), "{shown}: {why}: {page}");
    }

    // Map the sample's tax code to TaxCode 3 (row numbers follow the page's order).
    let row = page
        .split("name=\"k")
        .skip(1)
        .find(|r| r.contains("value=\"TX-STATE\""))
        .and_then(|r| r.split('"').next())
        .expect("a row for the sample's tax code")
        .to_string();
    let csrf = operator.csrf.clone();
    let (m, k, v) = (format!("m{row}"), format!("k{row}"), format!("v{row}"));
    let (status, _, saved) = operator
        .post(
            &format!("/connections/{id}/mapping"),
            &[
                ("csrf", &csrf),
                (&m, "tax_code_map"),
                (&k, "TX-STATE"),
                (&v, "3"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    assert!(saved.contains("Mapping saved."), "{saved}");
    assert!(saved.contains("No mapping gap"), "{saved}");
    let (_, conn) = server.connection(&id).await;
    assert_eq!(conn["config"]["tax_code_map"]["TX-STATE"], "3", "{conn}");

    // A pasted invoice with another tax code shows its own gap.
    let mut pasted = crate::support::invoice("inv_pasted");
    pasted["currency"] = serde_json::json!("GBP");
    pasted["lines"][0]["tax_code"] = serde_json::json!("UK-VAT-5");
    let text = pasted.to_string();
    let (status, _, page) = operator
        .post(
            &format!("/connections/{id}/mapping/preview"),
            &[("csrf", &csrf), ("invoice", &text)],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("lines[0].tax_code"), "{page}");
    assert!(page.contains("UK-VAT-5"));
    assert!(fake.invoices(qbo::REALM).is_empty(), "nothing was sent");
}
