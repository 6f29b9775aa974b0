package verify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// claimsKey is the request context key of the verified Claims.
type claimsKey struct{}

// ClaimsFrom returns the claims Middleware put into ctx.
func ClaimsFrom(ctx context.Context) (*Claims, bool) {
	c, ok := ctx.Value(claimsKey{}).(*Claims)
	return c, ok
}

// descriptions are the error_description of each error of Verify. They are
// fixed strings: an error_description may hold neither quotes nor
// backslashes (RFC 6750 §3), and they tell the client no more than it needs.
var descriptions = []struct {
	err  error
	desc string
}{
	{ErrExpired, "the access token expired"},
	{ErrUnknownKey, "the access token is signed by an unknown key"},
	{ErrSignature, "the access token signature is invalid"},
	{ErrClaims, "the access token is not valid for this resource"},
	{ErrMalformed, "the access token is malformed"},
}

// Middleware lets a request through to next only with a valid access token
// in its Authorization header (RFC 6750 §2.1; the form body and the query
// are not looked at), and puts the token's claims into the request context
// (see ClaimsFrom). A request without a bearer token gets 401 with a
// challenge without error code (RFC 6750 §3.1), one with a bad or expired
// token 401 with invalid_token.
func (v *Verifier) Middleware(next http.Handler) http.Handler {
	realm := fmt.Sprintf("Bearer realm=%q", v.issuer)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		token = strings.TrimSpace(token)
		if !strings.EqualFold(scheme, "Bearer") || token == "" {
			deny(w, http.StatusUnauthorized, realm, "invalid_token", "the request carries no bearer access token")
			return
		}
		c, err := v.Verify(r.Context(), token)
		if err != nil {
			desc := "the access token is invalid"
			for _, d := range descriptions {
				if errors.Is(err, d.err) {
					desc = d.desc
					break
				}
			}
			deny(w, http.StatusUnauthorized, fmt.Sprintf(`%s, error="invalid_token", error_description=%q`, realm, desc), "invalid_token", desc)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), claimsKey{}, c)))
	})
}

// RequireScope lets a request through to next only if its token grants
// scope; otherwise it answers 403 insufficient_scope naming the scope
// (RFC 6750 §3.1). It runs behind Middleware, and answers 401 to a request
// that did not pass Middleware.
func RequireScope(scope string, next http.Handler) http.Handler {
	return require(func(c *Claims) bool { return c.HasScope(scope) }, func(w http.ResponseWriter, c *Claims) {
		challenge := fmt.Sprintf(`Bearer realm=%q, error="insufficient_scope", scope=%q`, c.Issuer, scope)
		deny(w, http.StatusForbidden, challenge, "insufficient_scope", "the access token lacks scope "+scope)
	}, next)
}

// RequireRole lets a request through to next only if its token's user has
// role; otherwise it answers 403 access_denied. It runs behind Middleware,
// and answers 401 to a request that did not pass Middleware.
func RequireRole(role string, next http.Handler) http.Handler {
	return require(func(c *Claims) bool { return c.HasRole(role) }, func(w http.ResponseWriter, _ *Claims) {
		deny(w, http.StatusForbidden, "", "access_denied", "the user lacks a role this resource requires")
	}, next)
}

// require lets a request through to next only if allowed holds for the
// claims Middleware put in its context; otherwise refuse answers.
func require(allowed func(*Claims) bool, refuse func(http.ResponseWriter, *Claims), next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, ok := ClaimsFrom(r.Context())
		switch {
		case !ok:
			unverified(w)
		case !allowed(c):
			refuse(w, c)
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// unverified answers a request that reached RequireScope or RequireRole
// without passing Middleware: it is refused, not let through.
func unverified(w http.ResponseWriter) {
	deny(w, http.StatusUnauthorized, "Bearer", "invalid_token", "the request carries no verified bearer access token")
}

// deny writes an error response: the challenge, if any, in WWW-Authenticate
// (RFC 6750 §3), and the error code and description as JSON, never to be
// cached.
func deny(w http.ResponseWriter, status int, challenge, code, desc string) {
	h := w.Header()
	if challenge != "" {
		h.Set("WWW-Authenticate", challenge)
	}
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Type", "application/json")
	w.WriteHeader(status)
	body, _ := json.Marshal(struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}{code, desc})
	w.Write(append(body, '\n'))
}
