//! What every accounting call must pass before it is answered: the token, the tenant, the
//! scope, `Accept`, injected faults, and Xero's rate limits (5 in flight, 60 in any 60
//! seconds and 5000 in any 24 hours per organisation, 10,000 a minute per app), answered 429
//! with `Retry-After` and `X-Rate-Limit-Problem`, every answer carrying the
//! `X-*Limit-Remaining` headers.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use axum::http::HeaderMap;

use super::super::harness::limits::{Release, prune};
use super::super::harness::lock;
use super::super::harness::wire::header_str;

use super::answers::{Answer, forbidden, rate_limited, unavailable, xml_only};
use super::gate::Route;
use super::state::{Org, Shared};

const MAX_CONCURRENT_PER_TENANT: usize = 5;

const APP_MINUTE_LIMIT: u32 = 10_000;

/// An admitted call: counted in flight until dropped.
pub(super) struct Admitted {
    _in_flight: Release,
    pub(super) tenant: String,
    pub(super) delay: Duration,
    pub(super) limit_headers: Vec<(&'static str, String)>,
}

/// The checks every accounting call goes through, in the order Xero's layers apply them.
/// The per-organisation minute and day limits are rolling windows ("60 calls in a rolling
/// 60 second window", "5000 calls in a rolling 24 hour window"); [I] refused calls are not
/// counted in them. `Retry-After` is the whole seconds until the oldest counted call leaves
/// the window that is full (at least 1; [I] 1 for the concurrent limit).
pub(super) fn admit(
    state: &Shared,
    headers: &HeaderMap,
    route: &Route,
) -> Result<Admitted, Answer> {
    let mut guard = lock(state);
    let s = &mut *guard;
    let grant_id = s.bearer(headers)?;
    let tenant = header_str(headers, "xero-tenant-id").trim().to_string();
    if tenant.is_empty() || !s.grant_reaches(&grant_id, &tenant) {
        return Err(forbidden());
    }
    let scopes = route.scopes();
    let granted = &s.grants[&grant_id].scopes;
    let scope_missing =
        !scopes.is_empty() && !scopes.iter().any(|n| granted.iter().any(|g| g == n));

    let now = Instant::now();
    let minute = Duration::from_secs(60);
    let day = Duration::from_secs(24 * 3600);
    prune(&mut s.app_recent, now, minute);
    let (minute_limit, day_limit) = (s.minute_limit as usize, s.day_limit as usize);
    let app_recent = &mut s.app_recent;
    let org = s.orgs.get_mut(&tenant).expect("a reachable tenant exists");
    prune(&mut org.minute, now, minute);
    prune(&mut org.day, now, day);
    let headers_now = |org: &Org, app: usize| {
        vec![
            (
                "x-minlimit-remaining",
                minute_limit.saturating_sub(org.minute.len()).to_string(),
            ),
            (
                "x-daylimit-remaining",
                day_limit.saturating_sub(org.day.len()).to_string(),
            ),
            (
                "x-appminlimit-remaining",
                (APP_MINUTE_LIMIT as usize).saturating_sub(app).to_string(),
            ),
        ]
    };
    let refuse = |answer: Answer, org: &Org, app: usize| {
        let mut answer = answer;
        answer.headers.extend(headers_now(org, app));
        Err(answer)
    };
    if scope_missing {
        return refuse(forbidden(), org, app_recent.len());
    }
    if !header_str(headers, "accept").contains("application/json") {
        return refuse(xml_only(), org, app_recent.len());
    }
    if org.retry_after_until.is_some_and(|until| now < until) {
        s.calls_during_retry_after += 1;
    }
    if s.faults.take_outage() {
        return refuse(unavailable(), org, app_recent.len());
    }
    if s.faults.take_throttle() {
        org.retry_after_until = Some(now + Duration::from_secs(1));
        let answer = rate_limited(&s.throttle_problem, 1);
        return refuse(answer, org, app_recent.len());
    }
    if org.calls.enter() > MAX_CONCURRENT_PER_TENANT {
        org.calls.leave();
        s.rate_limited += 1;
        org.retry_after_until = Some(now + Duration::from_secs(1));
        return refuse(rate_limited("concurrent", 1), org, app_recent.len());
    }
    let over = if org.minute.len() >= minute_limit {
        Some(("minute", retry_after(&org.minute, now, minute)))
    } else if org.day.len() >= day_limit {
        Some(("day", retry_after(&org.day, now, day)))
    } else if app_recent.len() >= APP_MINUTE_LIMIT as usize {
        Some(("appminute", retry_after(app_recent, now, minute)))
    } else {
        None
    };
    if let Some((problem_name, wait)) = over {
        org.calls.leave();
        s.rate_limited += 1;
        org.retry_after_until = Some(now + Duration::from_secs(wait));
        return refuse(rate_limited(problem_name, wait), org, app_recent.len());
    }
    org.minute.push_back(now);
    org.day.push_back(now);
    org.admitted += 1;
    app_recent.push_back(now);
    let limit_headers = headers_now(org, app_recent.len());
    let (state, counted) = (state.clone(), tenant.clone());
    Ok(Admitted {
        _in_flight: Release::new(move || {
            if let Some(o) = lock(&state).orgs.get_mut(&counted) {
                o.calls.leave();
            }
        }),
        tenant,
        delay: s.faults.delay,
        limit_headers,
    })
}

/// Whole seconds (at least 1) until the oldest arrival leaves the window.
pub(super) fn retry_after(times: &VecDeque<Instant>, now: Instant, window: Duration) -> u64 {
    let oldest = times.front().copied().unwrap_or(now);
    let left = window.saturating_sub(now.duration_since(oldest));
    (left.as_millis().div_ceil(1000) as u64).max(1)
}
