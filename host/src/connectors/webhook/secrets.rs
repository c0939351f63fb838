//! A webhook connection's sealed secrets: the signing secret and, during a rotation's
//! grace period, the secrets it replaced, each until the time it stops signing.
//!
//! Stored as sealed JSON: `{"secret": "...", "previous": [{"secret": "...",
//! "expires_ms": 1795616362000}]}`. Connections stored before rotations existed hold
//! `"previous": ["..."]` (bare strings, in practice always empty); those still read, sign
//! until the next rotation, and are then given that rotation's grace.

use serde::{Deserialize, Serialize};

/// The grace a rotation gives the replaced secret when none is asked for: a day.
pub const DEFAULT_GRACE_SECONDS: u64 = 86_400;
/// The longest grace a rotation may give: a week.
pub const MAX_GRACE_SECONDS: u64 = 7 * 86_400;
/// At most this many replaced secrets sign beside the current one, so repeated rotations
/// within a grace period cannot grow the signature headers without bound.
const MAX_PREVIOUS: usize = 3;

/// The sealed part of a webhook connection.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WebhookSecrets {
    /// The current signing secret, which signs first.
    pub secret: String,
    /// Replaced secrets still signing, newest first.
    #[serde(default)]
    pub previous: Vec<PreviousSecret>,
}

/// A replaced secret that keeps signing until `expires_ms`, so receivers can switch to
/// the new secret at their own pace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "StoredPrevious")]
pub struct PreviousSecret {
    pub secret: String,
    /// Unix milliseconds when it stops signing; `None` for the bare-string form stored
    /// before rotations had a grace period (it signs until the next rotation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_ms: Option<i64>,
}

/// Either stored form of a replaced secret.
#[derive(Deserialize)]
#[serde(untagged)]
enum StoredPrevious {
    Bare(String),
    Expiring {
        secret: String,
        #[serde(default)]
        expires_ms: Option<i64>,
    },
}

impl From<StoredPrevious> for PreviousSecret {
    fn from(stored: StoredPrevious) -> Self {
        match stored {
            StoredPrevious::Bare(secret) => PreviousSecret {
                secret,
                expires_ms: None,
            },
            StoredPrevious::Expiring { secret, expires_ms } => {
                PreviousSecret { secret, expires_ms }
            }
        }
    }
}

impl PreviousSecret {
    fn signs_at(&self, now_ms: i64) -> bool {
        self.expires_ms.is_none_or(|at| at > now_ms)
    }
}

impl WebhookSecrets {
    /// A connection's first secrets: `secret` alone.
    pub fn new(secret: String) -> Self {
        WebhookSecrets {
            secret,
            previous: Vec::new(),
        }
    }

    /// Every secret that signs a request sent at `now_ms`: the current one, then each
    /// replaced one whose grace has not ended, newest first.
    pub fn signing_at(&self, now_ms: i64) -> Vec<&str> {
        std::iter::once(self.secret.as_str())
            .chain(
                self.previous
                    .iter()
                    .filter(|p| p.signs_at(now_ms))
                    .map(|p| p.secret.as_str()),
            )
            .collect()
    }

    /// Whether `secret` is one of those signing at `now_ms` (a rotation to it would
    /// change nothing a receiver could see).
    pub fn is_signing(&self, secret: &str, now_ms: i64) -> bool {
        self.signing_at(now_ms).contains(&secret)
    }

    /// Makes `new` the signing secret; the replaced one keeps signing for `grace_ms`
    /// (not at all with no grace). Replaced secrets whose grace has ended are dropped; one
    /// stored without an expiry gets this rotation's. Answers when the replaced secret
    /// stops signing.
    pub fn rotate(&mut self, new: String, grace_ms: i64, now_ms: i64) -> i64 {
        let expires_ms = now_ms + grace_ms.max(0);
        let replaced = std::mem::replace(&mut self.secret, new);
        let older = std::mem::take(&mut self.previous);
        self.previous = std::iter::once(PreviousSecret {
            secret: replaced,
            expires_ms: Some(expires_ms),
        })
        .chain(older.into_iter().map(|p| PreviousSecret {
            expires_ms: Some(p.expires_ms.unwrap_or(expires_ms)),
            ..p
        }))
        .filter(|p| p.signs_at(now_ms))
        .take(MAX_PREVIOUS)
        .collect();
        expires_ms
    }

    /// Ends every grace period now: only the current secret signs from here on.
    pub fn expire_previous(&mut self) {
        self.previous.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_form_stored_before_rotations() {
        let old: WebhookSecrets =
            serde_json::from_str(r#"{"secret":"whsec_a","previous":["whsec_b"]}"#).unwrap();
        assert_eq!(old.signing_at(i64::MAX), ["whsec_a", "whsec_b"]);
        let none: WebhookSecrets = serde_json::from_str(r#"{"secret":"whsec_a"}"#).unwrap();
        assert_eq!(none.signing_at(0), ["whsec_a"]);
    }

    #[test]
    fn a_rotation_signs_with_both_until_the_grace_ends() {
        let mut secrets = WebhookSecrets::new("old".into());
        let expires = secrets.rotate("new".into(), 1_000, 10_000);
        assert_eq!(expires, 11_000);
        assert_eq!(secrets.signing_at(10_999), ["new", "old"]);
        assert_eq!(secrets.signing_at(11_000), ["new"]);
        let stored = serde_json::to_string(&secrets).unwrap();
        let read: WebhookSecrets = serde_json::from_str(&stored).unwrap();
        assert_eq!(read.previous, secrets.previous);
    }

    #[test]
    fn rotations_keep_unexpired_secrets_newest_first_and_at_most_three() {
        let mut secrets: WebhookSecrets =
            serde_json::from_str(r#"{"secret":"a","previous":["legacy"]}"#).unwrap();
        secrets.rotate("b".into(), 5_000, 0);
        assert_eq!(secrets.signing_at(4_999), ["b", "a", "legacy"]);
        secrets.rotate("c".into(), 10_000, 1_000);
        secrets.rotate("d".into(), 10_000, 2_000);
        assert_eq!(secrets.signing_at(2_000), ["d", "c", "b", "a"]);
        assert_eq!(secrets.signing_at(6_000), ["d", "c", "b"]);
        secrets.rotate("e".into(), 0, 3_000);
        // No grace: the replaced secret stops at once; the others keep theirs.
        assert_eq!(secrets.signing_at(3_000), ["e", "c", "b", "a"]);
        secrets.expire_previous();
        assert_eq!(secrets.signing_at(3_000), ["e"]);
    }
}
