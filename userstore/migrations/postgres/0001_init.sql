-- Users and OAuth 2.0 clients. Times are unix microseconds in UTC; lists are
-- JSON array text; email_key is the lower-case email, computed by the Go code.
CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL,
    email_key     TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    active        BOOLEAN NOT NULL,
    roles         TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);

CREATE TABLE clients (
    id          TEXT PRIMARY KEY,
    secret_hash BYTEA,
    name        TEXT NOT NULL,
    public      BOOLEAN NOT NULL,
    grants      TEXT NOT NULL,
    scopes      TEXT NOT NULL,
    audience    TEXT NOT NULL,
    alg         TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
