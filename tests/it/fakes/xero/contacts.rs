//! Contacts: writes (`PUT`/`POST Contacts`) with Xero's uniqueness and length rules, and
//! lookups by id, number, `where`, `IDs` or `searchTerm`.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::super::harness::wire::{Params, listed};

use super::answers::{Answer, envelope, high_volume, not_found, post_data_invalid, set_updated};
use super::elements::{
    Messages, ZERO_GUID, enum_field, parse_elements, text_field, validation_errors, write_batch,
};
use super::gate::Mode;
use super::lists::{list_answer, split_list, too_broad};
use super::state::{Org, OrgData, index_of};

const MAX_CONTACT_NAME_LEN: usize = 255;
const MAX_CONTACT_NUMBER_LEN: usize = 50;

/// Contact properties the fake maintains itself (ignored on input).
const CONTACT_COMPUTED: &str = "\
    ContactID UpdatedDateUTC UpdatedDateUTCString HasValidationErrors ValidationErrors \
    StatusAttributeString IsSupplier IsCustomer Balances HasAttachments ContactGroups Warnings";

/// Fields a contact `where` may name.
pub(super) const CONTACT_WHERE_FIELDS: &[&str] = &[
    "ContactID",
    "ContactNumber",
    "AccountNumber",
    "ContactStatus",
    "Name",
    "FirstName",
    "LastName",
    "EmailAddress",
    "CompanyNumber",
    "TaxNumber",
    "IsCustomer",
    "IsSupplier",
];

/// A contact element as sent.
pub(super) struct ContactInput {
    raw: Map<String, Value>,
    contact_id: Option<String>,
}

impl ContactInput {
    pub(super) fn parse(raw: &Map<String, Value>, path: &str) -> Result<Self, String> {
        for key in [
            "Name",
            "ContactNumber",
            "EmailAddress",
            "FirstName",
            "LastName",
        ] {
            text_field(raw, key, path)?;
        }
        enum_field(
            raw,
            "ContactStatus",
            path,
            &["ACTIVE", "ARCHIVED", "GDPRREQUEST"],
        )?;
        Ok(ContactInput {
            raw: raw.clone(),
            contact_id: text_field(raw, "ContactID", path)?,
        })
    }
}

impl OrgData {
    pub(super) fn contact_index(&self, id: &str) -> Option<usize> {
        index_of(&self.contacts, "ContactID", id)
    }

    /// By ContactID, or else by ContactNumber (as `GET Contacts/{ContactNumber}` does).
    fn find_contact(&self, key: &str) -> Option<usize> {
        self.contact_index(key)
            .or_else(|| self.contacts.iter().position(|c| c["ContactNumber"] == key))
    }

    pub(super) fn create_contact(
        &mut self,
        input: &ContactInput,
        now: DateTime<Utc>,
    ) -> Result<Value, Messages> {
        let mut contact = json!({
            "ContactID": Uuid::new_v4().to_string(), "ContactStatus": "ACTIVE", "Addresses": [],
            "Phones": [], "ContactGroups": [], "IsSupplier": false, "IsCustomer": false,
            "ContactPersons": [], "HasAttachments": false, "HasValidationErrors": false,
        });
        self.merge_contact(&mut contact, input, None)?;
        set_updated(&mut contact, now);
        self.contacts.push(contact.clone());
        Ok(contact)
    }

    /// A partial update: given properties replace stored ones.
    pub(super) fn update_contact(
        &mut self,
        index: usize,
        input: &ContactInput,
        now: DateTime<Utc>,
    ) -> Result<Value, Messages> {
        let mut contact = self.contacts[index].clone();
        self.merge_contact(&mut contact, input, Some(index))?;
        set_updated(&mut contact, now);
        self.contacts[index] = contact.clone();
        Ok(contact)
    }

    /// Lays the input over `contact` and validates the result: a Name (max 255) unique
    /// among active contacts ([I] compared trimmed and case-insensitively), ContactNumber
    /// max 50 and unique ("if an existing contact matches your ContactName or ContactNumber
    /// then you will receive an error"; [I] among all contacts, archived ones included,
    /// compared like names), a plausible EmailAddress.
    fn merge_contact(
        &self,
        contact: &mut Value,
        input: &ContactInput,
        own: Option<usize>,
    ) -> Result<(), Messages> {
        for (k, v) in &input.raw {
            if !listed(CONTACT_COMPUTED, k) {
                contact[k.as_str()] = v.clone();
            }
        }
        if let Some(status) = contact["ContactStatus"].as_str() {
            contact["ContactStatus"] = json!(status.to_ascii_uppercase());
        }
        // Whether another contact (an active one when `active_only`) holds `value` in
        // `field`, compared trimmed and ignoring case.
        let taken = |field: &str, value: &str, active_only: bool| {
            self.contacts.iter().enumerate().any(|(i, c)| {
                Some(i) != own
                    && (!active_only || c["ContactStatus"] == "ACTIVE")
                    && c[field]
                        .as_str()
                        .is_some_and(|n| n.trim().to_lowercase() == value.to_lowercase())
            })
        };
        let mut errors = Vec::new();
        let name = contact["Name"]
            .as_str()
            .unwrap_or_default()
            .trim()
            .to_string();
        if name.is_empty() {
            // [I] wording.
            errors.push("The contact name must be specified.".to_string());
        } else if name.chars().count() > MAX_CONTACT_NAME_LEN {
            errors.push(format!(
                "The contact name must be {MAX_CONTACT_NAME_LEN} characters or less."
            ));
        } else if contact["ContactStatus"] == "ACTIVE" && taken("Name", &name, true) {
            errors.push(format!(
                "The contact name {name} is already assigned to another contact. The contact name must be unique across all active contacts."
            ));
        }
        let number = contact["ContactNumber"]
            .as_str()
            .unwrap_or_default()
            .trim()
            .to_string();
        if number.chars().count() > MAX_CONTACT_NUMBER_LEN {
            errors.push(format!(
                "The Contact Number must be {MAX_CONTACT_NUMBER_LEN} characters or less."
            ));
        } else if !number.is_empty() && taken("ContactNumber", &number, false) {
            // [I] wording.
            errors.push(format!(
                "The contact number {number} is already assigned to another contact."
            ));
        }
        if let Some(email) = contact["EmailAddress"].as_str().filter(|e| !e.is_empty()) {
            let valid = email.split_once('@').is_some_and(|(user, domain)| {
                !user.is_empty() && domain.contains('.') && !email.contains(char::is_whitespace)
            });
            if !valid {
                errors.push("Email address must be valid.".to_string());
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

/// A failed contact element: the input with its id (the zero GUID for a new one),
/// `HasValidationErrors`, `StatusAttributeString: "ERROR"` and its messages, as in the
/// spec's createContacts 400 example.
fn contact_echo(input: &ContactInput, id: Option<String>, messages: Messages) -> Value {
    let mut echo = input.raw.clone();
    echo.insert(
        "ContactID".into(),
        json!(id.unwrap_or_else(|| ZERO_GUID.to_string())),
    );
    echo.insert("HasValidationErrors".into(), json!(true));
    echo.insert("StatusAttributeString".into(), json!("ERROR"));
    echo.insert("ValidationErrors".into(), validation_errors(messages));
    Value::Object(echo)
}

/// `PUT Contacts`, `POST Contacts` (update by `ContactID`, else create) and
/// `POST Contacts/{ContactID}`.
pub(super) fn write_contacts(
    org: &mut Org,
    elements: &[Map<String, Value>],
    mode: &Mode,
    summarize: bool,
) -> Answer {
    let inputs = match parse_elements(elements, "Contacts", ContactInput::parse) {
        Ok(inputs) => inputs,
        Err(e) => return post_data_invalid(&e),
    };
    if let Mode::Update(key) = mode
        && org.data.find_contact(key).is_none()
    {
        return not_found();
    }
    let now = Utc::now();
    let (answer, _) = write_batch(org, &inputs, summarize, "Contacts", |data, input| {
        let target = match (mode, &input.contact_id) {
            // [I] wording: PUT only creates.
            (Mode::Create, Some(id)) => Err((
                Some(id.clone()),
                vec![
                    "A ContactID cannot be given when creating contacts; use POST to update."
                        .to_string(),
                ],
            )),
            (Mode::Create, None) | (Mode::Upsert, None) => Ok(None),
            (Mode::Upsert, Some(id)) => match data.contact_index(id) {
                Some(index) => Ok(Some(index)),
                // [I] wording.
                None => Err((
                    Some(id.clone()),
                    vec![format!(
                        "The contact with ContactID {id} could not be found."
                    )],
                )),
            },
            (Mode::Update(key), _) => Ok(data.find_contact(key)),
        };
        let result = target.and_then(|target| {
            let id = target.and_then(|i| data.contacts[i]["ContactID"].as_str().map(String::from));
            match target {
                None => data.create_contact(input, now),
                Some(index) => data.update_contact(index, input, now),
            }
            .map_err(|messages| (id, messages))
        });
        match result {
            Ok(mut contact) => {
                contact["StatusAttributeString"] = json!("OK");
                Ok(contact)
            }
            Err((id, messages)) => Err(contact_echo(input, id, messages)),
        }
    });
    answer
}

/// Contact `where` fields Xero optimises ("When using individually or combined with the
/// AND operator"); they "should not be appended with ToLower() or ToUpper()".
const CONTACT_OPTIMISED: &[&str] = &["Name", "EmailAddress", "AccountNumber"];
/// What `summaryOnly=true` leaves out of contacts (Xero's list).
const CONTACT_SUMMARY_EXCLUDED: &[&str] = &[
    "Addresses",
    "Balances",
    "ContactGroups",
    "ContactPersons",
    "IsCustomer",
    "IsSupplier",
    "PurchasesDefaultAccountCode",
    "PurchasesTrackingCategories",
    "SalesDefaultAccountCode",
    "SalesTrackingCategories",
];

/// `GET Contacts[?where=&IDs=&searchTerm=&includeArchived=&summaryOnly=&page=&pageSize=]`.
pub(super) fn list_contacts(org: &Org, params: &Params) -> Answer {
    if org.high_volume
        && too_broad(
            params,
            &["IDs", "searchTerm"],
            "Contact",
            CONTACT_WHERE_FIELDS,
            |f| f.optimised(CONTACT_OPTIMISED, &[]),
        )
    {
        return high_volume("Contacts", "Contact");
    }
    let mut found: Vec<&Value> = org.data.contacts.iter().collect();
    let include_archived = params
        .get_ci("includeArchived")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    if !include_archived {
        found.retain(|c| c["ContactStatus"] != "ARCHIVED");
    }
    if let Some(ids) = params.get_ci("IDs") {
        let ids = split_list(ids);
        found.retain(|c| {
            ids.iter().any(|id| {
                c["ContactID"]
                    .as_str()
                    .is_some_and(|c| c.eq_ignore_ascii_case(id))
            })
        });
    }
    if let Some(term) = params.get_ci("searchTerm").map(str::to_lowercase) {
        found.retain(|c| {
            [
                "Name",
                "FirstName",
                "LastName",
                "ContactNumber",
                "CompanyNumber",
                "EmailAddress",
            ]
            .iter()
            .any(|f| {
                c[*f]
                    .as_str()
                    .is_some_and(|v| v.to_lowercase().contains(&term))
            })
        });
    }
    let filter = ("Contact", CONTACT_WHERE_FIELDS);
    list_answer(
        params,
        "Contacts",
        filter,
        found,
        CONTACT_SUMMARY_EXCLUDED,
        |_| {},
    )
}

/// `GET Contacts/{ContactID or ContactNumber}`; 404 in plain text when unknown.
pub(super) fn get_contact(org: &Org, key: &str) -> Answer {
    match org.data.find_contact(key) {
        Some(i) => envelope("Contacts", vec![org.data.contacts[i].clone()]),
        None => not_found(),
    }
}
