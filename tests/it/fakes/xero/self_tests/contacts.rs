//! Contacts: uniqueness, `where`, bulk writes failing per element, lookups by number.

use serde_json::{Value, json};

use super::super::answers::NOT_FOUND_TEXT;
use super::super::elements::ZERO_GUID;
use super::super::gate::MAX_QUERY_LEN;
use super::super::{FakeXero, TENANT_ID};
use super::{connect, first_error, is_uuid};

#[tokio::test]
async fn contacts_are_unique_and_found_with_where() {
    let fake = FakeXero::start().await;
    let api = connect(&fake).await;
    let body = json!({ "Contacts": [
        { "Name": "O'Brien & Sons", "ContactNumber": "C-1" },
        { "Name": "Müller GmbH", "EmailAddress": "info@mueller.example" },
        { "Name": "The \"Best\" Ltd" },
    ] });
    let (status, created) = api.put("Contacts", &[], &body).await;
    assert_eq!(status, 200, "{created}");
    assert_eq!(created["Contacts"][0]["HasValidationErrors"], false);
    let obrien = created["Contacts"][0]["ContactID"]
        .as_str()
        .unwrap()
        .to_string();
    let muller = created["Contacts"][1]["ContactID"]
        .as_str()
        .unwrap()
        .to_string();
    let best = created["Contacts"][2]["ContactID"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(is_uuid(&obrien));

    let (status, body) = api
        .get("Contacts", &[("where", r#"Name=="O'Brien & Sons""#)])
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["Contacts"].as_array().unwrap().len(), 1);
    assert_eq!(body["Contacts"][0]["ContactID"], obrien.as_str());
    let (_, body) = api
        .get("Contacts", &[("where", r#"name == "müller gmbh""#)])
        .await;
    assert_eq!(body["Contacts"][0]["ContactID"], muller.as_str());
    let (_, body) = api
        .get("Contacts", &[("where", r#"ContactNumber=="C-1""#)])
        .await;
    assert_eq!(body["Contacts"][0]["ContactID"], obrien.as_str());
    let (_, body) = api
        .get("Contacts", &[("where", r#"Name=="The ""Best"" Ltd""#)])
        .await;
    assert_eq!(body["Contacts"][0]["ContactID"], best.as_str());
    let (_, body) = api.get("Contacts", &[("where", r#"Name=="Nobody""#)]).await;
    assert_eq!(body["Contacts"], json!([]));

    let (status, body) = api
        .get("Contacts", &[("where", r#"Name=="The \"Best\" Ltd""#)])
        .await;
    assert_eq!((status, body["ErrorNumber"].as_i64()), (400, Some(16)));
    assert_eq!(body["Type"], "QueryParseException");
    let (_, body) = api.get("Contacts", &[("where", r#"Name=="O'Brien"#)]).await;
    assert_eq!(body["Message"], "Unterminated string literal");
    let (_, body) = api.get("Contacts", &[("where", r#"Nmae=="x""#)]).await;
    assert_eq!(
        body["Message"],
        "No property or field 'Nmae' exists in type 'Contact'"
    );

    // A duplicate name rejects the request (summarizeErrors defaults to true) ...
    let dup = json!({ "Contacts": [{ "Name": "o'brien & sons" }, { "Name": "New Co" }] });
    let (status, body) = api.put("Contacts", &[], &dup).await;
    assert_eq!(status, 400);
    assert_eq!(body["Type"], "ValidationException");
    assert_eq!(body["Elements"].as_array().unwrap().len(), 1);
    assert!(first_error(&body).contains("is already assigned to another contact"));
    assert_eq!(fake.contacts(TENANT_ID).len(), 3);
    // ... or only the element, with summarizeErrors=false.
    let (status, body) = api
        .put("Contacts", &[("summarizeErrors", "false")], &dup)
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["Contacts"][0]["HasValidationErrors"], true);
    assert_eq!(body["Contacts"][1]["HasValidationErrors"], false);
    assert_eq!(fake.contacts(TENANT_ID).len(), 4);

    let (status, body) = api
        .put(
            "Contacts",
            &[],
            &json!({ "Contacts": [{ "EmailAddress": "a@b.c" }] }),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(first_error(&body), "The contact name must be specified.");

    // POST with a ContactID updates; GET by id or number.
    let rename = json!({ "Contacts": [{ "ContactID": muller, "Name": "Müller AG" }] });
    let (status, body) = api.post("Contacts", &[], &rename).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(fake.contacts(TENANT_ID).len(), 4);
    let (_, body) = api.get(&format!("Contacts/{muller}"), &[]).await;
    assert_eq!(body["Contacts"][0]["Name"], "Müller AG");
    assert_eq!(body["Contacts"][0]["EmailAddress"], "info@mueller.example");
    let (_, body) = api.get("Contacts/C-1", &[]).await;
    assert_eq!(body["Contacts"][0]["ContactID"], obrien.as_str());
    assert_eq!(api.get("Contacts/C-404", &[]).await.0, 404);
}

#[tokio::test]
async fn bulk_contacts_fail_per_element_and_are_found_by_contact_number() {
    let fake = FakeXero::start().await;
    let api = connect(&fake).await;
    fake.add_contact(TENANT_ID, "Existing Ltd");
    let archived = json!({ "Contacts": [{ "Name": "Old Ltd", "ContactNumber": "cust-old" }] });
    let (_, body) = api.put("Contacts", &[], &archived).await;
    let old_id = body["Contacts"][0]["ContactID"]
        .as_str()
        .unwrap()
        .to_string();
    let archive = json!({ "Contacts": [{ "ContactID": old_id, "ContactStatus": "ARCHIVED" }] });
    assert_eq!(api.post("Contacts", &[], &archive).await.0, 200);

    // 50 new ones, plus: a name taken by an existing contact, a name repeated within
    // the batch, and a ContactNumber held by an archived contact.
    let mut elements: Vec<Value> = (0..50)
        .map(|i| json!({ "Name": format!("Customer {i}"), "ContactNumber": format!("cust-{i}") }))
        .collect();
    elements.push(json!({ "Name": "existing ltd", "ContactNumber": "cust-x1" }));
    elements.push(json!({ "Name": "Customer 7", "ContactNumber": "cust-x2" }));
    elements.push(json!({ "Name": "Someone New", "ContactNumber": "CUST-OLD" }));
    let body = json!({ "Contacts": elements });
    let (status, body) = api
        .put("Contacts", &[("summarizeErrors", "false")], &body)
        .await;
    assert_eq!(status, 200, "{body}");
    let results = body["Contacts"].as_array().unwrap();
    assert_eq!(results.len(), 53);
    for ok in &results[..50] {
        assert_eq!(ok["HasValidationErrors"], false, "{ok}");
        assert_eq!(ok["StatusAttributeString"], "OK");
        assert!(is_uuid(ok["ContactID"].as_str().unwrap()));
        assert_ne!(ok["ContactID"], ZERO_GUID);
    }
    let failed: Vec<(&Value, &Value, &Value)> = results[50..]
        .iter()
        .map(|f| {
            (
                &f["HasValidationErrors"],
                &f["ContactID"],
                &f["ValidationErrors"][0]["Message"],
            )
        })
        .collect();
    assert_eq!(
        failed,
        [
            (
                &json!(true),
                &json!(ZERO_GUID),
                &json!(
                    "The contact name existing ltd is already assigned to another contact. The contact name must be unique across all active contacts."
                )
            ),
            (
                &json!(true),
                &json!(ZERO_GUID),
                &json!(
                    "The contact name Customer 7 is already assigned to another contact. The contact name must be unique across all active contacts."
                )
            ),
            (
                &json!(true),
                &json!(ZERO_GUID),
                &json!("The contact number CUST-OLD is already assigned to another contact.")
            ),
        ]
    );
    assert_eq!(results[52]["StatusAttributeString"], "ERROR");
    assert_eq!(fake.contacts(TENANT_ID).len(), 52);

    // Many at once by ContactNumber: OR'ed equalities, with paging.
    let wanted = ["cust-3", "CUST-17", "cust-42", "cust-nope"];
    let filter = wanted
        .iter()
        .map(|n| format!("ContactNumber==\"{n}\""))
        .collect::<Vec<_>>()
        .join(" OR ");
    let (status, body) = api
        .get("Contacts", &[("where", &filter), ("page", "1")])
        .await;
    assert_eq!(status, 200, "{body}");
    let mut numbers: Vec<&str> = body["Contacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["ContactNumber"].as_str().unwrap())
        .collect();
    numbers.sort_unstable();
    assert_eq!(numbers, ["cust-17", "cust-3", "cust-42"]);
    assert_eq!(
        body["pagination"],
        json!({ "page": 1, "pageSize": 100, "pageCount": 1, "itemCount": 3 })
    );
    // `||` works too; an archived contact needs includeArchived.
    let (_, body) = api
        .get(
            "Contacts",
            &[(
                "where",
                r#"ContactNumber=="cust-old" || ContactNumber=="cust-0""#,
            )],
        )
        .await;
    assert_eq!(body["Contacts"].as_array().unwrap().len(), 1);
    let (_, body) = api
        .get(
            "Contacts",
            &[
                (
                    "where",
                    r#"ContactNumber=="cust-old" || ContactNumber=="cust-0""#,
                ),
                ("includeArchived", "true"),
            ],
        )
        .await;
    assert_eq!(body["Contacts"].as_array().unwrap().len(), 2);

    // pageSize is clamped to 1..=1000.
    let (_, body) = api
        .get("Contacts", &[("page", "2"), ("pageSize", "20")])
        .await;
    assert_eq!(body["Contacts"].as_array().unwrap().len(), 20);
    assert_eq!(
        body["pagination"],
        json!({ "page": 2, "pageSize": 20, "pageCount": 3, "itemCount": 51 })
    );
    let (_, body) = api
        .get("Contacts", &[("page", "1"), ("pageSize", "5000")])
        .await;
    assert_eq!(body["pagination"]["pageSize"], 1000);
    let (_, body) = api
        .get("Contacts", &[("page", "1"), ("pageSize", "0")])
        .await;
    assert_eq!(body["Contacts"].as_array().unwrap().len(), 1);

    // A query string longer than 2048 characters: the plain-text 404.
    let many: Vec<String> = (0..60)
        .map(|i| format!("ContactNumber==\"cust-{i}\""))
        .collect();
    let long = many.join(" OR ");
    let response = api
        .request(reqwest::Method::GET, "Contacts")
        .query(&[("where", &long)])
        .send()
        .await
        .unwrap();
    assert!(response.url().query().unwrap().len() > MAX_QUERY_LEN);
    assert_eq!(response.status(), 404);
    assert!(response.headers().contains_key("x-minlimit-remaining"));
    assert_eq!(response.text().await.unwrap(), NOT_FOUND_TEXT);
    let (status, body) = api
        .get("Contacts", &[("where", &many[..20].join(" OR "))])
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["Contacts"].as_array().unwrap().len(), 20);
}
