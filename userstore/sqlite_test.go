package userstore_test

import (
	"bytes"
	"database/sql"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"authserver/server"
	"authserver/userstore"
	"authserver/userstore/storetest"
)

// params keep Argon2 cheap, for the race detector.
var params = userstore.Params{Memory: 64, Time: 1, Threads: 1}

// open opens the database at path and closes it when the test ends.
func open(t testing.TB, path string, p userstore.Params) *userstore.Store {
	t.Helper()
	s, err := userstore.Open(t.Context(), path, p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestSQLite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) *userstore.Store {
		return open(t, filepath.Join(t.TempDir(), "users.db"), params)
	})
}

func TestOpenAppliesMigrationsOnce(t *testing.T) {
	// '?' and '#' in the path must not be taken for a query or a fragment.
	path := filepath.Join(t.TempDir(), "a?b#c.db")
	// SQLite does not wait for a lock while it turns a new file to WAL, so
	// the file is WAL before the Opens race to migrate it.
	var mode string
	if err := column(t, path, `PRAGMA journal_mode = WAL`, &mode); err != nil || mode != "wal" {
		t.Fatalf("journal_mode = %q, %v", mode, err)
	}
	errs := make([]error, 4)
	var wg sync.WaitGroup
	for i := range errs {
		wg.Go(func() {
			var s *userstore.Store
			if s, errs[i] = userstore.Open(t.Context(), path, params); errs[i] == nil {
				errs[i] = s.Close()
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("concurrent Open: %v", err)
	}
	first := open(t, path, params)
	if _, err := first.CreateUser(t.Context(), server.User{Email: "alice@example.com"}, hash(t, params, "pw")); err != nil {
		t.Fatal(err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	again := open(t, path, params)
	if err := again.Ping(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := again.User(t.Context(), "alice@example.com"); err != nil {
		t.Errorf("User after reopening: %v", err)
	}
	files, err := filepath.Glob("migrations/sqlite/*.sql")
	if err != nil {
		t.Fatal(err)
	}
	var versions int
	if err := column(t, path, `SELECT COUNT(*) FROM schema_migrations`, &versions); err != nil || versions != len(files) {
		t.Errorf("schema_migrations has %d rows (%v), want one per migration, %d", versions, err, len(files))
	}
}

func TestOpenRefusesAbsurdParams(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users.db")
	if s, err := userstore.Open(t.Context(), path, userstore.Params{}); err == nil {
		s.Close()
		t.Fatal("Open with zero Params succeeded")
	}
}

// TestAuthenticateStoresNewHash reads the stored hash to check that a login
// with a hash of other parameters replaces it with one of the store's.
func TestAuthenticateStoresNewHash(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users.db")
	s := open(t, path, params)
	old := userstore.Params{Memory: 32, Time: 1, Threads: 1}
	if _, err := s.CreateUser(t.Context(), server.User{Email: "alice@example.com", Active: true}, hash(t, old, "pw")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(t.Context(), "alice@example.com", "pw"); err != nil {
		t.Fatal(err)
	}
	var stored string
	if err := column(t, path, `SELECT password_hash FROM users`, &stored); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(stored, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Errorf("stored hash after login = %s, want the store's parameters", stored)
	}
	if ok, rehash, err := params.Verify(stored, "pw"); !ok || rehash || err != nil {
		t.Errorf("Verify(stored hash) = %v, %v, %v; want true, false, nil", ok, rehash, err)
	}
}

func TestNoPlaintextPasswordOnDisk(t *testing.T) {
	const password = "plaintext-canary-7f3a9c"
	dir := t.TempDir()
	s := open(t, filepath.Join(dir, "users.db"), params)
	old := userstore.Params{Memory: 32, Time: 1, Threads: 1}
	if _, err := s.CreateUser(t.Context(), server.User{Email: "alice@example.com", Active: true}, hash(t, old, password)); err != nil {
		t.Fatal(err)
	}
	for range 2 { // The first login rehashes.
		if _, err := s.Authenticate(t.Context(), "alice@example.com", password); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	files, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(dir, f.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(data, []byte(password)) {
			t.Errorf("%s contains the plaintext password", f.Name())
		}
	}
}

func hash(t testing.TB, p userstore.Params, password string) string {
	t.Helper()
	h, err := p.Hash(password)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// column reads the one value of query from the database file at path, an
// absolute path.
func column(t *testing.T, path, query string, dest any) error {
	db, err := sql.Open("sqlite", (&url.URL{Scheme: "file", Path: path}).String())
	if err != nil {
		return err
	}
	defer db.Close()
	return db.QueryRowContext(t.Context(), query).Scan(dest)
}

// TestLimitHashing: at most the given number of Argon2id computations run
// at once; a login that cannot get a slot within the queue timeout fails
// with server.ErrBusy, and none is lost.
func TestLimitHashing(t *testing.T) {
	ctx := t.Context()
	s, err := userstore.Open(ctx, filepath.Join(t.TempDir(), "authserver.db"), userstore.Params{Memory: 8 * 1024, Time: 3, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	obs := &peakObserver{}
	s.ObserveHashing(obs)
	s.LimitHashing(2, 50*time.Millisecond)
	var wg sync.WaitGroup
	var busy, invalid atomic.Int64
	for range 40 {
		wg.Go(func() {
			_, err := s.Authenticate(ctx, "nobody@example.com", "pw")
			switch {
			case errors.Is(err, server.ErrBusy):
				busy.Add(1)
			case errors.Is(err, server.ErrInvalidCredentials):
				invalid.Add(1)
			default:
				t.Errorf("Authenticate: %v", err)
			}
		})
	}
	wg.Wait()
	if peak := obs.peak.Load(); peak > 2 || peak < 1 {
		t.Errorf("%d hashes ran at once, want at most 2", peak)
	}
	if busy.Load() == 0 || busy.Load()+invalid.Load() != 40 {
		t.Errorf("%d busy, %d answered, want some busy and 40 in all", busy.Load(), invalid.Load())
	}
}

// peakObserver records the most Argon2id computations running at once.
type peakObserver struct{ running, peak atomic.Int64 }

func (o *peakObserver) HashStarted() {
	n := o.running.Add(1)
	for {
		p := o.peak.Load()
		if n <= p || o.peak.CompareAndSwap(p, n) {
			return
		}
	}
}

func (o *peakObserver) HashFinished(time.Duration) { o.running.Add(-1) }
