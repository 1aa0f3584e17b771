//! What the portal handlers share: [`PortalState`].

use std::sync::Arc;

use portico_rest::RestState;
use portico_store::OAuthClient;
use tokio::sync::OnceCell;

use crate::login::LoginThrottle;
use crate::rest_client::Rest;

/// The portals' own OAuth2 client id (a first-party client of the Key Manager).
pub const PORTAL_CLIENT_ID: &str = "portico-portal";

/// The three apps; each has its callback on this server (`/<app>/callback`).
pub const APPS: [&str; 3] = ["publisher", "devportal", "admin"];

/// What every portal handler gets.
#[derive(Clone)]
pub struct PortalState {
    /// The node's REST state: config, store, authenticator, token service.
    pub rest_state: RestState,
    /// The REST router, called in-process.
    pub rest: Rest,
    pub throttle: Arc<dyn LoginThrottle>,
    client: Arc<OnceCell<OAuthClient>>,
}

impl PortalState {
    pub fn new(rest_state: RestState, throttle: Arc<dyn LoginThrottle>) -> PortalState {
        PortalState {
            rest: Rest::new(portico_rest::router(rest_state.clone())),
            rest_state,
            throttle,
            client: Arc::new(OnceCell::new()),
        }
    }

    /// Seconds a session lasts.
    pub fn session_seconds(&self) -> i64 {
        i64::from(self.rest_state.config.apim.portal.session_minutes) * 60
    }

    pub fn self_signup(&self) -> bool {
        self.rest_state.config.apim.devportal.enable_self_signup
    }

    /// The portals' OAuth2 client, registered (once per cluster) on first use.
    pub async fn client(&self) -> Result<&OAuthClient, String> {
        self.client
            .get_or_try_init(|| async {
                let admin = &self.rest_state.config.super_admin.username;
                let owner = self
                    .rest_state
                    .store
                    .find_user(admin)
                    .await
                    .map_err(|e| e.to_string())?
                    .ok_or_else(|| format!("the super admin `{admin}` is not in the store"))?;
                let callbacks: Vec<String> = APPS.iter().map(|app| format!("/{app}/callback")).collect();
                let callbacks: Vec<&str> = callbacks.iter().map(String::as_str).collect();
                self.rest_state
                    .oauth
                    .ensure_first_party_client(PORTAL_CLIENT_ID, &owner.id, &callbacks)
                    .await
                    .map_err(|e| e.to_string())
            })
            .await
    }
}
