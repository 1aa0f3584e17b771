-- Key Manager: authorization codes of the authorization_code grant (RFC 6749 §4.1) with their
-- PKCE challenge (RFC 7636, S256). Stored by keyed hash, so a code issued by one node of a
-- cluster can be redeemed on any other; each is deleted when redeemed (single use).
CREATE TABLE oauth_authorization_codes (
    code_hash      TEXT PRIMARY KEY,
    client_id      TEXT NOT NULL REFERENCES oauth_clients(client_id) ON DELETE CASCADE,
    user_id        TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    redirect_uri   TEXT NOT NULL,
    code_challenge TEXT NOT NULL,
    scope          TEXT NOT NULL,
    expires_at     BIGINT NOT NULL,
    created_at     BIGINT NOT NULL
);

CREATE INDEX oauth_authorization_codes_expiry ON oauth_authorization_codes (expires_at);
