package userstore

import "testing"

func TestBind(t *testing.T) {
	for _, tt := range []struct{ query, sqlite, postgres string }{
		{"SELECT 1", "SELECT 1", "SELECT 1"},
		{"UPDATE t SET a = ?, b = ? WHERE c = ?", "UPDATE t SET a = ?, b = ? WHERE c = ?", "UPDATE t SET a = $1, b = $2 WHERE c = $3"},
		{"SELECT '?', \"?\" FROM t WHERE a = ?", "SELECT '?', \"?\" FROM t WHERE a = ?", "SELECT '?', \"?\" FROM t WHERE a = $1"},
		{"SELECT 'it''s ?' WHERE a = ?", "SELECT 'it''s ?' WHERE a = ?", "SELECT 'it''s ?' WHERE a = $1"},
		{"VALUES (?,?,?,?,?,?,?,?,?,?)", "VALUES (?,?,?,?,?,?,?,?,?,?)", "VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)"},
	} {
		if got := sqlite.bind(tt.query); got != tt.sqlite {
			t.Errorf("SQLite: bind(%q) = %q, want %q", tt.query, got, tt.sqlite)
		}
		if got := postgres.bind(tt.query); got != tt.postgres {
			t.Errorf("PostgreSQL: bind(%q) = %q, want %q", tt.query, got, tt.postgres)
		}
	}
}
