package userstore_test

import (
	"errors"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"authserver/server"
	"authserver/userstore"
	"authserver/userstore/pgtest"
	"authserver/userstore/storetest"
)

// openPostgres opens the PostgreSQL database of url and closes it when the
// test ends.
func openPostgres(t testing.TB, url string, p userstore.Params) *userstore.Store {
	t.Helper()
	s, err := userstore.OpenPostgres(t.Context(), url, p, userstore.PostgresOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestPostgres(t *testing.T) {
	storetest.Run(t, func(t *testing.T) *userstore.Store {
		return openPostgres(t, pgtest.Open(t), params)
	})
}

// TestOpenPostgresAppliesMigrationsOnce opens a new database from several
// replicas at once, which wait for each other's migrations, then again.
func TestOpenPostgresAppliesMigrationsOnce(t *testing.T) {
	url := pgtest.Open(t)
	errs := make([]error, 4)
	var wg sync.WaitGroup
	for i := range errs {
		wg.Go(func() {
			var s *userstore.Store
			if s, errs[i] = userstore.OpenPostgres(t.Context(), url, params, userstore.PostgresOptions{}); errs[i] == nil {
				errs[i] = s.Close()
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("concurrent OpenPostgres: %v", err)
	}
	first := openPostgres(t, url, params)
	if _, err := first.CreateUser(t.Context(), server.User{Email: "alice@example.com"}, hash(t, params, "pw")); err != nil {
		t.Fatal(err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	again := openPostgres(t, url, params)
	if _, err := again.User(t.Context(), "alice@example.com"); err != nil {
		t.Errorf("User after reopening: %v", err)
	}
	files, err := filepath.Glob("migrations/postgres/*.sql")
	if err != nil {
		t.Fatal(err)
	}
	var versions int
	if err := again.DB().QueryRowContext(t.Context(), `SELECT COUNT(*) FROM schema_migrations`).Scan(&versions); err != nil || versions != len(files) {
		t.Errorf("schema_migrations has %d rows (%v), want one per migration, %d", versions, err, len(files))
	}
}

// TestOpenPostgresNoMigrate leaves a new database empty until Migrate.
func TestOpenPostgresNoMigrate(t *testing.T) {
	s, err := userstore.OpenPostgres(t.Context(), pgtest.Open(t), params, userstore.PostgresOptions{NoMigrate: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Empty(t.Context()); err == nil {
		t.Fatal("Empty succeeded before the migrations")
	}
	for range 2 {
		if err := s.Migrate(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if empty, err := s.Empty(t.Context()); err != nil || !empty {
		t.Errorf("Empty after Migrate = %v, %v; want true", empty, err)
	}
}

func TestOpenPostgresFails(t *testing.T) {
	missing, err := url.Parse(pgtest.Open(t))
	if err != nil {
		t.Fatal(err)
	}
	missing.Path += "_missing"
	missing.User = url.UserPassword(missing.User.Username(), "hunter2") // trust ignores it
	for name, url := range map[string]string{
		"malformed URL":    "postgres://postgres:hunter2@[::1",
		"nothing listens":  "postgres://postgres:hunter2@127.0.0.1:1/postgres?sslmode=disable&connect_timeout=5",
		"unknown database": missing.String(),
	} {
		t.Run(name, func(t *testing.T) {
			s, err := userstore.OpenPostgres(t.Context(), url, params, userstore.PostgresOptions{})
			if err == nil {
				s.Close()
				t.Fatal("OpenPostgres succeeded")
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("the error shows the password: %v", err)
			}
		})
	}
}

// TestMigrationsMatch: each dialect has the same migrations, by file name,
// so that a version means the same schema on every database.
func TestMigrationsMatch(t *testing.T) {
	var names [2][]string
	for i, dialect := range []string{"sqlite", "postgres"} {
		files, err := filepath.Glob(filepath.Join("migrations", dialect, "*.sql"))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			names[i] = append(names[i], filepath.Base(f))
		}
	}
	if !slices.Equal(names[0], names[1]) || len(names[0]) == 0 {
		t.Errorf("migrations: SQLite has %v, PostgreSQL %v; want the same files", names[0], names[1])
	}
}
