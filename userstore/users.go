package userstore

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"

	"authserver/server"
)

// maxEmail is the longest email address accepted, in bytes: a 64-byte local
// part, '@' and a 255-byte domain (RFC 5321 §4.5.3.1).
const maxEmail = 320

const userColumns = `id, email, active, roles, created_at, updated_at, password_hash`

// emailKey returns the unique key of an email address.
func emailKey(email string) string {
	return strings.ToLower(email)
}

// checkEmail reports an address without exactly one '@' between non-empty
// parts or longer than maxEmail bytes.
func checkEmail(email string) error {
	local, domain, _ := strings.Cut(email, "@")
	switch {
	case len(email) > maxEmail:
		return fmt.Errorf("email address is longer than %d bytes", maxEmail)
	case local == "" || domain == "" || strings.Contains(domain, "@"):
		return fmt.Errorf("email address %q does not have exactly one @ between a local part and a domain", email)
	}
	return nil
}

// Authenticate returns the active user with this email, compared
// case-insensitively, and password, or server.ErrInvalidCredentials. An
// unknown email and an inactive user cost the same Argon2 work as a wrong
// password. After a successful login with a hash that does not use the
// Store's parameters, it stores a new hash and fails if it cannot.
func (s *Store) Authenticate(ctx context.Context, email, password string) (server.User, error) {
	u, hash, err := s.user(ctx, email)
	switch {
	case errors.Is(err, server.ErrNotFound):
		hash = s.dummy // u is the zero User, which is not Active.
	case err != nil:
		return server.User{}, fmt.Errorf("userstore: authenticate: %w", err)
	}
	var ok, rehash bool
	var verr error
	if err := s.hash(ctx, func() { ok, rehash, verr = s.params.Verify(hash, password) }); err != nil {
		return server.User{}, err
	}
	if verr != nil {
		return server.User{}, fmt.Errorf("userstore: password hash of user %s: %w", u.ID, verr)
	}
	if !ok || !u.Active {
		return server.User{}, server.ErrInvalidCredentials
	}
	if rehash {
		var herr error
		if err := s.hash(ctx, func() { hash, herr = s.params.Hash(password) }); err != nil {
			return server.User{}, err
		}
		if herr != nil {
			return server.User{}, fmt.Errorf("userstore: rehash password of user %s: %w", u.ID, herr)
		}
		u.UpdatedAt = now()
		if _, err := s.change(ctx, `UPDATE users SET password_hash = ?, updated_at = ? WHERE id = ?`,
			hash, u.UpdatedAt.UnixMicro(), u.ID); err != nil {
			return server.User{}, fmt.Errorf("userstore: rehash password of user %s: %w", u.ID, err)
		}
	}
	return u, nil
}

// CreateUser stores u with a new random ID, the current time as CreatedAt
// and UpdatedAt, and passwordHash, a PHC string or bcrypt hash that ValidateHash accepts. An
// email already taken, in any case, is an error wrapping server.ErrExists.
func (s *Store) CreateUser(ctx context.Context, u server.User, passwordHash string) (server.User, error) {
	if err := checkEmail(u.Email); err != nil {
		return server.User{}, fmt.Errorf("userstore: create user: %w", err)
	}
	if err := ValidateHash(passwordHash); err != nil {
		return server.User{}, fmt.Errorf("userstore: create user %s: password hash: %w", u.Email, err)
	}
	u.CreatedAt = now()
	u.UpdatedAt = u.CreatedAt
	return s.insertUser(ctx, u, passwordHash)
}

// insertUser stores u, with its times, under a new ID.
func (s *Store) insertUser(ctx context.Context, u server.User, passwordHash string) (server.User, error) {
	u.ID = uuid.NewString()
	u.Roles = orNil(u.Roles)
	created, err := s.change(ctx, `INSERT INTO users
		(id, email, email_key, password_hash, active, roles, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		u.ID, u.Email, emailKey(u.Email), passwordHash, u.Active, encodeList(u.Roles),
		u.CreatedAt.UnixMicro(), u.UpdatedAt.UnixMicro())
	switch {
	case err != nil:
		return server.User{}, fmt.Errorf("userstore: create user %s: %w", u.Email, err)
	case !created:
		return server.User{}, fmt.Errorf("userstore: user %s: %w", u.Email, server.ErrExists)
	}
	return u, nil
}

// User returns the user with this email, compared case-insensitively, or
// an error wrapping server.ErrNotFound.
func (s *Store) User(ctx context.Context, email string) (server.User, error) {
	u, _, err := s.user(ctx, email)
	if err != nil {
		return server.User{}, fmt.Errorf("userstore: user %s: %w", email, err)
	}
	return u, nil
}

// UserByID returns the user with this id, or an error wrapping
// server.ErrNotFound.
func (s *Store) UserByID(ctx context.Context, id string) (server.User, error) {
	u, _, err := scanUser(s.db.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE id = ?`, id))
	if err != nil {
		return server.User{}, fmt.Errorf("userstore: user %s: %w", id, errNoRows(err))
	}
	return u, nil
}

// user returns the user with this email and its password hash.
func (s *Store) user(ctx context.Context, email string) (server.User, string, error) {
	row := s.db.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE email_key = ?`, emailKey(email))
	u, hash, err := scanUser(row)
	return u, hash, errNoRows(err)
}

// SetPasswordHash replaces the password hash of the user with this email,
// a PHC string or bcrypt hash that ValidateHash accepts, and sets its UpdatedAt; an unknown
// email is an error wrapping server.ErrNotFound.
func (s *Store) SetPasswordHash(ctx context.Context, email, passwordHash string) error {
	if err := ValidateHash(passwordHash); err != nil {
		return fmt.Errorf("userstore: set password of %s: %w", email, err)
	}
	return s.changeOne(ctx, "set password of "+email, `UPDATE users SET password_hash = ?, updated_at = ? WHERE email_key = ?`,
		passwordHash, now().UnixMicro(), emailKey(email))
}

// Users returns every user, ordered by email.
func (s *Store) Users(ctx context.Context) ([]server.User, error) {
	return queryAll(ctx, s.db, "users", `SELECT `+userColumns+` FROM users ORDER BY email_key`, func(row scanner) (server.User, error) {
		u, _, err := scanUser(row)
		return u, err
	})
}

// scanUser reads the userColumns of one row.
func scanUser(row scanner) (u server.User, hash string, err error) {
	var roles string
	var created, updated int64
	if err := row.Scan(&u.ID, &u.Email, &u.Active, &roles, &created, &updated, &hash); err != nil {
		return server.User{}, "", err
	}
	if u.Roles, err = decodeList(roles); err != nil {
		return server.User{}, "", fmt.Errorf("roles of user %s: %w", u.ID, err)
	}
	u.CreatedAt, u.UpdatedAt = fromMicro(created), fromMicro(updated)
	return u, hash, nil
}

// SetUserActive activates or deactivates the user with this email and sets
// its UpdatedAt, or returns an error wrapping server.ErrNotFound.
func (s *Store) SetUserActive(ctx context.Context, email string, active bool) error {
	return s.changeOne(ctx, "set user "+email+" active", `UPDATE users SET active = ?, updated_at = ? WHERE email_key = ?`,
		active, now().UnixMicro(), emailKey(email))
}

// DeleteUser deletes the user with this email, or returns an error wrapping
// server.ErrNotFound.
func (s *Store) DeleteUser(ctx context.Context, email string) error {
	return s.changeOne(ctx, "delete user "+email, `DELETE FROM users WHERE email_key = ?`, emailKey(email))
}
