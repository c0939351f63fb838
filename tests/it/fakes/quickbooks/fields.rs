//! Reading and checking request properties the way QBO's JSON binder and business layer
//! do: unknown properties, `SyncToken`, sparse updates, references, dates and amounts.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde_json::{Map, Value, json};

use super::super::harness::numbers::{decimal, round};
use super::super::harness::wire::listed;

use super::answers::{
    Answer, business, meta_time, object_not_found, required, stale_object, unsupported_property,
};
use super::state::{Company, Stored};

/// Rejects properties QBO does not know (2010), as its JSON binder does.
pub(super) fn check_properties(
    object: &Map<String, Value>,
    known: &str,
    class: &str,
) -> Result<(), Answer> {
    match object.keys().find(|k| !listed(known, k)) {
        None => Ok(()),
        Some(unknown) => Err(unsupported_property(
            unknown,
            &format!(
                "Unrecognized field \"{unknown}\" (class com.intuit.schema.finance.v3.{class}), not marked as ignorable"
            ),
        )),
    }
}

/// A `POST` of one entity of `class`: its properties checked against `known`, then a
/// create, or an update of the entity its `Id` names.
pub(super) fn write_entity(
    company: &mut Company,
    body: &Map<String, Value>,
    (class, known): (&str, &str),
    create: impl FnOnce(&mut Company, &Map<String, Value>) -> Result<Value, Answer>,
    update: impl FnOnce(&mut Company, &str, &Map<String, Value>) -> Result<Value, Answer>,
) -> Answer {
    if let Err(refusal) = check_properties(body, known, class) {
        return refusal;
    }
    let written = match body.get("Id") {
        None => create(company, body),
        Some(id) => update(company, id.as_str().unwrap_or_default(), body),
    };
    written.map_or_else(|refusal| refusal, |entity| Answer::entity(class, &entity))
}

/// `GET <entity>/<id>`: the entity of `list` (of `class`) whose `Id` is `id`.
pub(super) fn read_stored(list: &[Stored], class: &str, id: &str) -> Answer {
    match list.iter().find(|s| s.entity["Id"] == id) {
        Some(s) => Answer::entity(class, &s.entity),
        None => object_not_found(class, id),
    }
}

/// Where the entity `id` of `list` is, once the body's `SyncToken` is found to be its own.
pub(super) fn locate(
    list: &[Stored],
    class: &str,
    id: &str,
    body: &Map<String, Value>,
) -> Result<usize, Answer> {
    let index = list.iter().position(|s| s.entity["Id"] == id);
    let index = index.ok_or_else(|| object_not_found(class, id))?;
    check_sync_token(&list[index].entity, body)?;
    Ok(index)
}

/// The entity `id` of `list` (`class`) an update changes (a void one is refused): its
/// index, its stored self, and the update's input (see [`update_input`]).
pub(super) fn updating(
    list: &[Stored],
    (class, computed): (&str, &str),
    id: &str,
    body: &Map<String, Value>,
) -> Result<(usize, Value, Map<String, Value>), Answer> {
    let index = locate(list, class, id, body)?;
    if list[index].voided {
        return Err(business(
            "You cannot modify a transaction that has been voided.",
        ));
    }
    let current = list[index].entity.clone();
    let input = update_input(&current, body, computed);
    Ok((index, current, input))
}

/// A request's JSON object body.
pub(super) type Body = Map<String, Value>;

/// What a handler answers, or why it refused.
pub(super) type Handled = Result<Answer, Answer>;

/// The transaction of `list` a void (`{"Id","SyncToken"}`) names, now marked voided (one
/// already void is refused); answers its entity, to zero.
pub(super) fn voiding<'l>(
    list: &'l mut [Stored],
    class: &str,
    body: &Body,
) -> Result<&'l mut Value, Answer> {
    let (index, _) = named(list, class, body)?;
    let stored = &mut list[index];
    if stored.voided {
        return Err(business("This transaction is already void."));
    }
    stored.voided = true;
    Ok(&mut stored.entity)
}

/// The entity a void or delete (`{"Id","SyncToken"}`) names: its index, and its `Id`.
pub(super) fn named<'b>(
    list: &[Stored],
    class: &str,
    body: &'b Map<String, Value>,
) -> Result<(usize, &'b str), Answer> {
    let id = body.get("Id").and_then(Value::as_str);
    let id = id.ok_or_else(|| required("Id"))?;
    Ok((locate(list, class, id, body)?, id))
}

/// The input's properties less the `computed` ones (which are ignored on input).
pub(super) fn writable(input: &Map<String, Value>, computed: &str) -> Map<String, Value> {
    let kept = input.iter().filter(|(k, _)| !listed(computed, k));
    kept.map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// The body's `SyncToken` must equal the stored one (else 5010).
pub(super) fn check_sync_token(current: &Value, body: &Map<String, Value>) -> Result<(), Answer> {
    match body.get("SyncToken").and_then(Value::as_str) {
        None => Err(required("SyncToken")),
        Some(given) if given == current["SyncToken"] => Ok(()),
        Some(_) => Err(stale_object()),
    }
}

/// The input of an update: the body, or for `sparse: true` the stored entity with the
/// body's fields laid over it (the `computed` ones left out).
pub(super) fn update_input(
    current: &Value,
    body: &Map<String, Value>,
    computed: &str,
) -> Map<String, Value> {
    if body.get("sparse") != Some(&Value::Bool(true)) {
        return body.clone();
    }
    let mut merged: Map<String, Value> = current
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, _)| !listed(computed, k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for (k, v) in body {
        merged.insert(k.clone(), v.clone());
    }
    merged
}

/// A created entity: its checked fields with the next `Id` of `next_id` (which moves on),
/// `SyncToken` "0" and the `MetaData` times.
pub(super) fn created(mut entity: Map<String, Value>, next_id: &mut u64) -> Value {
    let now = meta_time();
    entity.insert("Id".into(), json!(next_id.to_string()));
    *next_id += 1;
    entity.insert("SyncToken".into(), json!("0"));
    entity.insert(
        "MetaData".into(),
        json!({ "CreateTime": now, "LastUpdatedTime": now }),
    );
    Value::Object(entity)
}

/// An updated entity: its checked fields with `Id`, the next `SyncToken`, and `MetaData`
/// keeping the creation time of `current`.
pub(super) fn updated(mut entity: Map<String, Value>, id: &str, current: &Value) -> Value {
    entity.insert("Id".into(), json!(id));
    entity.insert(
        "SyncToken".into(),
        json!((sync_token(current) + 1).to_string()),
    );
    let created = current["MetaData"]["CreateTime"].clone();
    entity.insert(
        "MetaData".into(),
        json!({ "CreateTime": created, "LastUpdatedTime": meta_time() }),
    );
    Value::Object(entity)
}

/// A voided transaction's `PrivateNote` prefixed with "Voided", its `SyncToken` bumped.
pub(super) fn mark_voided(entity: &mut Value) {
    let note = match entity["PrivateNote"].as_str() {
        Some(note) if !note.is_empty() => format!("Voided - {note}"),
        _ => "Voided".to_string(),
    };
    entity["PrivateNote"] = json!(note);
    entity["SyncToken"] = json!((sync_token(entity) + 1).to_string());
    entity["MetaData"]["LastUpdatedTime"] = json!(meta_time());
}

/// `{"value": "<id>"}` of a reference.
pub(super) fn ref_id(reference: Option<&Value>) -> Option<String> {
    let id = reference?.get("value")?.as_str()?;
    (!id.is_empty()).then(|| id.to_string())
}

/// An optional `YYYY-MM-DD` property.
pub(super) fn date_field(input: &Map<String, Value>, name: &str) -> Result<Option<String>, Answer> {
    match input.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok() => {
            Ok(Some(s.clone()))
        }
        Some(_) => Err(unsupported_property(name, "not a date in YYYY-MM-DD form")),
    }
}

/// An optional amount, which must be a JSON number (a string is refused with 2010).
pub(super) fn amount_field(
    object: &Map<String, Value>,
    path: &str,
) -> Result<Option<Decimal>, Answer> {
    match object.get(path.rsplit('.').next().unwrap_or(path)) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => decimal(v)
            .map(Some)
            .ok_or_else(|| unsupported_property(path, "not a JSON number")),
    }
}

/// Rounds to cents, half away from zero. As QBO writes them, a money amount is a JSON
/// number with at least one decimal (`150.0`, `harness::numbers::money`), and a number that
/// is not money (a rate, a percent) has no forced decimals (`20`, `7.1`, `1.085`,
/// `harness::numbers::plain`).
pub(super) fn cents(d: Decimal) -> Decimal {
    round(d, 2)
}

/// An entity's `SyncToken` as a number.
pub(super) fn sync_token(entity: &Value) -> u64 {
    entity["SyncToken"]
        .as_str()
        .and_then(|t| t.parse().ok())
        .unwrap_or(0)
}
