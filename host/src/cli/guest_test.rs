//! `erp-sync transform test <component> <dir> [--update]`: regression tests for a guest
//! without writing Rust.
//!
//! Every `NAME.json` in the folder is an invoice (the API's contract). Beside it:
//! - `NAME.expected.json`: what the component must produce (`--update` writes it):
//!   - a webhook transform: `{"content_type": "...", "headers": [["Name", "value"], …],
//!     "body": …}`, where `body` is the body parsed as JSON when it is JSON, else the
//!     text (or `{"base64": "…"}` for bytes that are not UTF-8). `content_type` and
//!     `headers` may be left out, and then are not compared. Any other JSON is the
//!     expected body alone (the templates' tests use that form), and `--update` keeps
//!     an existing file in the form it has;
//!   - an invoice tweak: the adjusted invoice, after the worker's validation;
//!   - a call that fails (either world): `{"error": "<the message transform run
//!     prints>"}`, to test that an invoice is refused.
//! - `NAME.config.json` (optional): the guest's `config`, a JSON object of strings.
//! - `NAME.event.json` (optional): the event type, as `"invoice.voided"` or
//!   `{"type": "invoice.voided"}`; without it, `invoice.finalized`.
//!
//! Results are compared as JSON (key order and whitespace do not matter); a mismatch
//! prints a unified diff of the pretty-printed expected and actual values.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::guest::{GuestCommandError, LocalGuest, Output, invoice, read};
use crate::transform::wasm::Limits;

const SIDE_FILES: &[&str] = &[".expected", ".config", ".event"];

/// The test cases in `dir`: the stems of its `NAME.json` invoices, sorted.
fn cases(dir: &Path) -> Result<Vec<String>, GuestCommandError> {
    let entries = std::fs::read_dir(dir).map_err(|source| GuestCommandError::Read {
        path: dir.display().to_string(),
        source,
    })?;
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let stem = name.strip_suffix(".json")?.to_string();
            (!SIDE_FILES.iter().any(|s| stem.ends_with(s))).then_some(stem)
        })
        .collect();
    names.sort();
    Ok(names)
}

fn json_file(path: &Path) -> Result<Option<Value>, GuestCommandError> {
    if !path.exists() {
        return Ok(None);
    }
    serde_json::from_slice(&read(path)?)
        .map(Some)
        .map_err(|e| GuestCommandError::Invalid {
            path: path.display().to_string(),
            message: format!("not valid JSON: {e}"),
        })
}

fn config(path: &Path) -> Result<Vec<(String, String)>, GuestCommandError> {
    let invalid = |message: &str| GuestCommandError::Invalid {
        path: path.display().to_string(),
        message: message.to_string(),
    };
    match json_file(path)? {
        None => Ok(Vec::new()),
        Some(Value::Object(map)) => map
            .into_iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k, s)),
                Value::Number(_) | Value::Bool(_) => Ok((k, v.to_string())),
                _ => Err(invalid("config values must be strings")),
            })
            .collect(),
        Some(_) => Err(invalid(
            "must be a JSON object of config entries, e.g. {\"region\": \"eu\"}",
        )),
    }
}

fn event_type(path: &Path) -> Result<String, GuestCommandError> {
    match json_file(path)? {
        None => Ok("invoice.finalized".into()),
        Some(Value::String(s)) => Ok(s),
        Some(Value::Object(map)) if map.get("type").is_some_and(Value::is_string) => {
            Ok(map["type"].as_str().unwrap_or_default().to_string())
        }
        Some(_) => Err(GuestCommandError::Invalid {
            path: path.display().to_string(),
            message:
                "must be an event type, as \"invoice.voided\" or {\"type\": \"invoice.voided\"}"
                    .into(),
        }),
    }
}

/// What a call did, as `NAME.expected.json` holds it.
fn outcome(result: Result<Output, crate::transform::wasm::TransformFailure>) -> Value {
    match result {
        Err(e) => json!({"error": e.to_string()}),
        Ok(Output::Tweak(invoice)) => invoice.canonical_json(),
        Ok(Output::Webhook(out)) => {
            let body = match serde_json::from_slice::<Value>(&out.body) {
                Ok(v) => v,
                Err(_) => match String::from_utf8(out.body) {
                    Ok(text) => json!(text),
                    Err(e) => {
                        use base64::Engine;
                        json!({"base64": base64::engine::general_purpose::STANDARD.encode(e.as_bytes())})
                    }
                },
            };
            json!({"content_type": out.content_type, "headers": out.headers, "body": body})
        }
    }
}

/// Whether a webhook expectation is the whole output (`{"body", "content_type"?,
/// "headers"?}`) rather than the body alone.
fn is_envelope(expected: &Value) -> bool {
    expected.as_object().is_some_and(|e| {
        e.contains_key("body")
            && e.keys()
                .all(|k| ["body", "content_type", "headers"].contains(&k.as_str()))
    })
}

/// Whether an expectation is a failure, `{"error": "..."}`.
fn is_error(expected: &Value) -> bool {
    expected
        .as_object()
        .is_some_and(|e| e.len() == 1 && e.contains_key("error"))
}

/// The part of `actual` that `expected` speaks about: a webhook expectation that is
/// the body alone compares the body; one without `content_type` or `headers` does not
/// compare them.
fn compared(expected: Option<&Value>, actual: &Value, webhook: bool) -> Value {
    let Some(expected) = expected else {
        return actual.clone();
    };
    if !webhook || !webhook_success(actual) || is_error(expected) {
        return actual.clone();
    }
    if is_envelope(expected) {
        let e = expected.as_object().expect("an envelope is an object");
        Value::Object(
            actual
                .as_object()
                .into_iter()
                .flatten()
                .filter(|(k, _)| e.contains_key(*k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        )
    } else {
        actual["body"].clone()
    }
}

/// Whether `actual` is a webhook transform's output (not `{"error": ...}`).
fn webhook_success(actual: &Value) -> bool {
    actual.get("body").is_some()
}

/// What `--update` writes: the same form as the expectation already there (the body
/// alone stays the body alone), the whole output for a new one.
fn to_write(expected: Option<&Value>, actual: &Value, webhook: bool) -> Value {
    match expected {
        Some(e) if webhook && webhook_success(actual) && !is_envelope(e) && !is_error(e) => {
            actual["body"].clone()
        }
        _ => actual.clone(),
    }
}

fn pretty(v: &Value) -> String {
    let mut text = serde_json::to_string_pretty(v).expect("a JSON value always serializes");
    text.push('\n');
    text
}

/// Runs the test cases in `dir` and returns the report; any failure is an error whose
/// text is the whole report.
pub async fn test(
    module: &Path,
    dir: &Path,
    update: bool,
    limits: Limits,
    cache_dir: Option<PathBuf>,
) -> Result<String, GuestCommandError> {
    let names = cases(dir)?;
    if names.is_empty() {
        return Err(GuestCommandError::Failed(format!(
            "{}: no NAME.json invoices to test (each with a NAME.expected.json)",
            dir.display()
        )));
    }
    let guest = LocalGuest::load(module, limits, cache_dir).await?;
    let webhook = guest.world() == crate::transform::wasm::World::WebhookTransform;
    let (mut passed, mut failed, mut updated) = (0, 0, 0);
    let mut report = String::new();
    for name in &names {
        let file = |suffix: &str| dir.join(format!("{name}{suffix}.json"));
        let run = async {
            let invoice = invoice(&file(""))?;
            let config = config(&file(".config"))?;
            let event = event_type(&file(".event"))?;
            let call = guest.invoke(&invoice, &event, config).await;
            Ok::<_, GuestCommandError>(call)
        };
        let call = match run.await {
            Ok(call) => call,
            Err(e) => {
                failed += 1;
                report.push_str(&format!("FAIL {name}: {e}\n"));
                continue;
            }
        };
        let logs = call.logs_text();
        let actual = outcome(call.result);
        let expected_path = file(".expected");
        let expected = json_file(&expected_path)?;
        let matches = expected
            .as_ref()
            .is_some_and(|e| *e == compared(Some(e), &actual, webhook));
        if matches {
            passed += 1;
            report.push_str(&format!("ok   {name}\n"));
            continue;
        }
        if update {
            let new = to_write(expected.as_ref(), &actual, webhook);
            std::fs::write(&expected_path, pretty(&new)).map_err(|source| {
                GuestCommandError::Read {
                    path: expected_path.display().to_string(),
                    source,
                }
            })?;
            updated += 1;
            report.push_str(&format!("updated {}\n", expected_path.display()));
            continue;
        }
        failed += 1;
        match expected {
            None => report.push_str(&format!(
                "FAIL {name}: there is no {} (--update writes it); the component gave:\n{}",
                expected_path.display(),
                pretty(&actual)
            )),
            Some(e) => {
                let (want, got) = (pretty(&e), pretty(&compared(Some(&e), &actual, webhook)));
                let diff = similar::TextDiff::from_lines(&want, &got)
                    .unified_diff()
                    .context_radius(3)
                    .header(&format!("{name}.expected.json"), "actual")
                    .to_string();
                report.push_str(&format!("FAIL {name}:\n{diff}"));
            }
        }
        if let Some(logs) = logs {
            report.push_str(&format!("guest logs of {name}:\n{logs}\n"));
        }
    }
    report.push_str(&format!("{passed} passed, {failed} failed"));
    if update {
        report.push_str(&format!(", {updated} updated"));
    }
    if failed > 0 {
        Err(GuestCommandError::Failed(report))
    } else {
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_webhook_expectation_compares_only_what_it_names() {
        let actual = json!({"content_type": "application/json", "headers": [["X-A", "1"]], "body": {"a": 1}});
        let envelope = json!({"body": {"a": 1}});
        assert_eq!(compared(Some(&envelope), &actual, true), envelope);
        let body = json!({"a": 1});
        assert_eq!(compared(Some(&body), &actual, true), body);
        assert_eq!(to_write(Some(&body), &actual, true), body);
        assert_eq!(to_write(Some(&envelope), &actual, true), actual);
        assert_eq!(to_write(None, &actual, true), actual);
        let error = json!({"error": "no"});
        assert_eq!(compared(Some(&body), &error, true), error);
        assert_eq!(compared(Some(&error), &actual, true), actual);
        assert_eq!(compared(Some(&body), &actual, false), actual);
    }
}
