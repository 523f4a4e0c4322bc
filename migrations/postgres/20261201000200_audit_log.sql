-- Issue 15, audit log: one row per seller write, payment and refund, written in the transaction of the change
-- (so a change rolled back leaves no row). actor is key:<last 4>, operator, buyer or system; changes is a JSON
-- object (before/after of the fields an edit changed), never a secret.
CREATE TABLE audit_log (
    id TEXT PRIMARY KEY,
    seller_id TEXT NOT NULL REFERENCES sellers (id),
    created_at BIGINT NOT NULL,
    actor TEXT NOT NULL CHECK (actor IN ('operator', 'buyer', 'system') OR (actor LIKE 'key:%' AND char_length(actor) = 8)),
    action TEXT NOT NULL CHECK (char_length(action) BETWEEN 1 AND 64),
    object_id TEXT NOT NULL,
    changes TEXT NOT NULL
);
-- The log pages by (created_at, id) newest first, per seller, optionally for one object.
CREATE INDEX audit_log_seller ON audit_log (seller_id, created_at, id);
CREATE INDEX audit_log_object ON audit_log (seller_id, object_id, created_at);
