-- The cluster: what every node shares and must agree on, written once by the first node that
-- starts (`cluster_settings`: the token issuer, the primary key's id), and the node registry each
-- node heartbeats into (`cluster_nodes`). Times are milliseconds since the epoch by the database's
-- clock, so that nodes with skewed clocks still agree on who is silent.
CREATE TABLE cluster_settings (
    name        TEXT PRIMARY KEY,
    value       TEXT NOT NULL,
    origin_node TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE cluster_nodes (
    node_id              TEXT PRIMARY KEY,
    version              TEXT NOT NULL,
    hostname             TEXT NOT NULL,
    bind_address         TEXT NOT NULL,
    management_port      INTEGER NOT NULL,
    gateway_http_port    INTEGER NOT NULL,
    gateway_https_port   INTEGER NOT NULL,
    traffic_manager_port INTEGER NOT NULL,
    started_at           BIGINT NOT NULL,
    last_heartbeat       BIGINT NOT NULL,
    -- Set by a graceful stop; cleared by the next start.
    stopped_at           BIGINT,
    -- The last change-feed sequence number this node's gateway has applied.
    feed_position        BIGINT NOT NULL,
    -- JSON {"<environment>": ["<revision id>", ...]}: what this node's artifacts hold.
    deployments          TEXT NOT NULL
);
