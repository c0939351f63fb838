//! The little SuiteQL the fake reads (see [`parse_suiteql`]) and why it refuses the rest.

use axum::http::StatusCode;

use super::answers::{Answer, error, with_detail};
use super::suiteql::Table;

/// A token of the little SuiteQL the fake reads.
#[derive(Clone, Debug, PartialEq)]
enum Token {
    /// A keyword or an identifier, possibly qualified (`item.id`).
    Word(String),
    /// A quoted literal, `''` read as `'`.
    Text(String),
    Number(String),
    Comma,
    Equals,
    Star,
}

/// The tokens of `q`, or `None` for a character the fake does not read (`(`, `<`, `;`,
/// `"`, …) or an unterminated literal.
fn tokens(q: &str) -> Option<Vec<Token>> {
    let chars: Vec<char> = q.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if let Some(t) = match c {
            ',' => Some(Token::Comma),
            '=' => Some(Token::Equals),
            '*' => Some(Token::Star),
            _ => None,
        } {
            out.push(t);
            i += 1;
        } else if c == '\'' {
            let mut literal = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => return None,
                    Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                        literal.push('\'');
                        i += 2;
                    }
                    Some('\'') => {
                        i += 1;
                        break;
                    }
                    Some(&ch) => {
                        literal.push(ch);
                        i += 1;
                    }
                }
            }
            out.push(Token::Text(literal));
        } else if c.is_ascii_digit() {
            let start = i;
            while chars.get(i).is_some_and(char::is_ascii_digit) {
                i += 1;
            }
            out.push(Token::Number(chars[start..i].iter().collect()));
        } else if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while chars
                .get(i)
                .is_some_and(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '.')
            {
                i += 1;
            }
            out.push(Token::Word(chars[start..i].iter().collect()));
        } else {
            return None;
        }
    }
    Some(out)
}

/// Words that are never a column: the keywords the fake reads and common ones it refuses.
const RESERVED: [&str; 18] = [
    "SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "ORDER", "BY", "ASC", "DESC", "AS", "JOIN",
    "INNER", "LEFT", "ON", "GROUP", "HAVING", "DISTINCT",
];

struct Parser<'t> {
    tokens: &'t [Token],
    at: usize,
}

impl Parser<'_> {
    fn next(&mut self) -> Option<&Token> {
        let token = self.tokens.get(self.at);
        self.at += 1;
        token
    }

    fn eat(&mut self, token: &Token) -> bool {
        let found = self.tokens.get(self.at) == Some(token);
        if found {
            self.at += 1;
        }
        found
    }

    fn eat_keyword(&mut self, keyword: &str) -> bool {
        let found = matches!(self.tokens.get(self.at), Some(Token::Word(w)) if w.eq_ignore_ascii_case(keyword));
        if found {
            self.at += 1;
        }
        found
    }

    fn keyword(&mut self, keyword: &str) -> Result<(), QueryError> {
        if self.eat_keyword(keyword) {
            Ok(())
        } else {
            Err(QueryError::Unsupported)
        }
    }

    /// An identifier (not a keyword).
    fn word(&mut self) -> Result<String, QueryError> {
        match self.next() {
            Some(Token::Word(w)) if !RESERVED.iter().any(|r| r.eq_ignore_ascii_case(w)) => {
                Ok(w.clone())
            }
            _ => Err(QueryError::Unsupported),
        }
    }
}

/// A query the fake answers.
#[derive(Debug)]
pub(super) struct Select {
    pub(super) table: Table,
    /// Each selected column and its name in the answer (its alias, lower-cased).
    pub(super) columns: Vec<(&'static str, String)>,
    /// `column = literal` conditions, all of which a row must meet.
    pub(super) filters: Vec<(&'static str, String)>,
    /// `ORDER BY` columns, `true` for descending.
    pub(super) order: Vec<(&'static str, bool)>,
}

/// Why a query is refused; each answers 400 `INVALID_PARAMETER` naming `q`.
#[derive(Debug, PartialEq)]
pub(super) enum QueryError {
    /// Anything outside the subset read here (NetSuite's wording for a query it cannot run;
    /// a real account would run many of these).
    Unsupported,
    /// A table NetSuite does not have — or the fake does not serve (`customer`, …).
    UnknownTable(String),
    /// A column NetSuite does not have — or the fake does not know.
    UnknownColumn(String, Table),
}

impl QueryError {
    /// NetSuite's answers: `Invalid search type: x.` for an unknown table, `Unknown
    /// identifier 'x'. Available identifiers are: {t=t}.` for an unknown column, `Invalid
    /// or unsupported search.` otherwise, each after `Invalid search query. Detailed
    /// unprocessed description follows.`, with `o:errorQueryParam` `q`.
    pub(super) fn answer(&self) -> Answer {
        let detail = match self {
            QueryError::Unsupported => {
                "Search error occurred: Invalid or unsupported search.".to_string()
            }
            QueryError::UnknownTable(t) => format!("Invalid search type: {t}."),
            QueryError::UnknownColumn(c, t) => {
                let t = t.name();
                format!(
                    "Search error occurred: Unknown identifier '{c}'. Available identifiers are: {{{t}={t}}}."
                )
            }
        };
        let detail =
            format!("Invalid search query. Detailed unprocessed description follows. {detail}");
        with_detail(
            error(StatusCode::BAD_REQUEST, "INVALID_PARAMETER", &detail, None),
            "o:errorQueryParam",
            "q",
        )
    }
}

/// The SuiteQL the fake reads, keywords and identifiers in any case:
///
/// ```text
/// SELECT * | <column> [AS <alias>] [, …]
/// FROM item | account | currency | subsidiary | salestaxitem
/// [WHERE <column> = '<text>' | <digits> [AND …]]
/// [ORDER BY <column> [ASC | DESC] [, …]]
/// ```
///
/// A column may be qualified by its table (`item.itemid`). Anything else — joins, table
/// aliases, `OR`, other operators, functions, `FETCH FIRST`, `ROWNUM`, a trailing `;` — is
/// refused.
pub(super) fn parse_suiteql(q: &str) -> Result<Select, QueryError> {
    let tokens = tokens(q).ok_or(QueryError::Unsupported)?;
    let mut p = Parser {
        tokens: &tokens,
        at: 0,
    };
    p.keyword("SELECT")?;
    // `None`: `*`.
    let mut wanted: Option<Vec<(String, Option<String>)>> = None;
    if !p.eat(&Token::Star) {
        let mut list = Vec::new();
        loop {
            let column = p.word()?;
            let alias = if p.eat_keyword("AS") {
                Some(p.word()?)
            } else {
                None
            };
            list.push((column, alias));
            if !p.eat(&Token::Comma) {
                break;
            }
        }
        wanted = Some(list);
    }
    p.keyword("FROM")?;
    let name = p.word()?;
    let table = Table::parse(&name).ok_or(QueryError::UnknownTable(name))?;
    let resolve = |name: &str| -> Result<&'static str, QueryError> {
        let lower = name.to_ascii_lowercase();
        let bare = lower
            .strip_prefix(&format!("{}.", table.name()))
            .unwrap_or(&lower);
        table
            .columns()
            .iter()
            .copied()
            .find(|c| *c == bare)
            .ok_or_else(|| QueryError::UnknownColumn(name.to_string(), table))
    };
    let columns = match wanted {
        None => table
            .columns()
            .iter()
            .map(|c| (*c, c.to_string()))
            .collect(),
        Some(list) => list
            .iter()
            .map(|(column, alias)| {
                let column = resolve(column)?;
                let name = alias
                    .as_deref()
                    .map_or(column.to_string(), str::to_ascii_lowercase);
                Ok((column, name))
            })
            .collect::<Result<Vec<_>, QueryError>>()?,
    };
    let mut filters = Vec::new();
    if p.eat_keyword("WHERE") {
        loop {
            let column = resolve(&p.word()?)?;
            if !p.eat(&Token::Equals) {
                return Err(QueryError::Unsupported);
            }
            let value = match p.next() {
                Some(Token::Text(v) | Token::Number(v)) => v.clone(),
                _ => return Err(QueryError::Unsupported),
            };
            filters.push((column, value));
            if !p.eat_keyword("AND") {
                break;
            }
        }
    }
    let mut order = Vec::new();
    if p.eat_keyword("ORDER") {
        p.keyword("BY")?;
        loop {
            let column = resolve(&p.word()?)?;
            let descending = p.eat_keyword("DESC");
            if !descending {
                p.eat_keyword("ASC");
            }
            order.push((column, descending));
            if !p.eat(&Token::Comma) {
                break;
            }
        }
    }
    if p.at != tokens.len() {
        return Err(QueryError::Unsupported);
    }
    Ok(Select {
        table,
        columns,
        filters,
        order,
    })
}
