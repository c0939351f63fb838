//! Throttling, outages, the concurrency limit and the rolling minute.

use std::time::{Duration, Instant};

use axum::http::header;
use serde_json::Value;

use super::super::super::harness::lock;
use super::super::super::harness::testing::{all_statuses, how_many};

use super::super::limits::MAX_REQUESTS_PER_MINUTE;
use super::super::{FakeQuickBooks, REALM};
use super::{code_of, connect};

/// QBO's throttling answer: 429 with fault 3001 of type SERVICE and no Retry-After.
async fn assert_throttled(response: reqwest::Response) {
    assert_eq!(response.status(), 429);
    assert!(response.headers().get(header::RETRY_AFTER).is_none());
    let body: Value = response.json().await.unwrap();
    assert_eq!(code_of(&body), "3001");
    assert_eq!(body["Fault"]["type"], "SERVICE");
}

#[tokio::test]
async fn throttling_outages_and_concurrency() {
    let fake = FakeQuickBooks::start().await;
    let api = connect(&fake).await;
    let path = format!("companyinfo/{REALM}");

    fake.throttle_next(1);
    assert_throttled(api.get_raw(&path).await).await;

    fake.outage_next(1);
    let response = api.get_raw(&path).await;
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()[header::CONTENT_TYPE], "text/html");
    assert!(response.headers().contains_key("intuit_tid"));
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("503 Service Temporarily Unavailable")
    );

    let (status, _) = api.get(&path, &[]).await;
    assert_eq!(status, 200);

    fake.set_delay(Duration::from_millis(300));
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..12 {
        calls.spawn(api.get_request(&path).send());
    }
    let statuses = all_statuses(calls).await;
    assert_eq!(how_many(&statuses, 200), 10, "{statuses:?}");
    assert_eq!(how_many(&statuses, 429), 2, "{statuses:?}");
    // The 11th and 12th were in flight (and refused) while ten were being served.
    assert_eq!(fake.max_concurrent_seen(REALM), 11);
    let recorded = fake.requests();
    assert!(recorded.iter().all(|r| r.status != 0));
    assert!(
        recorded
            .iter()
            .any(|r| r.path.ends_with("/companyinfo/9130350000000001") && r.authorization)
    );
}

#[tokio::test]
async fn the_request_limit_is_a_rolling_minute() {
    let fake = FakeQuickBooks::start().await;
    let api = connect(&fake).await;
    let now = Instant::now();
    let (Some(recent), Some(old)) = (
        now.checked_sub(Duration::from_secs(59)),
        now.checked_sub(Duration::from_secs(61)),
    ) else {
        return; // The machine has been up for less than a minute.
    };
    let set_recent = |times: Vec<Instant>| {
        let mut s = lock(&fake.state);
        s.companies.get_mut(REALM).unwrap().recent = times.into();
    };
    let path = format!("companyinfo/{REALM}");

    // 500 in the last 59 s: throttled, with QBO's 3001 and no Retry-After.
    set_recent(vec![recent; MAX_REQUESTS_PER_MINUTE]);
    assert_throttled(api.get_raw(&path).await).await;

    // The same 500 a minute and more ago have slid out of the window.
    set_recent(vec![old; MAX_REQUESTS_PER_MINUTE]);
    let (status, _) = api.get(&path, &[]).await;
    assert_eq!(status, 200);

    // 250 old and 499 recent: only the 499 count, so one more passes, the next not.
    let mut times = vec![old; 250];
    times.extend(vec![recent; MAX_REQUESTS_PER_MINUTE - 1]);
    set_recent(times);
    let (status, _) = api.get(&path, &[]).await;
    assert_eq!(status, 200);
    let (status, body) = api.get(&path, &[]).await;
    assert_eq!((status, code_of(&body)), (429, "3001"));
}
