//! The typed customer update: what a body of `PUT /v1/customers/{id}` becomes once it has
//! been checked (`docs/contracts.md`, "The ledger beyond invoices").
//!
//! It is the customer's current details, pushed as an update of the same ERP customer or
//! contact. The id comes from the request path, not the body, and is part of the document
//! (and of its hash). Values are only ever built by
//! [`super::validate::parse_customer_update`] (or loaded back from a canonical JSON that it
//! produced). The canonical spelling is the one every document shares: see
//! [`super::document`] and [`super::invoice`].

use super::document::impl_document;
use super::invoice::Address;
use serde::{Deserialize, Serialize};

/// A customer's current details, checked and ready to sync.
///
/// Exists as the one shape the service reads customer updates in. The fields are declared
/// in the alphabetical order of their JSON names, so serializing gives the canonical key
/// order directly ([`super::Document::canonical_text`]); a test keeps it so.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomerUpdate {
    /// The billing address, with the same rules as an invoice customer's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<Address>,
    /// Upper-case ISO 4217 code the customer is billed in, e.g. `USD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// Billing e-mail; any non-empty string, its shape is left to the ERP to judge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Routes the update to connections in Multi-ERP mode (e.g. `US`, `UK`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity: Option<String>,
    /// The platform's customer id (from the request path): the `customer.id` of its
    /// documents.
    pub id: String,
    /// The display name every ERP requires.
    pub name: String,
    /// The customer's tax or VAT registration number, passed on as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tax_number: Option<String>,
}

impl_document!(CustomerUpdate: Customer, without status);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::document::Document;
    use crate::domain::testing;
    use serde_json::json;

    fn sample() -> CustomerUpdate {
        CustomerUpdate {
            address: None,
            currency: None,
            email: None,
            entity: None,
            id: "cus_1".into(),
            name: "Acme".into(),
            tax_number: None,
        }
    }

    /// A field declared out of alphabetical order fails here.
    #[test]
    fn canonical_form() {
        let full = CustomerUpdate {
            email: Some("ap@acme.test".into()),
            currency: Some("USD".into()),
            tax_number: Some("12-3456789".into()),
            entity: Some("US".into()),
            address: Some(testing::full_address()),
            ..sample()
        };
        let shape = json!({"id": "cus_1", "name": "Acme"});
        testing::assert_canonical_forms(&sample(), &full, shape);
    }

    #[test]
    fn never_void_and_always_updated() {
        let update = sample();
        assert!(!update.is_void());
        assert_eq!(update.status_code(), None);
        assert_eq!(update.event_type(true), "customer.updated");
        assert_eq!(update.event_type(false), "customer.updated");
        let mut renamed = sample();
        renamed.name = "Acme Inc".into();
        assert_ne!(renamed.content_hash(), update.content_hash());
    }
}
