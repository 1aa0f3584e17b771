-- DevPortal: what WSO2's Application resource carries beyond the minimal columns of 0002, WSO2's
-- default application-level throttling tiers, and the mapping of an application's key types to
-- OAuth clients (the Key Manager's oauth_clients).
ALTER TABLE applications ADD COLUMN token_type TEXT NOT NULL DEFAULT 'JWT';
-- JSON object of string attributes.
ALTER TABLE applications ADD COLUMN attributes TEXT NOT NULL DEFAULT '{}';
-- JSON array of group ids (WSO2's `groups`).
ALTER TABLE applications ADD COLUMN group_ids TEXT NOT NULL DEFAULT '[]';
-- JSON array of scope names (WSO2's `subscriptionScopes`).
ALTER TABLE applications ADD COLUMN subscription_scopes TEXT NOT NULL DEFAULT '[]';
CREATE INDEX applications_owner ON applications (owner, created_at);

INSERT INTO throttling_policies VALUES
    ('application', '50PerMin', '50PerMin', 'Allows 50 request per minute', 50, 1, 'min', 'FREE', TRUE),
    ('application', '20PerMin', '20PerMin', 'Allows 20 request per minute', 20, 1, 'min', 'FREE', TRUE),
    ('application', '10PerMin', '10PerMin', 'Allows 10 request per minute', 10, 1, 'min', 'FREE', TRUE),
    ('application', 'Unlimited', 'Unlimited', 'Allows unlimited requests', 2147483647, 1, 'min', 'FREE', TRUE)
ON CONFLICT (level, name) DO NOTHING;

-- One OAuth client per application and key type (PRODUCTION | SANDBOX). Deleting the client or
-- the application deletes the mapping.
CREATE TABLE application_key_mappings (
    id                    TEXT PRIMARY KEY,
    application_id        TEXT NOT NULL REFERENCES applications(id) ON DELETE CASCADE,
    key_type              TEXT NOT NULL,
    key_manager           TEXT NOT NULL,
    client_id             TEXT NOT NULL UNIQUE REFERENCES oauth_clients(client_id) ON DELETE CASCADE,
    -- JSON object (WSO2's additionalProperties), and the generate-keys request's scopes and
    -- validity time, used as defaults of later token requests.
    additional_properties TEXT NOT NULL,
    scopes                TEXT NOT NULL,
    validity_time         BIGINT NOT NULL,
    created_at            BIGINT NOT NULL,
    UNIQUE (application_id, key_type)
);
