-- Refresh-token families, per-user cut-offs and denied access tokens of the
-- embedded token store (tokenstore/sqlstore). Times are unix milliseconds,
-- 0 for none; purge_at is when the record's logical end plus the grace
-- period has passed, after which sqlstore's Purge deletes it.
--
-- sqlstore runs on SQLite only: on PostgreSQL these tables stay empty, and
-- exist so that every version means the same schema in both dialects.
CREATE TABLE token_families (
    user_id         TEXT NOT NULL,
    id              TEXT NOT NULL,
    client_id       TEXT NOT NULL,
    scope           TEXT NOT NULL,
    auth_time       BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL,
    idle_expires_at BIGINT NOT NULL,
    rotated_at      BIGINT NOT NULL,
    current         BYTEA NOT NULL,
    used            BYTEA NOT NULL,
    retry           BYTEA,
    revoked         BOOLEAN NOT NULL,
    purge_at        BIGINT NOT NULL,
    PRIMARY KEY (user_id, id)
);
CREATE INDEX token_families_purge_at ON token_families (purge_at);

CREATE TABLE token_cutoffs (
    user_id  TEXT PRIMARY KEY,
    cut_at   BIGINT NOT NULL,
    purge_at BIGINT NOT NULL
);

CREATE TABLE revoked_access_tokens (
    jti      TEXT PRIMARY KEY,
    purge_at BIGINT NOT NULL
);
CREATE INDEX revoked_access_tokens_purge_at ON revoked_access_tokens (purge_at);
