//! SuiteQL through the query service: the tables the fake answers, their rows as SuiteQL
//! returns them (lower-case columns, every value a string), paging, and the request's
//! checks (signed, `Prefer: transient`, a JSON body with `q`).

use std::str::FromStr;

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use rust_decimal::Decimal;
use serde_json::{Map, Value, json};

use super::super::harness::wire::Params;

use super::SUBSIDIARY_ID;
use super::answers::{Answer, error, with_detail};
use super::routes::json_body;
use super::state::FakeState;
use super::suiteql_parser::parse_suiteql;

pub(super) const SUITEQL_PATH: &str = "/services/rest/query/v1/suiteql";
/// Rows a SuiteQL page holds at most, and by default (Collection Paging).
const SUITEQL_MAX_LIMIT: usize = 1000;
/// Rows SuiteQL through REST reaches at most ("a maximum of 100,000 results").
const SUITEQL_MAX_RESULTS: usize = 100_000;

/// The SuiteQL tables the fake answers.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Table {
    Item,
    Account,
    Currency,
    Subsidiary,
    SalesTaxItem,
}

impl Table {
    pub(super) fn parse(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "item" => Some(Table::Item),
            "account" => Some(Table::Account),
            "currency" => Some(Table::Currency),
            "subsidiary" => Some(Table::Subsidiary),
            "salestaxitem" => Some(Table::SalesTaxItem),
            _ => None,
        }
    }

    pub(super) fn name(self) -> &'static str {
        match self {
            Table::Item => "item",
            Table::Account => "account",
            Table::Currency => "currency",
            Table::Subsidiary => "subsidiary",
            Table::SalesTaxItem => "salestaxitem",
        }
    }

    /// The columns the fake knows, spelt as SuiteQL answers them (lower-case), in the
    /// order `SELECT *` lists them. NetSuite has many more; naming one of those is refused
    /// as an unknown identifier.
    pub(super) fn columns(self) -> &'static [&'static str] {
        match self {
            Table::Item => &[
                "id",
                "itemid",
                "displayname",
                "fullname",
                "itemtype",
                "isinactive",
            ],
            Table::Account => &[
                "id",
                "acctnumber",
                "acctname",
                "accountsearchdisplayname",
                "displaynamewithhierarchy",
                "fullname",
                "accttype",
                "description",
                "isinactive",
            ],
            Table::Currency => &[
                "id",
                "name",
                "symbol",
                "isbasecurrency",
                "currencyprecision",
                "isinactive",
            ],
            Table::Subsidiary => &[
                "id",
                "name",
                "fullname",
                "currency",
                "iselimination",
                "isinactive",
            ],
            Table::SalesTaxItem => &[
                "id",
                "itemid",
                "fullname",
                "description",
                "rate",
                "isinactive",
            ],
        }
    }
}

/// Columns `ORDER BY` compares as numbers; the others compare as text.
fn numeric_column(column: &str) -> bool {
    matches!(column, "id" | "currency" | "currencyprecision" | "rate")
}

/// One row: each known column and its value, `None` for NULL. SuiteQL through REST answers
/// every value as a string (ids and numbers included) and booleans as `T`/`F`.
type Row = Vec<(&'static str, Option<String>)>;

fn cell<'r>(row: &'r Row, column: &str) -> Option<&'r str> {
    row.iter()
        .find(|(c, _)| *c == column)
        .and_then(|(_, v)| v.as_deref())
}

pub(super) fn text(value: &str) -> Option<String> {
    Some(value.to_string())
}

fn flag(value: bool) -> Option<String> {
    text(if value { "T" } else { "F" })
}

/// `item.itemtype` for a REST item record type.
fn item_type(record_type: &str) -> &'static str {
    match record_type {
        "serviceItem" => "Service",
        "discountItem" => "Discount",
        "otherChargeItem" => "OthCharge",
        "nonInventorySaleItem" => "NonInvtPart",
        "inventoryItem" => "InvtPart",
        other => panic!("no SuiteQL item type for {other}"),
    }
}

/// Oracle's order: NULL after every value (so first when descending); numeric columns by
/// value (a rate's `%` aside), the others as text.
fn compare_cells(column: &str, a: Option<&str>, b: Option<&str>) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Greater,
        (Some(_), None) => Ordering::Less,
        (Some(a), Some(b)) => {
            let n = |v: &str| Decimal::from_str(v.trim_end_matches('%')).ok();
            match (numeric_column(column), n(a), n(b)) {
                (true, Some(x), Some(y)) => x.cmp(&y),
                _ => a.cmp(b),
            }
        }
    }
}

/// Whether a `Prefer` header asks for `transient` (one preference among others will do).
fn prefers_transient(headers: &HeaderMap) -> bool {
    headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim().eq_ignore_ascii_case("transient"))
}

/// `limit` (1 to 1000, default 1000) and `offset` (default 0): NetSuite's Collection
/// Paging, where the offset must be a multiple of the limit (ehmad11/netsuite-rest#25,
/// for record lists; the same here [I]) and 100,000 results are the most SuiteQL reaches.
/// The wording of these refusals is not published [I].
fn suiteql_page(params: &Params) -> Result<(usize, usize), Answer> {
    let refuse = |name: &str, detail: String| {
        with_detail(
            error(StatusCode::BAD_REQUEST, "INVALID_PARAMETER", &detail, None),
            "o:errorQueryParam",
            name,
        )
    };
    let limit = match params.get("limit") {
        None => SUITEQL_MAX_LIMIT,
        Some(l) => match l.parse::<usize>() {
            Ok(n) if (1..=SUITEQL_MAX_LIMIT).contains(&n) => n,
            _ => {
                return Err(refuse(
                    "limit",
                    format!("Invalid limit {l}: use an integer from 1 to {SUITEQL_MAX_LIMIT}."),
                ));
            }
        },
    };
    let offset = match params.get("offset") {
        None => 0,
        Some(o) => o.parse::<usize>().map_err(|_| {
            refuse(
                "offset",
                format!("Invalid offset {o}: use a non-negative integer."),
            )
        })?,
    };
    if offset % limit != 0 {
        return Err(refuse(
            "offset",
            format!("Invalid offset {offset}: the offset must be a multiple of the limit {limit}."),
        ));
    }
    if offset >= SUITEQL_MAX_RESULTS {
        return Err(refuse(
            "offset",
            format!(
                "Invalid offset {offset}: SuiteQL returns at most {SUITEQL_MAX_RESULTS} results."
            ),
        ));
    }
    Ok((limit, offset))
}

impl FakeState {
    /// The rows of a table, from the fake's items, accounts, currencies, subsidiary and
    /// tax codes.
    fn table_rows(&self, table: Table) -> Vec<Row> {
        match table {
            Table::Item => {
                let items = self.items.iter().map(|i| {
                    vec![
                        ("id", text(&i.id)),
                        ("itemid", text(&i.name)),
                        ("displayname", text(&i.name)),
                        ("fullname", text(&i.name)),
                        ("itemtype", text(item_type(i.record_type))),
                        ("isinactive", flag(!i.active)),
                    ]
                });
                // [I] Tax codes are items in NetSuite (one id sequence, `itemtype`
                // `TaxItem`); they have no display name.
                let taxes = self.tax_items.iter().map(|t| {
                    vec![
                        ("id", text(&t.id)),
                        ("itemid", text(&t.name)),
                        ("displayname", None),
                        ("fullname", text(&t.name)),
                        ("itemtype", text("TaxItem")),
                        ("isinactive", flag(!t.active)),
                    ]
                });
                items.chain(taxes).collect()
            }
            Table::Account => self
                .accounts
                .iter()
                .map(|a| {
                    // `accountsearchdisplayname` is the number and the name (LedgerSync's
                    // recorded answer); the hierarchy names are [I] for accounts without a
                    // parent.
                    let display = format!("{} {}", a.number, a.name);
                    vec![
                        ("id", text(&a.id)),
                        ("acctnumber", text(&a.number)),
                        ("acctname", text(&a.name)),
                        ("accountsearchdisplayname", text(&display)),
                        ("displaynamewithhierarchy", text(&display)),
                        ("fullname", text(&a.name)),
                        ("accttype", text(&a.kind)),
                        ("description", None),
                        ("isinactive", flag(!a.active)),
                    ]
                })
                .collect(),
            Table::Currency => self
                .currencies
                .iter()
                .map(|(id, symbol, name)| {
                    vec![
                        ("id", text(id)),
                        ("name", text(name)),
                        ("symbol", text(symbol)),
                        ("isbasecurrency", flag(*id == "1")),
                        ("currencyprecision", text("2")),
                        ("isinactive", flag(false)),
                    ]
                })
                .collect(),
            Table::Subsidiary => vec![vec![
                ("id", text(SUBSIDIARY_ID)),
                ("name", text("Parent Company")),
                ("fullname", text("Parent Company")),
                ("currency", text("1")),
                ("iselimination", flag(false)),
                ("isinactive", flag(false)),
            ]],
            Table::SalesTaxItem => self
                .tax_items
                .iter()
                .map(|t| {
                    vec![
                        ("id", text(&t.id)),
                        ("itemid", text(&t.name)),
                        ("fullname", text(&t.name)),
                        ("description", None),
                        // [I] A percentage with its sign, as NetSuite shows a tax code's rate.
                        ("rate", Some(format!("{}%", t.rate.normalize()))),
                        ("isinactive", flag(!t.active)),
                    ]
                })
                .collect(),
        }
    }

    fn suiteql_url(&self, limit: usize, offset: usize) -> String {
        format!("{}{SUITEQL_PATH}?limit={limit}&offset={offset}", self.base)
    }

    /// `POST /services/rest/query/v1/suiteql`: one page of a query's rows.
    pub(super) fn suiteql(
        &mut self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: &Bytes,
    ) -> Answer {
        if *method != Method::POST {
            return error(
                StatusCode::METHOD_NOT_ALLOWED,
                "METHOD_NOT_ALLOWED",
                "The HTTP method is not allowed for this resource.",
                None,
            );
        }
        let params = Params::parse(uri.query().unwrap_or_default());
        // [I] As on the record service, an unknown query parameter is refused.
        if let Some((name, _)) = params.0.iter().find(|(k, _)| k != "limit" && k != "offset") {
            return with_detail(
                error(
                    StatusCode::BAD_REQUEST,
                    "INVALID_PARAMETER",
                    &format!("Invalid query parameter: {name}."),
                    None,
                ),
                "o:errorQueryParam",
                name,
            );
        }
        let (limit, offset) = match suiteql_page(&params) {
            Ok(page) => page,
            Err(refusal) => return refusal,
        };
        // [I] Oracle's request carries `Prefer: transient` and every public client sends
        // it; what NetSuite answers without it is not published, so the fake refuses.
        if !prefers_transient(headers) {
            return with_detail(
                error(
                    StatusCode::BAD_REQUEST,
                    "INVALID_HEADER",
                    "Invalid Prefer header: SuiteQL queries require Prefer: transient.",
                    None,
                ),
                "o:errorHeader",
                "Prefer",
            );
        }
        let body = match json_body(headers, body, true) {
            Ok(body) => body,
            Err(refusal) => return refusal,
        };
        let Some(q) = body.get("q").and_then(Value::as_str) else {
            // [I] The wording is not published.
            return error(
                StatusCode::BAD_REQUEST,
                "INVALID_CONTENT",
                "The request body must hold the query as the string q.",
                Some("q"),
            );
        };
        self.suiteql.push(q.to_string());
        let select = match parse_suiteql(q) {
            Ok(select) => select,
            Err(e) => return e.answer(),
        };
        let mut rows: Vec<Row> = self
            .table_rows(select.table)
            .into_iter()
            .filter(|row| {
                select
                    .filters
                    .iter()
                    .all(|(column, value)| cell(row, column) == Some(value.as_str()))
            })
            .collect();
        // [I] Without ORDER BY NetSuite promises no order; the fake uses internal ids.
        let order = if select.order.is_empty() {
            vec![("id", false)]
        } else {
            select.order.clone()
        };
        rows.sort_by(|a, b| {
            order
                .iter()
                .map(|(column, descending)| {
                    let o = compare_cells(column, cell(a, column), cell(b, column));
                    if *descending { o.reverse() } else { o }
                })
                .find(|o| o.is_ne())
                .unwrap_or(std::cmp::Ordering::Equal)
        });
        let total = rows.len();
        let items: Vec<Value> = rows
            .iter()
            .skip(offset)
            .take(limit)
            .map(|row| {
                // Every row has empty `links`; NULL columns are left out (LedgerSync's
                // recorded answers).
                let mut item = Map::new();
                item.insert("links".into(), json!([]));
                for (column, name) in &select.columns {
                    if let Some(value) = cell(row, column) {
                        item.insert(name.clone(), json!(value));
                    }
                }
                Value::Object(item)
            })
            .collect();
        let has_more = offset + items.len() < total;
        // [I] The paging links of record collections (`first`, `prev`, `next`, `last`),
        // then `self` as requested.
        let mut links = Vec::new();
        if offset > 0 {
            links.push(json!({"rel": "first", "href": self.suiteql_url(limit, 0)}));
            links.push(json!({"rel": "prev", "href": self.suiteql_url(limit, offset - limit)}));
        }
        if has_more {
            let last = (total - 1) / limit * limit;
            links.push(json!({"rel": "next", "href": self.suiteql_url(limit, offset + limit)}));
            links.push(json!({"rel": "last", "href": self.suiteql_url(limit, last)}));
        }
        let query = uri.query().map(|q| format!("?{q}")).unwrap_or_default();
        links.push(json!({"rel": "self", "href": format!("{}{SUITEQL_PATH}{query}", self.base)}));
        Answer::json(
            StatusCode::OK,
            json!({
                "links": links,
                "count": items.len(),
                "hasMore": has_more,
                "items": items,
                "offset": offset,
                "totalResults": total,
            }),
        )
    }
}
