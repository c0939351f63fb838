//! Customers: uniqueness, and queries with quotes and non-ASCII names.

use serde_json::json;

use super::super::{FakeQuickBooks, REALM};
use super::{code_of, connect};

#[tokio::test]
async fn customers_are_unique_and_queryable_with_quotes_and_non_ascii() {
    let fake = FakeQuickBooks::start().await;
    let api = connect(&fake).await;
    let obrien = api.create_customer("O'Brien & Sons").await;
    let muller = api.create_customer("Müller GmbH").await;
    assert_ne!(obrien, muller);

    let (status, body) = api
        .post("customer", &[], &json!({ "DisplayName": "Müller GmbH" }))
        .await;
    assert_eq!((status, code_of(&body)), (400, "6240"));
    let (status, body) = api
        .post(
            "customer",
            &[],
            &json!({ "PrimaryEmailAddr": { "Address": "a@b.c" } }),
        )
        .await;
    assert_eq!((status, code_of(&body)), (400, "2020"));

    let query = r"select * from Customer where DisplayName = 'O\'Brien & Sons'";
    let (status, body) = api.get("query", &[("query", query)]).await;
    assert_eq!(status, 200);
    assert_eq!(body["QueryResponse"]["Customer"][0]["Id"], obrien.as_str());
    assert_eq!(body["QueryResponse"]["maxResults"], 1);
    let query = "SELECT * FROM customer WHERE displayname = 'Müller GmbH'";
    let (_, body) = api.get("query", &[("query", query)]).await;
    assert_eq!(body["QueryResponse"]["Customer"][0]["Id"], muller.as_str());
    let (_, body) = api
        .get(
            "query",
            &[(
                "query",
                "select * from Customer where DisplayName = 'Nobody'",
            )],
        )
        .await;
    assert_eq!(body["QueryResponse"], json!({}));
    let (_, body) = api
        .get(
            "query",
            &[("query", "select * from Item where Name = 'Hours'")],
        )
        .await;
    assert_eq!(body["QueryResponse"]["Item"][0]["Id"], "2");
    let (status, body) = api
        .get(
            "query",
            &[(
                "query",
                "select * from Customer where DisplayName = O'Brien",
            )],
        )
        .await;
    assert_eq!((status, code_of(&body)), (400, "4000"));
    assert_eq!(fake.customers(REALM).len(), 2);
}
