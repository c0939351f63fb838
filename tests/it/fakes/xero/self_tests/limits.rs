//! Rate limits and 429s with Xero's headers, the rolling minute, a budget shared with
//! another process, `summaryOnly` and high-volume organisations.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use axum::http::header;
use serde_json::json;

use super::super::elements::ZERO_GUID;
use super::super::{FakeXero, TENANT_ID};
use super::{Api, OTHER, connect, invoice, line, retry_after};

#[tokio::test]
async fn rate_limits_answer_429_with_xero_headers() {
    let fake = FakeXero::start().await;
    fake.set_minute_limit(3);
    let api = connect(&fake).await;
    let send = || api.request(reqwest::Method::GET, "Organisation").send();
    for remaining in ["2", "1", "0"] {
        let response = send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["x-minlimit-remaining"], remaining);
        assert!(response.headers().contains_key("x-daylimit-remaining"));
        assert!(response.headers().contains_key("x-appminlimit-remaining"));
    }
    let response = send().await.unwrap();
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["x-rate-limit-problem"], "minute");
    let wait = retry_after(&response);
    assert!((1..=60).contains(&wait), "{wait}");

    let fake = FakeXero::start().await;
    let api = connect(&fake).await;
    let send = || api.request(reqwest::Method::GET, "Organisation").send();
    fake.throttle_next(1, "day");
    let response = send().await.unwrap();
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()[header::RETRY_AFTER], "1");
    assert_eq!(response.headers()["x-rate-limit-problem"], "day");
    assert_eq!(response.headers()["x-minlimit-remaining"], "60");
    fake.outage_next(1);
    assert_eq!(send().await.unwrap().status(), 503);
    fake.set_day_limit(1);
    assert_eq!(send().await.unwrap().status(), 200);
    let response = send().await.unwrap();
    assert_eq!(response.headers()["x-rate-limit-problem"], "day");
    fake.set_day_limit(5000);

    // Six at once: five are served, the sixth is refused as concurrent.
    fake.set_delay(Duration::from_millis(300));
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..6 {
        calls.spawn(api.request(reqwest::Method::GET, "Organisation").send());
    }
    let mut statuses = Vec::new();
    let mut problems = Vec::new();
    for response in calls.join_all().await {
        let response = response.unwrap();
        statuses.push(response.status().as_u16());
        if let Some(p) = response.headers().get("x-rate-limit-problem") {
            problems.push(p.to_str().unwrap().to_string());
        }
    }
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 200, 200, 200, 200, 429]);
    assert_eq!(problems, ["concurrent"]);
    assert_eq!(fake.max_concurrent_seen(TENANT_ID), 6);
    assert!(fake.requests().iter().all(|r| r.status != 0));
}

#[tokio::test]
async fn minute_limit_is_a_rolling_window_per_organisation() {
    let fake = FakeXero::start().await;
    fake.add_tenant(OTHER, "Other Ltd");
    fake.authorize_tenants(&[TENANT_ID, OTHER]);
    fake.set_minute_limit(3);
    let api = connect(&fake).await;
    let other = api.for_tenant(OTHER);
    let remaining = |r: &reqwest::Response| {
        let h = |n: &str| r.headers()[n].to_str().unwrap().to_string();
        (
            h("x-minlimit-remaining"),
            h("x-daylimit-remaining"),
            h("x-appminlimit-remaining"),
        )
    };
    let send = |api: &Api<'_>| api.request(reqwest::Method::GET, "Organisation").send();

    // Nothing else uses the budget: three calls pass, none refused.
    for left in ["2", "1", "0"] {
        let response = send(&api).await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(remaining(&response).0, left);
    }
    assert_eq!(fake.rate_limited_count(), 0);
    assert_eq!(fake.calls_for(TENANT_ID), 3);
    // The other organisation has its own minute budget, the app minute is shared.
    let response = send(&other).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        remaining(&response),
        ("2".into(), "4999".into(), "9996".into())
    );

    // The fourth in the minute is refused, and counted as rate limited.
    let response = send(&api).await.unwrap();
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["x-rate-limit-problem"], "minute");
    assert_eq!(remaining(&response).0, "0");
    assert_eq!(fake.rate_limited_count(), 1);
    assert_eq!(fake.calls_for(TENANT_ID), 3);
    // Injected throttles are not.
    fake.throttle_next(1, "minute");
    assert_eq!(send(&other).await.unwrap().status(), 429);
    assert_eq!(fake.rate_limited_count(), 1);

    // Rolling: a call 61 s ago has left the window, one 55 s ago has not.
    let (Some(old), Some(recent)) = (
        Instant::now().checked_sub(Duration::from_secs(61)),
        Instant::now().checked_sub(Duration::from_secs(55)),
    ) else {
        return;
    };
    fake.with_org(TENANT_ID, |o| {
        o.minute = VecDeque::from([old, old, recent]);
    });
    let response = send(&api).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(remaining(&response).0, "1");
    let response = send(&api).await.unwrap();
    assert_eq!(remaining(&response).0, "0");
    let response = send(&api).await.unwrap();
    assert_eq!(response.status(), 429);
    // Retry-After: until the call of 55 s ago leaves the window.
    let wait = retry_after(&response);
    assert!((1..=5).contains(&wait), "{wait}");
}

#[tokio::test]
async fn another_process_spends_the_organisations_budget() {
    let fake = FakeXero::start().await;
    let api = connect(&fake).await;
    let send = || api.request(reqwest::Method::GET, "Organisation").send();
    let response = send().await.unwrap();
    assert_eq!(response.headers()["x-minlimit-remaining"], "59");
    assert_eq!(response.headers()["x-daylimit-remaining"], "4999");

    fake.spend_minute_budget(TENANT_ID, 50);
    let response = send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-minlimit-remaining"], "8");
    assert_eq!(response.headers()["x-daylimit-remaining"], "4948");
    assert_eq!(response.headers()["x-appminlimit-remaining"], "9998");
    assert_eq!(fake.calls_for(TENANT_ID), 2);

    fake.spend_minute_budget(TENANT_ID, 8);
    let response = send().await.unwrap();
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["x-rate-limit-problem"], "minute");
    assert_eq!(response.headers()["x-minlimit-remaining"], "0");
    let wait = retry_after(&response);
    assert!((1..=60).contains(&wait), "{wait}");
    assert_eq!(fake.rate_limited_count(), 1);
    assert_eq!(fake.calls_for(TENANT_ID), 2);

    // The day budget too.
    let fake = FakeXero::start().await;
    let api = connect(&fake).await;
    fake.set_day_limit(10);
    fake.spend_minute_budget(TENANT_ID, 10);
    let response = api.send_get("Organisation").await;
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["x-rate-limit-problem"], "day");
    assert_eq!(response.headers()["x-daylimit-remaining"], "0");
    assert_eq!(response.headers()["x-minlimit-remaining"], "50");
    assert_eq!(fake.rate_limited_count(), 1);
}

#[tokio::test]
async fn summary_only_and_high_volume_organisations() {
    let fake = FakeXero::start().await;
    let api = connect(&fake).await;
    let contact = fake.add_contact(TENANT_ID, "Acme Ltd");
    let one = invoice(&contact, "INV-1", json!([line("A", 1.0, 10.0, "200")]));
    let (_, body) = api.put_invoices(&[], vec![one]).await;
    let invoice_id = body["Invoices"][0]["InvoiceID"]
        .as_str()
        .unwrap()
        .to_string();

    // summaryOnly: lightweight, and paged even without `page`.
    let (status, body) = api.get("Contacts", &[("summaryOnly", "true")]).await;
    assert_eq!(status, 200);
    assert_eq!(
        body["pagination"],
        json!({ "page": 1, "pageSize": 100, "pageCount": 1, "itemCount": 1 })
    );
    let c = &body["Contacts"][0];
    assert_eq!(c["Name"], "Acme Ltd");
    for field in [
        "Addresses",
        "ContactGroups",
        "ContactPersons",
        "IsCustomer",
        "IsSupplier",
    ] {
        assert!(c.get(field).is_none(), "{field} in {c}");
    }
    let (_, body) = api
        .get(
            "Invoices",
            &[("InvoiceNumbers", "INV-1"), ("summaryOnly", "true")],
        )
        .await;
    assert_eq!(body["pagination"]["itemCount"], 1);
    let i = &body["Invoices"][0];
    assert_eq!(i["InvoiceNumber"], "INV-1");
    for field in ["LineItems", "Payments", "HasAttachments"] {
        assert!(i.get(field).is_none(), "{field} in {i}");
    }

    // Over the high volume threshold: unoptimised queries are refused.
    fake.set_high_volume(TENANT_ID, true);
    let by_ids = format!(r#"InvoiceID==Guid("{invoice_id}") OR InvoiceID==Guid("{ZERO_GUID}")"#);
    let refused: [(&str, Vec<(&str, &str)>); 7] = [
        ("Contacts", vec![]),
        (
            "Contacts",
            vec![("where", r#"ContactNumber=="a" OR ContactNumber=="b""#)],
        ),
        (
            "Contacts",
            vec![("where", r#"ContactNumber=="a""#), ("page", "1")],
        ),
        ("Contacts", vec![("where", r#"Name.Contains("Acme")"#)]),
        ("Contacts", vec![("where", r#"Name.ToLower()=="acme ltd""#)]),
        ("Invoices", vec![]),
        (
            "Invoices",
            vec![(
                "where",
                r#"InvoiceNumber=="INV-1" OR InvoiceNumber=="INV-2""#,
            )],
        ),
    ];
    for (path, query) in &refused {
        let (status, body) = api.get(path, query).await;
        assert_eq!(
            (status, &body["Type"], &body["ErrorNumber"]),
            (400, &json!("HighVolumeException"), &json!(51)),
            "{path} {query:?}"
        );
    }
    let (_, body) = api.get("Contacts", &[]).await;
    assert_eq!(
        body["Message"],
        "Your request is not filtering Contacts efficiently, given the extremely high volume for this organisation. Please check https://developer.xero.com/documentation/api/efficient-data-retrieval for tips on making Contact retrieval more efficient."
    );
    let allowed: [(&str, Vec<(&str, &str)>); 9] = [
        ("Contacts", vec![("page", "1")]),
        ("Contacts", vec![("where", r#"Name=="acme ltd""#)]),
        (
            "Contacts",
            vec![("where", r#"Name=="Acme Ltd" AND EmailAddress=="a@b.c""#)],
        ),
        ("Contacts", vec![("IDs", contact.as_str())]),
        ("Contacts", vec![("searchTerm", "acme")]),
        ("Contacts", vec![("summaryOnly", "true")]),
        ("Invoices", vec![("InvoiceNumbers", "INV-1,INV-2")]),
        (
            "Invoices",
            vec![("where", r#"Type=="ACCREC" AND Status=="AUTHORISED""#)],
        ),
        ("Invoices", vec![("where", by_ids.as_str())]),
    ];
    for (path, query) in &allowed {
        let (status, body) = api.get(path, query).await;
        assert_eq!(status, 200, "{path} {query:?}: {body}");
    }
}
