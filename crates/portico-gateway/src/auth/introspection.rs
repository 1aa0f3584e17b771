//! Opaque access tokens of external key managers (WSO2 Identity Server, Okta, Keycloak with
//! reference tokens): not JWTs, so the gateway cannot verify them itself and asks the key
//! manager's RFC 7662 introspection endpoint, authenticated with the client credentials the key
//! manager was registered with. Answers are remembered per token, as WSO2's gateway token cache
//! does: an active token for [`ACTIVE_TTL`] (never past its `exp`), an inactive one for
//! [`INACTIVE_TTL`]. At most [`MAX_CONCURRENT`] introspections run at once, so a flood of
//! made-up tokens cannot open unbounded connections to the key manager.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

use crate::clock::now_seconds;

/// How long an active answer is reused (the key manager may revoke the token meanwhile: WSO2's
/// gateway token cache has the same window, 15 minutes by default).
pub const ACTIVE_TTL: Duration = Duration::from_secs(300);
/// How long an inactive answer is reused.
pub const INACTIVE_TTL: Duration = Duration::from_secs(10);
/// Introspection requests in flight at once, per key manager.
pub const MAX_CONCURRENT: usize = 32;
/// Answers remembered per key manager; when full, the expired ones go, then all.
const MAX_ANSWERS: usize = 50_000;
/// An introspection answer larger than this is refused.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// Why a token could not be introspected (the key manager's fault, not the token's).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IntrospectionError {
    #[error("introspection at {url} failed: {reason}")]
    Failed { url: String, reason: String },
    #[error("introspection at {url} is busy ({MAX_CONCURRENT} requests in flight)")]
    Busy { url: String },
}

#[derive(Clone)]
enum Answer {
    Active(Arc<Map<String, Value>>),
    Inactive,
}

/// One key manager's introspection endpoint, its credentials and its remembered answers.
pub struct Introspector {
    url: String,
    client_id: Option<String>,
    client_secret: Option<String>,
    client: reqwest::Client,
    permits: tokio::sync::Semaphore,
    answers: Mutex<HashMap<Box<str>, (Answer, Instant)>>,
}

impl std::fmt::Debug for Introspector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Introspector")
            .field("url", &self.url)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

impl Introspector {
    pub fn new(
        url: String,
        client_id: Option<String>,
        client_secret: Option<String>,
        client: reqwest::Client,
    ) -> Introspector {
        Introspector {
            url,
            client_id,
            client_secret,
            client,
            permits: tokio::sync::Semaphore::new(MAX_CONCURRENT),
            answers: Mutex::new(HashMap::new()),
        }
    }

    /// The remembered answer for `token`, if still fresh: `Some(None)` for inactive.
    fn remembered(&self, token: &str) -> Option<Option<Arc<Map<String, Value>>>> {
        let answers = self.answers.lock().ok()?;
        let (answer, until) = answers.get(token)?;
        (*until > Instant::now()).then(|| match answer {
            Answer::Active(claims) => Some(claims.clone()),
            Answer::Inactive => None,
        })
    }

    fn remember(&self, token: &str, answer: Answer, ttl: Duration) {
        let Ok(mut answers) = self.answers.lock() else {
            return;
        };
        let now = Instant::now();
        if answers.len() >= MAX_ANSWERS {
            answers.retain(|_, (_, until)| *until > now);
            if answers.len() >= MAX_ANSWERS {
                answers.clear();
            }
        }
        answers.insert(token.into(), (answer, now + ttl));
    }

    /// The token's introspection claims when the key manager says it is active, `None` when it
    /// says it is not.
    pub async fn introspect(&self, token: &str) -> Result<Option<Arc<Map<String, Value>>>, IntrospectionError> {
        if let Some(answer) = self.remembered(token) {
            return Ok(answer);
        }
        let _permit = tokio::time::timeout(Duration::from_secs(2), self.permits.acquire())
            .await
            .ok()
            .and_then(Result::ok)
            .ok_or_else(|| IntrospectionError::Busy { url: self.url.clone() })?;
        // Another request for the same token may have asked while this one waited.
        if let Some(answer) = self.remembered(token) {
            return Ok(answer);
        }
        let claims = self.ask(token).await?;
        let active = claims.get("active").and_then(Value::as_bool) == Some(true);
        if !active {
            self.remember(token, Answer::Inactive, INACTIVE_TTL);
            return Ok(None);
        }
        let claims = Arc::new(claims);
        let ttl = match claims.get("exp").and_then(Value::as_u64) {
            Some(exp) => ACTIVE_TTL.min(Duration::from_secs(exp.saturating_sub(now_seconds()))),
            None => ACTIVE_TTL,
        };
        self.remember(token, Answer::Active(claims.clone()), ttl);
        Ok(Some(claims))
    }

    async fn ask(&self, token: &str) -> Result<Map<String, Value>, IntrospectionError> {
        let failed = |reason: String| IntrospectionError::Failed {
            url: self.url.clone(),
            reason,
        };
        let mut request = self
            .client
            .post(&self.url)
            .header(reqwest::header::ACCEPT, "application/json")
            .form(&[("token", token), ("token_type_hint", "access_token")]);
        if let Some(id) = &self.client_id {
            request = request.basic_auth(id, self.client_secret.as_deref());
        }
        let mut response = request.send().await.map_err(|e| failed(e.to_string()))?;
        if !response.status().is_success() {
            return Err(failed(format!("HTTP {}", response.status().as_u16())));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| failed(e.to_string()))? {
            if body.len() + chunk.len() > MAX_ANSWER_BYTES {
                return Err(failed(format!("answer larger than {MAX_ANSWER_BYTES} bytes")));
            }
            body.extend_from_slice(&chunk);
        }
        match serde_json::from_slice::<Value>(&body) {
            Ok(Value::Object(claims)) => Ok(claims),
            Ok(_) => Err(failed("the answer is not a JSON object".into())),
            Err(e) => Err(failed(format!("the answer is not JSON: {e}"))),
        }
    }
}
