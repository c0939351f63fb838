//! The Identity API's connections: the organisations a grant reaches, and disconnecting one.

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};

use super::super::harness::lock;
use super::super::harness::wire::Params;

use super::answers::Answer;
use super::state::Shared;

pub(super) struct Connection {
    pub(super) id: String,
    pub(super) created: String,
    pub(super) updated: String,
}

/// `GET /connections[?authEventId=]`: the organisations this token's grant authorized.
pub(super) async fn list_connections(
    State(state): State<Shared>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Answer {
    let s = lock(&state);
    let grant_id = match s.bearer(&headers) {
        Ok(g) => g,
        Err(refusal) => return refusal,
    };
    let params = Params::parse(query.as_deref().unwrap_or_default());
    if params
        .get_ci("authEventId")
        .is_some_and(|id| !id.eq_ignore_ascii_case(&grant_id))
    {
        return Answer::json(StatusCode::OK, &json!([]));
    }
    let list: Vec<Value> = s.grants[&grant_id]
        .tenants
        .iter()
        .filter(|t| s.grant_reaches(&grant_id, t))
        .map(|t| {
            let c = &s.connections[t];
            json!({
                "id": c.id, "authEventId": grant_id, "tenantId": t, "tenantType": "ORGANISATION",
                "tenantName": s.orgs[t].name, "createdDateUtc": c.created, "updatedDateUtc": c.updated,
            })
        })
        .collect();
    Answer::json(StatusCode::OK, &Value::Array(list))
}

/// `DELETE /connections/{id}`: disconnects that organisation (204), 404 if not this grant's.
pub(super) async fn delete_connection(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Answer {
    let mut s = lock(&state);
    let grant_id = match s.bearer(&headers) {
        Ok(g) => g,
        Err(refusal) => return refusal,
    };
    let tenant = s.grants[&grant_id]
        .tenants
        .iter()
        .find(|t| s.connections.get(*t).is_some_and(|c| c.id == id))
        .cloned();
    match tenant {
        Some(tenant) => {
            s.connections.remove(&tenant);
            Answer::empty(StatusCode::NO_CONTENT)
        }
        None => Answer::empty(StatusCode::NOT_FOUND),
    }
}
