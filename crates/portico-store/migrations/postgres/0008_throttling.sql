-- Throttling through the Admin REST API: policies get stable ids (WSO2's policyId), the quota
-- type, and burst control (WSO2's rateLimitCount / rateLimitTimeUnit: 0 and NULL without);
-- deny policies (WSO2's blocking conditions); and the record of defaults seeded at start-up.
--
-- The existing rows (WSO2's defaults, seeded by 0002 and 0004) keep their names, limits and
-- flags; they had no burst control.
ALTER TABLE throttling_policies ADD COLUMN id TEXT;
UPDATE throttling_policies SET id = gen_random_uuid()::text;
ALTER TABLE throttling_policies ALTER COLUMN id SET NOT NULL;
ALTER TABLE throttling_policies DROP CONSTRAINT throttling_policies_pkey;
ALTER TABLE throttling_policies ADD PRIMARY KEY (id);
ALTER TABLE throttling_policies ADD CONSTRAINT throttling_policies_level_name UNIQUE (level, name);
-- WSO2's defaultLimit.type (REQUESTCOUNTLIMIT: the only one supported so far).
ALTER TABLE throttling_policies ADD COLUMN quota_type TEXT NOT NULL DEFAULT 'REQUESTCOUNTLIMIT';
ALTER TABLE throttling_policies ADD COLUMN rate_limit_count BIGINT NOT NULL DEFAULT 0;
ALTER TABLE throttling_policies ADD COLUMN rate_limit_time_unit TEXT;

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
