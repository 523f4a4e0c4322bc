-- Issue 15: credit notes. An invoice records how much credit notes took off it (`amount_credited_minor`),
-- and the invariant `0 <= amount_paid + amount_credited + discount_taken <= total` (with each part
-- non-negative) and the paid status now count credits; each credit note is a row of `credit_notes`.
--
-- SQLite cannot change a CHECK in place. The 12-step rebuild (new table, copy, drop, rename) needs foreign
-- keys off, which SQLite refuses inside a transaction, and sqlx runs every SQLite migration inside one
-- (it ignores `-- no-transaction` for SQLite); dropping `invoices` with foreign keys on fails, as lines,
-- links, payments and refunds reference it. So this uses SQLite's documented procedure for changing CHECK
-- constraints without rebuilding (ALTER TABLE docs, "making other kinds of table schema changes"): the new
-- column is added normally, then the table's stored definition is replaced with one that differs only in
-- its two CHECKs, and `schema_version` is raised so every connection, this one included, reparses the
-- schema. Columns keep their order and defaults and the UNIQUE and PRIMARY KEY keep theirs, so the stored
-- rows and the automatic indexes match the new text; the existing rows satisfy the new CHECKs (credited is
-- 0, so both reduce to the old ones). Indexes and foreign keys are untouched. The value 20261130 is far
-- above any schema_version this database reached by its DDL (each statement adds one), as the procedure
-- requires (it must only increase).
ALTER TABLE invoices ADD COLUMN amount_credited_minor INTEGER NOT NULL DEFAULT 0;
PRAGMA writable_schema = ON;
UPDATE sqlite_master SET sql = 'CREATE TABLE invoices (
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
    status TEXT NOT NULL CHECK (status IN (''open'', ''partially_paid'', ''paid'', ''void'')),
    voided_at INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    external_ref TEXT,
    amount_credited_minor INTEGER NOT NULL DEFAULT 0,
    CONSTRAINT invoices_number_unique UNIQUE (seller_id, number),
    CONSTRAINT invoices_total_is_sum CHECK (subtotal_minor + tax_minor = total_minor),
    CONSTRAINT invoices_paid_within_total CHECK (
        amount_paid_minor >= 0 AND discount_taken_minor >= 0 AND amount_credited_minor >= 0
        AND amount_paid_minor + discount_taken_minor + amount_credited_minor <= total_minor),
    CONSTRAINT invoices_paid_status CHECK (
        (status = ''paid'') = (amount_paid_minor + discount_taken_minor + amount_credited_minor = total_minor
            AND voided_at IS NULL)),
    CONSTRAINT invoices_void_status CHECK ((status = ''void'') = (voided_at IS NOT NULL))
)'
WHERE type = 'table' AND name = 'invoices';
PRAGMA schema_version = 20261130;
PRAGMA writable_schema = OFF;

CREATE TABLE credit_notes (
    id TEXT PRIMARY KEY,
    seller_id TEXT NOT NULL REFERENCES sellers (id),
    invoice_id TEXT NOT NULL REFERENCES invoices (id),
    amount_minor INTEGER NOT NULL CHECK (amount_minor > 0),
    currency TEXT NOT NULL CHECK (length(currency) = 3),
    reason TEXT NOT NULL CHECK (length(reason) BETWEEN 1 AND 500),
    memo TEXT,
    created_at INTEGER NOT NULL
);
CREATE INDEX credit_notes_invoice ON credit_notes (invoice_id, created_at, id);
CREATE INDEX credit_notes_seller ON credit_notes (seller_id, created_at, id);
