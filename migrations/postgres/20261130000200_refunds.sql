-- Issue 15: refunds. A payment records how much of it went back (`amount_refunded_minor`), held to
-- `0 <= amount_refunded_minor <= amount_minor` and to its status by CHECKs; each refund is a row of
-- `refunds` (its own idempotency key, request fingerprint and stored answer), and the sandbox gateway
-- keeps its side in `sandbox_refunds`.

ALTER TABLE payments DROP CONSTRAINT payments_status_check;
ALTER TABLE payments ADD CONSTRAINT payments_status_check
    CHECK (status IN ('pending', 'succeeded', 'failed', 'partially_refunded', 'refunded'));
ALTER TABLE payments ADD COLUMN amount_refunded_minor BIGINT NOT NULL DEFAULT 0;
-- A row marked `refunded` before this migration had no refund recorded: it was refunded in full.
UPDATE payments SET amount_refunded_minor = amount_minor WHERE status = 'refunded';
ALTER TABLE payments ADD CONSTRAINT payments_refunded_within_amount CHECK (
    amount_refunded_minor >= 0 AND amount_refunded_minor <= amount_minor);
ALTER TABLE payments ADD CONSTRAINT payments_refund_status CHECK (
    CASE status
        WHEN 'refunded' THEN amount_refunded_minor = amount_minor
        WHEN 'partially_refunded' THEN amount_refunded_minor > 0 AND amount_refunded_minor < amount_minor
        ELSE amount_refunded_minor = 0
    END);

CREATE TABLE refunds (
    id TEXT PRIMARY KEY,
    seller_id TEXT NOT NULL REFERENCES sellers (id),
    payment_id TEXT NOT NULL REFERENCES payments (id),
    invoice_id TEXT NOT NULL REFERENCES invoices (id),
    amount_minor BIGINT NOT NULL CHECK (amount_minor > 0),
    currency TEXT NOT NULL CHECK (char_length(currency) = 3),
    status TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
    reason TEXT CHECK (reason IS NULL OR reason IN ('requested_by_customer', 'duplicate', 'fraudulent', 'other')),
    failure_code TEXT,
    gateway_refund_id TEXT,
    -- NULL once a refund the gateway never saw is released, so a retry with the key runs afresh.
    idempotency_key TEXT,
    request_hash TEXT NOT NULL,
    response_status BIGINT,
    response_body TEXT,
    reconcile_after BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CONSTRAINT refunds_key_unique UNIQUE (seller_id, idempotency_key),
    CONSTRAINT refunds_failed_has_code CHECK ((status = 'failed') = (failure_code IS NOT NULL))
);
CREATE INDEX refunds_payment ON refunds (payment_id, status);
CREATE INDEX refunds_seller ON refunds (seller_id, created_at, id);
CREATE INDEX refunds_pending ON refunds (status, reconcile_after);

-- The sandbox gateway's refunds (a real gateway keeps these on its side), keyed by Tranche's refund id.
CREATE TABLE sandbox_refunds (
    idempotency_key TEXT PRIMARY KEY,
    refund_id TEXT NOT NULL UNIQUE,
    charge_id TEXT NOT NULL,
    amount_minor BIGINT NOT NULL CHECK (amount_minor > 0),
    currency TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('succeeded', 'failed')),
    failure_code TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX sandbox_refunds_charge ON sandbox_refunds (charge_id);

-- A QuickBooks endpoint books refunds as RefundReceipts, which Intuit requires to name the account the money
-- left (DepositToAccountRef: a Bank or Other Current Asset account) and an item for the line (ItemRef).
-- Neither can be guessed, so the seller gives both when registering the endpoint.
ALTER TABLE erp_endpoints ADD COLUMN refund_account_id TEXT;
ALTER TABLE erp_endpoints ADD COLUMN refund_item_id TEXT;
