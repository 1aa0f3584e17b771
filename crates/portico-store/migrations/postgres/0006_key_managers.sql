-- External key managers (WSO2's AM_KEY_MANAGER): identity providers whose JWT access tokens the
-- gateway accepts, and key mappings of applications to client ids those providers issued.
--
-- The built-in "Resident Key Manager" is not a row: it is this node's own Key Manager, always
-- present. `configuration` holds WSO2's whole KeyManager resource as JSON (fields Portico does
-- not act on are stored and returned unchanged); the columns are what queries and uniqueness
-- need. Names are unique and never change (mappings name their key manager); so are issuers,
-- since the gateway picks a token's key manager by its `iss`.
CREATE TABLE key_managers (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    type          TEXT NOT NULL,
    enabled       BOOLEAN NOT NULL,
    issuer        TEXT NOT NULL UNIQUE,
    configuration TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);

-- Key mappings of external key managers name a client that lives at the identity provider, so
-- there is no oauth_clients row to reference. The foreign key moves to `oauth_client_id`, set
-- (to client_id) for the resident key manager's own clients only: those keep their integrity
-- and ON DELETE CASCADE, while mapped external client ids carry no foreign key. One mapping per
-- application, key type and key manager (as in WSO2); a client id belongs to one application per
-- key manager.
ALTER TABLE application_key_mappings DROP CONSTRAINT application_key_mappings_client_id_fkey;
ALTER TABLE application_key_mappings DROP CONSTRAINT application_key_mappings_client_id_key;
ALTER TABLE application_key_mappings DROP CONSTRAINT application_key_mappings_application_id_key_type_key;
ALTER TABLE application_key_mappings
    ADD COLUMN oauth_client_id TEXT UNIQUE REFERENCES oauth_clients(client_id) ON DELETE CASCADE;
-- CREATED (generate-keys: a client of the resident key manager) or MAPPED (map-keys).
ALTER TABLE application_key_mappings ADD COLUMN mode TEXT NOT NULL DEFAULT 'CREATED';
UPDATE application_key_mappings SET oauth_client_id = client_id;
ALTER TABLE application_key_mappings
    ADD CONSTRAINT application_key_mappings_one_per_key_manager UNIQUE (application_id, key_type, key_manager),
    ADD CONSTRAINT application_key_mappings_client_per_key_manager UNIQUE (key_manager, client_id),
    ADD CONSTRAINT application_key_mappings_oauth_client_is_client
        CHECK (oauth_client_id IS NULL OR oauth_client_id = client_id),
    ADD CONSTRAINT application_key_mappings_resident_has_oauth_client
        CHECK ((key_manager = 'Resident Key Manager') = (oauth_client_id IS NOT NULL));
