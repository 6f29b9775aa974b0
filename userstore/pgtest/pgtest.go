package pgtest

import (
	"cmp"
	"context"
	"crypto/rand"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// DefaultURL is the server of the tests when DATABASE_URL is not set: the
// one that make test starts (make pg-start), with trust authentication for
// postgres on 127.0.0.1.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// timeout bounds connecting and creating or dropping a database.
const timeout = 30 * time.Second

// Open creates a database named authserver_test_<random> on the server of
// DATABASE_URL, a postgres:// URL of a role that may create databases, or
// else of DefaultURL, and returns the URL of the new database: that URL
// with its database name replaced. The database is dropped, with any
// connection left to it, when the test ends. Open fails the test if the
// server cannot be reached or refuses.
func Open(t testing.TB) string {
	t.Helper()
	server := cmp.Or(os.Getenv("DATABASE_URL"), DefaultURL)
	u, err := url.Parse(server)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		t.Fatalf("pgtest: DATABASE_URL is not a postgres:// URL")
	}
	name := "authserver_test_" + strings.ToLower(rand.Text())
	if err := exec(server, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("pgtest: cannot create a database on the PostgreSQL server %s: %v\n"+
			"Install and start PostgreSQL (make pg-start does both, and make test runs it), or set DATABASE_URL to a server where this role may create databases.",
			u.Redacted(), err)
	}
	t.Cleanup(func() {
		if err := exec(server, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})
	u.Path = "/" + name
	return u.String()
}

// exec runs statement on a connection of its own to the server of url.
// CREATE and DROP DATABASE cannot run in a transaction: pgx sends a
// statement without arguments as a simple query, outside of one.
func exec(url, statement string) error {
	// The test's context ends before its cleanups run.
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, statement)
	return err
}
