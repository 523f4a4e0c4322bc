-- Issue 15: offline payments (cheque, wire, cash, other), recorded by the seller. They are payments like
-- any other (`gateway` 'offline', `method_kind` 'offline', `method_brand` the method), with the seller's
-- `reference` (cheque number, wire reference) and the date the money arrived (`received_on`); they have no
-- card, so `method_last4` is empty for them.
--
-- The CHECKs on `method_kind` and `method_last4` change in place, as `invoices` did in 20261130000300 (see
-- there why `payments`, which `refunds` references, is not rebuilt): the columns are added normally, the
-- stored definition is replaced by one that differs only in its CHECKs, and `schema_version` is raised (above the value 20261130000300 set plus its DDL since).
ALTER TABLE payments ADD COLUMN reference TEXT;
ALTER TABLE payments ADD COLUMN received_on TEXT;
PRAGMA writable_schema = ON;
UPDATE sqlite_master SET sql = 'CREATE TABLE "payments" (
    id TEXT PRIMARY KEY,
    seller_id TEXT NOT NULL REFERENCES sellers (id),
    invoice_id TEXT NOT NULL REFERENCES invoices (id),
    checkout_link_id TEXT REFERENCES checkout_links (id),
    amount_minor INTEGER NOT NULL CHECK (amount_minor > 0),
    discount_minor INTEGER NOT NULL DEFAULT 0 CHECK (discount_minor >= 0),
    currency TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN (''pending'', ''succeeded'', ''failed'', ''partially_refunded'', ''refunded'')),
    method_kind TEXT NOT NULL CHECK (method_kind IN (''card'', ''bank_account'', ''offline'')),
    method_brand TEXT NOT NULL,
    method_last4 TEXT NOT NULL,
    gateway TEXT NOT NULL,
    gateway_charge_id TEXT,
    decline_code TEXT,
    idempotency_key TEXT,
    reconcile_after INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    amount_refunded_minor INTEGER NOT NULL DEFAULT 0,
    reference TEXT,
    received_on TEXT,
    CONSTRAINT payments_refunded_within_amount CHECK (
        amount_refunded_minor >= 0 AND amount_refunded_minor <= amount_minor),
    CONSTRAINT payments_refund_status CHECK (
        CASE status
            WHEN ''refunded'' THEN amount_refunded_minor = amount_minor
            WHEN ''partially_refunded'' THEN amount_refunded_minor > 0 AND amount_refunded_minor < amount_minor
            ELSE amount_refunded_minor = 0
        END),
    CONSTRAINT payments_method_last4 CHECK (
        CASE method_kind WHEN ''offline'' THEN method_last4 = '''' ELSE length(method_last4) = 4 END),
    CONSTRAINT payments_offline_shape CHECK (
        (method_kind = ''offline'') = (gateway = ''offline'')
        AND (method_kind <> ''offline'' OR (
            method_brand IN (''check'', ''wire'', ''cash'', ''other'') AND received_on IS NOT NULL
            AND status IN (''succeeded'', ''partially_refunded'', ''refunded''))))
)'
WHERE type = 'table' AND name = 'payments';
PRAGMA schema_version = 20261300;
PRAGMA writable_schema = OFF;
