//! The in-memory revocation state every validator consults: revoked token ids (until they would
//! have expired) and per-user / per-client cut-offs. It is loaded from the store at start-up and
//! kept current by this node's own revocations (at once) and the change feed (other nodes').

use std::collections::HashMap;
use std::sync::RwLock;

use portico_store::{ChangeEvent, CutoffKind, RevokedToken, TokenCutoff};
use serde::Deserialize;

use crate::jwt::AccessClaims;

#[derive(Default)]
pub struct RevocationList {
    /// jti -> expiry (epoch millis).
    revoked: RwLock<HashMap<String, i64>>,
    /// (kind, subject) -> tokens issued at or before this instant (epoch millis) are invalid.
    cutoffs: RwLock<HashMap<(CutoffKind, String), i64>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RevokedPayload {
    jti: String,
    expires_at: i64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CutoffPayload {
    subject: String,
    not_after: i64,
}

impl RevocationList {
    pub fn new() -> RevocationList {
        RevocationList::default()
    }

    pub fn revoke(&self, tokens: &[RevokedToken]) {
        if let Ok(mut map) = self.revoked.write() {
            for t in tokens {
                map.insert(t.jti.clone(), t.expires_at);
            }
        }
    }

    pub fn cut_off(&self, cutoff: &TokenCutoff) {
        if let Ok(mut map) = self.cutoffs.write() {
            let entry = map.entry((cutoff.kind, cutoff.subject_id.clone())).or_insert(i64::MIN);
            *entry = (*entry).max(cutoff.not_after);
        }
    }

    /// Whether a token that verified is nevertheless revoked. A cut-off at T refuses tokens whose
    /// `iat` second starts at or before T (iat has one-second resolution; see
    /// [`RevocationList::cutoff_in_this_second`] for how issuance avoids the same second).
    pub fn is_revoked(&self, claims: &AccessClaims) -> bool {
        if self.revoked.read().is_ok_and(|m| m.contains_key(&claims.jti)) {
            return true;
        }
        let issued_ms = claims.iat.saturating_mul(1000);
        let Ok(cutoffs) = self.cutoffs.read() else { return true };
        [(CutoffKind::User, &claims.sub), (CutoffKind::Client, &claims.client_id)]
            .into_iter()
            .any(|(kind, subject)| {
                cutoffs
                    .get(&(kind, subject.clone()))
                    .is_some_and(|not_after| issued_ms <= *not_after)
            })
    }

    /// Whether a token issued now for this user and client would fall under a cut-off set
    /// within the current second (and so be refused); the issuer waits for the next second.
    pub fn cutoff_in_this_second(&self, username: &str, client_id: &str, now_ms: i64) -> bool {
        let second_start = now_ms - now_ms.rem_euclid(1000);
        let Ok(cutoffs) = self.cutoffs.read() else { return false };
        [(CutoffKind::User, username), (CutoffKind::Client, client_id)]
            .into_iter()
            .any(|(kind, subject)| {
                cutoffs
                    .get(&(kind, subject.to_owned()))
                    .is_some_and(|not_after| *not_after >= second_start)
            })
    }

    /// Applies a change-feed event; events of other kinds are ignored. Returns whether it was a
    /// revocation event.
    pub fn apply(&self, event: &ChangeEvent) -> bool {
        match event.kind.as_str() {
            portico_store::EVENT_TOKEN_REVOKED => {
                if let Ok(p) = serde_json::from_str::<RevokedPayload>(&event.payload) {
                    self.revoke(&[RevokedToken {
                        jti: p.jti,
                        expires_at: p.expires_at,
                    }]);
                }
                true
            }
            portico_store::EVENT_USER_TOKENS_REVOKED | portico_store::EVENT_CLIENT_TOKENS_REVOKED => {
                let kind = if event.kind == portico_store::EVENT_USER_TOKENS_REVOKED {
                    CutoffKind::User
                } else {
                    CutoffKind::Client
                };
                if let Ok(p) = serde_json::from_str::<CutoffPayload>(&event.payload) {
                    self.cut_off(&TokenCutoff {
                        kind,
                        subject_id: p.subject,
                        not_after: p.not_after,
                    });
                }
                true
            }
            _ => false,
        }
    }

    /// Drops revoked ids of tokens that have expired anyway.
    pub fn prune(&self, now_ms: i64) {
        if let Ok(mut map) = self.revoked.write() {
            map.retain(|_, exp| *exp > now_ms);
        }
    }

    pub fn revoked_count(&self) -> usize {
        self.revoked.read().map_or(0, |m| m.len())
    }
}
