//! `GET/POST /settings`: the tenant's Multi-ERP switch (`PATCH /v1/settings`).

use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde_json::json;

use super::api_client::{ApiFailure, Payload};
use super::layout::{self, Section};
use super::session::{CheckedForm, Session};
use super::{ConsoleError, ConsoleState};

fn render(session: &Session, multi_erp: bool, outcome: Option<Result<(), &ApiFailure>>) -> Markup {
    layout::page(
        "Settings",
        session,
        Section::Settings,
        html! {
            h1 { "Settings" }
            @match outcome {
                Some(Ok(())) => (layout::ok_box("Settings saved.")),
                Some(Err(e)) => (layout::error_box(&e.to_string(), &e.detail_lines())),
                None => {}
            }
            form.stack method="post" action="/settings" {
                (layout::csrf(session))
                div.check {
                    input #multi_erp type="checkbox" name="multi_erp" value="on" checked[multi_erp]
                        aria-describedby="multi_erp_help";
                    label for="multi_erp" { "Multi-ERP mode" }
                }
                p #multi_erp_help .hint {
                    "When on, several connections can be active at once and each invoice goes to every "
                    "connection whose entity matches the invoice's entity (or that has no entity); when off, "
                    "only one active connection is allowed."
                }
                p { "Currently: " strong { @if multi_erp { "on" } @else { "off" } } }
                button type="submit" { "Save settings" }
            }
        },
    )
}

/// `GET /settings`.
pub async fn page(
    State(state): State<ConsoleState>,
    session: Session,
) -> Result<Markup, ConsoleError> {
    let settings = state.api.get(&session.key, "/v1/settings").await?;
    Ok(render(
        &session,
        settings["multi_erp"].as_bool().unwrap_or(false),
        None,
    ))
}

/// `POST /settings`.
pub async fn save(State(state): State<ConsoleState>, form: CheckedForm) -> Response {
    let wanted = form.get("multi_erp") == Some("on");
    let key = &form.session.key;
    let answer = state
        .api
        .send(
            key,
            Method::PATCH,
            "/v1/settings",
            Payload::Json(json!({"multi_erp": wanted})),
        )
        .await;
    match answer {
        Ok(v) => render(
            &form.session,
            v["multi_erp"].as_bool().unwrap_or(wanted),
            Some(Ok(())),
        )
        .into_response(),
        Err(e) if e.status() == StatusCode::UNAUTHORIZED => ConsoleError::from(e).into_response(),
        Err(e) => {
            let current = state
                .api
                .get(key, "/v1/settings")
                .await
                .map(|v| v["multi_erp"].as_bool().unwrap_or(false))
                .unwrap_or(!wanted);
            (e.status(), render(&form.session, current, Some(Err(&e)))).into_response()
        }
    }
}
