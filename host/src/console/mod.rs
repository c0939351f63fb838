//! The operator console: the web pages billing operators use to connect ERPs, read the
//! sync log, re-sync an invoice, switch Multi-ERP mode and try transforms.
//!
//! # How it is built
//!
//! * **Server-rendered HTML** with maud (every spliced value is escaped), one file per
//!   page: [`overview`] (the landing page: each connection's last 24 hours as an SVG
//!   chart drawn by [`chart`], open alerts, queue depth), [`connections`] (list,
//!   pause/resume, rotate a webhook secret, recover FAILED deliveries, disconnect,
//!   re-authorize), [`connect`], [`mapping`]
//!   (an ERP connection's maps, from the ERP's own lists, and a preview), [`sync_log`],
//!   [`invoice`], [`settings`], [`transforms`]; [`layout`] is the shared frame.
//!   One stylesheet and one small script are compiled into the binary
//!   ([`assets`]); nothing is fetched from the network, nothing is built with Node.
//! * **The public API only**: pages never touch the store. [`api_client`] sends the
//!   `/v1` router in-process requests with the operator's API key, so the console has
//!   exactly the API's powers, validation and error messages (shown verbatim).
//! * **Sign-in** ([`login`], [`session`]): the tenant's API key in an `HttpOnly`,
//!   `SameSite=Strict` cookie; every state-changing form is a POST carrying a CSRF
//!   token derived from the key, and its `Origin` must be this server.
//! * **Headers**: [`security_headers`] puts a strict Content-Security-Policy (no inline
//!   script or style at all), `nosniff`, `Referrer-Policy` and `no-store` on every
//!   console answer.
//!
//! The console is mounted beside the API at `/` by [`crate::server`]; it adds routes but
//! changes nothing of the API. The one API change made for it: the OAuth callback sends
//! a browser back here (see [`crate::api::oauth::callback`]).

pub mod api_client;
pub mod assets;
pub mod chart;
pub mod connect;
pub mod connections;
pub mod control;
pub mod document;
pub mod invoice;
pub mod layout;
pub mod login;
pub mod mapping;
pub mod multipart;
pub mod overview;
pub mod session;
pub mod settings;
pub mod sync_log;
pub mod transforms;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use api_client::{ApiClient, ApiFailure};
use session::CsrfKey;

/// What the console needs from the server's configuration.
#[derive(Clone, Debug)]
pub struct ConsoleSettings {
    /// Mark the session cookie `Secure` (the public URL is https).
    pub secure_cookies: bool,
    /// Origins of the OAuth providers' authorization pages: a "Connect" form's answer
    /// redirects there, and the CSP's `form-action` must allow it.
    pub authorize_origins: Vec<String>,
    /// Largest form body (the component upload is the large one).
    pub max_form_bytes: usize,
}

impl ConsoleSettings {
    /// The settings for a server with this configuration.
    pub fn from_config(config: &crate::config::Config) -> Self {
        let origin = |u: &str| {
            url::Url::parse(u)
                .ok()
                .map(|u| u.origin().ascii_serialization())
                .filter(|o| o != "null")
        };
        let mut authorize_origins: Vec<String> =
            [&config.quickbooks.auth_url, &config.xero.auth_url]
                .into_iter()
                .filter_map(|u| origin(u))
                .collect();
        authorize_origins.dedup();
        ConsoleSettings {
            secure_cookies: config.public_url.starts_with("https://"),
            authorize_origins,
            max_form_bytes: config.max_component_bytes + 1024 * 1024,
        }
    }
}

/// What every console handler can reach.
#[derive(Clone)]
pub struct ConsoleState {
    /// The `/v1` API, called in-process with the operator's key.
    pub api: ApiClient,
    /// The per-process secret CSRF tokens are derived with.
    pub csrf: CsrfKey,
    /// Whether the session cookie is marked `Secure`.
    pub secure_cookies: bool,
    /// Largest form body read.
    pub max_form_bytes: usize,
}

/// Why a page could not be shown.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// The API refused; its words are shown. A 401 means the key is no longer valid.
    #[error(transparent)]
    Api(#[from] ApiFailure),
}

impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        match self {
            ConsoleError::Api(failure) if failure.status() == StatusCode::UNAUTHORIZED => {
                // The key was revoked (or the tenant removed): sign out, sign in again.
                let mut response = Redirect::to("/login").into_response();
                response
                    .headers_mut()
                    .insert(header::SET_COOKIE, session::sign_out_cookie(false));
                response
            }
            ConsoleError::Api(failure) => {
                let title = if failure.status() == StatusCode::NOT_FOUND {
                    "Not found"
                } else {
                    "The API refused"
                };
                layout::error_page(failure.status(), title, &failure.to_string())
            }
        }
    }
}

/// The Content-Security-Policy of every console answer.
fn content_security_policy(authorize_origins: &[String]) -> String {
    let mut form_action = String::from("'self'");
    for origin in authorize_origins {
        form_action.push(' ');
        form_action.push_str(origin);
    }
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
         connect-src 'self'; form-action {form_action}; frame-ancestors 'none'; base-uri 'none'"
    )
}

/// Adds the security headers to every console answer; pages are not cached (they show
/// a tenant's data), assets keep the cache header they set.
pub async fn security_headers(csp: HeaderValue, request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, csp);
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// The console's routes. `api` is the whole `/v1` API (with its state), which the
/// console calls in-process.
pub fn router(api: Router, settings: &ConsoleSettings) -> Router {
    let state = ConsoleState {
        api: ApiClient::new(api),
        csrf: CsrfKey::generate(),
        secure_cookies: settings.secure_cookies,
        max_form_bytes: settings.max_form_bytes,
    };
    let csp = HeaderValue::from_str(&content_security_policy(&settings.authorize_origins))
        .unwrap_or_else(|_| HeaderValue::from_static("default-src 'none'"));
    Router::new()
        .route("/", get(|| async { Redirect::to("/overview") }))
        .route("/overview", get(overview::page))
        .route("/alerts/{id}/close", post(overview::dismiss))
        .route("/login", get(login::form).post(login::sign_in))
        .route("/logout", post(login::sign_out))
        .route("/connections", get(connections::list).post(connect::create))
        .route("/connections/new", get(connect::new))
        .route("/connections/{id}", get(connections::show))
        .route(
            "/connections/{id}/reauthorize",
            post(connections::reauthorize),
        )
        .route(
            "/connections/{id}/disconnect",
            get(connections::confirm_disconnect).post(connections::disconnect),
        )
        .route("/connections/{id}/pause", post(control::pause))
        .route("/connections/{id}/resume", post(control::resume))
        .route(
            "/connections/{id}/rotate-secret",
            post(control::rotate_secret),
        )
        .route("/connections/{id}/recover", post(control::recover))
        .route("/recoveries/{id}", get(control::progress))
        .route(
            "/connections/{id}/organisation",
            post(connections::choose_organisation),
        )
        .route(
            "/connections/{id}/mapping",
            get(mapping::page).post(mapping::save),
        )
        .route("/connections/{id}/mapping/preview", post(mapping::preview))
        .route("/sync-log", get(sync_log::page))
        .route("/sync-log/rows", get(sync_log::rows))
        .route("/invoices", get(invoice::find))
        .route("/invoices/{id}", get(invoice::page))
        .route("/invoices/{id}/sync", post(invoice::manual_sync))
        .route("/documents/{kind}/{id}", get(document::page))
        .route("/documents/{kind}/{id}/sync", post(document::manual_sync))
        .route("/settings", get(settings::page).post(settings::save))
        .route(
            "/transforms",
            get(transforms::page).post(transforms::upload),
        )
        .route("/transforms/{id}/run", post(transforms::run))
        .route("/assets/console.css", get(assets::css))
        .route("/assets/console.js", get(assets::js))
        .layer(middleware::from_fn(move |request: Request, next: Next| {
            security_headers(csp.clone(), request, next)
        }))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

#[cfg(test)]
mod tests {
    #[test]
    fn csp_allows_forms_to_the_authorize_pages_only() {
        let csp = super::content_security_policy(&["https://login.xero.com".into()]);
        assert!(csp.contains("form-action 'self' https://login.xero.com;"));
        assert!(csp.contains("script-src 'self';"));
        assert!(!csp.contains("unsafe"));
    }
}
