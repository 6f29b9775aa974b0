package server

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"slices"
	"time"
)

// Errors that the stores return and the server interprets. A store wraps them
// (fmt.Errorf("...: %w", ErrNotFound)) or returns them as they are; any other
// error is an outage and is answered with 503 temporarily_unavailable.
var (
	// ErrNotFound reports that no record has the given key.
	ErrNotFound = errors.New("not found")
	// ErrExists reports that a record with the same unique key already exists.
	ErrExists = errors.New("already exists")
	// ErrInvalidCredentials reports an unknown email, a wrong password or an
	// inactive user, deliberately without saying which.
	ErrInvalidCredentials = errors.New("invalid credentials")
)

// Signing algorithms a client may choose for its access tokens.
const (
	RS256 = "RS256"
	EdDSA = "EdDSA"
)

// User is a resource owner. Its password hash never leaves the userstore.
type User struct {
	ID        string
	Email     string
	Active    bool
	Roles     []string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Client is a registered OAuth 2.0 client (RFC 6749 §2).
type Client struct {
	ID string
	// SecretHash is HashSecret of the client secret; empty for a public client.
	SecretHash []byte
	Name       string
	Public     bool
	// Grants are the grant_type values the client may use.
	Grants []string
	// Scopes are the scope values the client may request; they are also its
	// default scope when a request names none (RFC 6749 §3.3).
	Scopes []string
	// Audience is the aud claim of its access tokens; empty means the issuer.
	Audience string
	// Alg is RS256 or EdDSA.
	Alg       string
	CreatedAt time.Time
}

// HashSecret returns the stored form of a client secret. Client secrets are
// random values of at least 256 bits (or operator-supplied values of at least
// 32 characters), so a fast hash resists offline guessing; a slow password
// hash would only make every client authentication expensive.
func HashSecret(secret string) []byte {
	sum := sha256.Sum256([]byte(secret))
	return sum[:]
}

// VerifySecret reports, in constant time, whether secret authenticates c.
// A public client has no secret and authenticates with an empty one; a
// confidential client never does.
func (c *Client) VerifySecret(secret string) bool {
	if c.Public {
		return secret == ""
	}
	if len(c.SecretHash) != sha256.Size || secret == "" {
		return false
	}
	return subtle.ConstantTimeCompare(HashSecret(secret), c.SecretHash) == 1
}

// Allows reports whether the client may use the grant type.
func (c *Client) Allows(grant string) bool { return slices.Contains(c.Grants, grant) }

// Users authenticates resource owners for the password grant.
type Users interface {
	// Authenticate returns the active user with this email (compared
	// case-insensitively) and password, or ErrInvalidCredentials. An unknown
	// email costs the same password-hashing work as a wrong password.
	Authenticate(ctx context.Context, email, password string) (User, error)
}

// Clients looks up registered clients.
type Clients interface {
	// Client returns the client with this id, or ErrNotFound.
	Client(ctx context.Context, id string) (Client, error)
	// Scopes returns every scope value some client may request, sorted.
	Scopes(ctx context.Context) ([]string, error)
}

// Signer signs access tokens and publishes the verification keys.
type Signer interface {
	// Sign returns a compact JWS over claims with the active key of alg and
	// the header {alg, kid, typ: "at+jwt"} (RFC 9068 §2.1).
	Sign(alg string, claims []byte) (string, error)
	// JWKS returns the public JWK Set (RFC 7517 §5) and its entity tag.
	JWKS() (body []byte, etag string)
}
