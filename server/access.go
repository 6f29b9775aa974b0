package server

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"time"
)

// clockSkew is how far ahead of this server's clock a token's nbf may be:
// another replica may have signed it.
const clockSkew = 30 * time.Second

// verifyAccessToken returns the claims of raw if it is an access token this
// server signed, for this issuer, in force at now and not expired.
func (s *Server) verifyAccessToken(raw string, now time.Time) (*accessClaims, bool) {
	payload, err := s.signer.Verify(raw)
	if err != nil {
		return nil, false
	}
	var c accessClaims
	if err := json.Unmarshal(payload, &c); err != nil || c.Issuer != s.issuer {
		return nil, false
	}
	if now.Unix() >= c.Expiry || now.Add(clockSkew).Unix() < c.NotBefore {
		return nil, false
	}
	return &c, true
}

// accessTokenActive reports whether verified claims are still in force in
// the token store: not revoked, family not revoked, not cut off.
func (s *Server) accessTokenActive(ctx context.Context, c *accessClaims) (bool, error) {
	return s.tokens.AccessTokenActive(ctx, AccessToken{
		JTI: c.ID, UserID: c.Subject, FamilyID: c.FamilyID, IssuedAt: time.Unix(c.IssuedAt, 0),
	})
}

// refreshState is a presented refresh token and its family.
type refreshState struct {
	token  refreshToken
	family Family
	// current is whether the token is the family's current one; else it is
	// one of its rotated ones.
	current bool
}

// lookupRefresh finds the family of a refresh token that the family knows,
// current or rotated; ok is false for anything else, and err a 503.
func (s *Server) lookupRefresh(ctx context.Context, raw string) (st refreshState, ok bool, err error) {
	t, ok := parseRefreshToken(raw)
	if !ok {
		return st, false, nil
	}
	f, err := s.tokens.Family(ctx, t.userID, t.familyID)
	if err != nil {
		return st, false, unavailableUnlessNotFound(err)
	}
	h := t.hash()
	st = refreshState{token: t, family: f, current: subtle.ConstantTimeCompare(h, f.Current) == 1}
	if st.current {
		return st, true, nil
	}
	for _, used := range f.Used {
		if subtle.ConstantTimeCompare(h, used) == 1 {
			return st, true, nil
		}
	}
	return st, false, nil
}
