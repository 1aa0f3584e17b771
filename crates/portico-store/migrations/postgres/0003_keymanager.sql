-- Key Manager: OAuth2 clients (DCR), rotating refresh tokens, revoked JWT ids, and per-user or
-- per-client "tokens issued up to T are invalid" cut-offs. Secrets are stored only as keyed hashes.
CREATE TABLE oauth_clients (
    client_id      TEXT PRIMARY KEY,
    secret_hash    TEXT NOT NULL,
    client_name    TEXT NOT NULL,
    owner_id       TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    -- Space-separated grant types, as OAuth2 spells them.
    grant_types    TEXT NOT NULL,
    callback_url   TEXT NOT NULL,
    key_type       TEXT NOT NULL,
    saas_app       BOOLEAN NOT NULL,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL,
    UNIQUE (owner_id, client_name)
);

CREATE TABLE refresh_tokens (
    token_hash        TEXT PRIMARY KEY,
    -- Every token obtained by rotating one original shares its chain id.
    chain_id          TEXT NOT NULL,
    client_id         TEXT NOT NULL REFERENCES oauth_clients(client_id) ON DELETE CASCADE,
    user_id           TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    scope             TEXT NOT NULL,
    -- active | rotated | revoked
    state             TEXT NOT NULL,
    -- The access token issued together with this refresh token, revoked with the chain.
    access_jti        TEXT NOT NULL,
    access_expires_at BIGINT NOT NULL,
    expires_at        BIGINT NOT NULL,
    created_at        BIGINT NOT NULL
);
CREATE INDEX refresh_tokens_chain ON refresh_tokens (chain_id);

-- Revoked access tokens, kept until they would have expired anyway (expires_at, epoch millis).
CREATE TABLE revoked_tokens (
    jti        TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT NOT NULL
);
CREATE INDEX revoked_tokens_expiry ON revoked_tokens (expires_at);

-- subject_kind is `user` (subject_id = username) or `client` (subject_id = client id).
CREATE TABLE token_cutoffs (
    subject_kind TEXT NOT NULL,
    subject_id   TEXT NOT NULL,
    not_after    BIGINT NOT NULL,
    PRIMARY KEY (subject_kind, subject_id)
);
