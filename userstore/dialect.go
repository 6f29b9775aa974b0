package userstore

import (
	"context"
	"database/sql"
	"strconv"
	"strings"
	"sync"
)

// dialect is what differs between the SQL engines a Store runs on. The
// queries of the package are written once, with ? placeholders, in the SQL
// that both engines understand.
type dialect struct {
	// name is the folder of the dialect's migrations under migrations/.
	name string
	// numbered dialects take $1, $2, … for placeholders instead of ?.
	numbered bool
	// lock, if not empty, is run first in each migration's transaction and
	// waits for other processes' migrations of the same database. SQLite
	// needs none: its transactions begin IMMEDIATE, which already waits.
	lock string
}

var (
	sqlite = &dialect{name: "sqlite"}
	// postgres locks migrations with a transaction-level advisory lock,
	// released at commit or rollback; its key, "authsrvm", is arbitrary
	// but fixed (the ASCII bytes as a big-endian int64), and advisory locks
	// are per database.
	postgres = &dialect{name: "postgres", numbered: true, lock: `SELECT pg_advisory_xact_lock(7022647185916458605)`}
)

// bind returns query with its ? placeholders as the dialect wants them. A ?
// inside a quoted string or name is not a placeholder; the package's queries
// have no comments, dollar-quoted strings or jsonb ? operators, which bind
// does not know.
func (d *dialect) bind(query string) string {
	if !d.numbered || !strings.Contains(query, "?") {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 16)
	n := 0
	var quote byte // the quote of the string or name bind is in, or 0
	for i := range len(query) {
		c := query[i]
		switch {
		case quote != 0:
			if c == quote { // a doubled quote leaves and enters again
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '?':
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// querier is a *sql.DB or a *sql.Tx.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	PrepareContext(ctx context.Context, query string) (*sql.Stmt, error)
}

// binder runs queries written with ? placeholders on q, a *sql.DB or a
// *sql.Tx, with the placeholders of its dialect. Run every query of the
// package through its methods, which have the names and signatures of
// those of *sql.DB, never through q directly.
type binder[Q querier] struct {
	q       Q
	dialect *dialect
	// stmts, when not nil, caches a prepared statement per query for
	// QueryRowContext: the lookups of every token request (a client, a
	// user) then skip parsing their SQL each time. Nil in transactions.
	stmts *sync.Map
}

// ExecContext runs query, which returns no rows.
func (b binder[Q]) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return b.q.ExecContext(ctx, b.dialect.bind(query), args...)
}

// QueryContext runs query, which returns rows.
func (b binder[Q]) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return b.q.QueryContext(ctx, b.dialect.bind(query), args...)
}

// QueryRowContext runs query, which returns at most one row, through a
// prepared statement where the binder caches them.
func (b binder[Q]) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if b.stmts == nil {
		return b.q.QueryRowContext(ctx, b.dialect.bind(query), args...)
	}
	if st, ok := b.stmts.Load(query); ok {
		return st.(*sql.Stmt).QueryRowContext(ctx, args...)
	}
	st, err := b.q.PrepareContext(ctx, b.dialect.bind(query))
	if err != nil {
		// The query itself reports the error, through its Row.
		return b.q.QueryRowContext(ctx, b.dialect.bind(query), args...)
	}
	if prev, loaded := b.stmts.LoadOrStore(query, st); loaded {
		st.Close()
		st = prev.(*sql.Stmt)
	}
	return st.QueryRowContext(ctx, args...)
}

// inTx runs f in a transaction, which it commits if f returns nil and rolls
// back otherwise. On SQLite the transaction begins IMMEDIATE: it waits for
// other writers at its start, not at its first write.
func (s *Store) inTx(ctx context.Context, f func(tx binder[*sql.Tx]) error) error {
	tx, err := s.db.q.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() // after Commit, a no-op
	if err := f(binder[*sql.Tx]{q: tx, dialect: s.db.dialect}); err != nil {
		return err
	}
	return tx.Commit()
}
