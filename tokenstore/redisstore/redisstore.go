package redisstore

import (
	"context"
	"crypto/sha256"
	_ "embed"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"authserver/server"
	"authserver/tokenstore"
)

var _ server.Tokens = (*Store)(nil)

// Options configure a Store.
type Options struct {
	// Prefix is put in front of every key; it must not contain '{'.
	Prefix string
	// Grace is how long a record outlives its logical end: the longest
	// access-token lifetime plus clock skew.
	Grace time.Duration
}

// Store keeps refresh-token families and revocation state in Redis.
type Store struct {
	rdb    redis.UniversalClient
	prefix string
	grace  int64 // milliseconds
}

// New returns a Store on rdb, a client of a single server, a Sentinel group
// or a Cluster.
func New(rdb redis.UniversalClient, o Options) *Store {
	return &Store{rdb: rdb, prefix: o.Prefix, grace: o.Grace.Milliseconds()}
}

// fields are the fields of a family's hash in the order in which Family
// reads them and rotate.lua returns them: the client id, the scope, the
// auth time, the absolute and idle expiries, the rotation time, the current
// and used hashes, and "1" if revoked. A hash also has the field retry.
var fields = []string{"client", "scope", "auth", "exp", "idle", "rot", "cur", "used", "rev"}

var (
	//go:embed rotate.lua
	rotateSource string
	rotateScript = redis.NewScript(rotateSource)

	// createScript writes the hash KEYS[1] from the field-value pairs
	// ARGV[2:] with expiry ARGV[1], unless it exists.
	createScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('PEXPIREAT', KEYS[1], ARGV[1])
return 1`)

	// revokeScript revokes the family KEYS[1] if it exists, keeping its
	// expiry.
	revokeScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HSET', KEYS[1], 'rev', '1')
end
return 0`)

	// cutoffScript sets the cut-off KEYS[1] to ARGV[1] unless it is later
	// already, and its expiry to ARGV[2] unless it is later already.
	cutoffScript = redis.NewScript(`
local at, expiry = tonumber(ARGV[1]), tonumber(ARGV[2])
local old = tonumber(redis.call('GET', KEYS[1]) or '')
if not old or at > old then
  redis.call('SET', KEYS[1], ARGV[1], 'KEEPTTL')
end
if expiry > redis.call('PEXPIRETIME', KEYS[1]) then
  redis.call('PEXPIREAT', KEYS[1], ARGV[2])
end
return 0`)
)

// outcomes are the errors of rotate.lua's outcomes.
var outcomes = map[string]error{
	"ok":          nil,
	"retry":       nil,
	"notfound":    server.ErrNotFound,
	"wrongclient": server.ErrWrongClient,
	"revoked":     server.ErrRevoked,
	"reused":      server.ErrReused,
}

// familyKey returns the key of a family's hash, in its user's hash slot.
func (s *Store) familyKey(userID, familyID string) string {
	return s.prefix + "fam:{" + userID + "}:" + familyID
}

// cutoffKey returns the key of a user's cut-off.
func (s *Store) cutoffKey(userID string) string {
	return s.prefix + "cut:{" + userID + "}"
}

// jtiKey returns the key that denies an access token.
func (s *Store) jtiKey(jti string) string {
	return s.prefix + "jti:{" + jti + "}"
}

// expiry returns when a record that ends at end expires: end plus the grace
// period, in unix milliseconds.
func (s *Store) expiry(end time.Time) int64 {
	return tokenstore.Millis(end) + s.grace
}

// CreateFamily records a new family, or returns an error wrapping
// server.ErrExists if its ID is taken, in one round trip.
func (s *Store) CreateFamily(ctx context.Context, f server.Family) error {
	if err := tokenstore.CheckFamily(f); err != nil {
		return fmt.Errorf("redisstore: create family %s: %w", f.ID, err)
	}
	created, err := createScript.Run(ctx, s.rdb, []string{s.familyKey(f.UserID, f.ID)},
		s.expiry(tokenstore.End(f)),
		"client", f.ClientID,
		"scope", tokenstore.JoinScope(f.Scope),
		"auth", tokenstore.Millis(f.AuthTime),
		"exp", tokenstore.Millis(f.Expires),
		"idle", tokenstore.Millis(f.IdleExpires),
		"rot", tokenstore.Millis(f.RotatedAt),
		"cur", f.Current,
		"used", tokenstore.JoinUsed(f.Used),
		"rev", f.Revoked,
		"retry", "").Int()
	switch {
	case err != nil:
		return fmt.Errorf("redisstore: create family %s: %w", f.ID, err)
	case created == 0:
		return fmt.Errorf("redisstore: family %s: %w", f.ID, server.ErrExists)
	}
	return nil
}

// Rotate uses a refresh token in one round trip: rotate.lua reads the
// family and the cut-off, decides and writes.
func (s *Store) Rotate(ctx context.Context, r server.Rotation) (server.Family, []byte, error) {
	if err := tokenstore.CheckRotation(r); err != nil {
		return server.Family{}, nil, fmt.Errorf("redisstore: rotate family %s: %w", r.FamilyID, err)
	}
	res, err := rotateScript.Run(ctx, s.rdb, []string{s.familyKey(r.UserID, r.FamilyID), s.cutoffKey(r.UserID)},
		r.ClientID, r.Presented, r.Next, r.Retry, r.Window.Milliseconds(), r.Idle.Milliseconds(),
		tokenstore.Millis(r.Now), s.grace, server.MaxUsed*sha256.Size).Slice()
	if err != nil {
		return server.Family{}, nil, fmt.Errorf("redisstore: rotate family %s: %w", r.FamilyID, err)
	}
	outcome, _ := res[0].(string)
	result, ok := outcomes[outcome]
	if !ok {
		return server.Family{}, nil, fmt.Errorf("redisstore: rotate family %s: unknown outcome %q", r.FamilyID, outcome)
	}
	var f server.Family
	var retry []byte
	if len(res) > 1 {
		values, _ := res[1].([]any)
		if f, err = decode(r.UserID, r.FamilyID, values); err != nil {
			return server.Family{}, nil, fmt.Errorf("redisstore: rotate family %s: %w", r.FamilyID, err)
		}
		if outcome == "retry" && len(values) > len(fields) {
			sealed, _ := values[len(fields)].(string)
			retry = []byte(sealed)
		}
	}
	if result != nil {
		return f, nil, fmt.Errorf("redisstore: rotate family %s: %w", r.FamilyID, result)
	}
	return f, retry, nil
}

// Family returns a family, or an error wrapping server.ErrNotFound once its
// key has expired.
func (s *Store) Family(ctx context.Context, userID, familyID string) (server.Family, error) {
	values, err := s.rdb.HMGet(ctx, s.familyKey(userID, familyID), fields...).Result()
	switch {
	case err != nil:
		return server.Family{}, fmt.Errorf("redisstore: family %s: %w", familyID, err)
	case values[0] == nil:
		return server.Family{}, fmt.Errorf("redisstore: family %s: %w", familyID, server.ErrNotFound)
	}
	f, err := decode(userID, familyID, values)
	if err != nil {
		return server.Family{}, fmt.Errorf("redisstore: family %s: %w", familyID, err)
	}
	return f, nil
}

// decode returns the family of the values of fields.
func decode(userID, familyID string, values []any) (server.Family, error) {
	if len(values) < len(fields) {
		return server.Family{}, fmt.Errorf("%d fields, want %d", len(values), len(fields))
	}
	v := make(map[string]string, len(fields))
	for i, name := range fields {
		s, ok := values[i].(string)
		if !ok {
			return server.Family{}, fmt.Errorf("field %s is %T, not a string", name, values[i])
		}
		v[name] = s
	}
	times := make(map[string]time.Time, 4)
	for _, name := range []string{"auth", "exp", "idle", "rot"} {
		t, err := parseMillis(v[name])
		if err != nil {
			return server.Family{}, fmt.Errorf("field %s: %w", name, err)
		}
		times[name] = t
	}
	used, err := tokenstore.SplitUsed([]byte(v["used"]))
	if err != nil {
		return server.Family{}, err
	}
	return server.Family{
		ID: familyID, UserID: userID, ClientID: v["client"], Scope: tokenstore.SplitScope(v["scope"]),
		AuthTime: times["auth"], Expires: times["exp"], IdleExpires: times["idle"],
		Current: []byte(v["cur"]), Used: used, RotatedAt: times["rot"], Revoked: v["rev"] == "1",
	}, nil
}

// RevokeFamily revokes a family if it exists, keeping its expiry.
func (s *Store) RevokeFamily(ctx context.Context, userID, familyID string) error {
	if err := revokeScript.Run(ctx, s.rdb, []string{s.familyKey(userID, familyID)}).Err(); err != nil {
		return fmt.Errorf("redisstore: revoke family %s: %w", familyID, err)
	}
	return nil
}

// RevokeAccessToken denies the access token jti until exp plus the grace
// period.
func (s *Store) RevokeAccessToken(ctx context.Context, jti string, exp time.Time) error {
	if err := s.rdb.Do(ctx, "SET", s.jtiKey(jti), 1, "PXAT", s.expiry(exp)).Err(); err != nil {
		return fmt.Errorf("redisstore: revoke access token %s: %w", jti, err)
	}
	return nil
}

// SetCutoff sets the cut-off of userID to at, unless it is later already,
// and keeps it until until plus the grace period, or longer if an earlier
// call asked for longer.
func (s *Store) SetCutoff(ctx context.Context, userID string, at, until time.Time) error {
	if err := cutoffScript.Run(ctx, s.rdb, []string{s.cutoffKey(userID)},
		tokenstore.Millis(at), s.expiry(until)).Err(); err != nil {
		return fmt.Errorf("redisstore: set cut-off of user %s: %w", userID, err)
	}
	return nil
}

// AccessTokenActive reports whether an access token is active, in one
// pipeline: its denial, its family's auth time and revocation, and its
// user's cut-off.
func (s *Store) AccessTokenActive(ctx context.Context, t server.AccessToken) (bool, error) {
	var denied *redis.IntCmd
	var family *redis.SliceCmd
	var cutoff *redis.StringCmd
	cmds, _ := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		denied = p.Exists(ctx, s.jtiKey(t.JTI))
		if t.FamilyID != "" {
			family = p.HMGet(ctx, s.familyKey(t.UserID, t.FamilyID), "auth", "rev")
		}
		cutoff = p.Get(ctx, s.cutoffKey(t.UserID))
		return nil
	})
	for _, cmd := range cmds {
		if err := cmd.Err(); err != nil && !errors.Is(err, redis.Nil) {
			return false, fmt.Errorf("redisstore: access token %s: %w", t.JTI, err)
		}
	}
	cut, err := parseMillis(cutoff.Val())
	if err != nil {
		return false, fmt.Errorf("redisstore: cut-off of user %s: %w", t.UserID, err)
	}
	var f *server.Family
	if family != nil {
		if auth, ok := family.Val()[0].(string); ok {
			authTime, err := parseMillis(auth)
			if err != nil {
				return false, fmt.Errorf("redisstore: family %s: %w", t.FamilyID, err)
			}
			f = &server.Family{AuthTime: authTime, Revoked: family.Val()[1] == "1"}
		}
	}
	return tokenstore.Active(t, denied.Val() > 0, f, cut), nil
}

// parseMillis returns the time of stored unix milliseconds; "" is the zero
// time.
func parseMillis(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	ms, err := strconv.ParseInt(s, 10, 64)
	return tokenstore.Time(ms), err
}
