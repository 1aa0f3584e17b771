-- Analytics (issue 21): every gateway request as one raw row (kept 24 h by default), and
-- rollups per minute, hour and day per API, version, resource, application and node, with a
-- count, the status classes, throttled requests, errors by code and a latency sketch
-- (portico-analytics' DDSketch text). Each node writes only its own rows (node_id); queries
-- add up every node's. Times are milliseconds since the epoch.
CREATE TABLE analytics_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    node_id            TEXT NOT NULL,
    timestamp_ms       BIGINT NOT NULL,
    correlation_id     TEXT NOT NULL,
    api_id             TEXT NOT NULL,
    api_name           TEXT NOT NULL,
    api_version        TEXT NOT NULL,
    api_context        TEXT NOT NULL,
    resource           TEXT NOT NULL,
    method             TEXT NOT NULL,
    application_id     TEXT NOT NULL,
    application_name   TEXT NOT NULL,
    application_owner  TEXT NOT NULL,
    key_type           TEXT NOT NULL,
    subscription_tier  TEXT NOT NULL,
    end_user           TEXT NOT NULL,
    client_ip          TEXT NOT NULL,
    user_agent         TEXT NOT NULL,
    proxy_status       INTEGER NOT NULL,
    backend_status     INTEGER,
    error_code         TEXT,
    error_type         TEXT,
    backend_latency_us BIGINT,
    total_latency_us   BIGINT NOT NULL,
    request_bytes      BIGINT NOT NULL,
    response_bytes     BIGINT,
    throttled          BOOLEAN NOT NULL,
    throttle_policy    TEXT
);
CREATE INDEX analytics_events_time ON analytics_events (timestamp_ms);

CREATE TABLE analytics_rollups (
    -- The bucket's width in seconds: 60, 3600 or 86400.
    resolution       BIGINT NOT NULL,
    bucket_start     BIGINT NOT NULL,
    node_id          TEXT NOT NULL,
    api_id           TEXT NOT NULL,
    api_version      TEXT NOT NULL,
    resource         TEXT NOT NULL,
    application_id   TEXT NOT NULL,
    api_name         TEXT NOT NULL,
    application_name TEXT NOT NULL,
    request_count    BIGINT NOT NULL,
    status_2xx       BIGINT NOT NULL,
    status_3xx       BIGINT NOT NULL,
    status_4xx       BIGINT NOT NULL,
    status_5xx       BIGINT NOT NULL,
    throttled        BIGINT NOT NULL,
    -- "code:count,..." (WSO2's error code, else the status of an error answer).
    error_codes      TEXT NOT NULL,
    -- The total latency's DDSketch, "bucket:count,...".
    latency          TEXT NOT NULL,
    PRIMARY KEY (resolution, bucket_start, node_id, api_id, api_version, resource, application_id)
);
CREATE INDEX analytics_rollups_api ON analytics_rollups (resolution, api_id, bucket_start);
