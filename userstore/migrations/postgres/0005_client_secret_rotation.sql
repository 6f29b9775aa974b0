-- A rotated client secret keeps working until previous_secret_expires
-- (unix microseconds), so that deployments can roll without downtime.
ALTER TABLE clients ADD COLUMN previous_secret_hash BYTEA;
ALTER TABLE clients ADD COLUMN previous_secret_expires BIGINT NOT NULL DEFAULT 0;
