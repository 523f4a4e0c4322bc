-- ERP endpoints and per-destination deliveries of outbox events (webhooks, QuickBooks, receipt emails).
-- A delivery row is written in the same transaction as its event, so nothing is lost between them.

CREATE TABLE erp_endpoints (
    id TEXT PRIMARY KEY,
    seller_id TEXT NOT NULL REFERENCES sellers (id),
    kind TEXT NOT NULL CHECK (kind IN ('webhook', 'quickbooks')),
    url TEXT NOT NULL,
    signing_secret TEXT NOT NULL,
    access_token TEXT,
    disabled_at INTEGER,
    disabled_reason TEXT,
    created_at INTEGER NOT NULL
);
CREATE INDEX erp_endpoints_seller ON erp_endpoints (seller_id);

CREATE TABLE deliveries (
    id TEXT PRIMARY KEY,
    seller_id TEXT NOT NULL REFERENCES sellers (id),
    event_id TEXT NOT NULL REFERENCES outbox (id),
    endpoint_id TEXT REFERENCES erp_endpoints (id),
    kind TEXT NOT NULL CHECK (kind IN ('webhook', 'quickbooks', 'email')),
    status TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'dead')),
    attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at INTEGER NOT NULL,
    locked_until INTEGER,
    last_status_code INTEGER,
    last_error TEXT,
    delivered_at INTEGER,
    created_at INTEGER NOT NULL,
    CONSTRAINT deliveries_once UNIQUE (event_id, endpoint_id, kind)
);
CREATE INDEX deliveries_due ON deliveries (status, next_attempt_at);
CREATE INDEX deliveries_seller ON deliveries (seller_id, created_at);

ALTER TABLE invoices ADD COLUMN external_ref TEXT;
ALTER TABLE customers ADD COLUMN locale TEXT NOT NULL DEFAULT 'en';
ALTER TABLE sellers ADD COLUMN receipt_subject TEXT;
ALTER TABLE sellers ADD COLUMN receipt_intro TEXT;
