//! The gateway's identity data as the store has it: applications and their client ids,
//! subscriptions, and the enabled external key managers with their mapped client ids, on top of
//! this node's own key manager (its keys, issuer and live revocations), which never changes while
//! the node runs, and the cluster's signing keys other nodes rotated to.

use std::collections::HashMap;
use std::sync::Arc;

use portico_gateway::identity::{
    AppInfo, ClientInfo, ExternalIssuer, Identity, KeyType, RevocationCheck, SubscriptionInfo, SubscriptionStatus,
    VerificationKey,
};
use portico_gateway::issuers::{IssuerKeyError, IssuerKeyRegistry};
use portico_keystore::KeyMaterial;
use portico_store::{KeyManagerRow, RESIDENT_KEY_MANAGER, SigningKeyRow, Store, StoreError};

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

/// What the gateway authenticates this node's own tokens with: the signing keys this node
/// holds (`(kid, pair)`, oldest first, the last one signing), its issuer, and its live
/// revocation list. The cluster's other keys are added from the store on every load.
pub fn resident_identity(
    held: &[(&str, &KeyMaterial)],
    issuer: &str,
    revocations: Arc<dyn RevocationCheck>,
) -> Result<Identity, ResidentKeyError> {
    let mut keys = Vec::with_capacity(held.len());
    for (kid, pair) in held {
        let rsa = pair.key_type == portico_keystore::KeyType::Rsa2048;
        keys.push(VerificationKey::from_public_pem(*kid, &pair.public_key_pem()?, rsa)?);
    }
    Ok(Identity {
        keys,
        issuers: vec![issuer.to_owned()],
        revocations: Some(revocations),
        ..Default::default()
    })
}

/// The cluster's live signing keys (`portico keys rotate`) into `identity`: keys this node does
/// not hold are added, and every key takes the cluster's retirement time (a node still signing
/// with a retired key was told to take the new one at its start and by the rotation's steps).
fn add_cluster_keys(identity: &mut Identity, rows: &[SigningKeyRow]) {
    for key in &mut identity.keys {
        if let Some(row) = rows.iter().find(|r| r.kid == key.kid) {
            key.retires_at = row.retires_at.map(retire_seconds);
        }
    }
    for row in rows {
        if identity.keys.iter().any(|k| k.kid == row.kid) {
            continue;
        }
        match VerificationKey::from_public_pem(row.kid.clone(), &row.public_key_pem, row.algorithm == "RS256") {
            Ok(mut key) => {
                key.retires_at = row.retires_at.map(retire_seconds);
                identity.keys.push(key);
            }
            Err(e) => tracing::warn!(error = %e, "stored signing key left out of the gateway"),
        }
    }
}

/// Milliseconds since the epoch (the store's) as the gateway's Unix seconds.
fn retire_seconds(ms: i64) -> u64 {
    u64::try_from(ms / 1000).unwrap_or(0)
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
        let rows = self.store.gateway_identity().await?;
        let mut identity = self.resident.clone();
        // Retired keys too: a key this node holds must learn that it retired.
        add_cluster_keys(&mut identity, &self.store.all_signing_keys().await?);
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
        Ok(identity)
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
