//! The customer update's rules ([`parse_customer_update`]), besides those every document
//! shares (see the parent module):
//!
//! - The customer's id comes from the request path (`PUT /v1/customers/{id}`) and follows
//!   the string rules; a problem with it is reported as field `id`. The body may repeat it
//!   as `id`, but must not contradict it.
//! - Required: `name`.
//! - Optional: `email`, `address` (with the rules of an invoice customer's address, at path
//!   `address`), `currency`, `tax_number`, `entity`.
//! - `currency`, when given, is an ISO 4217 code with a minor unit, stored upper case.

use super::checker::{Checker, optional};
use super::{DocumentError, parse_document};
use crate::domain::customer_update::CustomerUpdate;
use crate::domain::document::DocumentType;
use serde_json::{Map, Value};

/// Parses and checks a body of `PUT /v1/customers/{id}`, `id` being the path's.
///
/// Exists as the only way to a [`CustomerUpdate`]: whatever it returns `Ok` for satisfies
/// every rule above, and an `Err(Invalid)` lists all problems at once.
pub fn parse_customer_update(id: &str, body: &[u8]) -> Result<CustomerUpdate, DocumentError> {
    parse_document(DocumentType::Customer, body, |checker, obj| {
        checker.customer_update(id, obj)
    })
}

impl Checker {
    fn customer_update(
        &mut self,
        path_id: &str,
        obj: &Map<String, Value>,
    ) -> Option<CustomerUpdate> {
        let id = self.string(&Value::String(path_id.to_owned()), "id".into());
        // The body may repeat the id; checked like any string (so a huge one is not echoed),
        // then compared with a valid path id.
        if let Some(given) = optional(obj, "id")
            && let Some(given) = self.string(given, "id".into())
            && id.is_some()
            && given != path_id
        {
            self.push(
                "id",
                format!("must be the id in the path ({path_id:?}) or be left out (got {given:?})"),
            );
        }
        let name = self.required_string(obj, "", "name");
        let email = self.optional_string(obj, "", "email");
        let address = self.optional_address(obj, "address");
        let currency = self.optional_currency(obj, "this customer cannot be billed in it");
        let tax_number = self.optional_string(obj, "", "tax_number");
        let entity = self.optional_string(obj, "", "entity");

        Some(CustomerUpdate {
            address: address?,
            currency: currency?.map(|(code, _)| code),
            email: email?,
            entity: entity?,
            id: id?,
            name: name?,
            tax_number: tax_number?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::FieldError;
    use super::super::test_support::*;
    use super::*;
    use crate::domain::document::Document;
    use serde_json::json;

    /// The body of `PUT /v1/customers/cus_42` with every field the contract names.
    const EXAMPLE: &str = r#"{ "name": "Acme Inc", "email": "ap@acme.test",
      "address": { "line1": "1 Main St", "city": "Austin", "region": "TX",
                   "postal_code": "78701", "country": "US" },
      "currency": "USD", "tax_number": "US-12-3456789", "entity": "US" }"#;

    fn parse(body: &[u8]) -> Result<CustomerUpdate, DocumentError> {
        parse_customer_update("cus_42", body)
    }

    fixture!(parse => CustomerUpdate, EXAMPLE);

    #[test]
    fn example_parses_and_round_trips() {
        let update = ok(&example());
        assert_eq!(update.id, "cus_42");
        assert_eq!(update.name, "Acme Inc");
        assert_eq!(update.email.as_deref(), Some("ap@acme.test"));
        assert_eq!(
            update.address.as_ref().and_then(|a| a.city.as_deref()),
            Some("Austin")
        );
        assert_eq!(update.currency.as_deref(), Some("USD"));
        assert_eq!(update.tax_number.as_deref(), Some("US-12-3456789"));
        assert_eq!(update.entity.as_deref(), Some("US"));
        assert_eq!(update.event_type(true), "customer.updated");
        let mut expected = example();
        set(&mut expected, "/id", json!("cus_42"));
        assert_round_trips(&update, expected);
        // Only the name is required.
        let minimal = ok(&json!({"name": "Acme"}));
        assert_eq!(
            minimal.canonical_json(),
            json!({"id": "cus_42", "name": "Acme"})
        );
    }

    #[test]
    fn the_body_may_repeat_the_path_id_but_not_contradict_it() {
        let mut v = example();
        set(&mut v, "/id", json!("cus_42"));
        assert_eq!(ok(&v), ok(&example()));
        set(&mut v, "/id", Value::Null);
        assert_eq!(ok(&v), ok(&example()));
        set(&mut v, "/id", json!("cus_43"));
        assert_only(
            &problems(&v),
            "id",
            "must be the id in the path (\"cus_42\") or be left out (got \"cus_43\")",
        );
        set(&mut v, "/id", json!(42));
        assert_only(&problems(&v), "id", "must be a string (got a number)");
        set(&mut v, "/id", json!("c".repeat(5000)));
        assert_only(
            &problems(&v),
            "id",
            "must be at most 1024 characters long (got 5000)",
        );
        // An invalid path id is reported once, not again as contradicted.
        set(&mut v, "/id", json!("cus_42"));
        assert_only(
            &invalid(parse_customer_update("", &bytes(&v))),
            "id",
            "must not be empty",
        );
    }

    #[test]
    fn the_path_id_follows_the_string_rules() {
        let body = bytes(&example());
        assert_only(
            &invalid(parse_customer_update("", &body)),
            "id",
            "must not be empty",
        );
        assert_only(
            &invalid(parse_customer_update(&"c".repeat(1025), &body)),
            "id",
            "must be at most 1024 characters long (got 1025)",
        );
        assert_only(
            &invalid(parse_customer_update("cus\u{0}42", &body)),
            "id",
            "must not contain the NUL character (U+0000)",
        );
    }

    #[test]
    fn every_problem_is_reported_together() {
        let errors = invalid(parse(b"{}"));
        assert_only(&errors, "name", "is required");

        let mut v = example();
        set(&mut v, "/name", json!(""));
        set(&mut v, "/email", json!(""));
        remove(&mut v, "/address/line1");
        set(&mut v, "/address/country", json!(1));
        set(&mut v, "/currency", json!("EURO"));
        set(&mut v, "/tax_number", json!(["x"]));
        set(&mut v, "/entity", json!(""));
        let errors = problems(&v);
        assert_eq!(
            fields(&errors),
            [
                "name",
                "email",
                "address.line1",
                "address.country",
                "currency",
                "tax_number",
                "entity"
            ],
            "{errors:#?}"
        );
        assert_problem(&errors, "name", "must not be empty");
        assert_problem(&errors, "address.line1", "is required");
        assert_problem(
            &errors,
            "address.country",
            "must be a string (got a number)",
        );
        assert_problem(
            &errors,
            "currency",
            "must be an ISO 4217 currency code such as \"USD\" (got \"EURO\")",
        );
        let e = DocumentError::Invalid {
            document: DocumentType::Customer,
            problems: errors,
        }
        .to_string();
        assert!(e.starts_with("the customer has 7 problems: name: "), "{e}");
    }

    #[test]
    fn address_and_currency() {
        let mut v = example();
        set(&mut v, "/address", json!("1 Main St"));
        assert_only(&problems(&v), "address", "must be an object (got a string)");
        set(
            &mut v,
            "/address",
            json!({"line1": "1 Main St", "line2": ""}),
        );
        assert_problem(&problems(&v), "address.line2", "must not be empty");

        let mut v = example();
        set(&mut v, "/currency", json!("gbp"));
        assert_eq!(ok(&v).currency.as_deref(), Some("GBP"));
        set(&mut v, "/currency", json!("XXX"));
        assert_only(
            &problems(&v),
            "currency",
            "XXX has no minor unit, so this customer cannot be billed in it",
        );
    }

    #[test]
    fn nulls_count_as_absent() {
        let mut v = example();
        for key in ["/email", "/address", "/currency", "/tax_number", "/entity"] {
            set(&mut v, key, Value::Null);
        }
        assert_eq!(ok(&v), ok(&json!({"name": "Acme Inc"})));
    }

    #[test]
    fn hash_is_stable_but_sees_a_changed_value() {
        assert_hash_stability(
            parse,
            &example(),
            "id",
            ("/tax_number", json!("US-12-345678")),
        );
        // The path id is part of the document.
        let body = bytes(&example());
        let other = parse_customer_update("cus_43", &body).expect("valid");
        assert_ne!(other.content_hash(), ok(&example()).content_hash());
    }

    #[test]
    fn malformed_bodies() {
        assert_malformed_refused(parse);
    }
}
