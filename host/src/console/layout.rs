//! The frame around every page, and the small pieces pages share: status badges,
//! times, messages.
//!
//! Everything is built with maud's `html!`, which escapes every value it splices in, so
//! an invoice or customer field from outside is always shown as text. Pages load one
//! stylesheet and one script from `/assets/` — the Content-Security-Policy allows
//! nothing inline.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};

use super::session::Session;

/// Which section a page belongs to, to mark it in the navigation.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Overview,
    Connections,
    SyncLog,
    Settings,
    Transforms,
}

const SECTIONS: [(Section, &str, &str); 5] = [
    (Section::Overview, "/overview", "Overview"),
    (Section::Connections, "/connections", "Connections"),
    (Section::SyncLog, "/sync-log", "Sync log"),
    (Section::Transforms, "/transforms", "Transforms"),
    (Section::Settings, "/settings", "Settings"),
];

/// The `<head>`; `refresh` reloads the page every so many seconds (an HTML refresh,
/// which the CSP does not govern: a page that follows progress needs no script).
fn head(title: &str, refresh: Option<u32>) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            @if let Some(seconds) = refresh {
                meta http-equiv="refresh" content=(seconds);
            }
            title { (title) " · erp-sync" }
            link rel="stylesheet" href="/assets/console.css";
            script src="/assets/console.js" defer {}
        }
    }
}

/// A page of a signed-in operator: navigation, sign-out, and `content`.
pub fn page(title: &str, session: &Session, section: Section, content: Markup) -> Markup {
    page_refreshing(title, session, section, None, content)
}

/// Like [`page`], reloading itself every `refresh` seconds when given (a running
/// recovery's progress).
pub fn page_refreshing(
    title: &str,
    session: &Session,
    section: Section,
    refresh: Option<u32>,
    content: Markup,
) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title, refresh))
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    a.brand href="/overview" { "erp-sync" }
                    nav aria-label="Console" {
                        ul {
                            @for (s, href, label) in SECTIONS {
                                li {
                                    @if s == section {
                                        a href=(href) aria-current="page" { (label) }
                                    } @else {
                                        a href=(href) { (label) }
                                    }
                                }
                            }
                        }
                    }
                    form.signout method="post" action="/logout" {
                        input type="hidden" name="csrf" value=(session.csrf);
                        button type="submit" { "Sign out" }
                    }
                }
                main #main { (content) }
            }
        }
    }
}

/// A page without navigation (sign-in, refusals).
pub fn bare(title: &str, content: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title, None))
            body {
                header.top { span.brand { "erp-sync" } }
                main #main .narrow { (content) }
            }
        }
    }
}

/// An error page with a status.
pub fn error_page(status: StatusCode, title: &str, message: &str) -> Response {
    let page = bare(
        title,
        html! {
            h1 { (title) }
            p.error role="alert" { (message) }
            p { a href="/overview" { "Back to the console" } }
        },
    );
    (status, page).into_response()
}

/// A hidden CSRF field for a form of this session.
pub fn csrf(session: &Session) -> Markup {
    html! { input type="hidden" name="csrf" value=(session.csrf); }
}

/// An error message box, with detail lines.
pub fn error_box(message: &str, details: &[String]) -> Markup {
    html! {
        div.notice.error role="alert" {
            p { strong { "Error: " } (message) }
            @if !details.is_empty() {
                ul { @for d in details { li { (d) } } }
            }
        }
    }
}

/// A success message box.
pub fn ok_box(message: &str) -> Markup {
    html! { div.notice.ok role="status" { p { (message) } } }
}

/// A status as text and colour (the class picks the colour; the text says it).
pub fn status(value: &str) -> Markup {
    let (class, label) = match value {
        "active" => ("good", "active"),
        "SUCCESS" => ("good", "SUCCESS"),
        "succeeded" => ("good", "succeeded"),
        "pending_auth" => ("warn", "pending authorization"),
        "pending" | "in_progress" => ("warn", value),
        "needs_reauth" => ("bad", "needs re-authorization"),
        "paused" => ("warn", "paused"),
        "FAILED" | "failed" => ("bad", value),
        "disconnected" | "cancelled" => ("off", value),
        other => ("off", other),
    };
    html! { span class={ "status " (class) } { (label) } }
}

/// An API time (RFC 3339) shown compactly, machine-readable in `datetime`.
pub fn time(value: &str) -> Markup {
    let shown = value.replacen('T', " ", 1);
    let shown = shown
        .split('.')
        .next()
        .unwrap_or(&shown)
        .trim_end_matches('Z');
    html! { time datetime=(value) { (shown) " UTC" } }
}
