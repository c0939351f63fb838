//! The query endpoint: the subset of QBO's SQL-like query language that lookups use
//! (`select * from <Entity> where ... orderby ... startposition ... maxresults ...`).

use axum::http::StatusCode;
use serde_json::{Value, json};

use super::super::harness::wire::listed;

use super::answers::{Answer, query_parser_error, query_validation_error, response_time};
use super::entities::entities;
use super::state::Company;

/// `maxResults` when a query names none (QBO's default page size).
const DEFAULT_MAX_RESULTS: usize = 100;
/// The largest `MAXRESULTS` QBO accepts ("The maximum number of entities that can be
/// returned in a response is 1000").
const MAX_MAX_RESULTS: usize = 1000;

/// The entities the query endpoint answers, each with the properties a `WHERE` or
/// `ORDERBY` may name. Intuit's reference marks per entity which properties are
/// "filterable"; [I] the fake allows these (and `Code` of CompanyCurrency, which
/// integrators filter on [S]: routablehq/python-quickbooks#344), and answers 4001
/// "Property X not found for Entity Y" for any other.
const QUERYABLE: [(&str, &str); 9] = [
    (
        "Customer",
        "Id DisplayName CompanyName GivenName FamilyName FullyQualifiedName Active",
    ),
    ("Item", "Id Name FullyQualifiedName Type Active"),
    ("Invoice", "Id DocNumber TxnDate"),
    (
        "Account",
        "Id Name FullyQualifiedName AccountType AccountSubType Classification AcctNum Active",
    ),
    ("TaxCode", "Id Name Description Active"),
    ("TaxRate", "Id Name Description Active"),
    ("CompanyCurrency", "Id Code Name Active"),
    ("Preferences", "Id"),
    ("CompanyInfo", "Id"),
];

/// Name lists: without a condition on `Active` a query finds only active entities.
/// Integrators report it for `select * from Customer/Vendor/Item` ("use WHERE Active IN
/// (true, false)" to get inactive ones too) [S]; [I] for the other lists.
const NAME_LISTS: &str = "Customer Item Account TaxCode TaxRate CompanyCurrency";

/// A parsed `select * from <Entity> [where <cond> [and <cond>]...] [orderby <Field>
/// [asc|desc]] [startposition n] [maxresults n]`. A condition is `<Field> = <literal>`,
/// `<Field> in (<literal>, ...)` or `<Field> like '<pattern with %>'`; a literal is a
/// single-quoted string or `true`/`false`.
#[derive(Debug, PartialEq)]
struct Query {
    entity: &'static str,
    conditions: Vec<Condition>,
    /// The `ORDERBY` property, and whether `DESC`.
    order: Option<(&'static str, bool)>,
    start: usize,
    max: usize,
}

#[derive(Debug, PartialEq)]
struct Condition {
    field: &'static str,
    like: bool,
    /// One value for `=` and `like`, the list for `in`.
    values: Vec<Literal>,
}

#[derive(Debug, PartialEq)]
enum Literal {
    Text(String),
    Bool(bool),
}

/// Why a query is refused: it does not parse (4000), or it parses but names a property
/// the entity lacks or asks for too much (4001).
#[derive(Debug, PartialEq)]
enum QueryError {
    Parse(String),
    Invalid(String),
}

#[derive(Debug, PartialEq)]
enum Token {
    Word(String),
    Equals,
    Text(String),
    Open,
    Close,
    Comma,
}

/// Splits a query into words, `=`, `(`, `)`, `,` and single-quoted strings (`\'` is a
/// quote, `\\` a backslash).
fn tokenize(query: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut chars = query.chars().peekable();
    while let Some(&c) = chars.peek() {
        let punctuation = match c {
            '=' => Some(Token::Equals),
            '(' => Some(Token::Open),
            ')' => Some(Token::Close),
            ',' => Some(Token::Comma),
            _ => None,
        };
        if c.is_whitespace() {
            chars.next();
        } else if let Some(token) = punctuation {
            chars.next();
            tokens.push(token);
        } else if c == '\'' {
            chars.next();
            let mut text = String::new();
            loop {
                match chars.next() {
                    None => return Err("Encountered \"<EOF>\" inside a quoted string".to_string()),
                    Some('\'') => break,
                    Some('\\') if matches!(chars.peek(), Some('\'' | '\\')) => {
                        text.push(chars.next().expect("peeked"));
                    }
                    Some(other) => text.push(other),
                }
            }
            tokens.push(Token::Text(text));
        } else if c.is_alphanumeric() || c == '_' || c == '*' || c == '.' {
            let mut word = String::new();
            while let Some(&c) = chars.peek() {
                if !(c.is_alphanumeric() || c == '_' || c == '*' || c == '.') {
                    break;
                }
                word.push(c);
                chars.next();
            }
            tokens.push(Token::Word(word));
        } else {
            return Err(format!("Encountered \" \"{c}\" \"{c} \"\""));
        }
    }
    Ok(tokens)
}

fn is_keyword(token: Option<&Token>, keyword: &str) -> bool {
    matches!(token, Some(Token::Word(w)) if w.eq_ignore_ascii_case(keyword))
}

/// A literal of a condition: a quoted string, or `true`/`false` unquoted.
fn literal(token: Option<Token>) -> Result<Literal, QueryError> {
    match token {
        Some(Token::Text(text)) => Ok(Literal::Text(text)),
        Some(Token::Word(w)) if w.eq_ignore_ascii_case("true") => Ok(Literal::Bool(true)),
        Some(Token::Word(w)) if w.eq_ignore_ascii_case("false") => Ok(Literal::Bool(false)),
        other => Err(QueryError::Parse(format!(
            "Encountered {other:?}, was expecting a quoted string or a boolean"
        ))),
    }
}

fn parse_query(query: &str) -> Result<Query, QueryError> {
    use QueryError::{Invalid, Parse};
    let mut tokens = tokenize(query).map_err(Parse)?.into_iter().peekable();
    for keyword in ["select", "*", "from"] {
        match tokens.next() {
            Some(Token::Word(w)) if w.eq_ignore_ascii_case(keyword) => {}
            other => {
                return Err(Parse(format!(
                    "Encountered {other:?}, was expecting \"{keyword}\""
                )));
            }
        }
    }
    let (entity, fields) = match tokens.next() {
        Some(Token::Word(w)) => QUERYABLE
            .into_iter()
            .find(|(e, _)| e.eq_ignore_ascii_case(&w))
            .ok_or_else(|| Parse(format!("entity {w} is not supported by the fake")))?,
        other => {
            return Err(Parse(format!(
                "Encountered {other:?}, was expecting an entity"
            )));
        }
    };
    let property = |token: Option<Token>| -> Result<&'static str, QueryError> {
        let name = match token {
            Some(Token::Word(name)) => name,
            other => {
                return Err(Parse(format!(
                    "Encountered {other:?}, was expecting a property"
                )));
            }
        };
        fields
            .split_whitespace()
            .find(|f| f.eq_ignore_ascii_case(&name))
            .ok_or_else(|| Invalid(format!("Property {name} not found for Entity {entity}")))
    };
    let mut conditions = Vec::new();
    if is_keyword(tokens.peek(), "where") {
        tokens.next();
        loop {
            let field = property(tokens.next())?;
            let condition = match tokens.next() {
                Some(Token::Equals) => Condition {
                    field,
                    like: false,
                    values: vec![literal(tokens.next())?],
                },
                Some(Token::Word(w)) if w.eq_ignore_ascii_case("like") => match tokens.next() {
                    Some(Token::Text(pattern)) => Condition {
                        field,
                        like: true,
                        values: vec![Literal::Text(pattern)],
                    },
                    other => {
                        return Err(Parse(format!(
                            "Encountered {other:?}, was expecting a quoted pattern"
                        )));
                    }
                },
                Some(Token::Word(w)) if w.eq_ignore_ascii_case("in") => {
                    if tokens.next() != Some(Token::Open) {
                        return Err(Parse("was expecting \"(\"".to_string()));
                    }
                    let mut values = vec![literal(tokens.next())?];
                    loop {
                        match tokens.next() {
                            Some(Token::Comma) => values.push(literal(tokens.next())?),
                            Some(Token::Close) => break,
                            other => {
                                return Err(Parse(format!(
                                    "Encountered {other:?}, was expecting \",\" or \")\""
                                )));
                            }
                        }
                    }
                    Condition {
                        field,
                        like: false,
                        values,
                    }
                }
                other => {
                    return Err(Parse(format!(
                        "Encountered {other:?}, was expecting \"=\", \"in\" or \"like\""
                    )));
                }
            };
            conditions.push(condition);
            if !is_keyword(tokens.peek(), "and") {
                break;
            }
            tokens.next();
        }
    }
    let mut order = None;
    if is_keyword(tokens.peek(), "orderby") {
        tokens.next();
        let field = property(tokens.next())?;
        let descending = is_keyword(tokens.peek(), "desc");
        if descending || is_keyword(tokens.peek(), "asc") {
            tokens.next();
        }
        order = Some((field, descending));
    }
    let mut start = 1;
    let mut max = DEFAULT_MAX_RESULTS;
    while let Some(token) = tokens.next() {
        let number = match tokens.next() {
            Some(Token::Word(n)) => n.parse::<usize>().ok(),
            _ => None,
        };
        match (token, number) {
            (Token::Word(w), Some(n)) if w.eq_ignore_ascii_case("startposition") && n >= 1 => {
                start = n
            }
            (Token::Word(w), Some(n)) if w.eq_ignore_ascii_case("maxresults") && n >= 1 => {
                if n > MAX_MAX_RESULTS {
                    return Err(Invalid(format!(
                        "value {n} is too large. Max allowed value is {MAX_MAX_RESULTS}"
                    )));
                }
                max = n
            }
            (other, _) => return Err(Parse(format!("Encountered {other:?}"))),
        }
    }
    Ok(Query {
        entity,
        conditions,
        order,
        start,
        max,
    })
}

impl Condition {
    fn matches(&self, entity: &Value) -> bool {
        // The US pseudo tax codes carry no `Active`: they are always usable.
        let active = Value::Bool(true);
        let value = match &entity[self.field] {
            Value::Null if self.field == "Active" => &active,
            value => value,
        };
        self.values.iter().any(|literal| match (value, literal) {
            (Value::Bool(b), Literal::Bool(l)) => b == l,
            (Value::Bool(b), Literal::Text(t)) => t.eq_ignore_ascii_case(&b.to_string()),
            (Value::String(s), Literal::Text(t)) if self.like => like(s, t),
            (Value::String(s), Literal::Text(t)) => s == t,
            (Value::Number(n), Literal::Text(t)) => n.to_string() == *t,
            _ => false,
        })
    }
}

/// `LIKE`: `%` matches any run of characters; [I] case-insensitive.
fn like(text: &str, pattern: &str) -> bool {
    let text = text.to_lowercase();
    let pattern = pattern.to_lowercase();
    let parts: Vec<&str> = pattern.split('%').collect();
    let last = parts.len() - 1;
    let mut rest = text.as_str();
    for (i, part) in parts.iter().enumerate() {
        if part.is_empty() {
            continue;
        }
        if i == 0 {
            let Some(after) = rest.strip_prefix(part) else {
                return false;
            };
            rest = after;
        } else if i == last {
            return rest.ends_with(part);
        } else {
            let Some(at) = rest.find(part) else {
                return false;
            };
            rest = &rest[at + part.len()..];
        }
    }
    // Here the pattern ended with `%`, or had none and must have matched all of `text`.
    last > 0 || rest.is_empty()
}

/// `ORDERBY`: numerically when both values are numbers (ids), else by text [I].
fn compare_values(a: &Value, b: &Value) -> std::cmp::Ordering {
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let (a, b) = (text(a), text(b));
    match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => x.total_cmp(&y),
        _ => a.to_lowercase().cmp(&b.to_lowercase()),
    }
}

/// `GET query?query=...`: `{"QueryResponse":{"<Entity>":[...],"startPosition","maxResults"}}`
/// (`maxResults` being how many came back), or an empty `QueryResponse` when nothing
/// matches. [I] No `totalCount`: QBO sends it on some answers only, so a connector must
/// page by asking until a page comes back short or empty.
pub(super) fn query(company: &Company, realm: &str, text: &str) -> Answer {
    let q = match parse_query(text) {
        Ok(q) => q,
        Err(QueryError::Parse(detail)) => return query_parser_error(&detail),
        Err(QueryError::Invalid(detail)) => return query_validation_error(&detail),
    };
    let only_active =
        listed(NAME_LISTS, q.entity) && !q.conditions.iter().any(|c| c.field == "Active");
    let mut found: Vec<Value> = entities(company, realm, q.entity)
        .into_iter()
        .filter(|e| !only_active || e["Active"] != false)
        .filter(|e| q.conditions.iter().all(|c| c.matches(e)))
        .collect();
    if let Some((field, descending)) = q.order {
        found.sort_by(|a, b| compare_values(&a[field], &b[field]));
        if descending {
            found.reverse();
        }
    }
    let found: Vec<Value> = found.into_iter().skip(q.start - 1).take(q.max).collect();
    let response = if found.is_empty() {
        json!({})
    } else {
        json!({ q.entity: found, "startPosition": q.start, "maxResults": found.len() })
    };
    Answer::json(
        StatusCode::OK,
        &json!({ "QueryResponse": response, "time": response_time() }),
    )
}
