package userstore

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"authserver/server"
)

// ImportReport says what Import did with the rows of a file.
type ImportReport struct {
	Imported int
	// Skipped counts rows whose email (in any case) already has a user, so
	// that importing a file twice changes nothing the second time.
	Skipped  int
	Rejected []RejectedRow
}

// RejectedRow is a row Import refused, and why.
type RejectedRow struct {
	Line   int
	Reason string
}

// importColumns are the columns Import reads, in any order, by the names of
// a FastAPI/SQLModel-style user table.
var importColumns = []string{"email", "hashed_password", "is_active", "roles", "created_at"}

// Import adds the users of a CSV file with a header naming the columns
// email, hashed_password (an Argon2id/Argon2i PHC string or a bcrypt hash,
// which is re-hashed to Argon2id at the user's next login), is_active,
// roles (a JSON array or a comma-separated list) and created_at (RFC 3339,
// or an SQL timestamp, UTC unless it names a zone). A row whose email is
// taken is skipped; a row that cannot be imported is rejected with its
// reason, and the others are imported. The error is for the file itself.
func (s *Store) Import(ctx context.Context, r io.Reader) (ImportReport, error) {
	var report ImportReport
	rd := csv.NewReader(r)
	rd.FieldsPerRecord = -1
	header, err := rd.Read()
	if err != nil {
		return report, fmt.Errorf("userstore: import: header: %w", err)
	}
	col := map[string]int{}
	for i, name := range header {
		col[strings.ToLower(strings.TrimSpace(strings.TrimPrefix(name, "\ufeff")))] = i
	}
	for _, name := range importColumns {
		if _, ok := col[name]; !ok {
			return report, fmt.Errorf("userstore: import: the header lacks column %q (want %s)", name, strings.Join(importColumns, ", "))
		}
	}
	for {
		rec, err := rd.Read()
		if errors.Is(err, io.EOF) {
			return report, nil
		}
		line, _ := rd.FieldPos(0)
		if err != nil {
			var perr *csv.ParseError
			if errors.As(err, &perr) {
				report.Rejected = append(report.Rejected, RejectedRow{Line: perr.Line, Reason: perr.Err.Error()})
				continue
			}
			return report, fmt.Errorf("userstore: import: %w", err)
		}
		field := func(name string) string {
			if i := col[name]; i < len(rec) {
				return strings.TrimSpace(rec[i])
			}
			return ""
		}
		u, hash, err := importRow(field)
		if err == nil {
			_, err = s.insertUser(ctx, u, hash)
		}
		switch {
		case err == nil:
			report.Imported++
		case errors.Is(err, server.ErrExists):
			report.Skipped++
		case errors.As(err, new(rowError)):
			report.Rejected = append(report.Rejected, RejectedRow{Line: line, Reason: err.Error()})
		default:
			return report, err
		}
	}
}

// rowError is a reason to reject a row.
type rowError string

func (e rowError) Error() string { return string(e) }

// importRow reads one user from the fields of a row.
func importRow(field func(string) string) (server.User, string, error) {
	u := server.User{Email: field("email")}
	if err := checkEmail(u.Email); err != nil {
		return u, "", rowError(err.Error())
	}
	hash := field("hashed_password")
	if err := ValidateHash(hash); err != nil {
		return u, "", rowError("hashed_password: " + err.Error())
	}
	var err error
	if u.Active, err = strconv.ParseBool(field("is_active")); err != nil {
		return u, "", rowError(fmt.Sprintf("is_active %q is not true or false", field("is_active")))
	}
	if u.Roles, err = parseRoles(field("roles")); err != nil {
		return u, "", rowError("roles: " + err.Error())
	}
	if u.CreatedAt, err = parseTimestamp(field("created_at")); err != nil {
		return u, "", rowError(fmt.Sprintf("created_at %q is not a timestamp", field("created_at")))
	}
	u.UpdatedAt = now()
	return u, hash, nil
}

// parseRoles reads a JSON array of strings or a comma-separated list.
func parseRoles(s string) ([]string, error) {
	if strings.HasPrefix(s, "[") {
		var roles []string
		if err := json.Unmarshal([]byte(s), &roles); err != nil {
			return nil, errors.New("not a JSON array of strings")
		}
		return orNil(roles), nil
	}
	var roles []string
	for _, r := range strings.Split(s, ",") {
		if r = strings.TrimSpace(r); r != "" {
			roles = append(roles, r)
		}
	}
	return roles, nil
}

// timestampLayouts are the forms of created_at Import reads: RFC 3339 and
// the SQL timestamps PostgreSQL, MySQL and SQLite export.
var timestampLayouts = []string{time.RFC3339Nano, "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999Z07",
	"2006-01-02 15:04:05.999999999", "2006-01-02T15:04:05.999999999"}

// parseTimestamp reads a created_at; empty means now.
func parseTimestamp(s string) (time.Time, error) {
	if s == "" {
		return now(), nil
	}
	for _, layout := range timestampLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC().Truncate(time.Microsecond), nil
		}
	}
	return time.Time{}, errors.New("unknown timestamp form")
}
