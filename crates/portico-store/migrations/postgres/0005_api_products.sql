-- API Products live beside the APIs (as in WSO2's AM_API, type APIPRODUCT), so subscriptions,
-- revisions, deployments and lifecycle history reference them through apis(id) unchanged, and
-- the unique name/context indexes cover APIs and products together.
ALTER TABLE apis ADD COLUMN api_type TEXT NOT NULL DEFAULT 'API';
