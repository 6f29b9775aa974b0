package userstore

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"authserver/server"

	_ "modernc.org/sqlite" // The "sqlite" database/sql driver.
)

var (
	_ server.Users   = (*Store)(nil)
	_ server.Clients = (*Store)(nil)
)

// migrations holds each dialect's migrations: the same versions, with the
// same meaning, in each dialect's folder.
//
//go:embed migrations/sqlite/*.sql migrations/postgres/*.sql
var migrations embed.FS

// Store holds users and clients in a SQL database: SQLite (Open) or
// PostgreSQL (OpenPostgres).
type Store struct {
	// db runs every query of the Store: they are written with ?
	// placeholders, which it binds as the database wants.
	db     binder[*sql.DB]
	params Params
	// dummy is a hash with params that Authenticate verifies for an unknown
	// email, so that it costs as much as a known one.
	dummy string
	// hashing is told of every Argon2id computation of Authenticate.
	hashing HashObserver
	// limit bounds the Argon2id computations of Authenticate; nil: no bound.
	limit *hashLimiter
}

// hashLimiter bounds concurrent Argon2id computations, each of which holds
// Params.Memory: others wait in a bounded queue for a bounded time.
type hashLimiter struct {
	slots      chan struct{}
	waiting    atomic.Int64
	maxWaiting int64
	timeout    time.Duration
}

// waitersPerSlot bounds the queue: beyond it a login fails at once.
const waitersPerSlot = 64

// LimitHashing lets at most concurrency Argon2id computations of
// Authenticate run at once; the others wait at most queueTimeout, in a queue
// of at most 64 per slot, and then fail with server.ErrBusy. Peak hashing
// memory is thus concurrency × Params.Memory. Call it before the Store is
// shared.
func (s *Store) LimitHashing(concurrency int, queueTimeout time.Duration) {
	s.limit = &hashLimiter{slots: make(chan struct{}, concurrency), maxWaiting: int64(concurrency * waitersPerSlot), timeout: queueTimeout}
}

// acquire takes a hashing slot, or fails with server.ErrBusy.
func (l *hashLimiter) acquire(ctx context.Context) error {
	select {
	case l.slots <- struct{}{}:
		return nil
	default:
	}
	if l.waiting.Add(1) > l.maxWaiting {
		l.waiting.Add(-1)
		return fmt.Errorf("userstore: %d logins already wait for a hashing slot: %w", l.maxWaiting, server.ErrBusy)
	}
	defer l.waiting.Add(-1)
	t := time.NewTimer(l.timeout)
	defer t.Stop()
	select {
	case l.slots <- struct{}{}:
		return nil
	case <-t.C:
		return fmt.Errorf("userstore: no hashing slot within %v: %w", l.timeout, server.ErrBusy)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// HashObserver is told of every Argon2id computation of a login; the
// metrics package implements it.
type HashObserver interface {
	HashStarted()
	HashFinished(d time.Duration)
}

// nopHashObserver observes nothing.
type nopHashObserver struct{}

func (nopHashObserver) HashStarted()                 {}
func (nopHashObserver) HashFinished(d time.Duration) {}

// ObserveHashing makes o observe the Argon2id computations of Authenticate.
// Call it before the Store is shared.
func (s *Store) ObserveHashing(o HashObserver) { s.hashing = o }

// hash runs one Argon2id computation, observed, in a hashing slot.
func (s *Store) hash(ctx context.Context, compute func()) error {
	if s.limit != nil {
		if err := s.limit.acquire(ctx); err != nil {
			return err
		}
		defer func() { <-s.limit.slots }()
	}
	s.hashing.HashStarted()
	start := time.Now()
	compute()
	s.hashing.HashFinished(time.Since(start))
	return nil
}

// sqliteConns is the size of the SQLite connection pool: readers run
// concurrently in WAL mode, and writers wait for each other anyway.
const sqliteConns = 16

// Open opens the SQLite database file at path, creating it if needed, with a
// WAL journal, a busy timeout of 5 s and foreign keys on, and applies the
// migrations it has not applied yet. New password hashes use p. Concurrent
// Opens of one database wait for each other, except that SQLite does not wait
// while it turns a new file to WAL: two processes creating the same file at
// the same instant may get SQLITE_BUSY.
func Open(ctx context.Context, path string, p Params) (*Store, error) {
	s, err := newStore(sqlite, p)
	if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("userstore: %w", err)
	}
	// A file: URI escapes any '?' or '#' in the path. Transactions begin
	// IMMEDIATE so that two writers wait for each other instead of failing.
	dsn := url.URL{Scheme: "file", Path: abs,
		RawQuery: "_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_txlock=immediate"}
	if s.db.q, err = sql.Open("sqlite", dsn.String()); err != nil {
		return nil, fmt.Errorf("userstore: open %s: %w", path, err)
	}
	// Every connection is kept: opening one reads the schema and prepares
	// the statements again, which under load cost more than the queries.
	s.db.q.SetMaxOpenConns(sqliteConns)
	s.db.q.SetMaxIdleConns(sqliteConns)
	if err := s.migrate(ctx); err != nil {
		s.db.q.Close()
		return nil, fmt.Errorf("userstore: migrate %s: %w", path, err)
	}
	return s, nil
}

// newStore returns a Store of dialect d without its database, which the
// caller opens, with password parameters p.
func newStore(d *dialect, p Params) (*Store, error) {
	dummy, err := p.Hash("password of no user")
	if err != nil {
		return nil, fmt.Errorf("userstore: %w", err)
	}
	return &Store{db: binder[*sql.DB]{dialect: d, stmts: &sync.Map{}}, params: p, dummy: dummy, hashing: nopHashObserver{}}, nil
}

// Migrate applies, in order of version, each embedded migration of the
// Store's SQL dialect not yet recorded in schema_migrations. Open does so
// already, and OpenPostgres unless told not to. Any number of processes may
// migrate one database at once: each migration waits for the others'.
func (s *Store) Migrate(ctx context.Context) error {
	if err := s.migrate(ctx); err != nil {
		return fmt.Errorf("userstore: migrate: %w", err)
	}
	return nil
}

// migrate is Migrate without the package's prefix on errors.
func (s *Store) migrate(ctx context.Context) error {
	names, err := fs.Glob(migrations, "migrations/"+s.db.dialect.name+"/*.sql") // sorted
	if err == nil && len(names) == 0 {
		err = fmt.Errorf("no migrations for %s", s.db.dialect.name)
	}
	if err != nil {
		return err
	}
	for _, name := range names {
		if err := s.applyMigration(ctx, name); err != nil {
			return fmt.Errorf("%s: %w", path.Base(name), err)
		}
	}
	return nil
}

// applyMigration applies the migration in the file name, whose version is
// the number before the first '_', in a transaction of its own, unless it is
// already applied. Concurrent migrations of one database wait for each other
// at the start of the transaction (SQLite: BEGIN IMMEDIATE; PostgreSQL: the
// dialect's advisory lock), which is why it also creates schema_migrations.
func (s *Store) applyMigration(ctx context.Context, name string) error {
	prefix, _, _ := strings.Cut(path.Base(name), "_")
	version, err := strconv.Atoi(prefix)
	if err != nil {
		return fmt.Errorf("file name does not start with a version: %w", err)
	}
	body, err := migrations.ReadFile(name)
	if err != nil {
		return err
	}
	return s.inTx(ctx, func(tx binder[*sql.Tx]) error {
		if lock := s.db.dialect.lock; lock != "" {
			if _, err := tx.ExecContext(ctx, lock); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    INTEGER PRIMARY KEY,
			applied_at BIGINT NOT NULL)`); err != nil {
			return err
		}
		var applied bool
		if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = ?)`,
			version).Scan(&applied); err != nil || applied {
			return err
		}
		// The migration is the dialect's own SQL, with several statements
		// and no placeholders: it bypasses binding.
		if _, err := tx.q.ExecContext(ctx, string(body)); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`,
			version, time.Now().UnixMicro())
		return err
	})
}

// Close closes the database.
func (s *Store) Close() error {
	return s.db.q.Close()
}

// DB returns the database, which the embedded token store (tokenstore/
// sqlstore) shares on SQLite: its tables are among the migrations applied by
// Open. Queries run on it directly are not rebound: on PostgreSQL they need
// $1, $2, … placeholders.
func (s *Store) DB() *sql.DB {
	return s.db.q
}

// Ping reports whether the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.db.q.PingContext(ctx); err != nil {
		return fmt.Errorf("userstore: ping: %w", err)
	}
	return nil
}

// Empty reports whether the store has no user and no client, as on the first
// start.
func (s *Store) Empty(ctx context.Context) (bool, error) {
	var empty bool
	err := s.db.QueryRowContext(ctx,
		`SELECT NOT EXISTS (SELECT 1 FROM users) AND NOT EXISTS (SELECT 1 FROM clients)`).Scan(&empty)
	if err != nil {
		return false, fmt.Errorf("userstore: empty: %w", err)
	}
	return empty, nil
}

// change runs an INSERT, UPDATE or DELETE and reports whether it changed a
// row.
func (s *Store) change(ctx context.Context, query string, args ...any) (bool, error) {
	res, err := s.db.ExecContext(ctx, query, args...)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

// changeOne runs an UPDATE or DELETE of the record named what, which must
// exist: when no row changes, the error wraps server.ErrNotFound.
func (s *Store) changeOne(ctx context.Context, what, query string, args ...any) error {
	changed, err := s.change(ctx, query, args...)
	switch {
	case err != nil:
		return fmt.Errorf("userstore: %s: %w", what, err)
	case !changed:
		return fmt.Errorf("userstore: %s: %w", what, server.ErrNotFound)
	}
	return nil
}

// queryAll runs a query and returns every row read with scan.
func queryAll[T any](ctx context.Context, db binder[*sql.DB], what, query string, scan func(scanner) (T, error)) ([]T, error) {
	rows, err := db.QueryContext(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("userstore: %s: %w", what, err)
	}
	defer rows.Close()
	var all []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("userstore: %s: %w", what, err)
		}
		all = append(all, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("userstore: %s: %w", what, err)
	}
	return all, nil
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface {
	Scan(dest ...any) error
}

// now returns the current time as stored: UTC, in whole microseconds.
func now() time.Time {
	return time.Now().UTC().Truncate(time.Microsecond)
}

// fromMicro returns the time of a stored unix microsecond count.
func fromMicro(us int64) time.Time {
	return time.UnixMicro(us).UTC()
}

// encodeList returns list as JSON array text; nil is the empty array.
func encodeList(list []string) string {
	if list == nil {
		return "[]"
	}
	b, _ := json.Marshal(list) // A []string always marshals.
	return string(b)
}

// decodeList parses JSON array text; the empty array is nil.
func decodeList(text string) ([]string, error) {
	var list []string
	if err := json.Unmarshal([]byte(text), &list); err != nil {
		return nil, err
	}
	return orNil(list), nil
}

// orNil returns list, or nil if list is empty.
func orNil(list []string) []string {
	if len(list) == 0 {
		return nil
	}
	return list
}

// errNoRows turns sql.ErrNoRows into server.ErrNotFound.
func errNoRows(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return server.ErrNotFound
	}
	return err
}
