//! Failed deliveries retry three times with backoff, keep their event id, honour
//! Retry-After, end FAILED with details, and can be synced again by hand.

use std::time::Duration;

use reqwest::StatusCode;

use crate::support::{Receiver, Reply, TestServer, array, eventually, invoice, string};

const WAIT: Duration = Duration::from_secs(15);

#[tokio::test]
async fn four_failures_end_failed_and_manual_sync_recovers() {
    let (server, receiver, conn) = TestServer::start_with_webhook().await;
    receiver.set_default(Reply::status(500));
    server.ingest(&invoice("inv_fail")).await;

    let entries = eventually("the job to fail", WAIT, || async {
        let e = server.log("invoice_id=inv_fail").await;
        (e.len() == 4
            && e[0]["error"]
                .as_str()
                .unwrap_or_default()
                .contains("gave up"))
        .then_some(e)
    })
    .await;
    let attempts: Vec<_> = entries
        .iter()
        .rev()
        .map(|e| e["attempt"].as_i64().unwrap())
        .collect();
    assert_eq!(
        attempts,
        [1, 2, 3, 4],
        "one first attempt and three retries"
    );
    assert!(
        entries
            .iter()
            .all(|e| e["status"] == "FAILED" && e["response_code"] == 500)
    );
    assert!(
        string(&entries[0]["error"]).contains("receiver says hello"),
        "the response body is kept"
    );

    let got = receiver.for_invoice("inv_fail");
    assert_eq!(got.len(), 4);
    let event_id = got[0].header("x-aforo-event-id");
    assert!(
        got.iter().all(|r| r.header("x-aforo-event-id") == event_id),
        "one event id across retries"
    );
    assert!(got.iter().all(|r| r.signature_ok));
    // Exponential backoff: base 50 ms, then 100 and 200 ms, each ±20 % jitter. Each retry
    // waits at least its own delay's lower bound. Only lower bounds are checked: a busy
    // machine can only lengthen a gap (a CI run saw 58, 254, 219 ms), and a retry that
    // came early (no backoff, or a constant one) still fails the 80 and 160 ms bounds.
    let gaps: Vec<_> = got.windows(2).map(|w| w[1].at - w[0].at).collect();
    let lower_bounds = [40, 80, 160].map(Duration::from_millis);
    assert!(
        gaps.iter().zip(lower_bounds).all(|(gap, low)| *gap >= low),
        "retry gaps {gaps:?}, each must be at least {lower_bounds:?}"
    );

    let (_, state) = server.invoice_state("inv_fail").await;
    assert_eq!(state["sync"][0]["state"], "failed");
    assert_eq!(state["sync"][0]["attempts"], 4);

    receiver.set_default(Reply::status(200));
    let (status, body) = server.resync("inv_fail", conn["id"].as_str()).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(array(&body["jobs"]).len(), 1);
    let ok = eventually("the manual sync", WAIT, || async {
        server.log("invoice_id=inv_fail&status=SUCCESS").await.pop()
    })
    .await;
    assert_eq!(ok["kind"], "manual");
    assert_eq!(
        string(&ok["event_id"]),
        event_id,
        "a redelivery keeps its event id"
    );
    let all = receiver.for_invoice("inv_fail");
    let last = all.last().unwrap();
    assert_eq!(last.header("x-aforo-event-id"), event_id);
    assert_eq!(
        last.body, all[0].body,
        "a redelivery sends the same event body"
    );
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let (server, receiver, _) = TestServer::start_with_webhook().await;
    receiver.script([Reply {
        status: 429,
        delay: Duration::ZERO,
        retry_after: Some("1".into()),
    }]);
    server.ingest(&invoice("inv_ra")).await;
    let got = eventually("the retry", WAIT, || async {
        let got = receiver.for_invoice("inv_ra");
        (got.len() == 2).then_some(got)
    })
    .await;
    // The backoff alone would retry after ~50 ms; the endpoint asked for a second.
    assert!(
        got[1].at - got[0].at >= Duration::from_millis(950),
        "{:?}",
        got[1].at - got[0].at
    );
    let entries = eventually("both attempts logged", WAIT, || async {
        let e = server.log("invoice_id=inv_ra").await;
        (e.len() == 2).then_some(e)
    })
    .await;
    assert_eq!(entries[1]["response_code"], 429);
}

#[tokio::test]
async fn a_timeout_is_retried_and_logged() {
    let server = TestServer::start_with(|c| c.request_timeout = Duration::from_millis(300)).await;
    let receiver = Receiver::start().await;
    server.connect_webhook(&receiver, None).await;
    receiver.script([Reply::hang(Duration::from_secs(2))]);
    server.ingest(&invoice("inv_slow")).await;
    let entries = eventually("a success after a timeout", WAIT, || async {
        let e = server.log("invoice_id=inv_slow").await;
        (e.len() == 2 && e[0]["status"] == "SUCCESS").then_some(e)
    })
    .await;
    assert_eq!(entries[1]["status"], "FAILED");
    assert!(entries[1]["response_code"].is_null());
    assert!(
        string(&entries[1]["error"]).contains("timed out"),
        "{}",
        entries[1]
    );
    let got = receiver.for_invoice("inv_slow");
    assert_eq!(
        got[0].header("x-aforo-event-id"),
        got[1].header("x-aforo-event-id")
    );
}
