package userstore_test

import (
	"path/filepath"
	"testing"

	"authserver/server"
	"authserver/userstore"
	"authserver/userstore/pgtest"
)

// backends open a new empty Store of each engine, closed when the test or
// benchmark ends.
var backends = []struct {
	name string
	open func(t testing.TB, p userstore.Params) *userstore.Store
}{
	{"SQLite", func(t testing.TB, p userstore.Params) *userstore.Store {
		return open(t, filepath.Join(t.TempDir(), "users.db"), p)
	}},
	{"PostgreSQL", func(t testing.TB, p userstore.Params) *userstore.Store {
		return openPostgres(t, pgtest.Open(t), p)
	}},
}

// BenchmarkAuthenticate measures a login with DefaultParams, for a known and
// for an unknown email, on each engine; the two emails should cost the same,
// and Argon2id far more than the query.
func BenchmarkAuthenticate(b *testing.B) {
	for _, backend := range backends {
		b.Run(backend.name, func(b *testing.B) {
			s := backend.open(b, userstore.DefaultParams)
			if _, err := s.CreateUser(b.Context(), server.User{Email: "alice@example.com", Active: true},
				hash(b, userstore.DefaultParams, "pw")); err != nil {
				b.Fatal(err)
			}
			for _, email := range []string{"alice@example.com", "unknown@example.com"} {
				b.Run(email, func(b *testing.B) {
					for b.Loop() {
						s.Authenticate(b.Context(), email, "pw")
					}
				})
			}
		})
	}
}

// BenchmarkUser measures the query of a login alone: finding a user by
// email, on each engine.
func BenchmarkUser(b *testing.B) {
	for _, backend := range backends {
		b.Run(backend.name, func(b *testing.B) {
			s := backend.open(b, params)
			if _, err := s.CreateUser(b.Context(), server.User{Email: "alice@example.com", Active: true},
				hash(b, params, "pw")); err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if _, err := s.User(b.Context(), "alice@example.com"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
