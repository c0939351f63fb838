//! The `where` parser.

use serde_json::json;

use super::super::contacts::CONTACT_WHERE_FIELDS;
use super::super::filters::Filter;
use super::super::invoices::INVOICE_WHERE_FIELDS;

#[test]
fn where_filters_parse_like_dynamic_linq() {
    let contact = json!({ "Name": "Say \"Hi\" Ltd", "ContactNumber": "C-9", "EmailAddress": null, "IsCustomer": true });
    let fields = CONTACT_WHERE_FIELDS;
    let yes = [
        r#"Name=="say ""hi"" ltd""#,
        r#"Name.ToLower()=="say ""hi"" ltd" AND ContactNumber!="C-1""#,
        r#"(Name.Contains("hi") || ContactNumber=="x") && EmailAddress==null"#,
        r#"NOT Name.StartsWith("x") and IsCustomer==true and Name.EndsWith("LTD")"#,
    ];
    for text in yes {
        assert!(
            Filter::parse(text, "Contact", fields)
                .unwrap()
                .matches(&contact),
            "{text}"
        );
    }
    assert!(
        !Filter::parse(r#"ContactNumber=="C-1""#, "Contact", fields)
            .unwrap()
            .matches(&contact)
    );
    let errors = [
        (r#"Name=="x"#, "Unterminated string literal"),
        (r#"Name=="a" AND"#, "Syntax error"),
        (
            r#"Name==Bat"#,
            "No property or field 'Bat' exists in type 'Contact'",
        ),
        (r#"Name>"a""#, "Syntax error"),
    ];
    for (text, message) in errors {
        assert_eq!(
            Filter::parse(text, "Contact", fields).err().as_deref(),
            Some(message),
            "{text}"
        );
    }
    let err = Filter::parse(r#"Contact.Nope=="x""#, "Invoice", INVOICE_WHERE_FIELDS).err();
    assert_eq!(
        err.as_deref(),
        Some("No property or field 'Nope' exists in type 'Invoice'")
    );
}
