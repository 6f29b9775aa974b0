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
	// ErrBusy reports that a bounded resource (the password-hashing slots)
	// stayed taken for longer than the request may wait.
	ErrBusy = errors.New("busy")
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
	// PreviousSecretHash is the hash of the secret before the last
	// rotation, which authenticates the client until PreviousSecretExpires.
	PreviousSecretHash    []byte
	PreviousSecretExpires time.Time
}

// HashSecret returns the stored form of a client secret. Client secrets are
// random values of at least 256 bits (or operator-supplied values of at least
// 32 characters), so a fast hash resists offline guessing; a slow password
// hash would only make every client authentication expensive.
func HashSecret(secret string) []byte {
	sum := sha256.Sum256([]byte(secret))
	return sum[:]
}

// VerifySecret reports, in constant time, whether secret authenticates c
// at now: its current secret, or its previous one until that expires. A
// public client has no secret and authenticates with an empty one; a
// confidential client never does.
func (c *Client) VerifySecret(secret string, now time.Time) bool {
	if c.Public {
		return secret == ""
	}
	if len(c.SecretHash) != sha256.Size || secret == "" {
		return false
	}
	h := HashSecret(secret)
	current := subtle.ConstantTimeCompare(h, c.SecretHash)
	previous := subtle.ConstantTimeCompare(h, c.PreviousSecretHash)
	return current|(previous&boolInt(now.Before(c.PreviousSecretExpires))) == 1
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Allows reports whether the client may use the grant type.
func (c *Client) Allows(grant string) bool { return slices.Contains(c.Grants, grant) }

// Users authenticates resource owners and looks them up.
type Users interface {
	// Authenticate returns the active user with this email (compared
	// case-insensitively) and password, or ErrInvalidCredentials. An unknown
	// email costs the same password-hashing work as a wrong password.
	Authenticate(ctx context.Context, email, password string) (User, error)
	// UserByID returns the user with this id, active or not, or ErrNotFound.
	UserByID(ctx context.Context, id string) (User, error)
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
	// Verify returns the claims of an access token signed by one of the
	// keys, with typ "at+jwt" and the key's own algorithm.
	Verify(token string) (claims []byte, err error)
	// JWKS returns the public JWK Set (RFC 7517 §5) and its entity tag.
	JWKS() (body []byte, etag string)
}

// Observer counts what the server does; the metrics package implements it.
// Every string it is given comes from a small fixed set, or is a registered
// client's id: never a user id, a secret or a token.
type Observer interface {
	// HTTPRequest observes one request to a handler (see the Handler* names).
	HTTPRequest(handler, method string, code int, d time.Duration)
	// TokenRequest observes one token request: its grant type (one the
	// server supports, or "other"), the client's id ("unknown" before the
	// client authenticated) and "ok" or the OAuth error code.
	TokenRequest(grantType, clientID, result string, d time.Duration)
	// RefreshReused counts a rotated refresh token presented again.
	RefreshReused()
	// Revocation counts a token revoked at the revocation endpoint:
	// "access_token" or "refresh_token".
	Revocation(tokenType string)
	// Introspection counts an introspection answer.
	Introspection(active bool)
	// TokenStoreOp observes one token-store call; err is an outage, never a
	// "not found" or another answer of the contract.
	TokenStoreOp(op string, d time.Duration, err error)
}

// Errors of the token store. Each is answered with invalid_grant; ErrReused
// is also a security event.
var (
	// ErrRevoked reports a refresh-token family that is revoked, or whose
	// user's cut-off is at or after the family's authentication time (the
	// store revokes it then).
	ErrRevoked = errors.New("refresh token family revoked")
	// ErrReused reports a refresh token presented after it was rotated: the
	// store has revoked its family.
	ErrReused = errors.New("refresh token reused")
	// ErrWrongClient reports a refresh token presented by a client other
	// than the one it was issued to; nothing was changed.
	ErrWrongClient = errors.New("refresh token issued to another client")
)

// Family is one login's chain of refresh tokens (RFC 9700 §4.14.2): each
// rotation replaces its current token with a new one.
type Family struct {
	// ID is random and unique; UserID is part of every key of the family, so
	// that the family and its user's cut-off share one Redis hash slot.
	ID       string
	UserID   string
	ClientID string
	Scope    []string
	// AuthTime is when the user authenticated with a password.
	AuthTime time.Time
	// Expires is the absolute end of the family, from AuthTime.
	Expires time.Time
	// IdleExpires is the end of the family unless it rotates before.
	IdleExpires time.Time
	// Current is the SHA-256 of the secret of the current refresh token.
	Current []byte
	// Used are the SHA-256 hashes of the latest rotated secrets, newest
	// first, at most MaxUsed of them; the first is the immediately previous
	// one.
	Used [][]byte
	// RotatedAt is the time of the last rotation; zero before the first.
	RotatedAt time.Time
	Revoked   bool
}

// MaxUsed is how many rotated secrets a family remembers for reuse
// detection. An older token is refused without revoking the family.
const MaxUsed = 32

// Rotation is one use of a refresh token of family FamilyID of UserID.
type Rotation struct {
	UserID, FamilyID, ClientID string
	// Presented is the SHA-256 of the presented secret; Next that of its
	// successor.
	Presented, Next []byte
	// Retry is the successor token sealed under a key derived from the
	// presented one; it is kept for a replay within Window. Nil when the
	// retry window is off.
	Retry []byte
	// Window is the retry window; zero turns it off.
	Window time.Duration
	// Idle is the idle lifetime: a rotation moves IdleExpires to Now + Idle.
	Idle time.Duration
	Now  time.Time
}

// Tokens keeps refresh-token families and revocation state. Every method
// takes the current time from its arguments, never from a clock of its own.
// A store is built with a grace period (the longest access-token lifetime
// plus clock skew): every record lives until its logical end plus the grace
// period, so that the access tokens issued in a family can be checked
// against it for as long as they are valid, and then disappears by itself.
type Tokens interface {
	// CreateFamily records a new family whose current token is f.Current and
	// whose idle expiry is f.IdleExpires. An ID already taken is ErrExists.
	CreateFamily(ctx context.Context, f Family) error
	// Rotate uses a refresh token, atomically. The family must exist, be
	// unexpired at r.Now (idle and absolute) and belong to r.ClientID
	// (else ErrNotFound or ErrWrongClient, changing nothing). A revoked or
	// cut-off family is ErrRevoked. If r.Presented is the current secret,
	// r.Next replaces it, IdleExpires moves to r.Now + r.Idle (never past
	// Expires), and Rotate returns the family after the change and a nil
	// retry. If it is the immediately previous secret and r.Window > 0 and
	// the last rotation was at most r.Window ago and stored a Retry, nothing
	// changes and Rotate returns the family and that Retry. If it is any
	// other remembered secret, the family is revoked and the error is
	// ErrReused (with the family returned). Any other secret is ErrNotFound.
	// Times are compared in whole milliseconds; a family has expired when
	// r.Now is at or after IdleExpires or Expires. f is meaningful only when
	// err is nil or ErrReused.
	Rotate(ctx context.Context, r Rotation) (f Family, retry []byte, err error)
	// Family returns a family, revoked or not, or ErrNotFound once it has
	// expired past the grace period.
	Family(ctx context.Context, userID, familyID string) (Family, error)
	// RevokeFamily revokes a family; an unknown one is no error.
	RevokeFamily(ctx context.Context, userID, familyID string) error
	// RevokeAccessToken denies the access token jti until exp.
	RevokeAccessToken(ctx context.Context, jti string, exp time.Time) error
	// SetCutoff makes every token of userID issued at or before at
	// inactive: access tokens by IssuedAt, families by AuthTime. It keeps
	// the cut-off until until (the end of the longest family that may have
	// started before at) plus the grace period; a later cut-off replaces an
	// earlier one, never the reverse.
	SetCutoff(ctx context.Context, userID string, at, until time.Time) error
	// AccessTokenActive reports whether an unexpired, validly signed access
	// token is still active: its jti (if not empty) not denied, its family
	// (if FamilyID is not empty) known, not revoked and with an AuthTime
	// after its user's cut-off, and its IssuedAt after its user's cut-off.
	AccessTokenActive(ctx context.Context, t AccessToken) (bool, error)
}

// AccessToken is what the token store needs to know of an access token.
type AccessToken struct {
	JTI, UserID, FamilyID string
	IssuedAt              time.Time
}

// Backoff is how failures lock a key out: after Limit failures, each no
// more than Window after the previous one, the key is locked for Base, then
// twice as long after each further failure, at most Max.
type Backoff struct {
	Limit  int
	Window time.Duration
	Base   time.Duration
	Max    time.Duration
}

// Throttle counts authentication failures and requests per key, for every
// replica at once. Keys are short opaque strings chosen by the server
// (hashes, never an email or a secret). Every record expires by itself once
// it no longer matters.
type Throttle interface {
	// Locked returns how long key is still locked out at now (0: not
	// locked) and how many failures it has on record.
	Locked(ctx context.Context, key string, now time.Time) (lockedFor time.Duration, failures int, err error)
	// Fail records a failure of key at now, atomically, and returns how
	// long key is locked out from now on: 0 while it has had fewer than
	// b.Limit failures; b.Base × 2^(failures − b.Limit), at most b.Max,
	// after that. Failures older than b.Window before the latest one are
	// forgotten.
	Fail(ctx context.Context, key string, now time.Time, b Backoff) (lockedFor time.Duration, err error)
	// Reset forgets the failures of key.
	Reset(ctx context.Context, key string) error
	// Allow takes one request from key's token bucket, which holds at most
	// burst and refills at rate per second, and reports whether there was
	// one; if not, retry is when there will be.
	Allow(ctx context.Context, key string, now time.Time, rate float64, burst int) (ok bool, retry time.Duration, err error)
}
