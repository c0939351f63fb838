//! `GET/POST /login` and `POST /logout`: signing in with the tenant's API key.
//!
//! The key is checked by asking the API for the tenant's settings with it: the API, not
//! the console, decides whether a key is valid. Only then is it put in the cookie.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};

use super::session::{self, CheckedForm};
use super::{ConsoleState, layout};

fn login_page(message: Option<&str>) -> Markup {
    layout::bare(
        "Sign in",
        html! {
            h1 { "Sign in" }
            p { "Sign in with your tenant's API key (" code { "erp-sync tenant create <name>" } " prints one)." }
            @if let Some(m) = message { (layout::error_box(m, &[])) }
            form.stack method="post" action="/login" {
                label for="api_key" { "API key" }
                input #api_key type="password" name="api_key" required autocomplete="current-password"
                    autofocus spellcheck="false";
                button type="submit" { "Sign in" }
            }
            p.hint { "The key is kept in a cookie that scripts cannot read, and sent only to this server." }
        },
    )
}

/// `GET /login`.
pub async fn form() -> Markup {
    login_page(None)
}

/// `POST /login`: checks the key with the API and sets the session cookie.
pub async fn sign_in(
    State(state): State<ConsoleState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !session::same_origin(&headers) {
        return session::forbidden();
    }
    let key = url::form_urlencoded::parse(&body)
        .find(|(name, _)| name == "api_key")
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_default();
    let refused =
        |message: &str| (StatusCode::UNAUTHORIZED, login_page(Some(message))).into_response();
    if key.is_empty() {
        return refused("Enter the API key.");
    }
    if !session::plausible_key(&key) {
        return refused(
            "That is not an API key of this server: keys start with esk_ and contain only letters, digits, - and _.",
        );
    }
    match state.api.get(&key, "/v1/settings").await {
        Ok(_) => {}
        Err(failure) if failure.status() == StatusCode::UNAUTHORIZED => {
            return refused(
                "That API key is not valid here. Check it, or create one with erp-sync tenant create <name>.",
            );
        }
        Err(failure) => return refused(&failure.to_string()),
    }
    let Some(cookie) = session::sign_in_cookie(&key, state.secure_cookies) else {
        return refused("That API key cannot be stored in a cookie.");
    };
    let mut response = Redirect::to("/overview").into_response();
    response.headers_mut().insert(header::SET_COOKIE, cookie);
    response
}

/// `POST /logout`: clears the cookie.
pub async fn sign_out(State(state): State<ConsoleState>, _form: CheckedForm) -> Response {
    let mut response = Redirect::to("/login").into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        session::sign_out_cookie(state.secure_cookies),
    );
    response
}
