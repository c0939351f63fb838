//! JSONPath payload templates: a JSON document that says what the webhook body is.
//!
//! A template is any JSON value. While rendering:
//! - a string starting with `$` is a JSONPath query (RFC 9535, via `jsonpath-rust`)
//!   against the current scope: the invoice, or the current element inside `$each`;
//! - `$invoice…` queries the invoice even inside `$each` (e.g. `"$invoice.currency"`),
//!   and `$event…` queries the event: `id`, `type` and `created_at`;
//! - a string starting with `$$` is a literal string with one `$` removed (`"$$5 off"`
//!   renders `"$5 off"`);
//! - `{"$each": "<query>", "$map": <template>}` renders `$map` once per element the query
//!   selects (one output element per line item), with paths relative to the element;
//! - everything else (objects, arrays, numbers, booleans, other strings) is copied, with
//!   its contents rendered in turn.
//!
//! A query that selects one node gives its value; a query that can select several
//! (wildcards, slices, filters, descendants) always gives an array. A query that selects
//! nothing is *missing*; what that gives is the template's `"$missing"` setting at the
//! top level: `"null"` (the default) puts `null`, `"omit"` leaves the key out (or the
//! element, in an array), and `"error"` fails the render, which fails the delivery at
//! once with the template location.
//!
//! Templates are compiled when a connection is saved, so a bad path is refused with its
//! location in the template and the parser's reason, never found first at sync time.

use crate::domain::validate::json_kind as kind;
use jsonpath_rust::parser::model::{JpQuery, Segment, Selector};
use serde_json::{Map, Value};

/// Largest template accepted, in bytes of JSON.
pub const MAX_TEMPLATE_BYTES: usize = 64 * 1024;

/// What a query that selects nothing gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    Null,
    Omit,
    Error,
}

/// Why a template was refused or could not render; `location` points into the template
/// (JSON Pointer syntax, e.g. `/lines/$map/amount`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("template {location}: {message}")]
pub struct TemplateError {
    pub location: String,
    pub message: String,
}

fn err(location: &str, message: impl Into<String>) -> TemplateError {
    TemplateError {
        location: if location.is_empty() {
            "/".into()
        } else {
            location.into()
        },
        message: message.into(),
    }
}

/// Which document a query reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Root {
    Scope,
    Invoice,
    Event,
}

#[derive(Debug, Clone)]
struct Query {
    root: Root,
    text: String,
    path: JpQuery,
    singular: bool,
}

#[derive(Debug, Clone)]
enum Node {
    Literal(Value),
    Query(Query),
    Object(Vec<(String, Node)>),
    Array(Vec<Node>),
    Each { source: Query, map: Box<Node> },
}

/// A compiled template, ready to render many invoices.
#[derive(Debug, Clone)]
pub struct Template {
    root: Node,
    missing: Missing,
}

/// The deepest bracket nesting a query may have. The JSONPath parser backtracks
/// exponentially on deeply nested, unclosed brackets (found by fuzzing: a 447-byte
/// template took 50 s to refuse, and each level doubles it), so deeper queries are
/// refused before they reach it. Real templates nest two or three levels.
pub const MAX_QUERY_NESTING: usize = 8;

/// How deep `(` and `[` nest in a query, not counting brackets inside quoted strings.
fn nesting_depth(query: &str) -> usize {
    let (mut depth, mut deepest, mut quote, mut escaped) = (0usize, 0usize, None, false);
    for c in query.chars() {
        match quote {
            Some(_) if escaped => escaped = false,
            Some(_) if c == '\\' => escaped = true,
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None => match c {
                '\'' | '"' => quote = Some(c),
                '(' | '[' => {
                    depth += 1;
                    deepest = deepest.max(depth);
                }
                ')' | ']' => depth = depth.saturating_sub(1),
                _ => {}
            },
        }
    }
    deepest
}

fn compile_query(text: &str, location: &str) -> Result<Query, TemplateError> {
    let depth = nesting_depth(text);
    if depth > MAX_QUERY_NESTING {
        return Err(err(
            location,
            format!(
                "the query nests brackets {depth} levels deep; at most {MAX_QUERY_NESTING} are allowed"
            ),
        ));
    }
    let (root, path) = if let Some(rest) = text.strip_prefix("$invoice") {
        (Root::Invoice, format!("${rest}"))
    } else if let Some(rest) = text.strip_prefix("$event") {
        (Root::Event, format!("${rest}"))
    } else {
        (Root::Scope, text.to_string())
    };
    let parsed = jsonpath_rust::parser::parse_json_path(&path).map_err(|e| {
        err(
            location,
            format!("{text:?} is not a valid JSONPath query: {e}"),
        )
    })?;
    let singular = parsed.segments.iter().all(|s| {
        matches!(
            s,
            Segment::Selector(Selector::Name(_)) | Segment::Selector(Selector::Index(_))
        )
    });
    Ok(Query {
        root,
        text: text.to_string(),
        path: parsed,
        singular,
    })
}

/// Follows a query made only of name and index selectors, as jsonpath-rust's
/// `process_key` and `process_index` do: a name looks up an object key, an index an array
/// element (negative from the end); anything else selects nothing.
fn singular_walk<'v>(path: &JpQuery, doc: &'v Value) -> Option<&'v Value> {
    path.segments
        .iter()
        .try_fold(doc, |value, segment| match segment {
            Segment::Selector(Selector::Name(name)) => value.get(name.as_str()),
            Segment::Selector(Selector::Index(i)) => {
                let items = value.as_array()?;
                let at = if *i >= 0 {
                    usize::try_from(*i).ok()?
                } else {
                    items
                        .len()
                        .checked_sub(usize::try_from(i.unsigned_abs()).ok()?)?
                };
                items.get(at)
            }
            _ => None,
        })
}

fn pointer_escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

fn compile_node(value: &Value, location: &str) -> Result<Node, TemplateError> {
    Ok(match value {
        Value::String(s) if s.starts_with("$$") => Node::Literal(Value::String(s[1..].to_string())),
        Value::String(s) if s.starts_with('$') => Node::Query(compile_query(s, location)?),
        Value::Array(items) => Node::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, v)| compile_node(v, &format!("{location}/{i}")))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) if map.contains_key("$each") || map.contains_key("$map") => {
            let source = match map.get("$each") {
                Some(Value::String(q)) if q.starts_with('$') && !q.starts_with("$$") => {
                    compile_query(q, &format!("{location}/$each"))?
                }
                Some(_) => return Err(err(&format!("{location}/$each"), "must be a JSONPath query string such as \"$.lines\"")),
                None => return Err(err(location, "\"$map\" needs \"$each\" beside it, naming what to iterate")),
            };
            let map_template = map
                .get("$map")
                .ok_or_else(|| err(location, "\"$each\" needs \"$map\" beside it: the template of one element"))?;
            if let Some(extra) = map.keys().find(|k| *k != "$each" && *k != "$map") {
                return Err(err(location, format!("{extra:?} cannot stand beside \"$each\" and \"$map\"")));
            }
            Node::Each {
                source,
                map: Box::new(compile_node(map_template, &format!("{location}/$map"))?),
            }
        }
        Value::Object(map) => Node::Object(
            map.iter()
                .map(|(k, v)| {
                    let here = format!("{location}/{}", pointer_escape(k));
                    if k.starts_with('$') && !k.starts_with("$$") {
                        return Err(err(
                            &here,
                            format!("{k:?} is not a template keyword (known: $each, $map, and $missing at the top); write \"${k}\" for a literal key"),
                        ));
                    }
                    let key = k.strip_prefix('$').filter(|_| k.starts_with("$$")).unwrap_or(k);
                    Ok((key.to_string(), compile_node(v, &here)?))
                })
                .collect::<Result<_, _>>()?,
        ),
        other => Node::Literal(other.clone()),
    })
}

impl Template {
    /// Compiles a template document, refusing it with the location of the first problem.
    pub fn compile(doc: &Value) -> Result<Template, TemplateError> {
        if doc.to_string().len() > MAX_TEMPLATE_BYTES {
            return Err(err(
                "",
                format!("is larger than {MAX_TEMPLATE_BYTES} bytes"),
            ));
        }
        let mut missing = Missing::Null;
        let body = match doc {
            Value::Object(map) if map.contains_key("$missing") => {
                missing = match map.get("$missing") {
                    Some(Value::String(s)) if s == "null" => Missing::Null,
                    Some(Value::String(s)) if s == "omit" => Missing::Omit,
                    Some(Value::String(s)) if s == "error" => Missing::Error,
                    _ => return Err(err("/$missing", "must be \"null\", \"omit\" or \"error\"")),
                };
                let mut rest = map.clone();
                rest.remove("$missing");
                Value::Object(rest)
            }
            other => other.clone(),
        };
        Ok(Template {
            root: compile_node(&body, "")?,
            missing,
        })
    }

    /// Renders the template for one invoice (contract JSON) and event metadata
    /// (`{"id", "type", "created_at"}`).
    pub fn render(&self, invoice: &Value, event: &Value) -> Result<Value, TemplateError> {
        let ctx = Ctx {
            invoice,
            event,
            missing: self.missing,
        };
        Ok(ctx.render(&self.root, invoice, "")?.unwrap_or(Value::Null))
    }
}

struct Ctx<'a> {
    invoice: &'a Value,
    event: &'a Value,
    missing: Missing,
}

impl Ctx<'_> {
    fn select<'v>(&self, q: &Query, scope: &'v Value) -> Result<Vec<&'v Value>, String>
    where
        Self: 'v,
    {
        let doc: &Value = match q.root {
            Root::Scope => scope,
            Root::Invoice => self.invoice,
            Root::Event => self.event,
        };
        if q.singular {
            // Names and indices only (most template fields): a direct walk with the
            // library's own semantics, without building the result paths that
            // `js_path_process` returns and we never read.
            return Ok(singular_walk(&q.path, doc).into_iter().collect());
        }
        jsonpath_rust::query::js_path_process(&q.path, doc)
            .map(|refs| refs.into_iter().map(|r| r.val()).collect())
            .map_err(|e| format!("query {:?} failed: {e}", q.text))
    }

    /// `None` means "omit this value".
    fn render(
        &self,
        node: &Node,
        scope: &Value,
        location: &str,
    ) -> Result<Option<Value>, TemplateError> {
        Ok(Some(match node {
            Node::Literal(v) => v.clone(),
            Node::Query(q) => {
                let found = self.select(q, scope).map_err(|m| err(location, m))?;
                if q.singular {
                    match found.first() {
                        Some(v) => (*v).clone(),
                        None => return self.missing(q, location),
                    }
                } else {
                    Value::Array(found.into_iter().cloned().collect())
                }
            }
            Node::Object(fields) => {
                let mut out = Map::with_capacity(fields.len());
                for (key, child) in fields {
                    let here = format!("{location}/{}", pointer_escape(key));
                    if let Some(v) = self.render(child, scope, &here)? {
                        out.insert(key.clone(), v);
                    }
                }
                Value::Object(out)
            }
            Node::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, child) in items.iter().enumerate() {
                    if let Some(v) = self.render(child, scope, &format!("{location}/{i}"))? {
                        out.push(v);
                    }
                }
                Value::Array(out)
            }
            Node::Each { source, map } => {
                let found = self.select(source, scope).map_err(|m| err(location, m))?;
                let elements: Vec<&Value> = match (source.singular, found.as_slice()) {
                    (true, [Value::Array(items)]) => items.iter().collect(),
                    (true, []) => return self.missing(source, location),
                    (true, [other]) => {
                        return Err(err(
                            location,
                            format!(
                                "$each {:?} selected {}, not an array",
                                source.text,
                                kind(other)
                            ),
                        ));
                    }
                    _ => found,
                };
                let mut out = Vec::with_capacity(elements.len());
                for (i, element) in elements.into_iter().enumerate() {
                    if let Some(v) = self.render(map, element, &format!("{location}/$map[{i}]"))? {
                        out.push(v);
                    }
                }
                Value::Array(out)
            }
        }))
    }

    fn missing(&self, q: &Query, location: &str) -> Result<Option<Value>, TemplateError> {
        match self.missing {
            Missing::Null => Ok(Some(Value::Null)),
            Missing::Omit => Ok(None),
            Missing::Error => Err(err(
                location,
                format!("{:?} selected nothing in this invoice", q.text),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_singular_fast_path_selects_what_the_library_selects() {
        let doc = json!({
            "a": {"b": [10, 20, {"c": "x"}], "s": "text", "n": null},
            "lines": [{"id": "l1"}, {"id": "l2"}],
            "odd key": 1
        });
        let queries = [
            "$.a.b[0]",
            "$.a.b[2].c",
            "$.a.b[-1].c",
            "$.a.b[-3]",
            "$.a.b[-4]",
            "$.a.b[3]",
            "$.a.s",
            "$.a.n",
            "$.a.missing",
            "$.a.s.deeper",
            "$.a.s[0]",
            "$.lines[1].id",
            "$.lines.id",
            "$['odd key']",
            "$",
            "$.a[0]",
        ];
        for text in queries {
            let path = jsonpath_rust::parser::parse_json_path(text).expect(text);
            let library: Vec<&Value> = jsonpath_rust::query::js_path_process(&path, &doc)
                .expect(text)
                .into_iter()
                .map(|r| r.val())
                .collect();
            let fast: Vec<&Value> = singular_walk(&path, &doc).into_iter().collect();
            assert_eq!(fast, library, "{text}");
        }
    }

    fn invoice() -> Value {
        json!({
            "id": "inv_1", "number": "INV-1", "currency": "USD", "total": "12.99",
            "customer": {"id": "cus_1", "name": "Acme"},
            "lines": [
                {"id": "li_1", "amount": "10.00", "description": "API calls"},
                {"id": "li_2", "amount": "2.00", "description": "Setup", "product_id": "prod_setup"}
            ],
            "metadata": {"po_number": "PO-7"}
        })
    }

    fn event() -> Value {
        json!({"id": "evt_1", "type": "invoice.finalized", "created_at": "2026-11-01T10:00:00.000Z"})
    }

    fn render(t: Value) -> Result<Value, TemplateError> {
        Template::compile(&t)
            .expect("compiles")
            .render(&invoice(), &event())
    }

    #[test]
    fn maps_nests_and_copies_literals() {
        let out = render(json!({
            "doc": "$.number",
            "kind": "invoice",
            "amount": {"value": "$.total", "currency": "$.currency"},
            "event": "$event.type",
            "version": 2,
            "flags": [true, null, "$.customer.name"],
        }))
        .unwrap();
        assert_eq!(
            out,
            json!({"doc": "INV-1", "kind": "invoice", "amount": {"value": "12.99", "currency": "USD"},
                   "event": "invoice.finalized", "version": 2, "flags": [true, null, "Acme"]})
        );
    }

    #[test]
    fn each_maps_lines_relative_to_the_element() {
        let out = render(json!({
            "lines": {"$each": "$.lines", "$map": {"ref": "$.id", "amt": "$.amount", "cur": "$invoice.currency"}}
        }))
        .unwrap();
        assert_eq!(
            out["lines"],
            json!([{"ref": "li_1", "amt": "10.00", "cur": "USD"}, {"ref": "li_2", "amt": "2.00", "cur": "USD"}])
        );
        let wildcard = render(json!({"ids": {"$each": "$.lines[*]", "$map": "$.id"}})).unwrap();
        assert_eq!(wildcard["ids"], json!(["li_1", "li_2"]));
    }

    #[test]
    fn non_singular_queries_give_arrays_and_escapes_give_literals() {
        let out = render(json!({"amounts": "$.lines[*].amount", "price": "$$5 off", "$$key": 1}))
            .unwrap();
        assert_eq!(
            out,
            json!({"amounts": ["10.00", "2.00"], "price": "$5 off", "$key": 1})
        );
        let one = render(json!({"amounts": "$.lines[?@.product_id].amount"})).unwrap();
        assert_eq!(
            one["amounts"],
            json!(["2.00"]),
            "a filter stays an array with one match"
        );
    }

    #[test]
    fn missing_fields_follow_the_template_setting() {
        let t = json!({"po": "$.metadata.po_number", "memo": "$.metadata.memo",
                       "lines": {"$each": "$.lines", "$map": {"p": "$.product_id"}}});
        let out = render(t.clone()).unwrap();
        assert_eq!(out["memo"], Value::Null);
        assert_eq!(out["lines"][0]["p"], Value::Null);

        let mut omit = t.clone();
        omit["$missing"] = json!("omit");
        let out = render(omit).unwrap();
        assert!(out.get("memo").is_none());
        assert_eq!(out["lines"][0], json!({}));
        assert_eq!(out["lines"][1], json!({"p": "prod_setup"}));

        let mut strict = t;
        strict["$missing"] = json!("error");
        let e = render(strict).unwrap_err();
        assert_eq!(e.location, "/lines/$map[0]/p");
        assert!(e.message.contains("$.product_id"), "{e}");
    }

    #[test]
    fn bad_templates_are_refused_with_their_location() {
        let cases = [
            (json!({"a": {"b": "$.lines[?"}}), "/a/b"),
            (json!({"x": {"$each": "$.lines"}}), "/x"),
            (json!({"x": {"$map": "$.id"}}), "/x"),
            (json!({"x": {"$each": "lines", "$map": 1}}), "/x/$each"),
            (
                json!({"x": {"$each": "$.lines", "$map": "$.id", "y": 1}}),
                "/x",
            ),
            (json!({"$missing": "maybe"}), "/$missing"),
            (json!({"x": {"$eachh": "$.lines"}}), "/x/$eachh"),
            (json!(["ok", {"a/b": "$..["}]), "/1/a~1b"),
        ];
        for (t, location) in cases {
            let e = Template::compile(&t).unwrap_err();
            assert_eq!(e.location, location, "{t}: {e}");
        }
    }

    #[test]
    fn each_over_a_non_array_is_a_render_error() {
        let e = render(json!({"x": {"$each": "$.customer", "$map": "$.id"}})).unwrap_err();
        assert!(e.message.contains("not an array"), "{e}");
    }

    #[test]
    fn deeply_nested_queries_are_refused_before_parsing() {
        // Found by fuzzing (fuzz/regressions/template_render): unclosed filters nested
        // 20 deep kept the JSONPath parser busy for over a minute.
        let deep = format!("$.lines[?{} $ 0@.", "(none_of(".repeat(20));
        let e = Template::compile(&json!({ "a": deep })).unwrap_err();
        assert_eq!(e.location, "/a");
        assert!(e.message.contains("41 levels deep"), "{e}");
        let found =
            include_bytes!("../../fuzz/regressions/template_render/nested-unclosed-filter-timeout");
        let doc: Value = serde_json::from_slice(found).expect("JSON");
        let e = Template::compile(&doc).unwrap_err();
        assert!(e.message.contains("levels deep"), "{e}");
        // Eight levels still compile; brackets inside quoted strings do not count.
        let eight = format!("$.lines[?{}@.amount{}]", "(".repeat(7), ")".repeat(7));
        Template::compile(&json!({ "a": eight })).expect("8 levels compile");
        let quoted = "$.lines[?@.description == '(((((((((([[[[']";
        Template::compile(&json!({ "a": quoted })).expect("quoted brackets do not count");
    }
}
