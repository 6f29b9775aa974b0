package server

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Sizes of the random parts of a refresh token, in bytes.
const (
	familyIDBytes = 16 // 128 bits
	secretBytes   = 32 // 256 bits
)

// refreshToken is a parsed refresh token: "<user id>.<family id>.<secret>",
// the last two base64url. The store keeps only SHA-256(secret); the ids let
// it find the family, and the family and its user's cut-off, in one step.
type refreshToken struct {
	userID, familyID string
	secret           []byte
}

func (t refreshToken) String() string {
	return t.userID + "." + t.familyID + "." + base64.RawURLEncoding.EncodeToString(t.secret)
}

// hash is the stored form of the token's secret.
func (t refreshToken) hash() []byte {
	sum := sha256.Sum256(t.secret)
	return sum[:]
}

// newRefreshToken returns a fresh token of a family.
func newRefreshToken(userID, familyID string) refreshToken {
	t := refreshToken{userID: userID, familyID: familyID, secret: make([]byte, secretBytes)}
	rand.Read(t.secret)
	return t
}

// parseRefreshToken parses s, or reports that it is not a refresh token of
// this server.
func parseRefreshToken(s string) (refreshToken, bool) {
	userID, rest, ok1 := strings.Cut(s, ".")
	familyID, secret, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || userID == "" || !printable(userID) {
		return refreshToken{}, false
	}
	// Strict decoding refuses unused bits that are not zero: one token has
	// exactly one spelling.
	fam, err1 := base64.RawURLEncoding.Strict().DecodeString(familyID)
	sec, err2 := base64.RawURLEncoding.Strict().DecodeString(secret)
	if err1 != nil || err2 != nil || len(fam) != familyIDBytes || len(sec) != secretBytes {
		return refreshToken{}, false
	}
	return refreshToken{userID: userID, familyID: familyID, secret: sec}, true
}

// newFamily records a new refresh-token family for a login of u at now and
// returns its first token.
func (s *Server) newFamily(ctx context.Context, c *Client, u *User, scope []string, now time.Time) (string, string, error) {
	id := make([]byte, familyIDBytes)
	rand.Read(id)
	t := newRefreshToken(u.ID, base64.RawURLEncoding.EncodeToString(id))
	expires := now.Add(s.refreshLife)
	err := s.tokens.CreateFamily(ctx, Family{
		ID:          t.familyID,
		UserID:      u.ID,
		ClientID:    c.ID,
		Scope:       scope,
		AuthTime:    now,
		Expires:     expires,
		IdleExpires: earliest(now.Add(s.refreshIdle), expires),
		Current:     t.hash(),
	})
	if err != nil {
		return "", "", err
	}
	return t.String(), t.familyID, nil
}

// earliest returns the earlier of a and b.
func earliest(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// refreshGrant is the refresh token grant (RFC 6749 §6) with rotation and
// reuse detection (RFC 9700 §4.14.2). go-oauth2 v4's manager neither
// authenticates the client here nor checks that the token was issued to it,
// and rotates in two steps; this grant runs after the client authenticated,
// and the store checks the client and rotates in one atomic step.
func (s *Server) refreshGrant(ctx context.Context, c *Client, form url.Values) (*tokenResponse, error) {
	raw := form.Get("refresh_token")
	if raw == "" {
		return nil, invalidRequest("refresh_token is missing")
	}
	presented, ok := parseRefreshToken(raw)
	if !ok {
		return nil, invalidGrant("the refresh token is invalid")
	}
	requested := form.Get("scope")
	if requested != "" {
		// Narrowing is rare: only then is the family read before it
		// rotates, so that a refused scope does not consume the token.
		f, err := s.tokens.Family(ctx, presented.userID, presented.familyID)
		if errors.Is(err, ErrNotFound) {
			return nil, invalidGrant("the refresh token is invalid")
		}
		if err != nil {
			return nil, unavailable(err)
		}
		if f.ClientID != c.ID {
			return nil, invalidGrant("the refresh token is invalid")
		}
		// RFC 6749 §6: the scope may narrow, never widen, the original grant.
		if _, err := grantScope(f.Scope, requested); err != nil {
			return nil, err
		}
	}
	u, err := s.users.UserByID(ctx, presented.userID)
	if errors.Is(err, ErrNotFound) || (err == nil && !u.Active) {
		// The user was deleted or disabled: the family dies with the login.
		if err := s.tokens.RevokeFamily(ctx, presented.userID, presented.familyID); err != nil {
			return nil, unavailable(err)
		}
		s.log.InfoContext(ctx, "refresh token family revoked", "event", "family_revoked", "reason", "user_inactive",
			"family", presented.familyID, "client_id", c.ID, "user_id", presented.userID)
		return nil, invalidGrant("the refresh token is invalid")
	}
	if err != nil {
		return nil, unavailable(err)
	}
	now := s.now()
	next := newRefreshToken(presented.userID, presented.familyID)
	r := Rotation{
		UserID: presented.userID, FamilyID: presented.familyID, ClientID: c.ID,
		Presented: presented.hash(), Next: next.hash(),
		Window: s.retryWindow, Idle: s.refreshIdle, Now: now,
	}
	if s.retryWindow > 0 {
		if r.Retry, err = seal(presented, next.String()); err != nil {
			return nil, err
		}
	}
	f, retry, err := s.tokens.Rotate(ctx, r)
	switch {
	case errors.Is(err, ErrReused):
		s.observer.RefreshReused()
		s.log.WarnContext(ctx, "refresh token reuse detected; family revoked",
			"event", "refresh_reuse_detected", "family", f.ID, "client_id", f.ClientID, "user_id", f.UserID, "presenting_client_id", c.ID)
		return nil, invalidGrant("the refresh token is invalid")
	case errors.Is(err, ErrNotFound), errors.Is(err, ErrRevoked), errors.Is(err, ErrWrongClient):
		return nil, invalidGrant("the refresh token is invalid")
	case err != nil:
		return nil, unavailable(err)
	}
	refresh := next.String()
	if retry != nil {
		// A replay within the retry window gets the successor it missed.
		if refresh, err = open(presented, retry); err != nil {
			return nil, err
		}
	}
	scope, err := grantScope(f.Scope, requested)
	if err != nil {
		return nil, err
	}
	resp, err := s.issue(c, grant{subject: u.ID, roles: u.Roles, scope: scope, family: f.ID, authTime: f.AuthTime}, now)
	if err != nil {
		return nil, err
	}
	resp.RefreshToken = refresh
	return resp, nil
}

// retryKey derives the key that seals the successor of t: only a holder of
// t can open it, so the store never holds a usable token.
func retryKey(t refreshToken) (cipher.AEAD, error) {
	key, err := hkdf.Key(sha256.New, t.secret, nil, "authserver refresh retry "+t.familyID, 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// seal encrypts successor under a key derived from t (AES-256-GCM).
func seal(t refreshToken, successor string) ([]byte, error) {
	aead, err := retryKey(t)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize())
	rand.Read(nonce)
	return aead.Seal(nonce, nonce, []byte(successor), nil), nil
}

// open decrypts what seal made for t.
func open(t refreshToken, sealed []byte) (string, error) {
	aead, err := retryKey(t)
	if err != nil {
		return "", err
	}
	if len(sealed) < aead.NonceSize() {
		return "", errors.New("sealed successor too short")
	}
	plain, err := aead.Open(nil, sealed[:aead.NonceSize()], sealed[aead.NonceSize():], nil)
	if err != nil {
		return "", fmt.Errorf("open sealed successor: %w", err)
	}
	return string(plain), nil
}
