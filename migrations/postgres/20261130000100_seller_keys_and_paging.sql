-- Issue 15: a seller's secret keys move to their own table, so a key can be rolled with an overlap window
-- (both keys work until the old one's expires_at) and each key's last use is visible. Keys stay SHA-256
-- hashed (auth::hash_secret); only the last four characters are kept in clear, to tell keys apart.
CREATE TABLE seller_keys (
    id TEXT PRIMARY KEY,
    seller_id TEXT NOT NULL REFERENCES sellers (id),
    key_hash TEXT NOT NULL UNIQUE,
    -- NULL for a key carried over below (only its hash was stored) until its first use fills it in.
    last4 TEXT CHECK (last4 IS NULL OR char_length(last4) = 4),
    created_at BIGINT NOT NULL,
    -- NULL while the key is the seller's current one; a roll sets it (the end of the overlap window).
    expires_at BIGINT,
    -- Written at most about once a minute per key, not on every request.
    last_used_at BIGINT
);
-- At most one current key per seller: two rolls at once cannot both leave a key without an expiry.
CREATE UNIQUE INDEX seller_keys_current ON seller_keys (seller_id) WHERE expires_at IS NULL;
CREATE INDEX seller_keys_seller ON seller_keys (seller_id, created_at);

-- Every seller's existing key becomes its current key. sellers.secret_key_hash stays, as on SQLite (which
-- cannot drop a UNIQUE column), but is no longer read: it keeps the hash of the key the seller was created with.
INSERT INTO seller_keys (id, seller_id, key_hash, last4, created_at, expires_at, last_used_at)
    SELECT 'key_' || id, id, secret_key_hash, NULL, created_at, NULL, NULL FROM sellers;

-- Lists page by (created_at, id) newest first; endpoints had only a seller index.
CREATE INDEX erp_endpoints_seller_created ON erp_endpoints (seller_id, created_at);
