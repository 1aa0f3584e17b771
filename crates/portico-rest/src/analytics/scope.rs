//! Who sees which analytics rows: `apim:admin` every row; a publisher (`apim:api_view`,
//! `apim:api_create` or `apim:api_publish`) the rows of the APIs it created; a DevPortal user
//! (`apim:subscribe`) the rows of its applications; someone with both, both. Anyone else is
//! refused (403, 900910).

use portico_analytics::Scope;
use portico_keymanager::Principal;
use portico_store::ApiFilter;

use crate::error::ApiError;
use crate::state::RestState;

const ADMIN: &str = "apim:admin";
const PUBLISHER: &[&str] = &["apim:api_view", "apim:api_create", "apim:api_publish"];
const SUBSCRIBER: &str = "apim:subscribe";

/// The most APIs or applications of one caller looked up (far past any real account).
const MAX_OWNED: i64 = 10_000;

pub(super) async fn of(state: &RestState, caller: &Principal) -> Result<Scope, ApiError> {
    if caller.has_any_scope(&[ADMIN]) {
        return Ok(Scope::All);
    }
    let publisher = caller.has_any_scope(PUBLISHER);
    let subscriber = caller.has_any_scope(&[SUBSCRIBER]);
    if !publisher && !subscriber {
        let mut needed = vec![ADMIN, SUBSCRIBER];
        needed.extend(PUBLISHER);
        return Err(ApiError::insufficient_scope(&needed));
    }
    let mut apis = Vec::new();
    if publisher {
        let filter = ApiFilter {
            provider: Some(caller.username.clone()),
            ..ApiFilter::default()
        };
        let (rows, _) = state.store.list_apis(&filter, MAX_OWNED, 0).await?;
        apis = rows.into_iter().map(|r| r.id).collect();
    }
    let mut applications = Vec::new();
    if subscriber {
        let (rows, _) = state
            .store
            .list_applications(&caller.username, None, MAX_OWNED, 0)
            .await?;
        applications = rows.into_iter().map(|r| r.id).collect();
    }
    Ok(Scope::Only { apis, applications })
}
