package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"authserver/server"
	"authserver/tokenstore"
)

var _ server.Throttle = (*Store)(nil)

// failures reads the failures of key with q, the zero Failures if it has
// none stored.
func failures(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, key string) (tokenstore.Failures, error) {
	var f tokenstore.Failures
	err := q.QueryRowContext(ctx, `SELECT failures, last_at, window_ms, locked_until
		FROM throttle_failures WHERE throttle_key = ?`, key).Scan(&f.Count, &f.Last, &f.Window, &f.Until)
	if errors.Is(err, sql.ErrNoRows) {
		return tokenstore.Failures{}, nil
	}
	return f, err
}

// Locked returns how long key is still locked out at now and how many of
// its failures still count, with one query.
func (s *Store) Locked(ctx context.Context, key string, now time.Time) (time.Duration, int, error) {
	f, err := failures(ctx, s.db, key)
	if err != nil {
		return 0, 0, fmt.Errorf("sqlstore: failures of %s: %w", key, err)
	}
	lockedFor, n := f.Locked(now)
	return lockedFor, n, nil
}

// Fail records a failure of key at now in one transaction.
func (s *Store) Fail(ctx context.Context, key string, now time.Time, b server.Backoff) (time.Duration, error) {
	if err := tokenstore.CheckBackoff(b); err != nil {
		return 0, fmt.Errorf("sqlstore: fail %s: %w", key, err)
	}
	lockedFor, err := s.fail(ctx, key, now, b)
	if err != nil {
		return 0, fmt.Errorf("sqlstore: fail %s: %w", key, err)
	}
	return lockedFor, nil
}

// fail reads the failures of key, adds one and writes them back.
func (s *Store) fail(ctx context.Context, key string, now time.Time, b server.Backoff) (time.Duration, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	f, err := failures(ctx, tx, key)
	if err != nil {
		return 0, err
	}
	lockedFor := f.Fail(now, b)
	if _, err := tx.ExecContext(ctx, `INSERT INTO throttle_failures
		(throttle_key, failures, last_at, window_ms, locked_until, purge_at) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (throttle_key) DO UPDATE SET failures = excluded.failures, last_at = excluded.last_at,
			window_ms = excluded.window_ms, locked_until = excluded.locked_until, purge_at = excluded.purge_at`,
		key, f.Count, f.Last, f.Window, f.Until, f.Expires()); err != nil {
		return 0, err
	}
	return lockedFor, tx.Commit()
}

// Reset deletes the failures of key.
func (s *Store) Reset(ctx context.Context, key string) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM throttle_failures WHERE throttle_key = ?`, key); err != nil {
		return fmt.Errorf("sqlstore: reset %s: %w", key, err)
	}
	return nil
}

// Allow takes a token from key's bucket in one transaction, which writes
// only if it took one.
func (s *Store) Allow(ctx context.Context, key string, now time.Time, rate float64, burst int) (bool, time.Duration, error) {
	if err := tokenstore.CheckBucket(rate, burst); err != nil {
		return false, 0, fmt.Errorf("sqlstore: allow %s: %w", key, err)
	}
	ok, retry, err := s.allow(ctx, key, now, rate, burst)
	if err != nil {
		return false, 0, fmt.Errorf("sqlstore: allow %s: %w", key, err)
	}
	return ok, retry, nil
}

// allow reads key's bucket, takes a token and writes the bucket back if it
// took one.
func (s *Store) allow(ctx context.Context, key string, now time.Time, rate float64, burst int) (bool, time.Duration, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return false, 0, err
	}
	defer tx.Rollback()
	var k tokenstore.Bucket
	err = tx.QueryRowContext(ctx, `SELECT taken, taken_at FROM throttle_buckets WHERE throttle_key = ?`, key).
		Scan(&k.Taken, &k.At)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return false, 0, err
	}
	ok, retry := k.Allow(now, rate, burst)
	if !ok {
		return false, retry, nil
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO throttle_buckets (throttle_key, taken, taken_at, purge_at)
		VALUES (?, ?, ?, ?)
		ON CONFLICT (throttle_key) DO UPDATE SET taken = excluded.taken, taken_at = excluded.taken_at,
			purge_at = excluded.purge_at`,
		key, k.Taken, k.At, k.Expires(rate)); err != nil {
		return false, 0, err
	}
	return true, 0, tx.Commit()
}
