-- Issue 17, part A: account links (one customer of one seller) and payments allocated across invoices.
-- An account link is a row per minted account token (its `jti`), as checkout links are, so it can be revoked.
CREATE TABLE account_links (
    id TEXT PRIMARY KEY,
    seller_id TEXT NOT NULL REFERENCES sellers (id),
    customer_id TEXT NOT NULL REFERENCES customers (id),
    jti TEXT NOT NULL UNIQUE,
    expires_at INTEGER NOT NULL,
    revoked_at INTEGER,
    created_at INTEGER NOT NULL
);
CREATE INDEX account_links_customer ON account_links (seller_id, customer_id);

-- A payment made through an account link: one gateway charge for the sum, its `invoice_id` the first
-- allocation's (by id), and the split per invoice in payment_allocations. NULL for single-invoice payments,
-- whose holds and credits stay on payments.invoice_id exactly as before.
ALTER TABLE payments ADD COLUMN account_link_id TEXT REFERENCES account_links (id);

CREATE TABLE payment_allocations (
    payment_id TEXT NOT NULL REFERENCES payments (id),
    seller_id TEXT NOT NULL REFERENCES sellers (id),
    invoice_id TEXT NOT NULL REFERENCES invoices (id),
    -- Order in the request, so answers and postings list allocations as the buyer sent them.
    position INTEGER NOT NULL CHECK (position >= 0),
    amount_minor INTEGER NOT NULL CHECK (amount_minor > 0),
    discount_minor INTEGER NOT NULL DEFAULT 0 CHECK (discount_minor >= 0),
    currency TEXT NOT NULL,
    amount_refunded_minor INTEGER NOT NULL DEFAULT 0
        CHECK (amount_refunded_minor >= 0 AND amount_refunded_minor <= amount_minor),
    PRIMARY KEY (payment_id, invoice_id),
    UNIQUE (payment_id, position)
);
CREATE INDEX payment_allocations_invoice ON payment_allocations (invoice_id);
