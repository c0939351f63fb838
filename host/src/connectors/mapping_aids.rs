//! What an accountant maps with: the ERP's own lists (items, accounts, tax rates,
//! currencies), read from the connected ERP, and previews of the exact request a
//! delivery would send, with every mapping gap, sending nothing.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;
use tokio::time::Instant;

use super::Gap;
use crate::domain::Invoice;
use crate::store::ConnectionRow;

/// How long a list read from an ERP is kept: long enough for a mapping page's
/// drop-downs and its preview, short enough that a new item shows within a minute.
pub const KEEP_LISTS: Duration = Duration::from_secs(60);

/// The ERP lists a mapping page picks from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErpList {
    Items,
    Accounts,
    TaxRates,
    Currencies,
}

impl ErpList {
    /// Every list, in the order pages show them.
    pub const ALL: [ErpList; 4] = [
        ErpList::Items,
        ErpList::Accounts,
        ErpList::TaxRates,
        ErpList::Currencies,
    ];

    /// The list a path segment names (`items`, `accounts`, `tax-rates`, `currencies`).
    pub fn from_path(segment: &str) -> Option<Self> {
        match segment {
            "items" => Some(ErpList::Items),
            "accounts" => Some(ErpList::Accounts),
            "tax-rates" => Some(ErpList::TaxRates),
            "currencies" => Some(ErpList::Currencies),
            _ => None,
        }
    }

    /// The path segment of the list.
    pub fn as_path(self) -> &'static str {
        match self {
            ErpList::Items => "items",
            ErpList::Accounts => "accounts",
            ErpList::TaxRates => "tax-rates",
            ErpList::Currencies => "currencies",
        }
    }
}

/// One entry of an ERP list. `id` is the value the connection's maps take (a QuickBooks
/// Item id, a Xero account code or tax type, a NetSuite internal id).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ErpEntry {
    pub id: String,
    pub name: String,
    /// What else the ERP says of it (type, rate, account, ...), for display.
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub details: serde_json::Map<String, Value>,
}

impl ErpEntry {
    /// An entry with the given details (`(key, value)` pairs; nulls are left out).
    pub fn new(
        id: impl Into<String>,
        name: impl Into<String>,
        details: impl IntoIterator<Item = (&'static str, Value)>,
    ) -> Self {
        ErpEntry {
            id: id.into(),
            name: name.into(),
            details: details
                .into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
        }
    }
}

/// Where an ERP record keeps what a list entry shows: JSON pointers to its id, its name
/// (the first of these present) and its details.
pub struct EntryShape {
    pub id: &'static str,
    pub name: &'static [&'static str],
    pub details: &'static [(&'static str, &'static str)],
}

impl EntryShape {
    /// The entry of one `record`; `None` when it has no id (nothing could map to it).
    pub fn read(&self, record: &Value) -> Option<ErpEntry> {
        let text = |v: &Value| match v {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => String::new(),
        };
        let at = |pointer: &str| record.pointer(pointer).unwrap_or(&Value::Null);
        let id = text(at(self.id));
        if id.is_empty() {
            return None;
        }
        let name = self
            .name
            .iter()
            .map(|p| at(p))
            .find(|v| !v.is_null())
            .map(text)
            .unwrap_or_default();
        let details = self.details.iter().map(|(key, p)| (*key, at(p).clone()));
        Some(ErpEntry::new(id, name, details))
    }
}

/// One document to preview for one connection.
pub struct PreviewInput<'a> {
    pub connection: &'a ConnectionRow,
    pub secrets: &'a Value,
    pub invoice: &'a Invoice,
    /// The invoice's canonical text, as a delivery would carry it.
    pub invoice_json: &'a str,
    /// The event a delivery of this document would be (`invoice.finalized`, ...).
    pub event_type: &'a str,
    /// The connection's ERP lists (or why one could not be read), to check the mapping
    /// against; empty for providers without lists.
    pub lists: &'a ErpLists,
}

/// A connection's ERP lists as read for a preview.
pub type ErpLists = HashMap<ErpList, Result<Vec<ErpEntry>, String>>;

/// The ids of one list, or a note saying why it could not be checked.
pub fn known_ids(lists: &ErpLists, list: ErpList, notes: &mut Vec<String>) -> Option<Vec<String>> {
    match lists.get(&list)? {
        Ok(entries) => Some(entries.iter().map(|e| e.id.clone()).collect()),
        Err(why) => {
            notes.push(format!(
                "the ERP's {} could not be read to check the mapping: {why}",
                list.as_path()
            ));
            None
        }
    }
}

/// A request as a connector would send it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct PreviewRequest {
    pub method: String,
    /// The path (and query) below the ERP's API base, or the webhook's full URL.
    pub url: String,
    /// The headers that matter to the receiver (not the bearer token).
    pub headers: BTreeMap<String, String>,
    /// The body, as JSON when it is JSON.
    #[schema(value_type = Object)]
    pub body: Value,
    /// The exact body text, when a signature covers it (webhooks).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raw_body: Option<String>,
}

/// What a delivery would send, and what it lacks.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Preview {
    /// `null` when the delivery would send nothing (a void of a document the ERP never
    /// had).
    pub request: Option<PreviewRequest>,
    /// Every mapping gap; a delivery with any fails at once naming them.
    pub gaps: Vec<Gap>,
    /// What the request depends on that only the delivery settles (a customer looked up
    /// or created first, an id known once created).
    pub notes: Vec<String>,
}

impl Preview {
    /// A delivery that would send nothing, and why.
    pub fn nothing_sent(why: impl Into<String>) -> Self {
        Preview {
            request: None,
            gaps: Vec::new(),
            notes: vec![why.into()],
        }
    }

    /// A request that maps nothing (a void), so it has no gaps.
    pub fn unmapped(request: PreviewRequest, notes: Vec<String>) -> Self {
        Preview {
            request: Some(request),
            gaps: Vec::new(),
            notes,
        }
    }
}

impl PreviewRequest {
    /// A JSON request to an ERP: `path` below its API base.
    pub fn json(
        method: &str,
        path: String,
        headers: BTreeMap<String, String>,
        body: Value,
    ) -> Self {
        PreviewRequest {
            method: method.to_string(),
            url: path,
            headers,
            body,
            raw_body: None,
        }
    }
}

/// The headers of a JSON request to an ERP, as a preview shows them.
pub fn json_headers(extra: &[(&str, &str)]) -> BTreeMap<String, String> {
    let mut headers: BTreeMap<String, String> = [
        ("Accept", "application/json"),
        ("Content-Type", "application/json"),
    ]
    .iter()
    .chain(extra)
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    headers.insert(
        "Authorization".into(),
        "(the connection's credentials)".into(),
    );
    headers
}

/// A list and when it was read.
type Read = (Instant, Vec<ErpEntry>);

/// Lists read from ERPs, kept per (connection, list) for [`KEEP_LISTS`].
#[derive(Default)]
pub struct KeptLists {
    kept: Mutex<HashMap<(String, ErpList), Read>>,
}

impl KeptLists {
    /// The list if it was read within [`KEEP_LISTS`].
    pub fn get(&self, connection_id: &str, list: ErpList) -> Option<Vec<ErpEntry>> {
        let kept = self.kept.lock().expect("kept lists");
        kept.get(&(connection_id.to_string(), list))
            .filter(|(at, _)| at.elapsed() < KEEP_LISTS)
            .map(|(_, entries)| entries.clone())
    }

    /// Keeps a list just read.
    pub fn put(&self, connection_id: &str, list: ErpList, entries: Vec<ErpEntry>) {
        let mut kept = self.kept.lock().expect("kept lists");
        kept.retain(|_, (at, _)| at.elapsed() < KEEP_LISTS);
        kept.insert((connection_id.to_string(), list), (Instant::now(), entries));
    }
}
