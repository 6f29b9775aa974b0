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
//
// The claims of a token whose signature was verified are remembered until
// it expires, so that a token presented again (a resource server
// introspects the same token on every request it serves) costs no
// signature verification. Only tokens signed by a key of the set are
// remembered, and a key stays in the set until every token it signed has
// expired (keys.Policy.Retain), so the answer is the one a verification
// would give. Revocation is never remembered: callers ask the token store.
func (s *Server) verifyAccessToken(raw string, now time.Time) (*accessClaims, bool) {
	c, ok := s.verified.get(raw, now)
	if !ok {
		payload, err := s.signer.Verify(raw)
		if err != nil || json.Unmarshal(payload, &c) != nil || c.Issuer != s.issuer {
			return nil, false
		}
		if now.Unix() < c.Expiry {
			s.verified.put(raw, c, time.Unix(c.Expiry, 0))
		}
	}
	if now.Unix() >= c.Expiry || now.Add(clockSkew).Unix() < c.NotBefore {
		return nil, false
	}
	return &c, true
}

// knownUser returns the user with this id as the store had it at most
// knownFor ago. Introspection and userinfo, which resource servers call on
// every request they serve, use it; a user's disabling or deletion reaches
// them at once anyway, through the user's cut-off in the token store. The
// refresh grant, once per access token, reads the store.
func (s *Server) knownUser(ctx context.Context, id string) (User, error) {
	now := s.now()
	if u, ok := s.knownUsers.get(id, now); ok {
		return u, nil
	}
	u, err := s.users.UserByID(ctx, id)
	if err == nil {
		s.knownUsers.put(id, u, now.Add(knownFor))
	}
	return u, err
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
