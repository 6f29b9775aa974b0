package userstore

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // The "pgx" database/sql driver.
)

// PostgresOptions tune OpenPostgres. The zero value is a pool of at most
// 10 connections, all kept when idle, each replaced after 30 minutes, and the
// migrations applied at open.
type PostgresOptions struct {
	// MaxOpenConns bounds the connections open at once; 0: 10.
	MaxOpenConns int
	// MaxIdleConns bounds the idle connections kept open; 0: MaxOpenConns.
	MaxIdleConns int
	// ConnMaxLifetime is how long a connection is used before it is
	// replaced, so that a failover or a new server behind a pooler is
	// picked up; 0: 30 minutes.
	ConnMaxLifetime time.Duration
	// NoMigrate leaves the schema as it is, for when the migrations are
	// applied separately (Store.Migrate): the Store then fails on the first
	// query that needs a table or column missing.
	NoMigrate bool
}

// OpenPostgres connects to the PostgreSQL database of url, a postgres://
// URL or a key=value connection string as pgx takes them, and applies the
// migrations it has not applied yet unless o.NoMigrate. New password hashes
// use p. Any number of processes may open one database at once: each
// migration runs in a transaction that first takes an advisory lock of the
// database. pgx masks the password of url in any error that shows url.
func OpenPostgres(ctx context.Context, url string, p Params, o PostgresOptions) (*Store, error) {
	s, err := newStore(postgres, p)
	if err != nil {
		return nil, err
	}
	if s.db.q, err = sql.Open("pgx", url); err != nil {
		return nil, fmt.Errorf("userstore: %w", err)
	}
	s.db.q.SetMaxOpenConns(cmp.Or(o.MaxOpenConns, 10))
	s.db.q.SetMaxIdleConns(cmp.Or(o.MaxIdleConns, o.MaxOpenConns, 10))
	s.db.q.SetConnMaxLifetime(cmp.Or(o.ConnMaxLifetime, 30*time.Minute))
	// Connecting parses url: pgx's errors show it with the password masked.
	if err := s.db.q.PingContext(ctx); err != nil {
		s.db.q.Close()
		return nil, fmt.Errorf("userstore: connect to PostgreSQL: %w", err)
	}
	if !o.NoMigrate {
		if err := s.Migrate(ctx); err != nil {
			s.db.q.Close()
			return nil, err
		}
	}
	return s, nil
}
