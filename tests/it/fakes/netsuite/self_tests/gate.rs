//! The concurrency limit and injected faults.

use std::time::Duration;

use erp_sync::connectors::netsuite::client::request_url;

use super::super::super::harness::testing::{all_statuses, how_many};

use super::super::FakeNetSuite;
use super::{Client, code, customer_a};

#[tokio::test]
async fn limits_and_faults() {
    let fake = FakeNetSuite::start().await;
    let client = Client::new(&fake);
    fake.throttle_next(1);
    let (status, _, res) = client.send("GET", "customer", &[], None).await;
    assert_eq!((status, code(&res)), (429, "CONCURRENCY_LIMIT_EXCEEDED"));
    fake.outage_next(1);
    assert_eq!(client.send("GET", "customer", &[], None).await.0, 503);

    fake.fail_after_commit(1);
    let (status, _, res) = client.put("customer/eid:c", customer_a()).await;
    assert_eq!((status, code(&res)), (500, "UNEXPECTED_ERROR"));
    assert_eq!(
        fake.customers().len(),
        1,
        "committed before the answer was lost"
    );

    fake.set_concurrency_limit(4);
    fake.set_delay(Duration::from_millis(300));
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let header = client.header("GET", "customer", &[]);
        let request = client
            .http
            .get(request_url(&fake.url, "customer", &[]).unwrap())
            .header("authorization", header);
        calls.spawn(request.send());
    }
    let statuses = all_statuses(calls).await;
    assert_eq!(how_many(&statuses, 200), 4, "{statuses:?}");
    assert_eq!(how_many(&statuses, 429), 4, "{statuses:?}");
    // The refused calls were counted while in flight, beyond the four served.
    assert!(
        (5..=8).contains(&fake.max_concurrent_seen()),
        "{}",
        fake.max_concurrent_seen()
    );
    assert!(fake.requests().iter().all(|r| r.status != 0));
}
