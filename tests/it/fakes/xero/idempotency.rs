//! `Idempotency-Key` replay: a write's answer is kept under its key for a while and given
//! again to the same request; the key with another request is refused.

use std::time::Instant;

use axum::http::Method;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use super::super::harness::wire::header_str;

use super::answers::{Answer, idempotency_conflict, idempotency_key_too_long, internal_error};
use super::gate::{ApiRequest, dispatch};
use super::state::FakeState;

pub(super) const MAX_IDEMPOTENCY_KEY_LEN: usize = 128;

/// A replayable answer under an `Idempotency-Key`.
pub(super) struct Cached {
    /// Method, path and query, tenant and body hash of the first request.
    fingerprint: String,
    answer: Answer,
    at: Instant,
}

impl FakeState {
    /// Answers an admitted call: replays a known `Idempotency-Key` (writes), else handles
    /// it and remembers the answer under its key; then applies `fail_after_commit`.
    pub(super) fn answer(&mut self, request: &ApiRequest) -> Answer {
        let is_write = *request.method == Method::PUT || *request.method == Method::POST;
        let key = header_str(request.headers, "idempotency-key");
        let key = (is_write && !key.is_empty()).then_some(key);
        let mut fingerprint = String::new();
        if let Some(key) = key {
            if key.len() > MAX_IDEMPOTENCY_KEY_LEN {
                return idempotency_key_too_long();
            }
            let window = self.idempotency_window;
            self.idempotency.retain(|_, c| c.at.elapsed() < window);
            let body_hash = URL_SAFE_NO_PAD.encode(Sha256::digest(request.body));
            fingerprint = format!(
                "{} {} {} {body_hash}",
                request.method, request.target, request.tenant
            );
            if let Some(cached) = self.idempotency.get(key) {
                if cached.fingerprint != fingerprint {
                    return idempotency_conflict(key);
                }
                return cached.answer.clone();
            }
        }
        let org = self
            .orgs
            .get_mut(request.tenant)
            .expect("admitted calls name a known organisation");
        let (answer, committed) = dispatch(org, request);
        if let Some(key) = key {
            let cached = Cached {
                fingerprint,
                answer: answer.clone(),
                at: Instant::now(),
            };
            self.idempotency.insert(key.to_string(), cached);
        }
        if committed && self.faults.take_lost_answer() {
            return internal_error();
        }
        answer
    }
}
