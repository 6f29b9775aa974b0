package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"authserver/server"
	"authserver/tokenstore"
)

var _ server.Tokens = (*Store)(nil)

// Options configure a Store.
type Options struct {
	// Grace is how long a record outlives its logical end: the longest
	// access-token lifetime plus clock skew.
	Grace time.Duration
}

// Store keeps refresh-token families and revocation state in SQLite.
type Store struct {
	db    *sql.DB
	grace int64 // milliseconds
}

// New returns a Store on db, a database with the userstore's migrations.
func New(db *sql.DB, o Options) *Store {
	return &Store{db: db, grace: o.Grace.Milliseconds()}
}

// recordColumns are the columns of a tokenstore.Record after the key.
const recordColumns = `client_id, scope, auth_time, expires_at, idle_expires_at, rotated_at,
	current, used, retry, revoked`

// writeColumns are the columns that CreateFamily and Rotate write.
const writeColumns = recordColumns + `, purge_at`

// placeholders are as many placeholders as writeColumns has columns.
var placeholders = strings.Repeat("?, ", strings.Count(writeColumns, ",")) + "?"

// values returns the values of writeColumns for rec.
func (s *Store) values(rec tokenstore.Record) []any {
	f := rec.Family
	return []any{f.ClientID, tokenstore.JoinScope(f.Scope), tokenstore.Millis(f.AuthTime),
		tokenstore.Millis(f.Expires), tokenstore.Millis(f.IdleExpires), tokenstore.Millis(f.RotatedAt),
		f.Current, tokenstore.JoinUsed(f.Used), rec.Retry, f.Revoked, s.purgeAt(tokenstore.End(f))}
}

// scanRecord reads the recordColumns of the family familyID of userID, and
// then extra columns into extra.
func scanRecord(row *sql.Row, userID, familyID string, extra ...any) (tokenstore.Record, error) {
	rec := tokenstore.Record{Family: server.Family{ID: familyID, UserID: userID}}
	f := &rec.Family
	var scope string
	var used []byte
	var auth, expires, idle, rotated int64
	err := row.Scan(append([]any{&f.ClientID, &scope, &auth, &expires, &idle, &rotated,
		&f.Current, &used, &rec.Retry, &f.Revoked}, extra...)...)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return tokenstore.Record{}, server.ErrNotFound
	case err != nil:
		return tokenstore.Record{}, err
	}
	if f.Used, err = tokenstore.SplitUsed(used); err != nil {
		return tokenstore.Record{}, err
	}
	f.Scope = tokenstore.SplitScope(scope)
	f.AuthTime, f.Expires = tokenstore.Time(auth), tokenstore.Time(expires)
	f.IdleExpires, f.RotatedAt = tokenstore.Time(idle), tokenstore.Time(rotated)
	return rec, nil
}

// purgeAt returns when a record that ends at end may go: end plus the grace
// period, in unix milliseconds.
func (s *Store) purgeAt(end time.Time) int64 {
	return tokenstore.Millis(end) + s.grace
}

// CreateFamily records a new family, or returns an error wrapping
// server.ErrExists if its ID is taken.
func (s *Store) CreateFamily(ctx context.Context, f server.Family) error {
	if err := tokenstore.CheckFamily(f); err != nil {
		return fmt.Errorf("sqlstore: create family %s: %w", f.ID, err)
	}
	res, err := s.db.ExecContext(ctx, `INSERT INTO token_families (user_id, id, `+writeColumns+`)
		VALUES (?, ?, `+placeholders+`) ON CONFLICT DO NOTHING`,
		append([]any{f.UserID, f.ID}, s.values(tokenstore.Record{Family: f})...)...)
	if err != nil {
		return fmt.Errorf("sqlstore: create family %s: %w", f.ID, err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return fmt.Errorf("sqlstore: family %s: %w", f.ID, cmp.Or(err, server.ErrExists))
	}
	return nil
}

// Rotate uses a refresh token in one transaction.
func (s *Store) Rotate(ctx context.Context, r server.Rotation) (server.Family, []byte, error) {
	if err := tokenstore.CheckRotation(r); err != nil {
		return server.Family{}, nil, fmt.Errorf("sqlstore: rotate family %s: %w", r.FamilyID, err)
	}
	f, retry, err := s.rotate(ctx, r)
	if err != nil {
		return f, nil, fmt.Errorf("sqlstore: rotate family %s: %w", r.FamilyID, err)
	}
	return f, retry, nil
}

// rotate reads the family and its user's cut-off, decides and writes the
// family back if it changed.
func (s *Store) rotate(ctx context.Context, r server.Rotation) (server.Family, []byte, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return server.Family{}, nil, err
	}
	defer tx.Rollback()
	var cut int64
	rec, err := scanRecord(tx.QueryRowContext(ctx, `SELECT `+recordColumns+`,
		COALESCE((SELECT cut_at FROM token_cutoffs WHERE user_id = f.user_id), 0)
		FROM token_families f WHERE user_id = ? AND id = ?`, r.UserID, r.FamilyID),
		r.UserID, r.FamilyID, &cut)
	if err != nil {
		return server.Family{}, nil, err
	}
	retry, changed, result := rec.Rotate(tokenstore.Time(cut), r)
	if changed {
		if _, err := tx.ExecContext(ctx, `UPDATE token_families SET (`+writeColumns+`) = (`+placeholders+`)
			WHERE user_id = ? AND id = ?`, append(s.values(rec), r.UserID, r.FamilyID)...); err != nil {
			return server.Family{}, nil, err
		}
		if err := tx.Commit(); err != nil {
			return server.Family{}, nil, err
		}
	}
	return rec.Family, retry, result
}

// Family returns a family until Purge deletes it, or an error wrapping
// server.ErrNotFound.
func (s *Store) Family(ctx context.Context, userID, familyID string) (server.Family, error) {
	rec, err := scanRecord(s.db.QueryRowContext(ctx, `SELECT `+recordColumns+`
		FROM token_families WHERE user_id = ? AND id = ?`, userID, familyID), userID, familyID)
	if err != nil {
		return server.Family{}, fmt.Errorf("sqlstore: family %s: %w", familyID, err)
	}
	return rec.Family, nil
}

// RevokeFamily revokes a family if it exists, keeping its purge time.
func (s *Store) RevokeFamily(ctx context.Context, userID, familyID string) error {
	if _, err := s.db.ExecContext(ctx, `UPDATE token_families SET revoked = TRUE WHERE user_id = ? AND id = ?`,
		userID, familyID); err != nil {
		return fmt.Errorf("sqlstore: revoke family %s: %w", familyID, err)
	}
	return nil
}

// RevokeAccessToken denies the access token jti until exp plus the grace
// period.
func (s *Store) RevokeAccessToken(ctx context.Context, jti string, exp time.Time) error {
	if _, err := s.db.ExecContext(ctx, `INSERT INTO revoked_access_tokens (jti, purge_at) VALUES (?, ?)
		ON CONFLICT (jti) DO UPDATE SET purge_at = excluded.purge_at`, jti, s.purgeAt(exp)); err != nil {
		return fmt.Errorf("sqlstore: revoke access token %s: %w", jti, err)
	}
	return nil
}

// SetCutoff sets the cut-off of userID to at, unless it is later already,
// and keeps it until until plus the grace period, or longer if an earlier
// call asked for longer.
func (s *Store) SetCutoff(ctx context.Context, userID string, at, until time.Time) error {
	if _, err := s.db.ExecContext(ctx, `INSERT INTO token_cutoffs (user_id, cut_at, purge_at) VALUES (?, ?, ?)
		ON CONFLICT (user_id) DO UPDATE SET cut_at = MAX(cut_at, excluded.cut_at),
			purge_at = MAX(purge_at, excluded.purge_at)`,
		userID, tokenstore.Millis(at), s.purgeAt(until)); err != nil {
		return fmt.Errorf("sqlstore: set cut-off of user %s: %w", userID, err)
	}
	return nil
}

// AccessTokenActive reports whether an access token is active, with one
// query: its denial, its family's auth time and revocation, and its user's
// cut-off.
func (s *Store) AccessTokenActive(ctx context.Context, t server.AccessToken) (bool, error) {
	var denied bool
	var auth sql.NullInt64
	var revoked sql.NullBool
	var cut int64
	if err := s.db.QueryRowContext(ctx, `SELECT
		EXISTS (SELECT 1 FROM revoked_access_tokens WHERE jti = ?),
		f.auth_time, f.revoked,
		COALESCE((SELECT cut_at FROM token_cutoffs WHERE user_id = ?), 0)
		FROM (SELECT 1) LEFT JOIN token_families f ON f.user_id = ? AND f.id = ?`,
		t.JTI, t.UserID, t.UserID, t.FamilyID).Scan(&denied, &auth, &revoked, &cut); err != nil {
		return false, fmt.Errorf("sqlstore: access token %s: %w", t.JTI, err)
	}
	var f *server.Family
	if auth.Valid {
		f = &server.Family{AuthTime: tokenstore.Time(auth.Int64), Revoked: revoked.Bool}
	}
	return tokenstore.Active(t, denied, f, tokenstore.Time(cut)), nil
}

// Purge deletes every record whose logical end plus the grace period is at
// or before now, and every throttle record that no longer matters at now,
// and returns how many it deleted.
func (s *Store) Purge(ctx context.Context, now time.Time) (int64, error) {
	var purged int64
	for _, table := range []string{"token_families", "token_cutoffs", "revoked_access_tokens",
		"throttle_failures", "throttle_buckets"} {
		res, err := s.db.ExecContext(ctx, `DELETE FROM `+table+` WHERE purge_at <= ?`, tokenstore.Millis(now))
		if err != nil {
			return purged, fmt.Errorf("sqlstore: purge %s: %w", table, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return purged, fmt.Errorf("sqlstore: purge %s: %w", table, err)
		}
		purged += n
	}
	return purged, nil
}
