//! The gateway's identity data as the store has it: applications and their client ids,
//! subscriptions, and the enabled external key managers with their mapped client ids, on top of
//! this node's own key manager (its key, issuer and live revocations), which never changes while
//! the node runs.

use std::collections::HashMap;
use std::sync::Arc;

use portico_gateway::identity::{
    AppInfo, ClientInfo, ExternalIssuer, Identity, KeyType, RevocationCheck, SubscriptionInfo, SubscriptionStatus,
    VerificationKey,
};
use portico_gateway::issuers::{IssuerKeyError, IssuerKeyRegistry};
use portico_keystore::KeyMaterial;
use portico_store::{GatewayIdentity, KeyManagerRow, RESIDENT_KEY_MANAGER, Store, StoreError};

/// Why this node's own key could not be handed to the gateway.
#[derive(Debug, thiserror::Error)]
pub enum ResidentKeyError {
    #[error(transparent)]
    PublicKey(#[from] portico_keystore::KeystoreError),
    #[error(transparent)]
    Verification(#[from] portico_gateway::identity::KeyError),
}

/// Why an external key manager was left out of the gateway.
#[derive(Debug, thiserror::Error)]
enum ExternalIssuerError {
    #[error("key manager `{0}` has no certificates.value")]
    NoCertificates(String),
    #[error(transparent)]
    Keys(#[from] IssuerKeyError),
}

/// What the gateway authenticates this node's own tokens with: the primary key under the `kid`
/// the key manager signs with, its issuer, and its live revocation list.
pub fn resident_identity(
    primary: &KeyMaterial,
    kid: &str,
    issuer: &str,
    revocations: Arc<dyn RevocationCheck>,
) -> Result<Identity, ResidentKeyError> {
    let rsa = primary.key_type == portico_keystore::KeyType::Rsa2048;
    let key = VerificationKey::from_public_pem(kid, &primary.public_key_pem()?, rsa)?;
    Ok(Identity {
        keys: vec![key],
        issuers: vec![issuer.to_owned()],
        revocations: Some(revocations),
        ..Default::default()
    })
}

/// Loads the gateway's identity from the store, as often as the change feed says it changed.
pub struct IdentitySource {
    store: Store,
    /// This node's own key manager ([`resident_identity`]), the base of every load.
    resident: Identity,
    /// Key sets (JWKS, PEM) and introspection clients of the external key managers, kept across
    /// loads so that unchanged key managers keep their fetched keys.
    registry: Arc<IssuerKeyRegistry>,
    /// The key managers of deployment.toml, shaped as stored ones.
    configured: Vec<KeyManagerRow>,
}

impl IdentitySource {
    pub fn new(
        store: Store,
        resident: Identity,
        registry: Arc<IssuerKeyRegistry>,
        configured: Vec<KeyManagerRow>,
    ) -> IdentitySource {
        IdentitySource {
            store,
            resident,
            registry,
            configured,
        }
    }

    /// The store the identity is read from.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The resident identity with the applications' client ids, the subscriptions and the
    /// enabled external key managers (the configured ones and the stored ones, with their mapped
    /// client ids) as the store has them now. Key sets of key managers no longer there are
    /// dropped from the registry.
    pub async fn load(&self) -> Result<Identity, StoreError> {
        Ok(self.build(self.store.gateway_identity().await?))
    }

    /// [`IdentitySource::load`] from rows already read (from the store or a last-known-good
    /// snapshot).
    pub fn build(&self, rows: GatewayIdentity) -> Identity {
        let mut identity = self.resident.clone();
        // By key manager name while client ids are added; by issuer in the identity.
        let mut external: HashMap<String, ExternalIssuer> = HashMap::new();
        // Those of deployment.toml first: REST refuses stored ones with their names or issuers.
        for row in self.configured.iter().chain(&rows.key_managers) {
            if external.contains_key(&row.name) || external.values().any(|e| e.issuer == row.issuer) {
                tracing::warn!(key_manager = %row.name, issuer = %row.issuer, "key manager with the name or issuer of one in deployment.toml left out");
                continue;
            }
            match external_issuer(row, &self.registry) {
                Ok(issuer) => {
                    external.insert(row.name.clone(), issuer);
                }
                Err(e) => tracing::warn!(key_manager = %row.name, error = %e, "key manager left out of the gateway"),
            }
        }
        let mut apps: HashMap<String, Arc<AppInfo>> = HashMap::new();
        for mapping in rows.key_mappings {
            let Some(key_type) = KeyType::from_wire(&mapping.key_type) else {
                tracing::warn!(client_id = %mapping.client_id, key_type = %mapping.key_type, "key mapping with an unknown key type left out");
                continue;
            };
            let app = apps
                .entry(mapping.application_id.clone())
                .or_insert_with(|| {
                    Arc::new(AppInfo {
                        id: mapping.application_id.clone(),
                        name: mapping.application_name.clone(),
                        owner: mapping.owner.clone(),
                        tier: mapping.application_tier.clone(),
                    })
                })
                .clone();
            let client = ClientInfo { app, key_type };
            if mapping.key_manager == RESIDENT_KEY_MANAGER {
                identity.clients.insert(mapping.client_id, client);
            } else if let Some(issuer) = external.get_mut(&mapping.key_manager) {
                issuer.clients.insert(mapping.client_id, client);
            }
        }
        self.registry.retain(
            &external.values().map(|e| e.keys.clone()).collect::<Vec<_>>(),
            &external
                .values()
                .filter_map(|e| e.introspection.clone())
                .collect::<Vec<_>>(),
        );
        identity.external_issuers = external
            .into_values()
            .map(|e| (e.issuer.clone(), Arc::new(e)))
            .collect();
        for subscription in rows.subscriptions {
            identity.subscriptions.insert(
                (subscription.application_id, subscription.api_id),
                SubscriptionInfo {
                    id: String::new(),
                    tier: subscription.tier.into(),
                    status: SubscriptionStatus::from_wire(&subscription.status),
                },
            );
        }
        identity
    }
}

/// An enabled external key manager as the gateway takes it: its keys from the registry (a JWKS
/// URL or a PEM), its claims; its client ids are added by the caller.
fn external_issuer(row: &KeyManagerRow, registry: &IssuerKeyRegistry) -> Result<ExternalIssuer, ExternalIssuerError> {
    let settings = row.settings();
    let value = settings
        .certificate_value
        .as_deref()
        .ok_or_else(|| ExternalIssuerError::NoCertificates(row.name.clone()))?;
    let keys = match settings.certificate_type.as_deref() {
        Some("PEM") => registry.pem(&row.name, value)?,
        _ => registry.jwks(&row.name, value),
    };
    let introspection = settings.introspection_endpoint.as_deref().map(|url| {
        registry.introspector(
            &row.name,
            url,
            settings.client_id.clone(),
            settings.client_secret.clone(),
        )
    });
    Ok(ExternalIssuer {
        key_manager: row.name.clone(),
        issuer: row.issuer.clone(),
        consumer_key_claim: settings.consumer_key_claim,
        scopes_claim: settings.scopes_claim,
        keys,
        introspection,
        claim_mapping: settings.claim_mapping,
        clients: Default::default(),
    })
}
