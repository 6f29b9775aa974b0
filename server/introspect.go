package server

import (
	"context"
	"net/http"
	"strings"
)

// introspection is an introspection response (RFC 7662 §2.2).
type introspection struct {
	Active    bool   `json:"active"`
	Scope     string `json:"scope,omitempty"`
	ClientID  string `json:"client_id,omitempty"`
	Username  string `json:"username,omitempty"`
	TokenType string `json:"token_type,omitempty"`
	Expiry    int64  `json:"exp,omitempty"`
	IssuedAt  int64  `json:"iat,omitempty"`
	NotBefore int64  `json:"nbf,omitempty"`
	Subject   string `json:"sub,omitempty"`
	Audience  string `json:"aud,omitempty"`
	Issuer    string `json:"iss,omitempty"`
	JTI       string `json:"jti,omitempty"`
}

// inactive is the whole answer for any token that is not active: it tells
// nothing more (RFC 7662 §2.2).
var inactive = &introspection{}

// introspect is the token introspection endpoint (RFC 7662 §2). Only
// authenticated confidential clients may ask (RFC 7662 §2.1, §4). A client
// sees the tokens issued to it and the access tokens for its audience;
// every other token is inactive to it.
func (s *Server) introspect(w http.ResponseWriter, r *http.Request) {
	form, c, err := s.clientRequest(w, r)
	if err == nil && c.Public {
		err = invalidClient(r.Header.Get("Authorization") != "")
	}
	var resp *introspection
	if err == nil {
		resp, err = s.introspectToken(r.Context(), c, form.Get("token"))
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.observer.Introspection(resp.Active)
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) introspectToken(ctx context.Context, c *Client, raw string) (*introspection, error) {
	if raw == "" {
		return nil, invalidRequest("token is missing")
	}
	now := s.now()
	if claims, ok := s.verifyAccessToken(raw, now); ok {
		if claims.ClientID != c.ID && (c.Audience == "" || claims.Audience != c.Audience) {
			return inactive, nil
		}
		active, err := s.accessTokenActive(ctx, claims)
		if err != nil || !active {
			return inactive, unavailableIf(err)
		}
		// A client credentials token has the client as its subject and no
		// user; a user token's user must still exist and be active.
		var username string
		if claims.Subject != claims.ClientID {
			if username, err = s.activeUsername(ctx, claims.Subject); err != nil || username == "" {
				return inactive, err
			}
		}
		return &introspection{
			Active: true, Scope: claims.Scope, ClientID: claims.ClientID, Username: username,
			TokenType: "Bearer", Expiry: claims.Expiry, IssuedAt: claims.IssuedAt, NotBefore: claims.NotBefore,
			Subject: claims.Subject, Audience: claims.Audience, Issuer: claims.Issuer, JTI: claims.ID,
		}, nil
	}
	st, ok, err := s.lookupRefresh(ctx, raw)
	if err != nil {
		return nil, err
	}
	f := st.family
	if !ok || !st.current || f.ClientID != c.ID || f.Revoked || !now.Before(f.IdleExpires) || !now.Before(f.Expires) {
		return inactive, nil
	}
	// The family's login must still be in force: not cut off.
	active, err := s.tokens.AccessTokenActive(ctx, AccessToken{UserID: f.UserID, FamilyID: f.ID, IssuedAt: f.AuthTime})
	if err != nil {
		return nil, unavailable(err)
	}
	username, err := s.activeUsername(ctx, f.UserID)
	if err != nil || !active || username == "" {
		return inactive, err
	}
	issued := f.RotatedAt
	if issued.IsZero() {
		issued = f.AuthTime
	}
	return &introspection{
		Active: true, Scope: strings.Join(f.Scope, " "), ClientID: f.ClientID, Username: username,
		Expiry: earliest(f.IdleExpires, f.Expires).Unix(), IssuedAt: issued.Unix(),
		Subject: f.UserID, Issuer: s.issuer,
	}, nil
}

// activeUsername returns the email of the user with this id, or "" when the
// user is gone or disabled.
func (s *Server) activeUsername(ctx context.Context, id string) (string, error) {
	u, err := s.knownUser(ctx, id)
	if err != nil {
		return "", unavailableUnlessNotFound(err)
	}
	if !u.Active {
		return "", nil
	}
	return u.Email, nil
}
