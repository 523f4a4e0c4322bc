-- Sandbox tokens become single-use, bound and short-lived (issue 13, item 4): each token records the
-- seller, invoice and checkout link it was made for and when it expires; `consumed_by` is the payment that
-- claimed it (set by one conditional UPDATE in the payment's hold transaction). Tokens made before this
-- migration have no binding and expire at once (expires_at 0).
ALTER TABLE sandbox_tokens ADD COLUMN seller_id TEXT;
ALTER TABLE sandbox_tokens ADD COLUMN invoice_id TEXT;
ALTER TABLE sandbox_tokens ADD COLUMN checkout_link_id TEXT;
ALTER TABLE sandbox_tokens ADD COLUMN expires_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sandbox_tokens ADD COLUMN consumed_by TEXT;
ALTER TABLE sandbox_tokens ADD COLUMN consumed_at INTEGER;
-- One token pays one payment; also finds the token a payment claimed when it is released.
CREATE UNIQUE INDEX sandbox_tokens_consumed_by ON sandbox_tokens (consumed_by);

-- The origins sellers allow, one row each, so the CORS check on every request with an Origin header is
-- an index lookup instead of a LIKE scan over every seller's JSON (issue 13, item 11). sellers.allowed_origins
-- stays the record the seller sent; this table is kept in step with it where sellers are created.
CREATE TABLE seller_origins (
    seller_id TEXT NOT NULL REFERENCES sellers (id),
    origin TEXT NOT NULL,
    PRIMARY KEY (seller_id, origin)
);
CREATE INDEX seller_origins_origin ON seller_origins (origin);
INSERT INTO seller_origins (seller_id, origin)
    SELECT DISTINCT s.id, j.value FROM sellers s, json_each(s.allowed_origins) j
    WHERE j.type = 'text';
