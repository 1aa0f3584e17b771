-- The audit log (issue 20): one row per management write (REST, SCIM, DCR) that an authenticated
-- caller made, whatever its outcome. Who (`actor`), when (`at`, milliseconds since the epoch),
-- from where (`client_address`, the TCP peer), on which node, what (`method`, `path` with
-- its query, `status`), the object (`object_type`, `object_id`) and, when small, the object
-- before and after as JSON with secrets masked. Rows are only ever added.
CREATE TABLE audit_log (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    at              BIGINT NOT NULL,
    node_id         TEXT NOT NULL,
    actor           TEXT NOT NULL,
    client_address  TEXT,
    method          TEXT NOT NULL,
    path            TEXT NOT NULL,
    object_type     TEXT NOT NULL,
    object_id       TEXT,
    status          INTEGER NOT NULL,
    before_json     TEXT,
    after_json      TEXT
);

CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_actor ON audit_log (actor, at);
