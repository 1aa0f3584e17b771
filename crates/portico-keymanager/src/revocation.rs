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
    revoked: RwLock<HashMap<String, i64, foldhash::fast::RandomState>>,
    /// (kind, subject) -> tokens issued at or before this instant (epoch millis) are invalid.
    cutoffs: RwLock<HashMap<(CutoffKind, String), i64, foldhash::fast::RandomState>>,
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
        self.is_revoked_parts(&claims.jti, &claims.sub, &claims.client_id, claims.iat)
    }

    /// [`RevocationList::is_revoked`] from the claims that matter: token id, user, client and
    /// issue time (seconds). The gateway checks tokens it validated itself this way.
    pub fn is_revoked_parts(&self, jti: &str, sub: &str, client_id: &str, iat: i64) -> bool {
        if self.revoked.read().is_ok_and(|m| m.contains_key(jti)) {
            return true;
        }
        let issued_ms = iat.saturating_mul(1000);
        let Ok(cutoffs) = self.cutoffs.read() else { return true };
        if cutoffs.is_empty() {
            return false;
        }
        [(CutoffKind::User, sub), (CutoffKind::Client, client_id)]
            .into_iter()
            .any(|(kind, subject)| {
                cutoffs
                    .get(&(kind, subject.to_owned()))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(sub: &str, client: &str, iat: i64, jti: &str) -> AccessClaims {
        AccessClaims {
            sub: sub.into(),
            aut: "APPLICATION_USER".into(),
            aud: client.into(),
            azp: client.into(),
            client_id: client.into(),
            scope: "default".into(),
            iss: "https://localhost:9443/oauth2/token".into(),
            iat,
            nbf: iat,
            exp: iat + 3600,
            jti: jti.into(),
            keytype: "PRODUCTION".into(),
        }
    }

    fn event(kind: &str, entity: &str, payload: serde_json::Value) -> ChangeEvent {
        ChangeEvent {
            seq: 1,
            kind: kind.into(),
            entity_id: entity.into(),
            payload: payload.to_string(),
            origin_node: "other".into(),
            created_at: 0,
        }
    }

    #[test]
    fn revoked_ids_and_cutoffs_refuse_tokens() {
        let list = RevocationList::new();
        let t = claims("bob", "app", 1_000, "j1");
        assert!(!list.is_revoked(&t));
        assert!(list.apply(&event(
            "token.revoked",
            "j1",
            serde_json::json!({"jti": "j1", "expiresAt": 4_600_000})
        )));
        assert!(list.is_revoked(&t));
        assert!(!list.is_revoked(&claims("bob", "app", 1_000, "j2")));

        // A cut-off at 1 000 500 ms refuses tokens issued in second 1000 or before, not after.
        list.apply(&event(
            "user.tokens_revoked",
            "bob",
            serde_json::json!({"subject": "bob", "notAfter": 1_000_500}),
        ));
        assert!(list.is_revoked(&claims("bob", "app", 999, "a")));
        assert!(list.is_revoked(&claims("bob", "app", 1_000, "b")));
        assert!(!list.is_revoked(&claims("bob", "app", 1_001, "c")));
        assert!(
            !list.is_revoked(&claims("eve", "app", 999, "d")),
            "other users unaffected"
        );
        assert!(list.cutoff_in_this_second("bob", "x", 1_000_900));
        assert!(!list.cutoff_in_this_second("bob", "x", 1_001_000));

        // Client cut-offs; an older cut-off never moves one back.
        list.apply(&event(
            "client.tokens_revoked",
            "app",
            serde_json::json!({"subject": "app", "notAfter": 2_000_000}),
        ));
        list.apply(&event(
            "client.tokens_revoked",
            "app",
            serde_json::json!({"subject": "app", "notAfter": 5}),
        ));
        assert!(list.is_revoked(&claims("eve", "app", 1_999, "e")));
        assert!(!list.apply(&event("api.deployed", "x", serde_json::json!({}))));

        list.prune(4_600_001);
        assert_eq!(list.revoked_count(), 0);
    }
}
