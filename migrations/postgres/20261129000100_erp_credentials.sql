-- Issue 13: QuickBooks endpoints carry their own OAuth credentials (no server-wide token), secrets are
-- sealed at rest, and an endpoint that keeps failing is disabled.

ALTER TABLE erp_endpoints ADD COLUMN realm_id TEXT;
ALTER TABLE erp_endpoints ADD COLUMN client_id TEXT;
-- Sealed with TRANCHE_MASTER_KEY (context `erp_endpoints.<column>:<id>`), like signing_secret and access_token.
ALTER TABLE erp_endpoints ADD COLUMN client_secret TEXT;
ALTER TABLE erp_endpoints ADD COLUMN refresh_token TEXT;
ALTER TABLE erp_endpoints ADD COLUMN token_url TEXT;
ALTER TABLE erp_endpoints ADD COLUMN access_token_expires_at BIGINT;
-- Consecutive failed attempts, and when the current run of failures began.
ALTER TABLE erp_endpoints ADD COLUMN consecutive_failures BIGINT NOT NULL DEFAULT 0;
ALTER TABLE erp_endpoints ADD COLUMN failing_since BIGINT;

-- QuickBooks endpoints made before this had no credentials of their own (they used the operator's token,
-- which is gone): they cannot post any more, so they are disabled with a reason the seller can act on.
UPDATE erp_endpoints
SET disabled_at = CAST(EXTRACT(EPOCH FROM now()) * 1000 AS BIGINT),
    disabled_reason = 'reauthorization_required: QuickBooks endpoints now carry their own OAuth credentials; create it again with realm_id, client_id, client_secret and refresh_token',
    access_token = NULL
WHERE kind = 'quickbooks' AND disabled_at IS NULL;
