//! The gate every request goes through: the account-wide concurrency limit, the login,
//! injected faults and delays, then routing under the lock and lost answers after commit.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};

use super::super::harness::limits::Release;
use super::super::harness::lock;

use super::answers::{Answer, concurrency_exceeded, invalid_login, outage, unexpected_error};
use super::routes::route;
use super::state::{FakeState, Shared};
use super::suiteql::SUITEQL_PATH;
use super::tba::check_login;

/// Every request: counted in flight, admitted, then routed under the lock.
pub(super) async fn api(
    State(state): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    let admitted = {
        let mut s = lock(&state);
        s.calls.enter();
        admit(&mut s, &method, &headers, &uri)
    };
    // Created once the lock is released: its drop takes the lock to count down.
    let counted = state.clone();
    let in_flight = Release::new(move || lock(&counted).calls.leave());
    let delay = match admitted {
        Ok(delay) => delay,
        Err(refusal) => return refusal,
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let answer = {
        let mut s = lock(&state);
        let answer = route(&mut s, &method, &uri, &headers, &body);
        // A SuiteQL query is a POST but writes nothing: it has no commit to lose.
        let write =
            method != Method::GET && uri.path() != SUITEQL_PATH && answer.status.is_success();
        if write && s.faults.take_lost_answer() {
            unexpected_error()
        } else {
            answer
        }
    };
    drop(in_flight);
    answer
}

/// The checks before a call is served: the concurrency limit, the login, injected faults.
fn admit(
    s: &mut FakeState,
    method: &Method,
    headers: &HeaderMap,
    uri: &Uri,
) -> Result<Duration, Answer> {
    if s.calls.now() > s.concurrency_limit {
        return Err(concurrency_exceeded());
    }
    if let Err(reason) = check_login(s, method, headers, uri) {
        s.login_audit.push(reason);
        return Err(invalid_login());
    }
    if s.login_refusals > 0 {
        s.login_refusals -= 1;
        s.login_audit.push("InvalidToken".into());
        return Err(invalid_login());
    }
    if s.faults.take_throttle() {
        return Err(concurrency_exceeded());
    }
    if s.faults.take_outage() {
        return Err(outage());
    }
    Ok(s.faults.delay)
}
