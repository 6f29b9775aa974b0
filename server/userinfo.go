package server

import (
	"errors"
	"net/http"
	"strings"

	o2errors "github.com/go-oauth2/oauth2/v4/errors"
)

// userinfo returns the user of a bearer access token (RFC 6750 §2.1): 401
// with a Bearer challenge for a missing, bad, expired or revoked token, 403
// for a disabled user.
func (s *Server) userinfo(w http.ResponseWriter, r *http.Request) {
	w.Header()["Cache-Control"] = headerNoStore
	scheme, raw, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if !strings.EqualFold(scheme, "Bearer") || raw == "" {
		s.writeError(w, r, invalidToken(nil, ""))
		return
	}
	claims, ok := s.verifyAccessToken(strings.TrimSpace(raw), s.now())
	if !ok {
		s.writeError(w, r, invalidToken(errInvalidToken, "the access token is invalid or expired"))
		return
	}
	ctx := r.Context()
	u, err := s.knownUser(ctx, claims.Subject)
	switch {
	case errors.Is(err, ErrNotFound):
		s.writeError(w, r, invalidToken(errInvalidToken, "the access token is revoked"))
		return
	case err != nil:
		s.writeError(w, r, unavailable(err))
		return
	case !u.Active:
		s.writeError(w, r, &Error{Code: o2errors.ErrAccessDenied, Description: "the user is disabled", Status: http.StatusForbidden})
		return
	}
	active, err := s.accessTokenActive(ctx, claims)
	if err != nil {
		s.writeError(w, r, unavailable(err))
		return
	}
	if !active {
		s.writeError(w, r, invalidToken(errInvalidToken, "the access token is revoked"))
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Subject   string   `json:"sub"`
		Email     string   `json:"email"`
		Roles     []string `json:"roles"`
		CreatedAt int64    `json:"created_at"`
	}{u.ID, u.Email, nonNil(u.Roles), u.CreatedAt.Unix()})
}

// nonNil returns list, or an empty list for nil, so that JSON shows [].
func nonNil(list []string) []string {
	if list == nil {
		return []string{}
	}
	return list
}
