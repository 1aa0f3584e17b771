//! WSO2's REST API scopes and which roles may hold them (WSO2's `RESTAPIScopes` defaults).
//!
//! An operation lists the scopes that allow it; any one suffices. A principal authenticated by
//! password holds every scope its roles allow; a bearer token holds the scopes it was issued with,
//! which were already limited to what the roles allow.

use std::collections::BTreeSet;

use portico_store::Role;

use Role::{Admin, Creator, Publisher, Subscriber};

/// Every scope Portico knows, with the roles allowed to hold it.
pub const SCOPE_ROLES: &[(&str, &[Role])] = &[
    // Publisher
    ("apim:api_view", &[Admin, Creator, Publisher]),
    ("apim:api_create", &[Admin, Creator]),
    ("apim:api_delete", &[Admin, Creator]),
    ("apim:api_publish", &[Admin, Publisher]),
    ("apim:api_manage", &[Admin]),
    ("apim:api_import_export", &[Admin]),
    ("apim:api_product_import_export", &[Admin]),
    ("apim:api_generate_key", &[Admin, Creator, Publisher]),
    ("apim:document_create", &[Admin, Creator]),
    ("apim:document_manage", &[Admin, Creator]),
    ("apim:subscription_view", &[Admin, Creator, Publisher]),
    ("apim:subscription_block", &[Admin, Publisher]),
    ("apim:subscription_manage", &[Admin]),
    ("apim:tier_view", &[Admin, Creator, Publisher]),
    ("apim:threat_protection_policy_create", &[Admin, Creator]),
    ("apim:threat_protection_policy_manage", &[Admin, Creator]),
    ("apim:client_certificates_view", &[Admin, Creator, Publisher]),
    ("apim:client_certificates_add", &[Admin, Creator]),
    ("apim:client_certificates_update", &[Admin, Creator]),
    ("apim:ep_certificates_view", &[Admin, Creator, Publisher]),
    ("apim:ep_certificates_add", &[Admin, Creator]),
    ("apim:ep_certificates_update", &[Admin, Creator]),
    ("apim:mediation_policy_view", &[Admin, Creator, Publisher]),
    ("apim:mediation_policy_create", &[Admin, Creator]),
    ("apim:mediation_policy_manage", &[Admin, Creator]),
    ("apim:shared_scope_manage", &[Admin, Creator]),
    ("apim:comment_view", &[Admin, Creator, Publisher, Subscriber]),
    ("apim:comment_write", &[Admin, Creator, Publisher, Subscriber]),
    ("apim:comment_manage", &[Admin]),
    ("apim:pub_alert_manage", &[Admin, Creator, Publisher]),
    ("apim:publisher_settings", &[Admin, Creator, Publisher]),
    // DevPortal
    ("apim:subscribe", &[Admin, Subscriber]),
    ("apim:app_manage", &[Admin, Subscriber]),
    ("apim:sub_manage", &[Admin, Subscriber]),
    ("apim:api_key", &[Admin, Subscriber]),
    ("apim:app_update", &[Admin, Subscriber]),
    ("apim:app_import_export", &[Admin]),
    ("apim:store_settings", &[Admin, Subscriber]),
    ("apim:sub_alert_manage", &[Admin, Subscriber]),
    ("apim:dcr:app_manage", &[Admin, Subscriber]),
    // Admin
    ("apim:admin", &[Admin]),
    ("apim:tier_manage", &[Admin]),
    ("apim:bl_view", &[Admin]),
    ("apim:bl_manage", &[Admin]),
    ("apim:admin_settings", &[Admin]),
    ("apim:environment_read", &[Admin]),
    ("apim:environment_manage", &[Admin]),
    ("apim:app_owner_change", &[Admin]),
    ("apim:api_workflow_view", &[Admin]),
    ("apim:api_workflow_approve", &[Admin]),
    ("apim:keymanagers_manage", &[Admin]),
    ("apim:admin_operations", &[Admin]),
    ("apim:policies_import_export", &[Admin]),
    ("apim:scope_manage", &[Admin]),
    ("apim:role_manage", &[Admin]),
    ("apim:admin_alert_manage", &[Admin]),
    ("apim:gateway_policy_view", &[Admin]),
    ("apim:gateway_policy_manage", &[Admin]),
];

/// The scopes a set of roles allows.
pub fn allowed_scopes(roles: &[Role]) -> BTreeSet<&'static str> {
    SCOPE_ROLES
        .iter()
        .filter(|(_, allowed)| roles.iter().any(|r| allowed.contains(r)))
        .map(|(scope, _)| *scope)
        .collect()
}

/// Whether `scope` is one Portico knows.
pub fn is_known(scope: &str) -> bool {
    SCOPE_ROLES.iter().any(|(s, _)| *s == scope)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_get_wso2_scopes() {
        let sub = allowed_scopes(&[Subscriber]);
        assert!(sub.contains("apim:subscribe"));
        assert!(!sub.contains("apim:api_create"));
        let creator = allowed_scopes(&[Creator]);
        assert!(creator.contains("apim:api_create"));
        assert!(!creator.contains("apim:api_publish"));
        let admin = allowed_scopes(&[Admin]);
        assert_eq!(admin.len(), SCOPE_ROLES.len(), "admin holds every scope");
        assert!(allowed_scopes(&[]).is_empty());
    }

    #[test]
    fn table_has_no_duplicates() {
        let names: BTreeSet<_> = SCOPE_ROLES.iter().map(|(s, _)| s).collect();
        assert_eq!(names.len(), SCOPE_ROLES.len());
    }
}
