package sqlstore_test

import (
	"crypto/sha256"
	"errors"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"authserver/server"
	"authserver/tokenstore/sqlstore"
	"authserver/tokenstore/storetest"
	"authserver/userstore"
)

// open opens the database at path, closed when the test ends, and a store
// on it.
func open(t testing.TB, path string) (*sqlstore.Store, *userstore.Store) {
	t.Helper()
	db, err := userstore.Open(t.Context(), path, userstore.Params{Memory: 64, Time: 1, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return sqlstore.New(db.DB(), sqlstore.Options{Grace: storetest.Grace}), db
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) server.Tokens {
		s, _ := open(t, filepath.Join(t.TempDir(), "authserver.db"))
		return s
	})
}

func TestThrottleConformance(t *testing.T) {
	storetest.RunThrottle(t, func(t *testing.T) server.Throttle {
		s, _ := open(t, filepath.Join(t.TempDir(), "authserver.db"))
		return s
	})
}

func hash(secret string) []byte {
	sum := sha256.Sum256([]byte(secret))
	return sum[:]
}

// family returns a family of user u1, authenticated at auth, that ends
// after idle.
func family(id string, auth time.Time, idle time.Duration) server.Family {
	return server.Family{
		ID: id, UserID: "u1", ClientID: "app", Scope: []string{"read"}, AuthTime: auth,
		Expires: auth.Add(24 * time.Hour), IdleExpires: auth.Add(idle), Current: hash("s0"),
	}
}

// TestPurge checks that Purge deletes exactly the records whose logical end
// plus the grace period has come, and that a rotation moves a family's end.
func TestPurge(t *testing.T) {
	ctx := t.Context()
	s, _ := open(t, filepath.Join(t.TempDir(), "authserver.db"))
	base := time.Now().Truncate(time.Millisecond)
	ends := base.Add(time.Hour) // the end of the records that go
	gone, revoked, rotated := family("gone", base, time.Hour), family("revoked", base, 2*time.Hour), family("rotated", base, time.Hour)
	for _, f := range []server.Family{gone, revoked, rotated} {
		if err := s.CreateFamily(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.RevokeFamily(ctx, revoked.UserID, revoked.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Rotate(ctx, server.Rotation{UserID: "u1", FamilyID: "rotated", ClientID: "app",
		Presented: hash("s0"), Next: hash("s1"), Idle: time.Hour, Now: base.Add(30 * time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetCutoff(ctx, "u1", base.Add(-time.Hour), ends); err != nil {
		t.Fatal(err)
	}
	if err := s.SetCutoff(ctx, "u2", base.Add(-time.Hour), ends.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	for _, jti := range []string{"gone", "kept"} {
		exp := ends
		if jti == "kept" {
			exp = ends.Add(time.Hour)
		}
		if err := s.RevokeAccessToken(ctx, jti, exp); err != nil {
			t.Fatal(err)
		}
	}

	purge := func(now time.Time, want int64) {
		t.Helper()
		if n, err := s.Purge(ctx, now); err != nil || n != want {
			t.Fatalf("Purge(%v) = %d, %v; want %d", now.Sub(base), n, err, want)
		}
	}
	purge(ends.Add(storetest.Grace-time.Millisecond), 0)
	purge(ends.Add(storetest.Grace), 3) // family gone, u1's cut-off, jti gone
	purge(ends.Add(storetest.Grace), 0)
	if _, err := s.Family(ctx, "u1", "gone"); !errors.Is(err, server.ErrNotFound) {
		t.Errorf("Family(gone) after Purge = %v, want ErrNotFound", err)
	}
	for _, id := range []string{"revoked", "rotated"} {
		if _, err := s.Family(ctx, "u1", id); err != nil {
			t.Errorf("Family(%s) after Purge = %v", id, err)
		}
	}
	for jti, want := range map[string]bool{"gone": true, "kept": false} {
		if active, err := s.AccessTokenActive(ctx, server.AccessToken{JTI: jti, UserID: "u2", IssuedAt: base}); err != nil || active != want {
			t.Errorf("AccessTokenActive(%s) after Purge = %v, %v; want %v", jti, active, err, want)
		}
	}
	// The revoked family ends at its idle expiry, the rotated one an hour
	// after its rotation; then nothing is left.
	purge(base.Add(2*time.Hour+storetest.Grace), 4) // revoked, rotated, u2's cut-off, jti kept
}

// TestPurgeThrottle checks that Purge deletes a key's failures the
// millisecond after the window of the latest failure, or at the end of its
// lockout if later, and its bucket when it is full again.
func TestPurgeThrottle(t *testing.T) {
	ctx := t.Context()
	s, _ := open(t, filepath.Join(t.TempDir(), "authserver.db"))
	base := time.Now().Truncate(time.Millisecond)
	b := server.Backoff{Limit: 2, Window: time.Minute, Base: 5 * time.Minute, Max: time.Hour}
	for key, n := range map[string]int{"counted": 1, "locked": 2} {
		for range n {
			if _, err := s.Fail(ctx, key, base, b); err != nil {
				t.Fatal(err)
			}
		}
	}
	for range 2 {
		if ok, _, err := s.Allow(ctx, "bucket", base, 2, 2); err != nil || !ok {
			t.Fatalf("Allow = %v, %v", ok, err)
		}
	}
	purge := func(now time.Time, want int64) {
		t.Helper()
		if n, err := s.Purge(ctx, now); err != nil || n != want {
			t.Fatalf("Purge(%v) = %d, %v; want %d", now.Sub(base), n, err, want)
		}
	}
	purge(base.Add(time.Second-time.Millisecond), 0)
	purge(base.Add(time.Second), 1) // the bucket
	purge(base.Add(b.Window), 0)
	purge(base.Add(b.Window+time.Millisecond), 1) // counted
	if lockedFor, n, err := s.Locked(ctx, "locked", base.Add(b.Window+time.Millisecond)); err != nil || lockedFor != b.Base-b.Window-time.Millisecond || n != 0 {
		t.Errorf("Locked after the window = %v, %d, %v", lockedFor, n, err)
	}
	purge(base.Add(b.Base-time.Millisecond), 0)
	purge(base.Add(b.Base), 1) // locked
}

// TestReopen checks that the records survive closing the database.
func TestReopen(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "authserver.db")
	s, db := open(t, path)
	base := time.Now().Truncate(time.Millisecond)
	f := family("f", base, time.Hour)
	if err := s.CreateFamily(ctx, f); err != nil {
		t.Fatal(err)
	}
	f, _, err := s.Rotate(ctx, server.Rotation{UserID: "u1", FamilyID: "f", ClientID: "app",
		Presented: hash("s0"), Next: hash("s1"), Idle: time.Hour, Now: base.Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetCutoff(ctx, "u2", base, base.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeAccessToken(ctx, "j", base.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	s, _ = open(t, path)
	if got, err := s.Family(ctx, "u1", "f"); err != nil || !reflect.DeepEqual(got, f) {
		t.Errorf("Family after reopening = %+v, %v; want %+v", got, err, f)
	}
	for _, tt := range []server.AccessToken{{JTI: "j", UserID: "u1", IssuedAt: base}, {JTI: "k", UserID: "u2", IssuedAt: base}} {
		if active, err := s.AccessTokenActive(ctx, tt); err != nil || active {
			t.Errorf("AccessTokenActive(%+v) after reopening = %v, %v; want false", tt, active, err)
		}
	}
}

// BenchmarkRotate measures a rotation beside its ceiling: a write
// transaction of one statement on the same database, in the same run.
func BenchmarkRotate(b *testing.B) {
	s, db := open(b, filepath.Join(b.TempDir(), "authserver.db"))
	b.Run("rotate", func(b *testing.B) { storetest.BenchRotate(b, s) })
	b.Run("write_ceiling", func(b *testing.B) {
		var n int64
		for b.Loop() {
			n++
			if _, err := db.DB().ExecContext(b.Context(), `UPDATE token_families SET rotated_at = ?`, n); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkThrottle measures Locked (one query) and Allow (a transaction
// that writes) beside their ceilings: a read of one row and a write
// transaction of one statement on the same database, in the same run.
func BenchmarkThrottle(b *testing.B) {
	s, db := open(b, filepath.Join(b.TempDir(), "authserver.db"))
	b.Run("locked", func(b *testing.B) { storetest.BenchLocked(b, s) })
	b.Run("read_ceiling", func(b *testing.B) {
		var n int64
		for b.Loop() {
			if err := db.DB().QueryRowContext(b.Context(), `SELECT COUNT(*) FROM throttle_failures WHERE throttle_key = ?`,
				"k").Scan(&n); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("allow", func(b *testing.B) { storetest.BenchAllow(b, s) })
	b.Run("write_ceiling", func(b *testing.B) {
		var n int64
		for b.Loop() {
			n++
			if _, err := db.DB().ExecContext(b.Context(), `UPDATE throttle_buckets SET taken_at = ?`, n); err != nil {
				b.Fatal(err)
			}
		}
	})
}
