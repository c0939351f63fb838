//! `where` filters: the subset of Xero's .NET dynamic-LINQ syntax that lookups use.

use serde_json::Value;

/// A parsed `where`: comparisons `==`, `=`, `!=`, `<>` of a property with a string
/// (`""` inside one is a quote, a backslash is just a backslash), `null`, `true`/`false` or
/// `Guid("...")`; `.Contains("..")`, `.StartsWith("..")`, `.EndsWith("..")`; `.ToLower()`,
/// `.ToUpper()` (no-ops); `AND`/`&&`, `OR`/`||`, `NOT`/`!` and parentheses. Property
/// names are case-insensitive; [I] string comparisons are too (Xero compares in its
/// database's case-insensitive collation).
pub(super) struct Filter(Expr);

enum Expr {
    Or(Box<Expr>, Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Compare {
        field: String,
        equal: bool,
        value: Literal,
    },
    Call {
        field: String,
        method: TextMethod,
        arg: String,
    },
}

enum Literal {
    Text(String),
    Null,
    Bool(bool),
}

#[derive(Clone, Copy)]
enum TextMethod {
    Contains,
    StartsWith,
    EndsWith,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Text(String),
    Dot,
    Open,
    Close,
    Eq,
    Ne,
    And,
    Or,
    Not,
}

const SYNTAX_ERROR: &str = "Syntax error";

fn lex(text: &str) -> Result<Vec<Tok>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut toks = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let (c, next) = (chars[i], chars.get(i + 1).copied());
        let (tok, len) = match c {
            c if c.is_whitespace() => {
                i += 1;
                continue;
            }
            '"' => {
                let mut s = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err("Unterminated string literal".to_string()),
                        Some('"') if chars.get(i + 1) == Some(&'"') => {
                            s.push('"');
                            i += 2;
                        }
                        Some('"') => break,
                        Some(&ch) => {
                            s.push(ch);
                            i += 1;
                        }
                    }
                }
                (Tok::Text(s), 1)
            }
            '.' => (Tok::Dot, 1),
            '(' => (Tok::Open, 1),
            ')' => (Tok::Close, 1),
            '=' if next == Some('=') => (Tok::Eq, 2),
            '=' => (Tok::Eq, 1),
            '!' if next == Some('=') => (Tok::Ne, 2),
            '!' => (Tok::Not, 1),
            '<' if next == Some('>') => (Tok::Ne, 2),
            '&' if next == Some('&') => (Tok::And, 2),
            '|' if next == Some('|') => (Tok::Or, 2),
            c if c.is_alphanumeric() || c == '_' => {
                let word: String = chars[i..]
                    .iter()
                    .take_while(|c| c.is_alphanumeric() || **c == '_')
                    .collect();
                let len = word.chars().count();
                let tok = match word.to_ascii_lowercase().as_str() {
                    "and" => Tok::And,
                    "or" => Tok::Or,
                    "not" => Tok::Not,
                    _ => Tok::Ident(word),
                };
                (tok, len)
            }
            _ => return Err(SYNTAX_ERROR.to_string()),
        };
        toks.push(tok);
        i += len;
    }
    Ok(toks)
}

struct FilterParser<'a> {
    toks: Vec<Tok>,
    pos: usize,
    kind: &'a str,
    fields: &'a [&'a str],
}

impl FilterParser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn next(&mut self) -> Option<Tok> {
        let tok = self.toks.get(self.pos).cloned();
        self.pos += 1;
        tok
    }

    fn expect(&mut self, tok: Tok) -> Result<(), String> {
        if self.next() == Some(tok) {
            Ok(())
        } else {
            Err(SYNTAX_ERROR.to_string())
        }
    }

    fn or(&mut self) -> Result<Expr, String> {
        self.joined(Tok::Or, Self::and, Expr::Or)
    }

    fn and(&mut self) -> Result<Expr, String> {
        self.joined(Tok::And, Self::unary, Expr::And)
    }

    /// `operand (op operand)*`, grouped from the left by `join`.
    fn joined(
        &mut self,
        op: Tok,
        operand: fn(&mut Self) -> Result<Expr, String>,
        join: fn(Box<Expr>, Box<Expr>) -> Expr,
    ) -> Result<Expr, String> {
        let mut left = operand(self)?;
        while self.peek() == Some(&op) {
            self.next();
            left = join(Box::new(left), Box::new(operand(self)?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, String> {
        match self.next() {
            Some(Tok::Not) => Ok(Expr::Not(Box::new(self.unary()?))),
            Some(Tok::Open) => {
                let inner = self.or()?;
                self.expect(Tok::Close)?;
                Ok(inner)
            }
            Some(Tok::Ident(first)) => self.comparison(first),
            _ => Err(SYNTAX_ERROR.to_string()),
        }
    }

    /// `Path[.Method(...)] (==|!=) literal` or `Path.Contains("...")`.
    fn comparison(&mut self, first: String) -> Result<Expr, String> {
        let mut segments = vec![first];
        let mut call = None;
        while self.peek() == Some(&Tok::Dot) {
            self.next();
            let Some(Tok::Ident(name)) = self.next() else {
                return Err(SYNTAX_ERROR.to_string());
            };
            let method = match name.to_ascii_lowercase().as_str() {
                "contains" => Some(TextMethod::Contains),
                "startswith" => Some(TextMethod::StartsWith),
                "endswith" => Some(TextMethod::EndsWith),
                "tolower" | "toupper" => {
                    self.expect(Tok::Open)?;
                    self.expect(Tok::Close)?;
                    continue;
                }
                _ => {
                    segments.push(name);
                    continue;
                }
            };
            self.expect(Tok::Open)?;
            let Some(Tok::Text(arg)) = self.next() else {
                return Err(SYNTAX_ERROR.to_string());
            };
            self.expect(Tok::Close)?;
            call = method.map(|m| (m, arg));
            break;
        }
        let field = self.resolve(&segments)?;
        if let Some((method, arg)) = call {
            return Ok(Expr::Call { field, method, arg });
        }
        let equal = match self.next() {
            Some(Tok::Eq) => true,
            Some(Tok::Ne) => false,
            _ => return Err(SYNTAX_ERROR.to_string()),
        };
        let value = match self.next() {
            Some(Tok::Text(s)) => Literal::Text(s),
            Some(Tok::Ident(w)) if w.eq_ignore_ascii_case("null") => Literal::Null,
            Some(Tok::Ident(w)) if w.eq_ignore_ascii_case("true") => Literal::Bool(true),
            Some(Tok::Ident(w)) if w.eq_ignore_ascii_case("false") => Literal::Bool(false),
            Some(Tok::Ident(w)) if w.eq_ignore_ascii_case("guid") => {
                self.expect(Tok::Open)?;
                let Some(Tok::Text(s)) = self.next() else {
                    return Err(SYNTAX_ERROR.to_string());
                };
                self.expect(Tok::Close)?;
                Literal::Text(s)
            }
            // An unquoted word is read as a property, as dynamic LINQ does.
            Some(Tok::Ident(w)) => {
                self.resolve(&[w])?;
                return Err(SYNTAX_ERROR.to_string());
            }
            _ => return Err(SYNTAX_ERROR.to_string()),
        };
        Ok(Expr::Compare {
            field,
            equal,
            value,
        })
    }

    /// The canonical name of a (possibly nested) property.
    fn resolve(&self, segments: &[String]) -> Result<String, String> {
        let joined = segments.join(".");
        if let Some(field) = self.fields.iter().find(|f| f.eq_ignore_ascii_case(&joined)) {
            return Ok(field.to_string());
        }
        let known_prefix = |n: usize| {
            self.fields.iter().any(|f| {
                let parts: Vec<&str> = f.split('.').collect();
                parts.len() >= n
                    && parts[..n]
                        .iter()
                        .zip(&segments[..n])
                        .all(|(a, b)| a.eq_ignore_ascii_case(b))
            })
        };
        let bad = (1..=segments.len())
            .find(|n| !known_prefix(*n))
            .map_or(&segments[segments.len() - 1], |n| &segments[n - 1]);
        Err(format!(
            "No property or field '{bad}' exists in type '{}'",
            self.kind
        ))
    }
}

impl Filter {
    pub(super) fn parse(text: &str, kind: &str, fields: &[&str]) -> Result<Filter, String> {
        let toks = lex(text)?;
        let mut parser = FilterParser {
            toks,
            pos: 0,
            kind,
            fields,
        };
        let expr = parser.or()?;
        if parser.pos != parser.toks.len() {
            return Err(SYNTAX_ERROR.to_string());
        }
        Ok(Filter(expr))
    }

    pub(super) fn matches(&self, entity: &Value) -> bool {
        eval(&self.0, entity)
    }

    /// Whether Xero runs this filter on an index: equalities on `and_fields` joined by
    /// AND, or equalities on `or_fields` joined by OR.
    pub(super) fn optimised(&self, and_fields: &[&str], or_fields: &[&str]) -> bool {
        fn equality(expr: &Expr, fields: &[&str]) -> bool {
            matches!(expr, Expr::Compare { field, equal: true, value: Literal::Text(_) }
                if fields.contains(&field.as_str()))
        }
        fn all_and(expr: &Expr, fields: &[&str]) -> bool {
            match expr {
                Expr::And(a, b) => all_and(a, fields) && all_and(b, fields),
                other => equality(other, fields),
            }
        }
        fn all_or(expr: &Expr, fields: &[&str]) -> bool {
            match expr {
                Expr::Or(a, b) => all_or(a, fields) && all_or(b, fields),
                other => equality(other, fields),
            }
        }
        all_and(&self.0, and_fields) || all_or(&self.0, or_fields)
    }
}

fn eval(expr: &Expr, entity: &Value) -> bool {
    let field_value = |field: &str| field.split('.').fold(entity, |v, k| &v[k]);
    match expr {
        Expr::Or(a, b) => eval(a, entity) || eval(b, entity),
        Expr::And(a, b) => eval(a, entity) && eval(b, entity),
        Expr::Not(e) => !eval(e, entity),
        Expr::Compare {
            field,
            equal,
            value,
        } => {
            let v = field_value(field);
            let same = match value {
                Literal::Text(t) => v
                    .as_str()
                    .is_some_and(|s| s.to_lowercase() == t.to_lowercase()),
                Literal::Null => v.is_null(),
                Literal::Bool(b) => v.as_bool() == Some(*b),
            };
            same == *equal
        }
        Expr::Call { field, method, arg } => {
            let v = field_value(field)
                .as_str()
                .unwrap_or_default()
                .to_lowercase();
            let arg = arg.to_lowercase();
            match method {
                TextMethod::Contains => v.contains(&arg),
                TextMethod::StartsWith => v.starts_with(&arg),
                TextMethod::EndsWith => v.ends_with(&arg),
            }
        }
    }
}
