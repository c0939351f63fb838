//! What the fakes' self tests need alike: a plain HTTP client, and the statuses of calls
//! sent at once.

use tokio::task::JoinSet;

/// A client that does not follow redirects (the authorize endpoints answer 302).
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client")
}

/// The statuses of calls sent at once, in the order they finished.
pub async fn all_statuses(calls: JoinSet<reqwest::Result<reqwest::Response>>) -> Vec<u16> {
    calls
        .join_all()
        .await
        .into_iter()
        .map(|r| r.unwrap().status().as_u16())
        .collect()
}

/// How many of `statuses` are `status`.
pub fn how_many(statuses: &[u16], status: u16) -> usize {
    statuses.iter().filter(|s| **s == status).count()
}
