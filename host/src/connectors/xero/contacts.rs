//! Xero contacts for our customers, resolved a batch at a time.
//!
//! A contact is keyed by our customer id in `ContactNumber`. A customer met for the first
//! time on a connection is resolved together with the others its bill run brings. Their
//! contacts are found in the organisation's **directory**, its numbered contacts read a
//! page of 1,000 at a time and kept five minutes (an organisation with more than
//! [`DIRECTORY_PAGES`] pages is looked up instead: one `GET Contacts` with the customers'
//! `ContactNumber`s as `where` OR'ed equalities); then one `PUT Contacts` creates the
//! ones missing. A first bill run's 2,000 new customers thus cost one read and 40
//! creates, not 40 look-ups more. A contact whose name
//! is taken by a contact without our number (Xero refuses duplicate names) is linked to
//! that contact, found by name in one more call. Each customer is resolved once at a
//! time per connection: the other deliveries of that customer wait for its answer
//! instead of racing to create it. Resolved contacts are remembered (ERP records), so a
//! customer costs no call after the first time.

use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::sync::watch;

use super::XeroConnector;
use super::client::{Call, Session};
use super::mapping::{self, where_literal};
use crate::connectors::coalesce::{Coalescer, Fill};
use crate::connectors::{Outcome, remember_customer};
use crate::domain::Customer;

/// Customers per resolution and per create: the elements Xero recommends per request.
pub const PER_CALL: usize = 50;

/// The longest `where` filter a look-up sends, before encoding: Xero answers a query
/// string longer than about 2,048 characters with a 404, and the filter's quotes and
/// spaces take three characters each once encoded.
pub const MAX_FILTER: usize = 1_200;

/// How contact resolutions fill.
pub const FILL: Fill = Fill {
    max: PER_CALL,
    quiet: std::time::Duration::from_millis(30),
    max_wait: std::time::Duration::from_millis(400),
};

type Resolution = Result<String, Outcome>;

/// Where a resolution's result will appear.
type Pending = watch::Receiver<Option<Resolution>>;

/// The contacts being resolved now, per (connection, customer).
#[derive(Default)]
pub struct Resolving {
    running: Mutex<HashMap<(String, String), Pending>>,
}

/// A customer waiting for its contact, with the channel its result goes to.
pub struct Wanted {
    customer: Customer,
    done: watch::Sender<Option<Resolution>>,
}

/// The coalescer of contact resolutions.
pub type ContactBatches = Coalescer<Wanted, ()>;

/// How long a directory read is trusted. A contact numbered with one of our customer ids
/// by someone else meanwhile would be missed; its creation then meets Xero's duplicate
/// name check and is linked by name.
pub const DIRECTORY_KEEP: std::time::Duration = std::time::Duration::from_secs(300);
/// Pages of 1,000 contacts read for a directory at most; a larger organisation is looked
/// up by `where` instead (reading it whole would cost more calls than it saves).
pub const DIRECTORY_PAGES: u64 = 3;

/// The numbered contacts of the organisations read lately, per account.
#[derive(Default)]
pub struct Directories {
    read: Mutex<HashMap<String, Directory>>,
}

/// One organisation's numbered contacts (`ContactNumber` to `ContactID`), or the fact
/// that it has too many to read whole.
struct Directory {
    read_at: tokio::time::Instant,
    contacts: Option<HashMap<String, String>>,
}

impl XeroConnector {
    /// The ContactID of `customer` in the session's organisation.
    pub(super) async fn contact(
        &self,
        session: &mut Session,
        customer: &Customer,
    ) -> Result<String, Outcome> {
        let account = session.account().to_string();
        let tenant = session.connection.tenant_id.clone();
        if let Some(r) = self
            .store
            .erp_record(&account, &tenant, "customer", &customer.id)
            .await
            .map_err(Outcome::from)?
        {
            return Ok(r.remote_id);
        }
        let key = (session.connection.id.clone(), customer.id.clone());
        let (mine, mut result) = {
            let mut running = self.resolving.running.lock().expect("contacts lock");
            match running.get(&key) {
                Some(rx) => (None, rx.clone()),
                None => {
                    let (tx, rx) = watch::channel(None);
                    running.insert(key.clone(), rx.clone());
                    (Some(tx), rx)
                }
            }
        };
        if let Some(done) = mine {
            let wanted = Wanted {
                customer: customer.clone(),
                done,
            };
            let connection_id = session.connection.id.clone();
            let _ = self
                .contact_batches
                .submit(
                    &connection_id,
                    wanted,
                    async || Ok(()),
                    async |(), wanted: Vec<Wanted>| {
                        let n = wanted.len();
                        self.resolve(session, wanted).await;
                        vec![Ok(()); n]
                    },
                )
                .await;
            // Whoever resolved it has sent the result; later deliveries read the record.
            self.resolving
                .running
                .lock()
                .expect("contacts lock")
                .remove(&key);
        }
        let answer = result
            .wait_for(Option::is_some)
            .await
            .map(|r| r.clone())
            .ok()
            .flatten();
        answer.unwrap_or_else(|| {
            Err(Outcome::retryable(
                None,
                format!(
                    "resolving the Xero contact of customer {} was abandoned",
                    customer.id
                ),
                None,
            ))
        })
    }

    /// Resolves a batch of customers and tells each its result.
    async fn resolve(&self, session: &mut Session, wanted: Vec<Wanted>) {
        let customers: Vec<&Customer> = wanted.iter().map(|w| &w.customer).collect();
        let results = match self.resolve_batch(session, &customers).await {
            Ok(found) => found,
            Err(o) => {
                for w in &wanted {
                    let _ = w.done.send(Some(Err(o.clone())));
                }
                return;
            }
        };
        for w in &wanted {
            let result = results.get(&w.customer.id).cloned().unwrap_or_else(|| {
                Err(Outcome::permanent(
                    None,
                    format!(
                        "Xero neither found nor created a contact for customer {}",
                        w.customer.id
                    ),
                ))
            });
            let _ = w.done.send(Some(result));
        }
    }

    /// Looks the customers up by `ContactNumber`, creates the missing ones, links the
    /// ones whose name is taken, and remembers every contact found.
    async fn resolve_batch(
        &self,
        session: &mut Session,
        customers: &[&Customer],
    ) -> Result<HashMap<String, Resolution>, Outcome> {
        let mut results: HashMap<String, Resolution> = HashMap::new();
        match self.directory(session).await? {
            Some(directory) => {
                for c in customers {
                    if let Some(id) = directory.get(&c.id) {
                        results.insert(c.id.clone(), Ok(id.clone()));
                    }
                }
            }
            None => {
                for filter in filters(customers.iter().map(|c| ("ContactNumber", c.id.as_str()))) {
                    let query = [("where", filter.as_str()), ("summaryOnly", "true")];
                    let found = self.call(session, Call::get("Contacts", &query)).await?;
                    for (number, id) in numbered(&found) {
                        results.insert(number, Ok(id));
                    }
                }
            }
        }
        let missing: Vec<&Customer> = customers
            .iter()
            .copied()
            .filter(|c| !results.contains_key(&c.id))
            .collect();
        if !missing.is_empty() {
            let elements: Vec<Value> = missing
                .iter()
                .map(|c| mapping::contact_element(c))
                .collect();
            let body = json!({"Contacts": elements});
            let key = idempotency_key(&session.connection.id, &missing);
            let query = [("summarizeErrors", "false")];
            let created = self
                .call(
                    session,
                    Call::write(reqwest::Method::PUT, "Contacts", &query, &body, &key),
                )
                .await?;
            let mut name_taken: Vec<(&Customer, Outcome)> = Vec::new();
            for (i, customer) in missing.iter().enumerate() {
                let element = created["Contacts"].get(i).cloned().unwrap_or(Value::Null);
                match XeroConnector::element_ok(&element) {
                    Ok(()) => match element["ContactID"].as_str() {
                        Some(id) => {
                            results.insert(customer.id.clone(), Ok(id.to_string()));
                        }
                        None => name_taken.push((
                            customer,
                            Outcome::retryable(
                                Some(200),
                                "Xero answered fewer contacts than were sent",
                                None,
                            ),
                        )),
                    },
                    Err(refused) => name_taken.push((customer, refused)),
                }
            }
            if !name_taken.is_empty() {
                self.link_by_name(session, name_taken, &mut results).await?;
            }
        }
        let account = session.account().to_string();
        self.remember_in_directory(&account, &results);
        let tenant = session.connection.tenant_id.clone();
        for (customer, result) in &results {
            if let Ok(id) = result {
                remember_customer(&self.store, &account, &tenant, customer, id).await?;
            }
        }
        Ok(results)
    }

    /// Customers Xero refused to create, most often because a contact of that name
    /// exists without our number: found by name in one call and linked.
    async fn link_by_name(
        &self,
        session: &mut Session,
        refused: Vec<(&Customer, Outcome)>,
        results: &mut HashMap<String, Resolution>,
    ) -> Result<(), Outcome> {
        let mut by_name: HashMap<String, String> = HashMap::new();
        for filter in filters(refused.iter().map(|(c, _)| ("Name", c.name.as_str()))) {
            let query = [("where", filter.as_str()), ("summaryOnly", "true")];
            let found = self.call(session, Call::get("Contacts", &query)).await?;
            for c in found["Contacts"].as_array().into_iter().flatten() {
                if let (Some(name), Some(id)) = (c["Name"].as_str(), c["ContactID"].as_str()) {
                    by_name.insert(name.to_lowercase(), id.to_string());
                }
            }
        }
        for (customer, why) in refused {
            let result = by_name
                .get(&customer.name.to_lowercase())
                .cloned()
                .ok_or(why);
            results.insert(customer.id.clone(), result);
        }
        Ok(())
    }
}

impl XeroConnector {
    /// The organisation's numbered contacts, read (a page of 1,000 at a time) when the
    /// last read is older than [`DIRECTORY_KEEP`]; `None` for an organisation with more
    /// than [`DIRECTORY_PAGES`] pages of contacts.
    async fn directory(
        &self,
        session: &mut Session,
    ) -> Result<Option<HashMap<String, String>>, Outcome> {
        let account = session.account().to_string();
        if let Some(d) = self
            .directories
            .read
            .lock()
            .expect("directories")
            .get(&account)
            && d.read_at.elapsed() < DIRECTORY_KEEP
        {
            return Ok(d.contacts.clone());
        }
        let read_at = tokio::time::Instant::now();
        let mut contacts = HashMap::new();
        let mut page = 1u64;
        let complete = loop {
            let number = page.to_string();
            let query = [
                ("summaryOnly", "true"),
                ("pageSize", "1000"),
                ("page", number.as_str()),
            ];
            let found = self.call(session, Call::get("Contacts", &query)).await?;
            contacts.extend(numbered(&found));
            let pages = found["pagination"]["pageCount"].as_u64().unwrap_or(1);
            if pages > DIRECTORY_PAGES {
                break false;
            }
            if page >= pages {
                break true;
            }
            page += 1;
        };
        let contacts = complete.then_some(contacts);
        self.directories.read.lock().expect("directories").insert(
            account,
            Directory {
                read_at,
                contacts: contacts.clone(),
            },
        );
        Ok(contacts)
    }

    /// Adds contacts just found or created to the organisation's directory.
    fn remember_in_directory(&self, account: &str, results: &HashMap<String, Resolution>) {
        let mut read = self.directories.read.lock().expect("directories");
        if let Some(contacts) = read.get_mut(account).and_then(|d| d.contacts.as_mut()) {
            for (number, result) in results {
                if let Ok(id) = result {
                    contacts.insert(number.clone(), id.clone());
                }
            }
        }
    }
}

/// The `(ContactNumber, ContactID)` of every numbered contact in a `GET Contacts` answer.
fn numbered(answer: &Value) -> Vec<(String, String)> {
    answer["Contacts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| {
            Some((
                c["ContactNumber"]
                    .as_str()
                    .filter(|n| !n.is_empty())?
                    .to_string(),
                c["ContactID"].as_str()?.to_string(),
            ))
        })
        .collect()
}

/// `field == value` equalities OR'ed together, as few filters as fit [`MAX_FILTER`].
fn filters<'a>(equalities: impl Iterator<Item = (&'a str, &'a str)>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut current = String::new();
    for (field, value) in equalities {
        let clause = format!("{field}=={}", where_literal(value));
        if !current.is_empty() && current.len() + 4 + clause.len() > MAX_FILTER {
            out.push(std::mem::take(&mut current));
        }
        if !current.is_empty() {
            current.push_str(" OR ");
        }
        current.push_str(&clause);
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// One key per (connection, set of customers): a retry of the same create within Xero's
/// replay window is answered, not done twice.
fn idempotency_key(connection_id: &str, customers: &[&Customer]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(connection_id.as_bytes());
    for c in customers {
        hasher.update(b"\n");
        hasher.update(c.id.as_bytes());
    }
    format!("contacts-{}", hex::encode(&hasher.finalize()[..16]))
}
