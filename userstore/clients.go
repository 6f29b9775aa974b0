package userstore

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"

	"authserver/server"
)

const clientColumns = `id, secret_hash, name, public, grants, scopes, audience, alg, created_at, previous_secret_hash, previous_secret_expires`

// CreateClient stores c with the current time as CreatedAt and Alg
// server.RS256 if it is empty. It refuses an empty ID, a confidential client
// without a server.HashSecret hash, a public client with one, an Alg other
// than server.RS256 or server.EdDSA, and a client without grants. An ID
// already taken is an error wrapping server.ErrExists.
func (s *Store) CreateClient(ctx context.Context, c server.Client) (server.Client, error) {
	if c.Alg == "" {
		c.Alg = server.RS256
	}
	if err := checkClient(c); err != nil {
		return server.Client{}, fmt.Errorf("userstore: create client %q: %w", c.ID, err)
	}
	if c.Public {
		c.SecretHash = nil // stored as NULL, not as an empty blob
	}
	c.Grants, c.Scopes = orNil(c.Grants), orNil(c.Scopes)
	c.CreatedAt = now()
	c.PreviousSecretHash, c.PreviousSecretExpires = nil, time.Time{}
	created, err := s.change(ctx, `INSERT INTO clients (`+clientColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, 0) ON CONFLICT DO NOTHING`,
		c.ID, c.SecretHash, c.Name, c.Public, encodeList(c.Grants), encodeList(c.Scopes),
		c.Audience, c.Alg, c.CreatedAt.UnixMicro())
	switch {
	case err != nil:
		return server.Client{}, fmt.Errorf("userstore: create client %q: %w", c.ID, err)
	case !created:
		return server.Client{}, fmt.Errorf("userstore: client %q: %w", c.ID, server.ErrExists)
	}
	return c, nil
}

// checkClient reports the first reason to refuse c.
func checkClient(c server.Client) error {
	switch {
	case c.ID == "":
		return errors.New("client id is empty")
	case uuid.Validate(c.ID) == nil:
		// A client is the subject of its client credentials tokens: its
		// id must never be one a user could have.
		return errors.New("a client id may not have the form of a user id (a UUID)")
	case c.Public && len(c.SecretHash) != 0:
		return errors.New("a public client has no secret hash")
	case !c.Public && len(c.SecretHash) != sha256.Size:
		return fmt.Errorf("a confidential client needs a %d-byte secret hash (server.HashSecret), not %d bytes",
			sha256.Size, len(c.SecretHash))
	case c.Alg != server.RS256 && c.Alg != server.EdDSA:
		return fmt.Errorf("alg %q is neither %s nor %s", c.Alg, server.RS256, server.EdDSA)
	case len(c.Grants) == 0:
		return errors.New("client has no grant type")
	}
	return nil
}

// Client returns the client with this id, or an error wrapping
// server.ErrNotFound.
func (s *Store) Client(ctx context.Context, id string) (server.Client, error) {
	row := s.db.QueryRowContext(ctx, `SELECT `+clientColumns+` FROM clients WHERE id = ?`, id)
	c, err := scanClient(row)
	if err != nil {
		return server.Client{}, fmt.Errorf("userstore: client %q: %w", id, errNoRows(err))
	}
	return c, nil
}

// Clients returns every client, ordered by id.
func (s *Store) Clients(ctx context.Context) ([]server.Client, error) {
	return queryAll(ctx, s.db, "clients", `SELECT `+clientColumns+` FROM clients ORDER BY id`, scanClient)
}

// scanClient reads the clientColumns of one row.
func scanClient(row scanner) (c server.Client, err error) {
	var grants, scopes string
	var created, previousExpires int64
	if err := row.Scan(&c.ID, &c.SecretHash, &c.Name, &c.Public, &grants, &scopes,
		&c.Audience, &c.Alg, &created, &c.PreviousSecretHash, &previousExpires); err != nil {
		return server.Client{}, err
	}
	if previousExpires != 0 {
		c.PreviousSecretExpires = fromMicro(previousExpires)
	}
	if c.Grants, err = decodeList(grants); err != nil {
		return server.Client{}, fmt.Errorf("grants of client %q: %w", c.ID, err)
	}
	if c.Scopes, err = decodeList(scopes); err != nil {
		return server.Client{}, fmt.Errorf("scopes of client %q: %w", c.ID, err)
	}
	c.CreatedAt = fromMicro(created)
	return c, nil
}

// RotateClientSecret makes secretHash the secret of the confidential client
// with this id; its current secret keeps working until grace after now.
// An unknown or public client is an error wrapping server.ErrNotFound.
func (s *Store) RotateClientSecret(ctx context.Context, id string, secretHash []byte, grace time.Duration, now time.Time) error {
	if len(secretHash) != sha256.Size {
		return fmt.Errorf("userstore: rotate the secret of client %q: want a %d-byte secret hash", id, sha256.Size)
	}
	return s.changeOne(ctx, fmt.Sprintf("rotate the secret of client %q", id), `UPDATE clients
		SET previous_secret_hash = secret_hash, previous_secret_expires = ?, secret_hash = ?
		WHERE id = ? AND NOT public`, now.Add(grace).UTC().Truncate(time.Microsecond).UnixMicro(), secretHash, id)
}

// DeleteClient deletes the client with this id, or returns an error wrapping
// server.ErrNotFound.
func (s *Store) DeleteClient(ctx context.Context, id string) error {
	return s.changeOne(ctx, fmt.Sprintf("delete client %q", id), `DELETE FROM clients WHERE id = ?`, id)
}

// Scopes returns the sorted union of the scopes of all clients.
func (s *Store) Scopes(ctx context.Context) ([]string, error) {
	lists, err := queryAll(ctx, s.db, "scopes", `SELECT scopes FROM clients`, func(row scanner) ([]string, error) {
		var text string
		if err := row.Scan(&text); err != nil {
			return nil, err
		}
		return decodeList(text)
	})
	if err != nil {
		return nil, err
	}
	return orNil(slices.Compact(slices.Sorted(slices.Values(slices.Concat(lists...))))), nil
}
