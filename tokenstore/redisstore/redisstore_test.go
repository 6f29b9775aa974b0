package redisstore_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"authserver/server"
	"authserver/tokenstore/redisstore"
	"authserver/tokenstore/redistest"
	"authserver/tokenstore/storetest"
)

// client returns a client of the server at url with options edited by edit,
// closed when the test ends.
func client(t testing.TB, url string, edit ...func(*redis.Options)) *redis.Client {
	t.Helper()
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	for _, edit := range edit {
		edit(opts)
	}
	rdb := redis.NewClient(opts)
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

// open returns a store on rdb under a new random prefix, whose keys are
// deleted when the test ends, so that tests may share a server.
func open(t testing.TB, rdb *redis.Client) (*redisstore.Store, string) {
	t.Helper()
	prefix := "test:" + rand.Text() + ":"
	t.Cleanup(func() {
		ctx := context.Background() // t.Context is done in cleanups.
		keys, err := scan(rdb, prefix)
		if err == nil && len(keys) > 0 {
			err = rdb.Del(ctx, keys...).Err()
		}
		if err != nil {
			t.Errorf("delete the keys of %s: %v", prefix, err)
		}
	})
	return redisstore.New(rdb, redisstore.Options{Prefix: prefix, Grace: storetest.Grace}), prefix
}

func TestConformance(t *testing.T) {
	rdb := client(t, redistest.Start(t).URL)
	storetest.Run(t, func(t *testing.T) server.Tokens {
		s, prefix := open(t, rdb)
		t.Cleanup(func() { checkTTLs(t, rdb, prefix) })
		return s
	})
}

func TestThrottleConformance(t *testing.T) {
	rdb := client(t, redistest.Start(t).URL)
	storetest.RunThrottle(t, func(t *testing.T) server.Throttle {
		s, prefix := open(t, rdb)
		t.Cleanup(func() { checkTTLs(t, rdb, prefix) })
		return s
	})
}

// checkTTLs fails the test unless every key under prefix has a TTL: nothing
// grows without bound.
func checkTTLs(t *testing.T, rdb *redis.Client, prefix string) {
	ctx := context.Background() // t.Context is done in cleanups.
	keys, err := scan(rdb, prefix)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range keys {
		// PTTL is -1 for a key without a TTL, -2 for one that just expired.
		if ttl, err := rdb.Do(ctx, "PTTL", key).Int64(); err != nil || ttl == -1 {
			t.Errorf("key %q has PTTL %d (%v); every key needs a TTL", key, ttl, err)
		}
	}
}

// scan returns the keys under prefix.
func scan(rdb *redis.Client, prefix string) ([]string, error) {
	ctx := context.Background()
	var keys []string
	iter := rdb.Scan(ctx, 0, prefix+"*", 100).Iterator()
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		return nil, fmt.Errorf("SCAN %s*: %w", prefix, err)
	}
	return keys, nil
}

// family returns a new family that ends within a day.
func family(id string) server.Family {
	now := time.Now().Truncate(time.Millisecond)
	return server.Family{
		ID: id, UserID: "u1", ClientID: "app", AuthTime: now,
		Expires: now.Add(24 * time.Hour), IdleExpires: now.Add(time.Hour), Current: hash("s0"),
	}
}

func hash(secret string) []byte {
	sum := sha256.Sum256([]byte(secret))
	return sum[:]
}

// rotation rotates f from presented to next.
func rotation(f server.Family, presented, next string) server.Rotation {
	return server.Rotation{
		UserID: f.UserID, FamilyID: f.ID, ClientID: f.ClientID,
		Presented: hash(presented), Next: hash(next), Idle: time.Hour, Now: f.AuthTime.Add(time.Minute),
	}
}

// recorder is a go-redis hook that records the commands of each round trip.
type recorder struct {
	mu    sync.Mutex
	trips [][]string
}

func (r *recorder) record(cmds ...redis.Cmder) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var names []string
	for _, cmd := range cmds {
		names = append(names, cmd.Name())
	}
	r.trips = append(r.trips, names)
}

// take returns the round trips since the last call.
func (r *recorder) take() [][]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	trips := r.trips
	r.trips = nil
	return trips
}

func (r *recorder) DialHook(next redis.DialHook) redis.DialHook { return next }

func (r *recorder) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		r.record(cmd)
		return next(ctx, cmd)
	}
}

func (r *recorder) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		r.record(cmds...)
		return next(ctx, cmds)
	}
}

// TestRoundTrips checks that Rotate, CreateFamily, AccessTokenActive and
// each method of the throttle cost one round trip once the server has
// cached the scripts.
func TestRoundTrips(t *testing.T) {
	ctx := t.Context()
	rdb := client(t, redistest.Start(t).URL)
	s, _ := open(t, rdb)
	var rec recorder
	rdb.AddHook(&rec)
	token := server.AccessToken{JTI: "j", UserID: "u1", FamilyID: "f1", IssuedAt: time.Now()}
	for round := range 2 { // The first round loads the scripts.
		f := family([]string{"f1", "f2"}[round])
		tests := []struct {
			name string
			run  func() error
			want [][]string
		}{
			{"CreateFamily", func() error { return s.CreateFamily(ctx, f) }, [][]string{{"evalsha"}}},
			{"Rotate", func() error { _, _, err := s.Rotate(ctx, rotation(f, "s0", "s1")); return err },
				[][]string{{"evalsha"}}},
			{"AccessTokenActive", func() error { _, err := s.AccessTokenActive(ctx, token); return err },
				[][]string{{"exists", "hmget", "get"}}},
			{"Fail", func() error { _, err := s.Fail(ctx, "k", time.Now(), backoff); return err }, [][]string{{"evalsha"}}},
			{"Locked", func() error { _, _, err := s.Locked(ctx, "k", time.Now()); return err }, [][]string{{"hmget"}}},
			{"Reset", func() error { return s.Reset(ctx, "k") }, [][]string{{"del"}}},
			{"Allow", func() error { _, _, err := s.Allow(ctx, "k", time.Now(), 1, 10); return err }, [][]string{{"evalsha"}}},
		}
		for _, tt := range tests {
			rec.take()
			if err := tt.run(); err != nil {
				t.Fatalf("%s: %v", tt.name, err)
			}
			if got := rec.take(); round > 0 && !slices.EqualFunc(got, tt.want, slices.Equal) {
				t.Errorf("%s made the round trips %q, want %q", tt.name, got, tt.want)
			}
		}
	}
}

// backoff is the Backoff of the Redis-specific throttle tests.
var backoff = server.Backoff{Limit: 3, Window: 15 * time.Minute, Base: time.Minute, Max: time.Hour}

// TestRedisDown checks that every method fails with an error of its own
// while Redis is down, never with one the server would answer invalid_grant
// to, and works again once Redis is back, without a new store.
func TestRedisDown(t *testing.T) {
	ctx := t.Context()
	srv := redistest.Start(t)
	s, _ := open(t, client(t, srv.URL, func(o *redis.Options) {
		o.MaxRetries, o.DialerRetries = -1, 1 // Fail at once.
	}))
	f := family("f1")
	if err := s.CreateFamily(ctx, f); err != nil {
		t.Fatal(err)
	}
	srv.Stop(t)
	_, _, rotateErr := s.Rotate(ctx, rotation(f, "s0", "s1"))
	_, familyErr := s.Family(ctx, f.UserID, f.ID)
	_, activeErr := s.AccessTokenActive(ctx, server.AccessToken{JTI: "j", UserID: f.UserID, FamilyID: f.ID})
	_, _, lockedErr := s.Locked(ctx, "k", time.Now())
	_, failErr := s.Fail(ctx, "k", time.Now(), backoff)
	_, _, allowErr := s.Allow(ctx, "k", time.Now(), 1, 10)
	for name, err := range map[string]error{
		"CreateFamily":      s.CreateFamily(ctx, family("f2")),
		"Rotate":            rotateErr,
		"Family":            familyErr,
		"RevokeFamily":      s.RevokeFamily(ctx, f.UserID, f.ID),
		"RevokeAccessToken": s.RevokeAccessToken(ctx, "j", time.Now().Add(time.Minute)),
		"SetCutoff":         s.SetCutoff(ctx, f.UserID, time.Now(), time.Now().Add(time.Hour)),
		"AccessTokenActive": activeErr,
		"Locked":            lockedErr,
		"Fail":              failErr,
		"Reset":             s.Reset(ctx, "k"),
		"Allow":             allowErr,
	} {
		if err == nil || slices.ContainsFunc([]error{server.ErrNotFound, server.ErrExists, server.ErrRevoked,
			server.ErrReused, server.ErrWrongClient}, func(target error) bool { return errors.Is(err, target) }) {
			t.Errorf("%s with Redis down = %v, want an outage error", name, err)
		}
	}

	// The new server has lost the data and the scripts.
	srv.Start(t)
	if err := s.CreateFamily(ctx, f); err != nil {
		t.Fatalf("CreateFamily after the restart: %v", err)
	}
	if _, _, err := s.Rotate(ctx, rotation(f, "s0", "s1")); err != nil {
		t.Errorf("Rotate after the restart: %v", err)
	}
	if active, err := s.AccessTokenActive(ctx, server.AccessToken{JTI: "j", UserID: f.UserID, FamilyID: f.ID,
		IssuedAt: time.Now()}); err != nil || !active {
		t.Errorf("AccessTokenActive after the restart = %v, %v", active, err)
	}
	if _, err := s.Fail(ctx, "k", time.Now(), backoff); err != nil {
		t.Errorf("Fail after the restart: %v", err)
	}
	if ok, _, err := s.Allow(ctx, "k", time.Now(), 1, 10); err != nil || !ok {
		t.Errorf("Allow after the restart = %v, %v", ok, err)
	}
}

// BenchmarkRotate measures a rotation beside its ceiling: a PING, one round
// trip to the same server, in the same run.
func BenchmarkRotate(b *testing.B) {
	rdb := client(b, redistest.Start(b).URL)
	s, _ := open(b, rdb)
	b.Run("rotate", func(b *testing.B) { storetest.BenchRotate(b, s) })
	b.Run("ping_ceiling", func(b *testing.B) { benchPing(b, rdb) })
}

// BenchmarkThrottle measures Locked (one HMGET) and Allow (one EVALSHA that
// writes) beside the same ceiling.
func BenchmarkThrottle(b *testing.B) {
	rdb := client(b, redistest.Start(b).URL)
	s, _ := open(b, rdb)
	b.Run("locked", func(b *testing.B) { storetest.BenchLocked(b, s) })
	b.Run("allow", func(b *testing.B) { storetest.BenchAllow(b, s) })
	b.Run("ping_ceiling", func(b *testing.B) { benchPing(b, rdb) })
}

// benchPing measures a PING, one round trip.
func benchPing(b *testing.B, rdb *redis.Client) {
	for b.Loop() {
		if err := rdb.Ping(b.Context()).Err(); err != nil {
			b.Fatal(err)
		}
	}
}

// TestExpiries: every key expires at the end of what it records plus the
// grace period, to the millisecond: a denied jti at the token's exp, a
// family at its idle end (moved by each rotation), a cut-off at its until.
func TestExpiries(t *testing.T) {
	ctx := t.Context()
	rdb := client(t, redistest.Start(t).URL)
	s, prefix := open(t, rdb)
	f := family("f1")
	exp := f.AuthTime.Add(15 * time.Minute)
	until := f.AuthTime.Add(90 * 24 * time.Hour)
	r := rotation(f, "s0", "s1")
	r.Now = f.AuthTime.Add(time.Minute)
	r.Idle = 2 * time.Hour
	steps := []struct {
		name string
		do   func() error
		key  string
		want time.Time
	}{
		{"denied jti", func() error { return s.RevokeAccessToken(ctx, "j1", exp) }, "jti:{j1}", exp},
		{"new family", func() error { return s.CreateFamily(ctx, f) }, "fam:{u1}:f1", f.IdleExpires},
		{"rotated family", func() error { _, _, err := s.Rotate(ctx, r); return err }, "fam:{u1}:f1", r.Now.Add(r.Idle)},
		{"cut-off", func() error { return s.SetCutoff(ctx, "u1", f.AuthTime, until) }, "cut:{u1}", until},
	}
	for _, step := range steps {
		if err := step.do(); err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		got, err := rdb.Do(ctx, "PEXPIRETIME", prefix+step.key).Int64()
		if want := step.want.Add(storetest.Grace).UnixMilli(); err != nil || got != want {
			t.Errorf("%s: PEXPIRETIME %d (%v), want %d", step.name, got, err, want)
		}
	}
}

// TestThrottleExpiries: a key's failures expire the millisecond after the
// window of the latest failure or at the end of the lockout, whichever is
// later, and its bucket when it is full again, each plus ClockSkew; a
// refused Allow leaves the bucket's expiry alone.
func TestThrottleExpiries(t *testing.T) {
	ctx := t.Context()
	rdb := client(t, redistest.Start(t).URL)
	s, prefix := open(t, rdb)
	base := time.Now().Truncate(time.Millisecond)
	long := server.Backoff{Limit: 2, Window: time.Minute, Base: 5 * time.Minute, Max: time.Hour}
	fail := func(at time.Time) func() error {
		return func() error { _, err := s.Fail(ctx, "k", at, long); return err }
	}
	allow := func(want bool) func() error {
		return func() error {
			if ok, _, err := s.Allow(ctx, "k", base, 2, 2); err != nil || ok != want {
				return fmt.Errorf("Allow = %v, %v; want %v", ok, err, want)
			}
			return nil
		}
	}
	steps := []struct {
		name string
		do   func() error
		key  string
		want time.Time
	}{
		{"first failure", fail(base), "thr:{k}", base.Add(long.Window + time.Millisecond)},
		{"second failure", fail(base.Add(time.Second)), "thr:{k}", base.Add(time.Second + long.Base)},
		{"first token", allow(true), "rate:{k}", base.Add(500 * time.Millisecond)},
		{"second token", allow(true), "rate:{k}", base.Add(time.Second)},
		{"refusal", allow(false), "rate:{k}", base.Add(time.Second)},
	}
	for _, step := range steps {
		if err := step.do(); err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		got, err := rdb.Do(ctx, "PEXPIRETIME", prefix+step.key).Int64()
		if want := step.want.Add(redisstore.ClockSkew).UnixMilli(); err != nil || got != want {
			t.Errorf("%s: PEXPIRETIME of %s %d (%v), want %d", step.name, step.key, got, err, want)
		}
	}
}
