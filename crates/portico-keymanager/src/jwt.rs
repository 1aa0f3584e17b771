//! JWT access tokens: signing with the newest signing key (ES256 for EC, RS256 for RSA),
//! validating them with the key their `kid` names, and the JWKS that lets others validate them.

use arc_swap::ArcSwap;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use portico_keystore::{KeyMaterial, KeyType, PublicKeyComponents};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// Clock skew tolerated on `exp` and `nbf`, in seconds.
pub const LEEWAY_SECONDS: u64 = 30;

/// The claims of a WSO2 (4.x) JWT access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// The user (for client_credentials: the application's owner).
    pub sub: String,
    /// `APPLICATION` (client_credentials) or `APPLICATION_USER` (password, refresh_token).
    pub aut: String,
    pub aud: String,
    pub azp: String,
    pub client_id: String,
    /// Space-separated granted scopes.
    pub scope: String,
    pub iss: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub jti: String,
    /// `PRODUCTION` or `SANDBOX`.
    pub keytype: String,
}

impl AccessClaims {
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.scope.split_whitespace()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum JwtError {
    #[error("the primary key cannot sign tokens: {0}")]
    Key(String),
    #[error("cannot sign the token: {0}")]
    Sign(String),
    #[error("the token is not valid: {0}")]
    Invalid(String),
}

/// A verification key by its `kid`, as the JWKS publishes it.
#[derive(Clone)]
struct VerifyingKey {
    kid: String,
    algorithm: Algorithm,
    decoding: DecodingKey,
    jwk: Value,
    /// Milliseconds since the epoch after which it no longer validates (nor is published).
    retires_at: Option<i64>,
}

impl VerifyingKey {
    fn live(&self, now_ms: i64) -> bool {
        self.retires_at.is_none_or(|end| now_ms < end)
    }
}

/// A public signing key as the store records it and the JWKS publishes it.
#[derive(Debug, Clone, PartialEq)]
pub struct PublishedKey {
    /// base64url SHA-256 of the SubjectPublicKeyInfo: the same key has the same kid everywhere.
    pub kid: String,
    /// `ES256` or `RS256`.
    pub algorithm: String,
    /// PEM `PUBLIC KEY`.
    pub public_key_pem: String,
    pub jwk: Value,
    /// Milliseconds since the epoch after which the key no longer validates; `None`: no end.
    pub retires_at: Option<i64>,
}

impl PublishedKey {
    /// The public half of a key pair, with its kid and JWK.
    pub fn of(material: &KeyMaterial) -> Result<PublishedKey, JwtError> {
        let key = key_pair(material)?.verifying;
        Ok(PublishedKey {
            algorithm: algorithm_name(key.algorithm).to_owned(),
            kid: key.kid,
            public_key_pem: material.public_key_pem().map_err(|e| JwtError::Key(e.to_string()))?,
            jwk: key.jwk,
            retires_at: None,
        })
    }

    fn verifying(&self) -> Result<VerifyingKey, JwtError> {
        let key_err = |e: jsonwebtoken::errors::Error| JwtError::Key(format!("key {}: {e}", self.kid));
        let (algorithm, decoding) = match self.algorithm.as_str() {
            "RS256" => (
                Algorithm::RS256,
                DecodingKey::from_rsa_pem(self.public_key_pem.as_bytes()).map_err(key_err)?,
            ),
            "ES256" => (
                Algorithm::ES256,
                DecodingKey::from_ec_pem(self.public_key_pem.as_bytes()).map_err(key_err)?,
            ),
            other => return Err(JwtError::Key(format!("key {}: unknown algorithm {other}", self.kid))),
        };
        Ok(VerifyingKey {
            kid: self.kid.clone(),
            algorithm,
            decoding,
            jwk: self.jwk.clone(),
            retires_at: self.retires_at,
        })
    }
}

fn algorithm_name(algorithm: Algorithm) -> &'static str {
    match algorithm {
        Algorithm::RS256 => "RS256",
        _ => "ES256",
    }
}

struct KeyPair {
    encoding: EncodingKey,
    verifying: VerifyingKey,
}

/// The signing and verification halves of a pair, its kid and its JWK.
fn key_pair(material: &KeyMaterial) -> Result<KeyPair, JwtError> {
    let key_err = |e: &dyn std::fmt::Display| JwtError::Key(e.to_string());
    let public = material.public_key().map_err(|e| key_err(&e))?;
    // Same key, same kid, on every node.
    let kid = URL_SAFE_NO_PAD.encode(Sha256::digest(&public.spki_der));
    let cert_der = material.certificates[0].as_ref();
    let x5t = URL_SAFE_NO_PAD.encode(Sha256::digest(cert_der));
    let (algorithm, encoding, decoding, mut jwk) = match (&public.components, material.key_type) {
        (PublicKeyComponents::Ec { x, y }, KeyType::EcP256) => {
            let (x, y) = (URL_SAFE_NO_PAD.encode(x), URL_SAFE_NO_PAD.encode(y));
            (
                Algorithm::ES256,
                EncodingKey::from_ec_pem(&material.private_key_pem).map_err(|e| key_err(&e))?,
                DecodingKey::from_ec_components(&x, &y).map_err(|e| key_err(&e))?,
                json!({ "kty": "EC", "crv": "P-256", "x": x, "y": y, "alg": "ES256" }),
            )
        }
        (PublicKeyComponents::Rsa { n, e }, KeyType::Rsa2048) => {
            let (n, e) = (URL_SAFE_NO_PAD.encode(n), URL_SAFE_NO_PAD.encode(e));
            (
                Algorithm::RS256,
                EncodingKey::from_rsa_pem(&material.private_key_pem).map_err(|e| key_err(&e))?,
                DecodingKey::from_rsa_components(&n, &e).map_err(|e| key_err(&e))?,
                json!({ "kty": "RSA", "n": n, "e": e, "alg": "RS256" }),
            )
        }
        _ => {
            return Err(JwtError::Key(
                "the private key and the certificate's public key are of different types".into(),
            ));
        }
    };
    jwk["use"] = json!("sig");
    jwk["kid"] = json!(kid);
    jwk["x5c"] = json!([STANDARD.encode(cert_der)]);
    jwk["x5t#S256"] = json!(x5t);
    Ok(KeyPair {
        encoding,
        verifying: VerifyingKey {
            kid,
            algorithm,
            decoding,
            jwk,
            retires_at: None,
        },
    })
}

/// Signs this node's access tokens with the newest key it holds and validates tokens of every
/// key it knows: the ones it holds, and the cluster's published keys (other nodes' rotations,
/// replaced as the change feed reports them, see [`TokenSigner::set_published`]). The held keys
/// can be replaced while the node runs ([`TokenSigner::replace_held`]).
pub struct TokenSigner {
    signing: ArcSwap<SigningKey>,
    /// The keys this node holds, oldest first; the last one signs.
    held: ArcSwap<Vec<VerifyingKey>>,
    /// The published keys last set, kept to rebuild `known` when the held keys change.
    published: ArcSwap<Vec<PublishedKey>>,
    /// `held` plus the published keys, in JWKS order.
    known: ArcSwap<Vec<VerifyingKey>>,
    issuer: String,
}

/// The key tokens are signed with, and the header they carry.
struct SigningKey {
    encoding: EncodingKey,
    header: Header,
    kid: String,
}

impl TokenSigner {
    /// A signer for one key (the primary), issuing as `issuer`.
    pub fn new(primary: &KeyMaterial, issuer: String) -> Result<TokenSigner, JwtError> {
        TokenSigner::with_keys(&[primary], issuer)
    }

    /// A signer holding `held` (oldest first, at least one): it signs with the last and
    /// validates tokens of all.
    pub fn with_keys(held: &[&KeyMaterial], issuer: String) -> Result<TokenSigner, JwtError> {
        let (signing, verifying) = held_keys(held)?;
        let signer = TokenSigner {
            signing: ArcSwap::from_pointee(signing),
            known: ArcSwap::from_pointee(verifying.clone()),
            held: ArcSwap::from_pointee(verifying),
            published: ArcSwap::from_pointee(Vec::new()),
            issuer,
        };
        signer.probe()?;
        Ok(signer)
    }

    /// Replaces the keys this node holds (after a rotation added one): tokens are signed with
    /// the new last key from now on. Returns the kid it signs with.
    pub fn replace_held(&self, held: &[&KeyMaterial]) -> Result<String, JwtError> {
        let (signing, verifying) = held_keys(held)?;
        let kid = signing.kid.clone();
        self.signing.store(std::sync::Arc::new(signing));
        self.held.store(std::sync::Arc::new(verifying));
        let published = self.published.load_full();
        for e in self.set_published(&published) {
            tracing::warn!(error = %e, "stored signing key left out");
        }
        self.probe()?;
        Ok(kid)
    }

    /// Fails at start-up (not on the first token request) if the signing pair does not work.
    fn probe(&self) -> Result<(), JwtError> {
        let probe = AccessClaims {
            sub: "probe".into(),
            aut: "APPLICATION".into(),
            aud: "probe".into(),
            azp: "probe".into(),
            client_id: "probe".into(),
            scope: "default".into(),
            iss: self.issuer.clone(),
            iat: now_seconds(),
            nbf: now_seconds(),
            exp: now_seconds() + 60,
            jti: "probe".into(),
            keytype: "PRODUCTION".into(),
        };
        let token = self.sign(&probe)?;
        self.verify(&token)
            .map_err(|e| JwtError::Key(format!("a token it signs does not verify with its certificate: {e}")))?;
        Ok(())
    }

    /// Replaces the cluster's published keys (the live rows of the store): the keys this node
    /// holds stay (retiring when the cluster retires them, except the signing key), others' keys
    /// are added; a published key that cannot be read is left out and returned with the reason.
    pub fn set_published(&self, published: &[PublishedKey]) -> Vec<JwtError> {
        self.published.store(std::sync::Arc::new(published.to_vec()));
        let signing_kid = self.kid();
        let mut known = self.held.load().as_ref().clone();
        // An older key this node holds retires when the cluster retires it; the signing key
        // never does while this node signs with it.
        for held in known.iter_mut().filter(|k| k.kid != signing_kid) {
            if let Some(row) = published.iter().find(|p| p.kid == held.kid) {
                held.retires_at = row.retires_at;
            }
        }
        let mut refused = Vec::new();
        for key in published {
            if known.iter().any(|k| k.kid == key.kid) {
                continue;
            }
            match key.verifying() {
                Ok(v) => known.push(v),
                Err(e) => refused.push(e),
            }
        }
        self.known.store(std::sync::Arc::new(known));
        refused
    }

    pub fn sign(&self, claims: &AccessClaims) -> Result<String, JwtError> {
        let key = self.signing.load();
        jsonwebtoken::encode(&key.header, claims, &key.encoding).map_err(|e| JwtError::Sign(e.to_string()))
    }

    /// Signs arbitrary claims with the signing key, under the same header (`alg`, `typ: JWT`,
    /// `kid`) as access tokens; API keys are made this way.
    pub fn sign_value(&self, claims: &Value) -> Result<String, JwtError> {
        let key = self.signing.load();
        jsonwebtoken::encode(&key.header, claims, &key.encoding).map_err(|e| JwtError::Sign(e.to_string()))
    }

    /// The known key the token's header names (`kid`); without a `kid`, the signing key. The
    /// header's `alg` must be that key's: `none`, HS256 and the other key type are refused.
    fn key_for(&self, token: &str) -> Result<VerifyingKey, JwtError> {
        let header = jsonwebtoken::decode_header(token).map_err(|e| JwtError::Invalid(e.to_string()))?;
        let signing = self.signing.load();
        let kid = header.kid.as_deref().unwrap_or(&signing.kid);
        let known = self.known.load();
        let now_ms = now_seconds().saturating_mul(1000);
        let key = known
            .iter()
            .find(|k| k.kid == kid && k.live(now_ms))
            .ok_or_else(|| JwtError::Invalid(format!("unknown key id `{}`", truncated(kid))))?;
        if header.alg != key.algorithm {
            return Err(JwtError::Invalid(format!(
                "algorithm {:?} is not the key's ({})",
                header.alg,
                algorithm_name(key.algorithm)
            )));
        }
        Ok(key.clone())
    }

    /// Checks the signature, algorithm and issuer of a token signed by [`TokenSigner::sign_value`]
    /// and returns its claims; `exp` is checked when present.
    pub fn verify_value(&self, token: &str) -> Result<Value, JwtError> {
        let key = self.key_for(token)?;
        let mut validation = Validation::new(key.algorithm);
        validation.leeway = LEEWAY_SECONDS;
        validation.validate_aud = false;
        validation.set_issuer(&[&self.issuer]);
        validation.set_required_spec_claims(&["iss", "sub"]);
        jsonwebtoken::decode::<Value>(token, &key.decoding, &validation)
            .map(|data| data.claims)
            .map_err(|e| JwtError::Invalid(e.to_string()))
    }

    /// Checks signature (with the key the `kid` names), algorithm, issuer, `exp` and `nbf`
    /// (with [`LEEWAY_SECONDS`]). Revocation is the caller's business.
    pub fn verify(&self, token: &str) -> Result<AccessClaims, JwtError> {
        let key = self.key_for(token)?;
        let mut validation = Validation::new(key.algorithm);
        validation.leeway = LEEWAY_SECONDS;
        validation.validate_nbf = true;
        // `aud` is the client id, which differs per application; the REST APIs accept any.
        validation.validate_aud = false;
        validation.set_issuer(&[&self.issuer]);
        validation.set_required_spec_claims(&["exp", "iss", "sub", "nbf"]);
        jsonwebtoken::decode::<AccessClaims>(token, &key.decoding, &validation)
            .map(|data| data.claims)
            .map_err(|e| JwtError::Invalid(e.to_string()))
    }

    /// The JWK Set: every key this node validates, the signing key among them.
    pub fn jwks(&self) -> Value {
        let now_ms = now_seconds().saturating_mul(1000);
        let known = self.known.load();
        let keys: Vec<Value> = known.iter().filter(|k| k.live(now_ms)).map(|k| k.jwk.clone()).collect();
        json!({ "keys": keys })
    }

    /// The kid of the key this node signs with.
    pub fn kid(&self) -> String {
        self.signing.load().kid.clone()
    }

    /// The kids of every key this node validates now, the signing key's among them.
    pub fn known_kids(&self) -> Vec<String> {
        let now_ms = now_seconds().saturating_mul(1000);
        self.known
            .load()
            .iter()
            .filter(|k| k.live(now_ms))
            .map(|k| k.kid.clone())
            .collect()
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn algorithm(&self) -> &'static str {
        algorithm_name(self.signing.load().header.alg)
    }
}

/// The signing key (the last of `held`) and the verification keys of all.
fn held_keys(held: &[&KeyMaterial]) -> Result<(SigningKey, Vec<VerifyingKey>), JwtError> {
    let mut pairs = held.iter().map(|m| key_pair(m)).collect::<Result<Vec<_>, _>>()?;
    let newest = pairs.pop().ok_or_else(|| JwtError::Key("no signing key".into()))?;
    let mut verifying: Vec<VerifyingKey> = pairs.into_iter().map(|p| p.verifying).collect();
    let mut header = Header::new(newest.verifying.algorithm);
    header.kid = Some(newest.verifying.kid.clone());
    let signing = SigningKey {
        encoding: newest.encoding,
        header,
        kid: newest.verifying.kid.clone(),
    };
    verifying.push(newest.verifying);
    Ok((signing, verifying))
}

/// At most 64 characters of an untrusted value, for error messages.
fn truncated(value: &str) -> &str {
    match value.char_indices().nth(64) {
        Some((end, _)) => &value[..end],
        None => value,
    }
}

/// Seconds since the Unix epoch.
pub fn now_seconds() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// Whether `token` has a JWT's three dot-separated parts (else it is an opaque token).
pub(crate) fn looks_like_jwt(token: &str) -> bool {
    token.bytes().filter(|b| *b == b'.').count() == 2
}
