-- The signing key set: one row, its private keys sealed by the keys package
-- under the key-encryption key, changed only by compare-and-swap on version.
CREATE TABLE key_set (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    version    BIGINT NOT NULL,
    data       BYTEA NOT NULL,
    updated_at BIGINT NOT NULL
);
