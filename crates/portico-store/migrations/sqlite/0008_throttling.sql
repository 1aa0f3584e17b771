-- Throttling through the Admin REST API: policies get stable ids (WSO2's policyId), the quota
-- type, and burst control (WSO2's rateLimitCount / rateLimitTimeUnit: 0 and NULL without);
-- deny policies (WSO2's blocking conditions); and the record of defaults seeded at start-up.
--
-- The existing rows (WSO2's defaults, seeded by 0002 and 0004) keep their names, limits and
-- flags; they had no burst control. SQLite cannot change a primary key, hence the rebuilt table.
CREATE TABLE throttling_policies_v8 (
    id                   TEXT PRIMARY KEY,
    -- `subscription`, `application` or `api` (advanced).
    level                TEXT NOT NULL,
    name                 TEXT NOT NULL,
    display_name         TEXT NOT NULL,
    description          TEXT NOT NULL,
    -- WSO2's defaultLimit.type (REQUESTCOUNTLIMIT: the only one supported so far).
    quota_type           TEXT NOT NULL,
    request_count        BIGINT NOT NULL,
    unit_time            BIGINT NOT NULL,
    time_unit            TEXT NOT NULL,
    rate_limit_count     BIGINT NOT NULL,
    rate_limit_time_unit TEXT,
    tier_plan            TEXT NOT NULL,
    stop_on_quota_reach  BOOLEAN NOT NULL,
    UNIQUE (level, name)
);
INSERT INTO throttling_policies_v8 (id, level, name, display_name, description, quota_type, request_count,
    unit_time, time_unit, rate_limit_count, rate_limit_time_unit, tier_plan, stop_on_quota_reach)
SELECT lower(hex(randomblob(4))) || '-' || lower(hex(randomblob(2))) || '-4' || substr(lower(hex(randomblob(2))), 2)
       || '-' || substr('89ab', 1 + (abs(random()) % 4), 1) || substr(lower(hex(randomblob(2))), 2)
       || '-' || lower(hex(randomblob(6))),
    level, name, display_name, description, 'REQUESTCOUNTLIMIT', request_count, unit_time, time_unit, 0, NULL,
    tier_plan, stop_on_quota_reach
FROM throttling_policies;
DROP TABLE throttling_policies;
ALTER TABLE throttling_policies_v8 RENAME TO throttling_policies;

-- WSO2's AM_BLOCK_CONDITIONS. `condition_value` is WSO2's stored value: the API context with its
-- version, `owner:appName` or the user name as text; the IP condition as JSON text
-- (`{"fixedIp","invert"}` or `{"startingIp","endingIp","invert"}`), canonical, so the unique
-- constraint finds duplicates.
CREATE TABLE deny_policies (
    id              TEXT PRIMARY KEY,
    -- API | APPLICATION | IP | IPRANGE | USER
    condition_type  TEXT NOT NULL,
    condition_value TEXT NOT NULL,
    -- WSO2's conditionStatus: whether the condition is enforced.
    enabled         BOOLEAN NOT NULL,
    created_at      BIGINT NOT NULL,
    UNIQUE (condition_type, condition_value)
);

-- Defaults the store seeded (`throttling_policy:<level>:<name>`), each once: a default an
-- administrator deleted stays deleted, and a default added in a later release is seeded then.
CREATE TABLE seeded_defaults (
    name TEXT PRIMARY KEY
);
