//! Step 6: the gateway (the data plane): its settings from `[apim.cors]`, `[apim.jwt]` and the
//! primary key, the certificates https backends are verified against (`[truststore]`), the
//! throttler of step 5, the registry of external key managers' keys.

use std::sync::Arc;

use anyhow::Context;
use portico_config::Config;
use portico_gateway::issuers::IssuerKeyRegistry;
use portico_gateway::{Gateway, GatewaySettings, GatewayThrottling};
use portico_keymanager::TokenValidator;
use portico_keystore::{KeyMaterial, TrustCounts};

use super::keys::NodeKeys;

pub struct NodeGateway {
    pub gateway: Arc<Gateway>,
    /// External key managers' keys (JWKS, PEM) and introspection clients.
    pub issuer_keys: Arc<IssuerKeyRegistry>,
    /// Where the backend trust store's certificates came from (for the banner).
    pub trust: TrustCounts,
    /// Refreshes the JWKS of external key managers.
    pub jwks_refresh: tokio::task::JoinHandle<()>,
}

/// A gateway with nothing loaded yet.
pub fn start(
    config: &Config,
    keys: &NodeKeys,
    validator: &TokenValidator,
    throttling: Option<GatewayThrottling>,
) -> anyhow::Result<NodeGateway> {
    let (backend_roots, trust) = portico_keystore::backend_trust_store(
        config.truststore.system_roots,
        &keys.tls,
        config.truststore_file().as_deref(),
    )
    .with_context(|| format!("[truststore] in {}", config.path.display()))?;
    let settings = GatewaySettings {
        backend_roots: Arc::new(backend_roots),
        throttling,
        ..settings(config, keys.signing(), validator)?
    };
    // External key managers' JWKS are fetched trusting the same roots as https backends.
    let issuer_keys = IssuerKeyRegistry::new(settings.backend_roots.clone())?;
    let jwks_refresh = issuer_keys.spawn_refresh(portico_gateway::issuers::DEFAULT_REFRESH_INTERVAL);
    Ok(NodeGateway {
        gateway: Gateway::new(settings, None),
        issuer_keys,
        trust,
        jwks_refresh,
    })
}

/// The gateway's settings from `[apim.cors]`, `[apim.jwt]` and the signing key (backend JWTs are
/// signed with the key tokens are).
fn settings(config: &Config, primary: &KeyMaterial, validator: &TokenValidator) -> anyhow::Result<GatewaySettings> {
    let cors = &config.apim.cors;
    let jwt = &config.apim.jwt;
    let backend_jwt = if jwt.enable {
        let rsa = primary.key_type == portico_keystore::KeyType::Rsa2048;
        let wants_rsa = jwt
            .signing_algorithm
            .as_deref()
            .map(|a| a.contains("RSA") || a == "RS256");
        if wants_rsa.is_some_and(|w| w != rsa) {
            anyhow::bail!(
                "{}: key `apim.jwt.signing_algorithm`: {} does not match the {} key of [keystore.primary]",
                config.path.display(),
                jwt.signing_algorithm.as_deref().unwrap_or_default(),
                primary.key_type
            );
        }
        let pem = &primary.private_key_pem;
        let (key, algorithm) = if rsa {
            (
                jsonwebtoken::EncodingKey::from_rsa_pem(pem)?,
                jsonwebtoken::Algorithm::RS256,
            )
        } else {
            (
                jsonwebtoken::EncodingKey::from_ec_pem(pem)?,
                jsonwebtoken::Algorithm::ES256,
            )
        };
        Some(portico_gateway::BackendJwtSettings {
            header: http::HeaderName::from_bytes(jwt.header.to_ascii_lowercase().as_bytes())?,
            key,
            algorithm,
            kid: validator.signer.kid(),
            max_ttl_seconds: jwt.ttl_seconds,
        })
    } else {
        None
    };
    Ok(GatewaySettings {
        backend_jwt,
        cors: cors.enable.then(|| portico_gateway::model::CorsDef {
            allow_origins: cors.allow_origins.to_vec(),
            allow_headers: cors.allow_headers.clone(),
            allow_methods: cors.allow_methods.clone(),
            allow_credentials: cors.allow_credentials,
        }),
        trusted_proxies: config.apim.gateway.trusted_proxy_networks.clone(),
        strip_request_headers: config.apim.gateway.strip_request_headers.clone(),
        ..GatewaySettings::default()
    })
}
