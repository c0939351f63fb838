//! The operator console: HTTP-level checks of sign-in, CSRF, headers, escaping and the
//! OAuth return (`http`), the Overview and `GET /v1/overview` (`overview`), and a real
//! headless Chromium driving the operator's main scenario (`browser`).

mod browser;
mod control;
mod http;
mod ledger;
mod overview;

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};

use crate::support::TestServer;

/// A client that shows redirects instead of following them, as the tests inspect them.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client")
}

/// A URL-encoded form body.
pub fn form(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

/// Posts the sign-in form to the server at `base` with `api_key`, as every sign-in does.
pub async fn log_in(http: &reqwest::Client, base: &str, api_key: &str) -> reqwest::Response {
    http.post(format!("{base}/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[("api_key", api_key)]))
        .send()
        .await
        .expect("an answer")
}

/// A signed-in browser, as plain HTTP: its cookie and its CSRF token.
pub struct Operator {
    pub http: reqwest::Client,
    pub base: String,
    pub cookie: String,
    pub csrf: String,
}

impl Operator {
    /// Signs in to `server` with its tenant's key.
    pub async fn sign_in(server: &TestServer) -> Self {
        let http = client();
        let answer = log_in(&http, &server.base, &server.key).await;
        assert_eq!(answer.status(), StatusCode::SEE_OTHER);
        let cookie = set_cookie(answer.headers())
            .split(';')
            .next()
            .expect("a cookie")
            .to_string();
        let mut operator = Operator {
            http,
            base: server.base.clone(),
            cookie,
            csrf: String::new(),
        };
        let (_, _, page) = operator.get("/settings").await;
        operator.csrf = csrf_in(&page).expect("a CSRF field on the page");
        operator
    }

    /// `GET path` with the cookie: status, headers, body.
    pub async fn get(&self, path: &str) -> (StatusCode, HeaderMap, String) {
        let answer = self
            .http
            .get(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .send()
            .await
            .expect("an answer");
        let (status, headers) = (answer.status(), answer.headers().clone());
        (status, headers, answer.text().await.expect("a body"))
    }

    /// Posts the console's connect form for an OAuth provider, which redirects to it.
    pub async fn connect_erp(&self, provider: &str, name: &str) -> (StatusCode, HeaderMap, String) {
        let fields = [
            ("csrf", self.csrf.as_str()),
            ("provider", provider),
            ("name", name),
        ];
        self.post("/connections", &fields).await
    }

    /// `POST path` with the cookie and a form (add `("csrf", …)` yourself).
    pub async fn post(
        &self,
        path: &str,
        pairs: &[(&str, &str)],
    ) -> (StatusCode, HeaderMap, String) {
        let answer = self
            .http
            .post(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(pairs))
            .send()
            .await
            .expect("an answer");
        let (status, headers) = (answer.status(), answer.headers().clone());
        (status, headers, answer.text().await.expect("a body"))
    }
}

/// Opens `url` as a browser (`accept`ing HTML) expecting a 303, and answers where to.
pub async fn sent_on(http: &reqwest::Client, url: &str, accept: &str) -> String {
    let answer = http
        .get(url)
        .header("accept", accept)
        .send()
        .await
        .expect("an answer");
    assert_eq!(answer.status(), StatusCode::SEE_OTHER, "{url}");
    location(answer.headers())
}

/// The `Set-Cookie` header (the console sets one at a time).
pub fn set_cookie(headers: &HeaderMap) -> String {
    headers
        .get(SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .expect("a Set-Cookie header")
        .to_string()
}

/// The `Location` header.
pub fn location(headers: &HeaderMap) -> String {
    headers
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .expect("a Location header")
        .to_string()
}

/// The value of the first hidden `csrf` field in a page.
pub fn csrf_in(page: &str) -> Option<String> {
    let at = page.find("name=\"csrf\" value=\"")? + "name=\"csrf\" value=\"".len();
    let rest = &page[at..];
    Some(rest[..rest.find('"')?].to_string())
}
