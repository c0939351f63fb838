//! Customers: create and update (full or sparse) with QBO's property, length, uniqueness
//! and `SyncToken` rules.

use serde_json::{Map, Value, json};

use super::answers::{
    Answer, duplicate_name, invalid_reference, object_not_found, required, too_long,
    unsupported_property,
};
use super::currencies::currency_ref;
use super::fields::{check_sync_token, created, update_input, updated, writable, write_entity};
use super::state::Company;

const MAX_DISPLAY_NAME_LEN: usize = 500;

/// Customer properties QBO accepts; any other is rejected with 2010.
const CUSTOMER_FIELDS: &str = "\
    Id SyncToken sparse domain MetaData DisplayName Title GivenName MiddleName FamilyName \
    Suffix CompanyName FullyQualifiedName PrintOnCheckName PrimaryEmailAddr PrimaryPhone \
    AlternatePhone Mobile Fax WebAddr BillAddr ShipAddr Notes Active Job ParentRef \
    BillWithParent Level Taxable TaxExemptionReasonId DefaultTaxCodeRef PrimaryTaxIdentifier \
    ResaleNum CurrencyRef SalesTermRef PaymentMethodRef PreferredDeliveryMethod Balance \
    BalanceWithJobs OpenBalanceDate GSTIN BusinessNumber GSTRegistrationType \
    SecondaryTaxIdentifier CustomerTypeRef ARAccountRef";

/// Read-only customer properties the fake maintains itself.
const CUSTOMER_COMPUTED: &str = "\
    Id SyncToken sparse domain MetaData FullyQualifiedName Balance BalanceWithJobs";

/// `POST customer`: create, or update when `Id` is given (full, or `sparse: true`).
pub(super) fn write_customer(company: &mut Company, body: &Map<String, Value>) -> Answer {
    let (create, update) = (Company::create_customer, Company::update_customer);
    write_entity(company, body, ("Customer", CUSTOMER_FIELDS), create, update)
}

impl Company {
    /// The active customer a reference (`field`) names by `id`.
    pub(super) fn active_customer(&self, field: &str, id: &str) -> Result<&Value, Answer> {
        let found = self
            .customers
            .iter()
            .find(|c| c["Id"] == id && c["Active"] != false);
        found.ok_or_else(|| invalid_reference(field, "Customer", id))
    }

    pub(super) fn create_customer(&mut self, body: &Map<String, Value>) -> Result<Value, Answer> {
        let (entity, new_currency) = self.customer_fields(body, None)?;
        if let Some(code) = new_currency {
            self.add_currency(&code);
        }
        let entity = created(entity, &mut self.next_customer_id);
        self.customers.push(entity.clone());
        Ok(entity)
    }

    fn update_customer(&mut self, id: &str, body: &Map<String, Value>) -> Result<Value, Answer> {
        let index = self
            .customer_index(id)
            .ok_or_else(|| object_not_found("Customer", id))?;
        let current = self.customers[index].clone();
        check_sync_token(&current, body)?;
        let input = update_input(&current, body, CUSTOMER_COMPUTED);
        let (entity, _) = self.customer_fields(&input, Some(&current))?;
        let entity = updated(entity, id, &current);
        self.customers[index] = entity.clone();
        Ok(entity)
    }

    /// Validates a customer's properties and fills QBO's defaults (everything but Id,
    /// SyncToken and MetaData). `current` is the customer being updated, if any. Also
    /// answers a currency to add to the company's list (see [`Company::customer_currency`]).
    fn customer_fields(
        &self,
        input: &Map<String, Value>,
        current: Option<&Value>,
    ) -> Result<(Map<String, Value>, Option<String>), Answer> {
        let own_id = current.and_then(|c| c["Id"].as_str());
        let name = match input.get("DisplayName") {
            Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
            Some(Value::String(_)) | None | Some(Value::Null) => {
                return Err(required("DisplayName"));
            }
            Some(_) => return Err(unsupported_property("DisplayName", "not a string")),
        };
        let len = name.chars().count();
        if len > MAX_DISPLAY_NAME_LEN {
            return Err(too_long("DisplayName", MAX_DISPLAY_NAME_LEN, len));
        }
        let taken = self.customers.iter().any(|c| {
            c["DisplayName"] == name.as_str()
                && Some(c["Id"].as_str().unwrap_or_default()) != own_id
        });
        if taken {
            return Err(duplicate_name());
        }
        let mut entity = writable(input, CUSTOMER_COMPUTED);
        entity.insert("FullyQualifiedName".into(), json!(name));
        entity.entry("PrintOnCheckName").or_insert(json!(name));
        entity.entry("Active").or_insert(json!(true));
        entity.entry("Taxable").or_insert(json!(true));
        entity.entry("Job").or_insert(json!(false));
        entity.entry("BillWithParent").or_insert(json!(false));
        entity
            .entry("PreferredDeliveryMethod")
            .or_insert(json!("Print"));
        let current_currency = current.and_then(|c| c["CurrencyRef"]["value"].as_str());
        let (currency, new_currency) = self.customer_currency(input, current_currency)?;
        entity.insert("CurrencyRef".into(), currency_ref(&currency));
        entity.insert("Balance".into(), json!(0));
        entity.insert("BalanceWithJobs".into(), json!(0));
        entity.insert("domain".into(), json!("QBO"));
        entity.insert("sparse".into(), json!(false));
        Ok((entity, new_currency))
    }
}
