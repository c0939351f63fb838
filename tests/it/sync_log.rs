//! Sync-log filters, and cursor pages that neither skip nor repeat while entries arrive.

use std::collections::HashSet;
use std::time::Duration;

use reqwest::StatusCode;

use crate::support::{Reply, TestServer, array, eventually, invoice, string};

#[tokio::test]
async fn filters_by_status_invoice_connection_and_time() {
    let (server, receiver, conn) = TestServer::start_with_webhook().await;
    receiver.script([Reply::status(500)]);
    server.ingest(&invoice("inv_a")).await;
    eventually(
        "inv_a to succeed after one failure",
        Duration::from_secs(10),
        || async { (server.log("invoice_id=inv_a&status=SUCCESS").await.len() == 1).then_some(()) },
    )
    .await;
    server.ingest(&invoice("inv_b")).await;
    eventually("inv_b", Duration::from_secs(10), || async {
        (server.log("invoice_id=inv_b").await.len() == 1).then_some(())
    })
    .await;

    let failed = server.log("status=FAILED").await;
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["invoice_id"], "inv_a");
    assert_eq!(server.log("invoice_id=inv_a").await.len(), 2);
    let id = string(&conn["id"]);
    assert_eq!(
        server.log(&format!("connection_id={id}")).await.len(),
        4,
        "test + 3 attempts"
    );
    assert!(server.log("connection_id=conn_other").await.is_empty());

    let all = server.log("").await;
    let newest = string(&all[0]["at"]).to_string();
    let oldest = all.last().unwrap()["at"].as_str().unwrap().to_string();
    assert!(
        server
            .log(&format!("from={}", enc(&far_future())))
            .await
            .is_empty()
    );
    assert_eq!(
        server.log(&format!("from={}", enc(&oldest))).await.len(),
        all.len()
    );
    let before_newest = server.log(&format!("to={}", enc(&newest))).await;
    assert!(before_newest.len() < all.len());

    for bad in [
        "status=MAYBE",
        "from=yesterday",
        "limit=0",
        "limit=5000",
        "cursor=abc",
        "stauts=FAILED",
    ] {
        let (status, body) = server
            .call("GET", &format!("/v1/sync-log?{bad}"), None)
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert!(body["error"]["message"].is_string());
    }
}

fn far_future() -> String {
    "2999-01-01T00:00:00Z".into()
}

fn enc(s: &str) -> String {
    s.replace('+', "%2B").replace(':', "%3A")
}

#[tokio::test]
async fn pages_neither_skip_nor_repeat_while_entries_arrive() {
    let (server, _receiver, _) = TestServer::start_with_webhook().await;
    for i in 0..30 {
        server.ingest(&invoice(&format!("inv_p{i}"))).await;
    }
    eventually("30 deliveries", Duration::from_secs(10), || async {
        (server.log("status=SUCCESS&limit=1000").await.len() == 31).then_some(())
    })
    .await;

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut extra = 0;
    loop {
        let query = match &cursor {
            Some(c) => format!("/v1/sync-log?limit=7&cursor={c}"),
            None => "/v1/sync-log?limit=7".to_string(),
        };
        let (status, page) = server.call("GET", &query, None).await;
        assert_eq!(status, StatusCode::OK);
        for e in array(&page["entries"]) {
            seen.push(string(&e["id"]).to_string());
        }
        // New entries arrive between pages.
        if extra < 3 {
            server.ingest(&invoice(&format!("inv_new{extra}"))).await;
            extra += 1;
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    let unique: HashSet<_> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "no entry repeated");
    assert_eq!(
        seen.len(),
        31,
        "every entry that existed when paging began, none skipped"
    );
    let numbers: Vec<i64> = seen.iter().map(|s| s.parse().unwrap()).collect();
    assert!(numbers.windows(2).all(|w| w[0] > w[1]), "newest first");
}
