//! What list requests share: `where` (see `filters`), paging, `summaryOnly`, comma-separated
//! list parameters, and the high volume threshold's refusal of inefficient queries.

use serde_json::{Value, json};

use super::super::harness::wire::Params;

use super::answers::{Answer, envelope_with, query_parse};
use super::filters::Filter;

/// `page` without `pageSize` gives 100 a page; `pageSize` is clamped to 1..=1000.
const PAGE_SIZE: usize = 100;
const MAX_PAGE_SIZE: usize = 1000;

/// Keeps the entities a `where` parameter (if any) matches; a bad one is a 400
/// QueryParseException.
pub(super) fn filtered(
    params: &Params,
    kind: &str,
    fields: &[&str],
    list: Vec<Value>,
) -> Result<Vec<Value>, Answer> {
    let Some(text) = params.get_ci("where") else {
        return Ok(list);
    };
    let filter = Filter::parse(text, kind, fields).map_err(|m| query_parse(&m))?;
    Ok(list.into_iter().filter(|e| filter.matches(e)).collect())
}

/// The answer to a list request whose own parameters narrowed the entities to `found`:
/// keeps what `where` matches (see [`filtered`]; `filter` is the kind and its fields),
/// leaves the `excluded` fields out under `summaryOnly` (else has `unpaged` trim each
/// entity of a list asked without `page`), and pages into the `plural` envelope.
pub(super) fn list_answer(
    params: &Params,
    plural: &str,
    (kind, fields): (&str, &[&str]),
    found: Vec<&Value>,
    excluded: &[&str],
    unpaged: impl Fn(&mut Value),
) -> Answer {
    let found = found.into_iter().cloned().collect();
    let mut found = match filtered(params, kind, fields, found) {
        Ok(found) => found,
        Err(refusal) => return refusal,
    };
    let summary = summary_only(params);
    let paged = params.get_ci("page").is_some();
    for entity in &mut found {
        if summary && let Some(map) = entity.as_object_mut() {
            for field in excluded {
                map.remove(*field);
            }
        } else if !paged {
            unpaged(entity);
        }
    }
    match page(params, found, summary) {
        Ok((list, pagination)) => envelope_with(plural, list, pagination),
        Err(refusal) => refusal,
    }
}

/// Whether `summaryOnly=true` was asked for (it also enforces paging).
pub(super) fn summary_only(params: &Params) -> bool {
    params
        .get_ci("summaryOnly")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

/// For a high-volume organisation: whether a list request is refused (see
/// [`FakeXero::set_high_volume`]). `narrowing` are the list parameters that count as
/// optimised filters.
pub(super) fn too_broad(
    params: &Params,
    narrowing: &[&str],
    kind: &str,
    fields: &[&str],
    optimised: impl Fn(&Filter) -> bool,
) -> bool {
    let paged = params.get_ci("page").is_some() || summary_only(params);
    let listed = narrowing.iter().any(|p| params.get_ci(p).is_some());
    let Some(text) = params.get_ci("where") else {
        return !paged && !listed;
    };
    let lower = text.to_ascii_lowercase();
    if lower.contains("tolower") || lower.contains("toupper") {
        return true;
    }
    // A bad filter is refused as such later.
    Filter::parse(text, kind, fields).is_ok_and(|f| !optimised(&f))
}

/// A comma-separated list parameter; items may be quoted.
pub(super) fn split_list(text: &str) -> Vec<String> {
    text.split(',')
        .map(|s| s.trim().trim_matches('"').to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// `page=n[&pageSize=m]` (100 a page unless `pageSize` says otherwise, clamped to
/// 1..=1000 as Xero does, with `pagination`); without `page`, everything and no
/// pagination (`pageSize` alone is ignored) unless paging is `enforced` (then page 1).
pub(super) fn page(
    params: &Params,
    list: Vec<Value>,
    enforced: bool,
) -> Result<(Vec<Value>, Option<Value>), Answer> {
    let page = match params.get_ci("page") {
        Some(page) => page,
        None if enforced => "1",
        None => return Ok((list, None)),
    };
    let Some(page) = page.trim().parse::<usize>().ok().filter(|p| *p >= 1) else {
        // [I] wording.
        return Err(query_parse("The page parameter must be a positive integer"));
    };
    let size = match params.get_ci("pageSize").map(|s| s.trim().parse::<i64>()) {
        None => PAGE_SIZE,
        Some(Ok(size)) => size.clamp(1, MAX_PAGE_SIZE as i64) as usize,
        // [I] wording.
        Some(Err(_)) => {
            return Err(query_parse("The pageSize parameter must be an integer"));
        }
    };
    let count = list.len();
    let items: Vec<Value> = list
        .into_iter()
        .skip((page - 1).saturating_mul(size))
        .take(size)
        .collect();
    let pagination = json!({
        "page": page, "pageSize": size, "pageCount": count.div_ceil(size), "itemCount": count,
    });
    Ok((items, Some(pagination)))
}
