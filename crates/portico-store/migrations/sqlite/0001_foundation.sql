-- Foundation: roles, users, and the change feed (outbox) every node replays.
CREATE TABLE roles (
    name        TEXT PRIMARY KEY,
    wso2_name   TEXT NOT NULL,
    description TEXT NOT NULL
);

INSERT INTO roles (name, wso2_name, description) VALUES
    ('admin', 'admin', 'Administers the whole node: users, policies, environments, every API.'),
    ('creator', 'Internal/creator', 'Creates and edits APIs in the Publisher.'),
    ('publisher', 'Internal/publisher', 'Changes API lifecycles and deploys revisions.'),
    ('subscriber', 'Internal/subscriber', 'Uses the Developer Portal: applications, keys, subscriptions.');

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);

CREATE TABLE user_roles (
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role    TEXT NOT NULL REFERENCES roles(name),
    PRIMARY KEY (user_id, role)
);

-- Ordered, durable cluster events. Readers keep the last seq they applied.
CREATE TABLE change_feed (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    kind        TEXT NOT NULL,
    entity_id   TEXT NOT NULL,
    payload     TEXT NOT NULL,
    origin_node TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
