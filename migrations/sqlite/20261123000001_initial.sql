-- Tranche schema, SQLite dialect. Amounts are INTEGER minor units; times are unix milliseconds;
-- dates are ISO 'YYYY-MM-DD' text. Invariants the code relies on are CHECKs here too.

CREATE TABLE sellers (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    secret_key_hash TEXT NOT NULL UNIQUE,
    allowed_origins TEXT NOT NULL DEFAULT '[]',
    created_at INTEGER NOT NULL
);

CREATE TABLE customers (
    id TEXT PRIMARY KEY,
    seller_id TEXT NOT NULL REFERENCES sellers (id),
    name TEXT NOT NULL,
    email TEXT NOT NULL,
    external_ref TEXT,
    terms_id TEXT,
    created_at INTEGER NOT NULL
);
CREATE INDEX customers_seller ON customers (seller_id, created_at);

CREATE TABLE terms_profiles (
    id TEXT PRIMARY KEY,
    seller_id TEXT NOT NULL REFERENCES sellers (id),
    name TEXT NOT NULL,
    spec TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX terms_seller ON terms_profiles (seller_id);

CREATE TABLE invoices (
    id TEXT PRIMARY KEY,
    seller_id TEXT NOT NULL REFERENCES sellers (id),
    customer_id TEXT NOT NULL REFERENCES customers (id),
    terms_id TEXT REFERENCES terms_profiles (id),
    terms_spec TEXT NOT NULL,
    number TEXT NOT NULL,
    currency TEXT NOT NULL CHECK (length(currency) = 3),
    issue_date TEXT NOT NULL,
    due_date TEXT NOT NULL,
    subtotal_minor INTEGER NOT NULL CHECK (subtotal_minor >= 0),
    tax_minor INTEGER NOT NULL CHECK (tax_minor >= 0),
    total_minor INTEGER NOT NULL CHECK (total_minor > 0),
    amount_paid_minor INTEGER NOT NULL DEFAULT 0,
    discount_taken_minor INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL CHECK (status IN ('open', 'partially_paid', 'paid', 'void')),
    voided_at INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    CONSTRAINT invoices_number_unique UNIQUE (seller_id, number),
    CONSTRAINT invoices_total_is_sum CHECK (subtotal_minor + tax_minor = total_minor),
    CONSTRAINT invoices_paid_within_total CHECK (
        amount_paid_minor >= 0 AND discount_taken_minor >= 0
        AND amount_paid_minor + discount_taken_minor <= total_minor),
    CONSTRAINT invoices_paid_status CHECK (
        (status = 'paid') = (amount_paid_minor + discount_taken_minor = total_minor AND voided_at IS NULL)),
    CONSTRAINT invoices_void_status CHECK ((status = 'void') = (voided_at IS NOT NULL))
);
CREATE INDEX invoices_seller_status ON invoices (seller_id, status, created_at);
CREATE INDEX invoices_seller_customer ON invoices (seller_id, customer_id, created_at);

CREATE TABLE invoice_lines (
    invoice_id TEXT NOT NULL REFERENCES invoices (id),
    position INTEGER NOT NULL,
    description TEXT NOT NULL,
    quantity TEXT NOT NULL,
    unit_price_minor INTEGER NOT NULL CHECK (unit_price_minor >= 0),
    tax_rate TEXT NOT NULL,
    amount_minor INTEGER NOT NULL CHECK (amount_minor >= 0),
    tax_minor INTEGER NOT NULL CHECK (tax_minor >= 0),
    PRIMARY KEY (invoice_id, position)
);

CREATE TABLE checkout_links (
    id TEXT PRIMARY KEY,
    seller_id TEXT NOT NULL REFERENCES sellers (id),
    invoice_id TEXT NOT NULL REFERENCES invoices (id),
    jti TEXT NOT NULL UNIQUE,
    expires_at INTEGER NOT NULL,
    revoked_at INTEGER,
    created_at INTEGER NOT NULL
);
CREATE INDEX checkout_links_invoice ON checkout_links (invoice_id);

CREATE TABLE payments (
    id TEXT PRIMARY KEY,
    seller_id TEXT NOT NULL REFERENCES sellers (id),
    invoice_id TEXT NOT NULL REFERENCES invoices (id),
    checkout_link_id TEXT REFERENCES checkout_links (id),
    amount_minor INTEGER NOT NULL CHECK (amount_minor > 0),
    discount_minor INTEGER NOT NULL DEFAULT 0 CHECK (discount_minor >= 0),
    currency TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed', 'refunded')),
    method_kind TEXT NOT NULL CHECK (method_kind IN ('card', 'bank_account')),
    method_brand TEXT NOT NULL,
    method_last4 TEXT NOT NULL CHECK (length(method_last4) = 4),
    gateway TEXT NOT NULL,
    gateway_charge_id TEXT,
    decline_code TEXT,
    idempotency_key TEXT,
    reconcile_after INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX payments_invoice ON payments (invoice_id, created_at);
CREATE INDEX payments_seller ON payments (seller_id, created_at);
CREATE INDEX payments_pending ON payments (status, reconcile_after);

CREATE TABLE idempotency_keys (
    seller_id TEXT NOT NULL REFERENCES sellers (id),
    idempotency_key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('in_flight', 'done')),
    payment_id TEXT,
    response_status INTEGER,
    response_body TEXT,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (seller_id, idempotency_key)
);

CREATE TABLE outbox (
    id TEXT PRIMARY KEY,
    seller_id TEXT NOT NULL REFERENCES sellers (id),
    event_type TEXT NOT NULL,
    aggregate_id TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX outbox_created ON outbox (created_at);

CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY,
    private_pkcs8 TEXT NOT NULL,
    public_key TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

-- The sandbox gateway's own records (a real gateway keeps these on its side). Never a card number.
CREATE TABLE sandbox_tokens (
    token TEXT PRIMARY KEY,
    method_kind TEXT NOT NULL,
    brand TEXT NOT NULL,
    last4 TEXT NOT NULL,
    outcome TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE sandbox_charges (
    idempotency_key TEXT PRIMARY KEY,
    charge_id TEXT NOT NULL UNIQUE,
    token TEXT NOT NULL,
    amount_minor INTEGER NOT NULL,
    currency TEXT NOT NULL,
    status TEXT NOT NULL,
    decline_code TEXT,
    settle_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
