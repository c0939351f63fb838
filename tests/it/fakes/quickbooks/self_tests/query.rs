//! Look-ups: the query endpoint's filters and paging.

use serde_json::json;

use super::super::{FakeQuickBooks, REALM};
use super::{code_of, connect, detail_of, strings};

#[tokio::test]
async fn look_ups_filter_and_page_like_qbo() {
    let fake = FakeQuickBooks::start().await;
    let api = connect(&fake).await;

    let (_, res) = api.query("select * from Item").await;
    let items = res["QueryResponse"]["Item"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    assert_eq!(items[0]["Type"], "Service");
    assert_eq!(items[0]["Active"], true);
    assert_eq!(
        items[0]["IncomeAccountRef"],
        json!({ "value": "80", "name": "Services" })
    );
    fake.remove_item(REALM, "Hours");
    let (_, res) = api.query("select * from Item").await;
    assert_eq!(res["QueryResponse"]["Item"].as_array().unwrap().len(), 2);
    let (_, res) = api.query("select * from Item where Active = false").await;
    assert_eq!(res["QueryResponse"]["Item"][0]["Name"], "Hours");
    let (_, res) = api
        .query("select * from Item where Active in (true, false)")
        .await;
    assert_eq!(res["QueryResponse"]["Item"].as_array().unwrap().len(), 3);

    let (_, res) = api.query("select * from Account").await;
    let accounts = res["QueryResponse"]["Account"].as_array().unwrap();
    assert_eq!(accounts.len(), 5);
    let checking = accounts.iter().find(|a| a["Name"] == "Checking").unwrap();
    assert_eq!(checking["AccountType"], "Bank");
    assert_eq!(checking["AccountSubType"], "Checking");
    assert_eq!(checking["AcctNum"], "1000");
    assert_eq!(checking["Active"], true);
    assert_eq!(checking["CurrencyRef"]["value"], "USD");
    let funds = accounts
        .iter()
        .find(|a| a["Name"] == "Undeposited Funds")
        .unwrap();
    assert_eq!(funds["AccountType"], "Other Current Asset");
    let (_, res) = api
        .query("SELECT * FROM Account WHERE AccountType = 'Income' AND Active = true ORDERBY Name")
        .await;
    let names: Vec<&str> = strings(&res["QueryResponse"]["Account"], "Name");
    assert_eq!(names, ["Sales", "Services"]);
    let (_, res) = api
        .query("select * from Account where Name like 'S%'")
        .await;
    assert_eq!(res["QueryResponse"]["Account"].as_array().unwrap().len(), 2);
    let (_, res) = api
        .query("select * from Account where Id in ('35', '4')")
        .await;
    assert_eq!(res["QueryResponse"]["Account"].as_array().unwrap().len(), 2);
    let (status, res) = api.get("account/35", &[]).await;
    assert_eq!((status, &res["Account"]["Name"]), (200, &json!("Checking")));

    // Paging: startPosition and maxResults (what came back); past the end, empty.
    let (_, res) = api
        .query("select * from Account orderby Id startposition 2 maxresults 2")
        .await;
    let page = &res["QueryResponse"];
    assert_eq!(page["startPosition"], 2);
    assert_eq!(page["maxResults"], 2);
    let ids: Vec<&str> = strings(&page["Account"], "Id");
    assert_eq!(ids, ["35", "80"]);
    let (_, res) = api
        .query("select * from Account startposition 5 maxresults 1000")
        .await;
    assert_eq!(res["QueryResponse"]["maxResults"], 1);
    let (_, res) = api.query("select * from Account startposition 6").await;
    assert_eq!(res["QueryResponse"], json!({}));

    // Refusals: 4001 for what the entity lacks or too large a page, 4000 for the rest.
    // (query, code, message, detail), where the message or detail is checked.
    let refusals = [
        (
            "select * from Account maxresults 1001",
            "4001",
            None,
            Some("QueryValidationError: value 1001 is too large. Max allowed value is 1000"),
        ),
        (
            "select * from Account where Foo = 'x'",
            "4001",
            Some("Invalid query"),
            Some("QueryValidationError: Property Foo not found for Entity Account"),
        ),
        (
            "select * from Widget",
            "4000",
            Some("Error parsing query"),
            None,
        ),
        (
            "select * from Account where Name = 'x' or Id = '1'",
            "4000",
            None,
            None,
        ),
    ];
    for (query, code, message, detail) in refusals {
        let (status, res) = api.query(query).await;
        assert_eq!((status, code_of(&res)), (400, code), "{query}");
        if let Some(message) = message {
            assert_eq!(res["Fault"]["Error"][0]["Message"], message, "{query}");
        }
        if let Some(detail) = detail {
            assert_eq!(detail_of(&res), detail, "{query}");
        }
    }
}
