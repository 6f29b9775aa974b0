-- Authentication failures and request buckets of the embedded throttle
-- (tokenstore/sqlstore; server.Throttle), per opaque throttle key. Times are
-- unix milliseconds; purge_at is when the record no longer matters, after
-- which sqlstore's Purge deletes it (the methods treat such a row as absent
-- already).
--
-- sqlstore runs on SQLite only: on PostgreSQL these tables stay empty, and
-- exist so that every version means the same schema in both dialects.
--
-- throttle_failures: the chain of failures (tokenstore.Failures): its count,
-- the latest failure, the window it was recorded with (ms) and the end of
-- the lockout (0 for none).
CREATE TABLE throttle_failures (
    throttle_key TEXT PRIMARY KEY,
    failures     BIGINT NOT NULL,
    last_at      BIGINT NOT NULL,
    window_ms    BIGINT NOT NULL,
    locked_until BIGINT NOT NULL,
    purge_at     BIGINT NOT NULL
);
CREATE INDEX throttle_failures_purge_at ON throttle_failures (purge_at);

-- throttle_buckets: a token bucket (tokenstore.Bucket): the tokens missing
-- (a float; SQLite's REAL is PostgreSQL's DOUBLE PRECISION) as of taken_at.
-- purge_at is when it is full again.
CREATE TABLE throttle_buckets (
    throttle_key TEXT PRIMARY KEY,
    taken        DOUBLE PRECISION NOT NULL,
    taken_at     BIGINT NOT NULL,
    purge_at     BIGINT NOT NULL
);
CREATE INDEX throttle_buckets_purge_at ON throttle_buckets (purge_at);
