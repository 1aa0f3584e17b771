-- Publisher: APIs, their revisions (immutable snapshots), deployments to gateway environments,
-- lifecycle history, throttling policies (WSO2's defaults), and minimal applications and
-- subscriptions (filled by the DevPortal later).
CREATE TABLE apis (
    id               TEXT PRIMARY KEY,
    name             TEXT NOT NULL,
    version          TEXT NOT NULL,
    context          TEXT NOT NULL,
    provider         TEXT NOT NULL,
    lifecycle_status TEXT NOT NULL,
    -- The API resource as JSON (WSO2 field names).
    document         TEXT NOT NULL,
    -- The OpenAPI/Swagger document, verbatim; NULL when generated from the operations.
    definition       TEXT,
    -- Bumped on every change; the ETag, and the compare-and-swap guard of updates.
    row_version      BIGINT NOT NULL,
    -- Numbers revisions 1, 2, ...; bumping it also serialises revision creation per API.
    revision_counter BIGINT NOT NULL DEFAULT 0,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE UNIQUE INDEX apis_name_version ON apis (lower(name), version);
CREATE UNIQUE INDEX apis_context_version ON apis (lower(context), version);

CREATE TABLE api_revisions (
    id          TEXT PRIMARY KEY,
    api_id      TEXT NOT NULL REFERENCES apis(id) ON DELETE CASCADE,
    number      BIGINT NOT NULL,
    description TEXT,
    snapshot    TEXT NOT NULL,
    definition  TEXT,
    created_at  BIGINT NOT NULL,
    UNIQUE (api_id, number)
);

-- One revision of an API per environment, as in WSO2.
CREATE TABLE api_deployments (
    api_id               TEXT NOT NULL REFERENCES apis(id) ON DELETE CASCADE,
    environment          TEXT NOT NULL,
    revision_id          TEXT NOT NULL REFERENCES api_revisions(id) ON DELETE CASCADE,
    vhost                TEXT NOT NULL,
    display_on_devportal BOOLEAN NOT NULL,
    deployed_at          BIGINT NOT NULL,
    PRIMARY KEY (api_id, environment)
);

CREATE TABLE api_lifecycle_history (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    api_id         TEXT NOT NULL REFERENCES apis(id) ON DELETE CASCADE,
    previous_state TEXT,
    post_state     TEXT NOT NULL,
    username       TEXT NOT NULL,
    updated_at     BIGINT NOT NULL
);
CREATE INDEX api_lifecycle_history_api ON api_lifecycle_history (api_id, id);

CREATE TABLE throttling_policies (
    level               TEXT NOT NULL,
    name                TEXT NOT NULL,
    display_name        TEXT NOT NULL,
    description         TEXT NOT NULL,
    request_count       BIGINT NOT NULL,
    unit_time           BIGINT NOT NULL,
    time_unit           TEXT NOT NULL,
    tier_plan           TEXT NOT NULL,
    stop_on_quota_reach BOOLEAN NOT NULL,
    PRIMARY KEY (level, name)
);

INSERT INTO throttling_policies VALUES
    ('subscription', 'Gold', 'Gold', 'Allows 5000 requests per minute', 5000, 1, 'min', 'FREE', TRUE),
    ('subscription', 'Silver', 'Silver', 'Allows 2000 requests per minute', 2000, 1, 'min', 'FREE', TRUE),
    ('subscription', 'Bronze', 'Bronze', 'Allows 1000 requests per minute', 1000, 1, 'min', 'FREE', TRUE),
    ('subscription', 'Unauthenticated', 'Unauthenticated', 'Allows 500 request per minute', 500, 1, 'min', 'FREE', TRUE),
    ('subscription', 'Unlimited', 'Unlimited', 'Allows unlimited requests', 2147483647, 1, 'min', 'FREE', TRUE),
    ('api', '10KPerMin', '10KPerMin', 'Allows 10000 requests per minute', 10000, 1, 'min', 'FREE', TRUE),
    ('api', '20KPerMin', '20KPerMin', 'Allows 20000 requests per minute', 20000, 1, 'min', 'FREE', TRUE),
    ('api', '50KPerMin', '50KPerMin', 'Allows 50000 requests per minute', 50000, 1, 'min', 'FREE', TRUE),
    ('api', 'Unlimited', 'Unlimited', 'Allows unlimited requests', 2147483647, 1, 'min', 'FREE', TRUE);

CREATE TABLE applications (
    id                TEXT PRIMARY KEY,
    name              TEXT NOT NULL,
    owner             TEXT NOT NULL,
    throttling_policy TEXT NOT NULL,
    description       TEXT,
    status            TEXT NOT NULL,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL,
    UNIQUE (owner, name)
);

CREATE TABLE subscriptions (
    id                TEXT PRIMARY KEY,
    application_id    TEXT NOT NULL REFERENCES applications(id) ON DELETE CASCADE,
    api_id            TEXT NOT NULL REFERENCES apis(id) ON DELETE CASCADE,
    throttling_policy TEXT NOT NULL,
    status            TEXT NOT NULL,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL,
    UNIQUE (application_id, api_id)
);
CREATE INDEX subscriptions_api ON subscriptions (api_id);
