//! What every API call must pass before it is answered, in the order QBO's layers apply
//! it: outages, `Accept`, throttling, the bearer token, `minorversion`, `requestid`, and the
//! per-realm limits (10 in flight, 500 in any minute), answered 429 without `Retry-After`.

use std::time::{Duration, Instant};

use axum::http::{HeaderMap, header};

use super::super::harness::limits::{Release, prune};
use super::super::harness::lock;
use super::super::harness::wire::{Params, header_str};

use super::answers::{Answer, outage, throttled, too_long, validation, xml_only};
use super::state::Shared;

const MIN_MINOR_VERSION: u32 = 75;

const MAX_CONCURRENT_PER_REALM: usize = 10;
pub(super) const MAX_REQUESTS_PER_MINUTE: usize = 500;
const MAX_REQUESTID_LEN: usize = 50;

/// The rolling window of the per-realm request limit.
const RATE_WINDOW: Duration = Duration::from_secs(60);

/// The checks every API call goes through, in the order the layers of QBO apply them.
pub(super) fn admit(
    state: &Shared,
    realm: &str,
    headers: &HeaderMap,
    params: &Params,
) -> Result<(Release, Duration), Answer> {
    let mut s = lock(state);
    if s.faults.take_outage() {
        return Err(outage());
    }
    if !header_str(headers, header::ACCEPT).contains("application/json") {
        return Err(xml_only());
    }
    if s.faults.take_throttle() {
        return Err(throttled());
    }
    s.check_bearer(realm, headers)?;
    check_minor_version(params)?;
    if let Some(id) = params.get("requestid") {
        let len = id.chars().count();
        if len > MAX_REQUESTID_LEN {
            return Err(too_long("requestid", MAX_REQUESTID_LEN, len));
        }
    }
    let company = s
        .companies
        .get_mut(realm)
        .expect("a token is only issued for a known company");
    if company.calls.enter() > MAX_CONCURRENT_PER_REALM {
        company.calls.leave();
        return Err(throttled());
    }
    // A rolling window: the limit counts the admitted requests of the last 60 s, whenever
    // they came (Intuit: "500 requests per minute per realm"; whether QBO counts in a
    // rolling or a fixed minute is undocumented [I]; a rolling one is the stricter for a
    // connector that bursts across a minute boundary). Refused requests do not count [I].
    let now = Instant::now();
    prune(&mut company.recent, now, RATE_WINDOW);
    if company.recent.len() >= MAX_REQUESTS_PER_MINUTE {
        company.calls.leave();
        return Err(throttled());
    }
    company.recent.push_back(now);
    let (state, realm) = (state.clone(), realm.to_string());
    let in_flight = Release::new(move || {
        if let Some(c) = lock(&state).companies.get_mut(&realm) {
            c.calls.leave();
        }
    });
    Ok((in_flight, s.faults.delay))
}

/// [I] QBO serves minor version 75 when none (or an older one) is asked for; the fake
/// insists on an explicit `minorversion` >= 75 so the connector pins the version it parses.
fn check_minor_version(params: &Params) -> Result<(), Answer> {
    let given = params.get("minorversion");
    match given.and_then(|v| v.parse::<u32>().ok()) {
        Some(v) if v >= MIN_MINOR_VERSION => Ok(()),
        _ => {
            let detail = format!(
                "minorversion is required and must be {MIN_MINOR_VERSION} or later (got {given:?}); versions 1-74 are no longer supported"
            );
            Err(validation(
                "2010",
                "Request has invalid or unsupported property",
                &detail,
                "minorversion",
            ))
        }
    }
}
