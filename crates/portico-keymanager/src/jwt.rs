//! JWT access tokens: signing with the primary key (ES256 for EC, RS256 for RSA), validating
//! them, and the JWKS that lets others validate them.

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

/// Signs and validates this node's access tokens.
pub struct TokenSigner {
    encoding: EncodingKey,
    decoding: DecodingKey,
    header: Header,
    validation: Validation,
    kid: String,
    jwk: Value,
    issuer: String,
}

impl TokenSigner {
    /// A signer for the primary key, issuing as `issuer`.
    pub fn new(primary: &KeyMaterial, issuer: String) -> Result<TokenSigner, JwtError> {
        let key_err = |e: &dyn std::fmt::Display| JwtError::Key(e.to_string());
        let public = primary.public_key().map_err(|e| key_err(&e))?;
        // Same key, same kid, on every node.
        let kid = URL_SAFE_NO_PAD.encode(Sha256::digest(&public.spki_der));
        let cert_der = primary.certificates[0].as_ref();
        let x5t = URL_SAFE_NO_PAD.encode(Sha256::digest(cert_der));
        let (alg, encoding, decoding, mut jwk) = match (&public.components, primary.key_type) {
            (PublicKeyComponents::Ec { x, y }, KeyType::EcP256) => {
                let (x, y) = (URL_SAFE_NO_PAD.encode(x), URL_SAFE_NO_PAD.encode(y));
                (
                    Algorithm::ES256,
                    EncodingKey::from_ec_pem(&primary.private_key_pem).map_err(|e| key_err(&e))?,
                    DecodingKey::from_ec_components(&x, &y).map_err(|e| key_err(&e))?,
                    json!({ "kty": "EC", "crv": "P-256", "x": x, "y": y, "alg": "ES256" }),
                )
            }
            (PublicKeyComponents::Rsa { n, e }, KeyType::Rsa2048) => {
                let (n, e) = (URL_SAFE_NO_PAD.encode(n), URL_SAFE_NO_PAD.encode(e));
                (
                    Algorithm::RS256,
                    EncodingKey::from_rsa_pem(&primary.private_key_pem).map_err(|e| key_err(&e))?,
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
        let mut header = Header::new(alg);
        header.kid = Some(kid.clone());
        let mut validation = Validation::new(alg);
        validation.leeway = LEEWAY_SECONDS;
        validation.validate_nbf = true;
        // `aud` is the client id, which differs per application; the REST APIs accept any.
        validation.validate_aud = false;
        validation.set_issuer(&[&issuer]);
        validation.set_required_spec_claims(&["exp", "iss", "sub", "nbf"]);
        let signer = TokenSigner {
            encoding,
            decoding,
            header,
            validation,
            kid,
            jwk,
            issuer,
        };
        // Fail at start-up, not on the first token request, if the pair does not work.
        let probe = AccessClaims {
            sub: "probe".into(),
            aut: "APPLICATION".into(),
            aud: "probe".into(),
            azp: "probe".into(),
            client_id: "probe".into(),
            scope: "default".into(),
            iss: signer.issuer.clone(),
            iat: now_seconds(),
            nbf: now_seconds(),
            exp: now_seconds() + 60,
            jti: "probe".into(),
            keytype: "PRODUCTION".into(),
        };
        let token = signer.sign(&probe)?;
        signer
            .verify(&token)
            .map_err(|e| JwtError::Key(format!("a token it signs does not verify with its certificate: {e}")))?;
        Ok(signer)
    }

    pub fn sign(&self, claims: &AccessClaims) -> Result<String, JwtError> {
        jsonwebtoken::encode(&self.header, claims, &self.encoding).map_err(|e| JwtError::Sign(e.to_string()))
    }

    /// Signs arbitrary claims with the primary key, under the same header (`alg`, `typ: JWT`,
    /// `kid`) as access tokens; API keys are made this way.
    pub fn sign_value(&self, claims: &Value) -> Result<String, JwtError> {
        jsonwebtoken::encode(&self.header, claims, &self.encoding).map_err(|e| JwtError::Sign(e.to_string()))
    }

    /// Checks the signature, algorithm and issuer of a token signed by [`TokenSigner::sign_value`]
    /// and returns its claims; `exp` is checked when present.
    pub fn verify_value(&self, token: &str) -> Result<Value, JwtError> {
        let mut validation = Validation::new(self.header.alg);
        validation.leeway = LEEWAY_SECONDS;
        validation.validate_aud = false;
        validation.set_issuer(&[&self.issuer]);
        validation.set_required_spec_claims(&["iss", "sub"]);
        jsonwebtoken::decode::<Value>(token, &self.decoding, &validation)
            .map(|data| data.claims)
            .map_err(|e| JwtError::Invalid(e.to_string()))
    }

    /// Checks signature, algorithm, issuer, `exp` and `nbf` (with [`LEEWAY_SECONDS`]). Revocation
    /// is the caller's business.
    pub fn verify(&self, token: &str) -> Result<AccessClaims, JwtError> {
        jsonwebtoken::decode::<AccessClaims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
            .map_err(|e| JwtError::Invalid(e.to_string()))
    }

    /// The JWK Set publishing this key.
    pub fn jwks(&self) -> Value {
        json!({ "keys": [self.jwk] })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn algorithm(&self) -> &'static str {
        match self.header.alg {
            Algorithm::RS256 => "RS256",
            _ => "ES256",
        }
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
