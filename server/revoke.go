package server

import (
	"context"
	"net/http"
	"net/url"
	"time"
)

// revoke is the token revocation endpoint (RFC 7009 §2). It answers 200 for
// an unknown, malformed, expired or already revoked token, and for a token
// of another client, which it leaves untouched (RFC 7009 §2.2).
func (s *Server) revoke(w http.ResponseWriter, r *http.Request) {
	form, c, err := s.clientRequest(w, r)
	if err == nil {
		err = s.revokeToken(r.Context(), c, form)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (s *Server) revokeToken(ctx context.Context, c *Client, form url.Values) error {
	raw := form.Get("token")
	if raw == "" {
		return invalidRequest("token is missing")
	}
	now := s.now()
	// The two token formats cannot be mistaken for each other, so
	// token_type_hint is a hint only (RFC 7009 §2.1): both kinds are tried.
	if claims, ok := s.verifyAccessToken(raw, now); ok {
		if claims.ClientID != c.ID {
			return nil
		}
		if err := s.tokens.RevokeAccessToken(ctx, claims.ID, time.Unix(claims.Expiry, 0)); err != nil {
			return unavailable(err)
		}
		s.observer.Revocation("access_token")
		return nil
	}
	st, ok, err := s.lookupRefresh(ctx, raw)
	if err != nil {
		return err
	}
	if !ok || st.family.ClientID != c.ID {
		return nil
	}
	// Revoking a refresh token revokes its family, and with it every access
	// token issued in the family (RFC 7009 §2.1).
	if err := s.tokens.RevokeFamily(ctx, st.token.userID, st.token.familyID); err != nil {
		return unavailable(err)
	}
	s.observer.Revocation("refresh_token")
	s.log.InfoContext(ctx, "refresh token family revoked", "event", "family_revoked", "reason", "revocation",
		"family", st.token.familyID, "client_id", c.ID, "user_id", st.token.userID)
	return nil
}
