//! SuiteQL: the subset read, reference lists, signed and bounded pages, and refusals.

use serde_json::json;

use super::super::suiteql::{SUITEQL_PATH, Table};
use super::super::suiteql_parser::{QueryError, parse_suiteql};
use super::super::{
    ACCOUNT_DISCOUNTS, ACCOUNT_REVENUE, FakeNetSuite, ITEM_DISCOUNT, ITEM_SERVICES, ITEM_TAX,
    ITEM_USAGE, TAX_CA, TAX_EXEMPT,
};
use super::{Client, code, column, customer_a, detail, rows};

#[test]
fn the_suiteql_subset() {
    let s = parse_suiteql(
        "select item.ItemId as Name from Item where itemid = 'O''Brien' and id = 7 order by id desc, itemid",
    )
    .unwrap();
    assert_eq!(s.table, Table::Item);
    assert_eq!(s.columns, [("itemid", "name".to_string())]);
    assert_eq!(
        s.filters,
        [("itemid", "O'Brien".to_string()), ("id", "7".to_string())]
    );
    assert_eq!(s.order, [("id", true), ("itemid", false)]);
    let s = parse_suiteql("SELECT * FROM currency").unwrap();
    assert_eq!(s.columns.len(), Table::Currency.columns().len());
    assert_eq!(
        parse_suiteql("SELECT id FROM item WHERE x = 1").unwrap_err(),
        QueryError::UnknownColumn("x".into(), Table::Item)
    );
    assert_eq!(
        parse_suiteql("SELECT id FROM transaction").unwrap_err(),
        QueryError::UnknownTable("transaction".into())
    );
    for q in [
        "SELECT id FROM item WHERE id = 1 OR id = 2",
        "SELECT id FROM item;",
        "SELECT id, FROM item",
        "SELECT id FROM item ORDER id",
        "SELECT id FROM item WHERE id = itemid",
    ] {
        assert_eq!(
            parse_suiteql(q).unwrap_err(),
            QueryError::Unsupported,
            "{q}"
        );
    }
}

#[tokio::test]
async fn suiteql_lists_reference_data_like_netsuite() {
    let fake = FakeNetSuite::start().await;
    let client = Client::new(&fake);
    let (status, body) = client
        .suiteql(
            "SELECT id, itemid, displayname, itemtype, isinactive FROM item WHERE isinactive = 'F' ORDER BY id",
            &[],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (
            &body["count"],
            &body["totalResults"],
            &body["hasMore"],
            &body["offset"]
        ),
        (&json!(6), &json!(6), &json!(false), &json!(0))
    );
    assert_eq!(
        column(&body, "id"),
        [
            ITEM_SERVICES,
            ITEM_USAGE,
            ITEM_DISCOUNT,
            ITEM_TAX,
            TAX_CA,
            TAX_EXEMPT
        ]
    );
    assert_eq!(
        rows(&body)[0],
        json!({"links": [], "id": "86", "itemid": "Services", "displayname": "Services",
               "itemtype": "Service", "isinactive": "F"})
    );
    // Tax codes are items too, and their NULL display name is left out.
    let tax = &rows(&body)[4];
    assert_eq!(tax["itemtype"], "TaxItem");
    assert!(tax.get("displayname").is_none(), "{tax}");

    // Keywords and identifiers in any case, answered in lower case; a qualified
    // column, an alias, two conditions.
    fake.deactivate_account(ACCOUNT_DISCOUNTS);
    let (status, body) = client
        .suiteql(
            "select ID, account.AcctNumber, AccountSearchDisplayName as Name, ACCTTYPE from ACCOUNT \
             where IsInactive = 'F' and AcctType = 'Income' order by acctnumber desc",
            &[],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        rows(&body),
        &vec![
            json!({"links": [], "id": ACCOUNT_REVENUE, "acctnumber": "4000",
                      "name": "4000 Sales", "accttype": "Income"})
        ]
    );
    fake.add_account("300", "4100", "Subscription Revenue", "Income");
    let (_, body) = client
        .suiteql(
            "SELECT id FROM account WHERE accttype = 'Income' ORDER BY acctnumber DESC",
            &[],
        )
        .await;
    assert_eq!(
        column(&body, "id"),
        [ACCOUNT_DISCOUNTS, "300", ACCOUNT_REVENUE]
    );

    let (_, body) = client
        .suiteql("SELECT * FROM currency ORDER BY symbol", &[])
        .await;
    assert_eq!(column(&body, "symbol"), ["CAD", "EUR", "GBP", "USD"]);
    assert_eq!(
        rows(&body)[3],
        json!({"links": [], "id": "1", "name": "US Dollar", "symbol": "USD",
               "isbasecurrency": "T", "currencyprecision": "2", "isinactive": "F"})
    );

    fake.add_tax_item("103", "NY Sales Tax", "8.875");
    fake.remove_item(TAX_EXEMPT);
    let (_, body) = client
        .suiteql(
            "SELECT id, itemid, rate FROM salestaxitem WHERE isinactive = 'F' ORDER BY rate DESC",
            &[],
        )
        .await;
    assert_eq!(
        rows(&body),
        &vec![
            json!({"links": [], "id": "103", "itemid": "NY Sales Tax", "rate": "8.875%"}),
            json!({"links": [], "id": TAX_CA, "itemid": "CA Sales Tax", "rate": "7.25%"}),
        ]
    );

    let (_, body) = client
        .suiteql(
            "SELECT id, name, currency FROM subsidiary WHERE id = 1",
            &[],
        )
        .await;
    assert_eq!(
        rows(&body),
        &vec![json!({"links": [], "id": "1", "name": "Parent Company", "currency": "1"})]
    );

    fake.remove_item(ITEM_USAGE);
    let (_, body) = client
        .suiteql("SELECT id, isinactive FROM item WHERE id = '87'", &[])
        .await;
    assert_eq!(rows(&body)[0]["isinactive"], "T");
    assert_eq!(fake.suiteql_queries().len(), 7);
    assert!(fake.requests().iter().all(|r| r.path == SUITEQL_PATH));
}

#[tokio::test]
async fn suiteql_pages_are_signed_and_bounded() {
    let fake = FakeNetSuite::start().await;
    let client = Client::new(&fake);
    let q = "SELECT id FROM account ORDER BY id";
    let mut seen = Vec::new();
    let mut offset = 0;
    loop {
        let at = offset.to_string();
        let (status, body) = client.suiteql(q, &[("limit", "4"), ("offset", &at)]).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            (&body["totalResults"], &body["offset"]),
            (&json!(6), &json!(offset))
        );
        seen.extend(column(&body, "id"));
        let rels: Vec<&str> = body["links"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["rel"].as_str().unwrap())
            .collect();
        if body["hasMore"] == true {
            assert_eq!(body["count"], 4);
            assert_eq!(rels, ["next", "last", "self"]);
            assert!(
                body["links"][0]["href"]
                    .as_str()
                    .unwrap()
                    .ends_with("?limit=4&offset=4")
            );
            offset += 4;
        } else {
            assert_eq!(body["count"], 2);
            assert_eq!(rels, ["first", "prev", "self"]);
            break;
        }
    }
    // Ids sort as numbers.
    assert_eq!(seen, ["1", "6", "54", "55", "58", "67"]);

    // `limit` and `offset` are signed like any query parameter.
    let body = Some(json!({ "q": q }));
    let (status, res) = client
        .suiteql_with("POST", &[("limit", "4")], &[], Some("transient"), body)
        .await;
    assert_eq!((status, code(&res)), (401, "INVALID_LOGIN"));
    assert_eq!(fake.login_audit(), ["InvalidSignature"]);

    for (query, param) in [
        (vec![("limit", "1001")], "limit"),
        (vec![("limit", "0")], "limit"),
        (vec![("limit", "many")], "limit"),
        (vec![("limit", "4"), ("offset", "2")], "offset"),
        (vec![("offset", "-1000")], "offset"),
        (vec![("offset", "100000")], "offset"),
    ] {
        let (status, res) = client.suiteql(q, &query).await;
        assert_eq!(
            (status, code(&res)),
            (400, "INVALID_PARAMETER"),
            "{query:?}: {res}"
        );
        assert_eq!(
            res["o:errorDetails"][0]["o:errorQueryParam"], param,
            "{res}"
        );
    }
    // Past the end: an empty page.
    let (status, res) = client.suiteql(q, &[("limit", "4"), ("offset", "8")]).await;
    assert_eq!(status, 200);
    assert_eq!((&res["count"], &res["hasMore"]), (&json!(0), &json!(false)));
}

#[tokio::test]
async fn suiteql_refuses_like_netsuite() {
    let fake = FakeNetSuite::start().await;
    let client = Client::new(&fake);
    let q = json!({"q": "SELECT id FROM currency"});
    let (status, res) = client
        .suiteql_with("POST", &[], &[], None, Some(q.clone()))
        .await;
    assert_eq!((status, code(&res)), (400, "INVALID_HEADER"), "{res}");
    assert_eq!(res["o:errorDetails"][0]["o:errorHeader"], "Prefer");
    let (status, _) = client
        .suiteql_with("POST", &[], &[], Some("respond-async"), Some(q.clone()))
        .await;
    assert_eq!(status, 400);
    let (status, res) = client
        .suiteql_with(
            "POST",
            &[],
            &[],
            Some("respond-async, Transient"),
            Some(q.clone()),
        )
        .await;
    assert_eq!(status, 200, "{res}");
    let (status, res) = client
        .suiteql_with("GET", &[], &[], Some("transient"), None)
        .await;
    assert_eq!((status, code(&res)), (405, "METHOD_NOT_ALLOWED"));
    for body in [
        None,
        Some(json!({"query": "SELECT id FROM item"})),
        Some(json!({"q": 1})),
    ] {
        let (status, res) = client
            .suiteql_with("POST", &[], &[], Some("transient"), body)
            .await;
        assert_eq!((status, code(&res)), (400, "INVALID_CONTENT"), "{res}");
    }
    let (status, res) = client
        .suiteql("SELECT id FROM item", &[("fields", "id")])
        .await;
    assert_eq!((status, code(&res)), (400, "INVALID_PARAMETER"));

    let (status, res) = client.suiteql("SELECT id FROM customer", &[]).await;
    assert_eq!((status, code(&res)), (400, "INVALID_PARAMETER"));
    assert_eq!(
        detail(&res),
        "Invalid search query. Detailed unprocessed description follows. Invalid search type: customer."
    );
    assert_eq!(res["o:errorDetails"][0]["o:errorQueryParam"], "q");
    let (_, res) = client.suiteql("SELECT id, nope FROM item", &[]).await;
    assert_eq!(
        detail(&res),
        "Invalid search query. Detailed unprocessed description follows. Search error occurred: \
         Unknown identifier 'nope'. Available identifiers are: {item=item}."
    );
    let (_, res) = client
        .suiteql("SELECT id FROM item WHERE isinactive = 'F' OR id = 1", &[])
        .await;
    assert!(
        detail(&res).ends_with("Invalid or unsupported search."),
        "{res}"
    );
    for q in [
        "SELECT id FROM item;",
        "SELECT i.id FROM item i",
        "SELECT id FROM item WHERE isinactive <> 'T'",
        "SELECT COUNT(*) FROM item",
        "SELECT id FROM item WHERE itemid LIKE 'S%'",
        "SELECT id FROM item WHERE ROWNUM <= 2",
        "SELECT id FROM item ORDER BY id FETCH FIRST 2 ROWS ONLY",
        "SELECT id FROM item JOIN account ON item.id = account.id",
        "SELECT id FROM item WHERE itemid = 'unterminated",
        "SELECT FROM item",
        "DELETE FROM item",
        "",
    ] {
        let (status, res) = client.suiteql(q, &[]).await;
        assert_eq!(
            (status, code(&res)),
            (400, "INVALID_PARAMETER"),
            "{q}: {res}"
        );
    }

    // A query is not a write: it leaves a lost-answer fault for the next write.
    fake.fail_after_commit(1);
    assert_eq!(client.suiteql("SELECT id FROM currency", &[]).await.0, 200);
    let customer = customer_a();
    let (status, _, _) = client.put("customer/eid:c", customer).await;
    assert_eq!(status, 500);
    // Throttled and signed like every call.
    fake.throttle_next(1);
    let (status, res) = client.suiteql("SELECT id FROM currency", &[]).await;
    assert_eq!((status, code(&res)), (429, "CONCURRENCY_LIMIT_EXCEEDED"));
}
