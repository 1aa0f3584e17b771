-- The public halves of the cluster's token signing keys (`portico keys rotate`), so that every
-- node validates a key another node signs with as soon as the change feed announces it. The
-- private halves never enter the database: operators copy conf/security/ between nodes.
-- `retires_at` (milliseconds since the epoch) is set when a newer key supersedes this one: the
-- key stays in the JWKS and keeps validating until then (its last token has expired); NULL while
-- it is the newest.
CREATE TABLE signing_keys (
    kid            TEXT PRIMARY KEY,
    -- ES256 or RS256.
    algorithm      TEXT NOT NULL,
    -- PEM PUBLIC KEY (SubjectPublicKeyInfo).
    public_key_pem TEXT NOT NULL,
    -- The JWK as the JWKS publishes it (JSON text).
    jwk            TEXT NOT NULL,
    origin_node    TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    retires_at     BIGINT
);
