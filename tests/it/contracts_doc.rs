//! `docs/contracts.md` is the written contract of this repository: it must name every
//! `/v1` operation the server describes in `GET /openapi.json`, and its example invoice
//! must be `examples/invoices/basic.json`, valid as the server validates it.

use reqwest::StatusCode;
use serde_json::Value;

use crate::support::TestServer;

const CONTRACTS: &str = include_str!("../../docs/contracts.md");

#[tokio::test]
async fn the_written_contract_names_every_operation_and_its_example_is_valid() {
    let server = TestServer::start().await;
    let (status, doc) = server.call("GET", "/openapi.json", None).await;
    assert_eq!(status, StatusCode::OK);
    let mut missing = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        if !path.starts_with("/v1/") {
            continue;
        }
        for method in item.as_object().unwrap().keys() {
            let named = format!("{} {path}", method.to_uppercase());
            if !CONTRACTS.contains(&named) {
                missing.push(named);
            }
        }
    }
    assert!(
        missing.is_empty(),
        "docs/contracts.md does not name {missing:?}"
    );

    let start = CONTRACTS
        .find("```json contract-invoice\n")
        .expect("the contract's example invoice")
        + "```json contract-invoice\n".len();
    let end = start + CONTRACTS[start..].find("```").unwrap();
    let written: Value = serde_json::from_str(&CONTRACTS[start..end]).expect("JSON");
    let example: Value =
        serde_json::from_str(include_str!("../../examples/invoices/basic.json")).unwrap();
    assert_eq!(
        written, example,
        "the contract's example is examples/invoices/basic.json"
    );
    let (status, answer) = server.call("POST", "/v1/invoices", Some(written)).await;
    assert_eq!(
        status,
        StatusCode::ACCEPTED,
        "the example is a valid invoice: {answer}"
    );
}
