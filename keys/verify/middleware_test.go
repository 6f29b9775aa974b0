package verify_test

import (
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"authserver/keys/verify"
	"authserver/keys/verify/verifytest"
)

// answer is what a protected handler answered.
type answer struct {
	status    int
	challenge string
	cache     string
	body      map[string]string
}

// serve runs h on a GET request with the given Authorization header (none
// if empty).
func serve(t *testing.T, h http.Handler, authorization string) answer {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/resource", nil)
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	a := answer{status: rec.Code, challenge: rec.Header().Get("WWW-Authenticate"), cache: rec.Header().Get("Cache-Control")}
	if err := json.Unmarshal(rec.Body.Bytes(), &a.body); err != nil {
		t.Fatalf("body %q: %v", rec.Body, err)
	}
	return a
}

// echo answers 200 with the subject of the claims Middleware put into the
// request context.
var echo = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	c, ok := verify.ClaimsFrom(r.Context())
	if !ok {
		http.Error(w, "no claims", http.StatusInternalServerError)
		return
	}
	json.NewEncoder(w).Encode(map[string]string{"sub": c.Subject})
})

func TestMiddleware(t *testing.T) {
	is := verifytest.NewIssuer(t)
	v, _ := newVerifier(t, is, verify.Options{})
	h := v.Middleware(echo)
	token := is.Token(t, "EdDSA", is.Claims(t0))
	expired := is.Token(t, "RS256", is.Claims(t0.Add(-time.Hour)))
	realm := `Bearer realm="` + is.URL + `"`
	invalid := func(desc string) answer {
		return answer{
			status:    http.StatusUnauthorized,
			challenge: realm + `, error="invalid_token", error_description="` + desc + `"`,
			cache:     "no-store",
			body:      map[string]string{"error": "invalid_token", "error_description": desc},
		}
	}
	missing := answer{
		status:    http.StatusUnauthorized,
		challenge: realm,
		cache:     "no-store",
		body:      map[string]string{"error": "invalid_token", "error_description": "the request carries no bearer access token"},
	}
	for _, tc := range []struct {
		name          string
		authorization string
		want          answer
	}{
		{"RFC 6750 §2.1 valid token", "Bearer " + token, answer{status: http.StatusOK, body: map[string]string{"sub": "user-1"}}},
		{"RFC 7235 §2.1 scheme case-insensitive", "bearer " + token, answer{status: http.StatusOK, body: map[string]string{"sub": "user-1"}}},
		{"RFC 6750 §3.1 no Authorization: no error code", "", missing},
		{"RFC 6750 §3.1 another scheme: no error code", "Basic ZGVtbzpzZWNyZXQ=", missing},
		{"RFC 6750 §3.1 Bearer without a token: no error code", "Bearer ", missing},
		{"RFC 6750 §3.1 expired token", "Bearer " + expired, invalid("the access token expired")},
		{"RFC 6750 §3.1 malformed token", "Bearer not-a-jwt", invalid("the access token is malformed")},
		{"RFC 6750 §3.1 forged signature", "Bearer " + token[:len(token)-4] + "AAAA", invalid("the access token signature is invalid")},
		{"RFC 6750 §3.1 unknown key", "Bearer " + is.Key("RS256").Sign(t, map[string]any{"kid": "gone"}, is.Claims(t0)), invalid("the access token is signed by an unknown key")},
		{"RFC 6750 §3.1 another audience", "Bearer " + is.Token(t, "RS256", with(is.Claims(t0), map[string]any{"aud": "https://other.example.com"})), invalid("the access token is not valid for this resource")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := serve(t, h, tc.authorization); !equal(got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}

	t.Run("RFC 6750 §2 token in the query is not looked at", func(t *testing.T) {
		req := httptest.NewRequest(http.MethodGet, "/resource?access_token="+token, nil)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusUnauthorized || rec.Header().Get("WWW-Authenticate") != realm {
			t.Errorf("%d %q", rec.Code, rec.Header().Get("WWW-Authenticate"))
		}
	})
}

func TestRequireScope(t *testing.T) {
	is := verifytest.NewIssuer(t)
	v, _ := newVerifier(t, is, verify.Options{})
	h := v.Middleware(verify.RequireScope("orders:write", echo))
	for _, tc := range []struct {
		name  string
		scope string
		want  answer
	}{
		{"scope granted", "orders:read orders:write", answer{status: http.StatusOK, body: map[string]string{"sub": "user-1"}}},
		{"RFC 6750 §3.1 insufficient_scope", "orders:read", answer{
			status:    http.StatusForbidden,
			challenge: `Bearer realm="` + is.URL + `", error="insufficient_scope", scope="orders:write"`,
			cache:     "no-store",
			body:      map[string]string{"error": "insufficient_scope", "error_description": "the access token lacks scope orders:write"},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			token := is.Token(t, "RS256", with(is.Claims(t0), map[string]any{"scope": tc.scope}))
			if got := serve(t, h, "Bearer "+token); !equal(got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestRequireRole(t *testing.T) {
	is := verifytest.NewIssuer(t)
	v, _ := newVerifier(t, is, verify.Options{})
	h := v.Middleware(verify.RequireRole("admin", echo))
	admin := is.Token(t, "EdDSA", with(is.Claims(t0), map[string]any{"roles": []string{"user", "admin"}}))
	if got := serve(t, h, "Bearer "+admin); got.status != http.StatusOK {
		t.Errorf("admin: %+v", got)
	}
	want := answer{
		status: http.StatusForbidden,
		cache:  "no-store",
		body:   map[string]string{"error": "access_denied", "error_description": "the user lacks a role this resource requires"},
	}
	for _, roles := range [][]string{nil, {"user"}} {
		token := is.Token(t, "EdDSA", with(is.Claims(t0), map[string]any{"roles": roles}))
		if got := serve(t, h, "Bearer "+token); !equal(got, want) {
			t.Errorf("roles %q:\ngot  %+v\nwant %+v", roles, got, want)
		}
	}
}

// TestRequireWithoutMiddleware: RequireScope and RequireRole used without
// Middleware refuse every request instead of letting it through.
func TestRequireWithoutMiddleware(t *testing.T) {
	want := answer{
		status:    http.StatusUnauthorized,
		challenge: "Bearer",
		cache:     "no-store",
		body:      map[string]string{"error": "invalid_token", "error_description": "the request carries no verified bearer access token"},
	}
	for name, h := range map[string]http.Handler{
		"RequireScope": verify.RequireScope("read", echo),
		"RequireRole":  verify.RequireRole("admin", echo),
	} {
		t.Run(name, func(t *testing.T) {
			if got := serve(t, h, "Bearer a.b.c"); !equal(got, want) {
				t.Errorf("got  %+v\nwant %+v", got, want)
			}
		})
	}
}

func equal(a, b answer) bool {
	return a.status == b.status && a.challenge == b.challenge && a.cache == b.cache && maps.Equal(a.body, b.body)
}
