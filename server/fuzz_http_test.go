package server_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzBearerToken: whatever arrives as an access token at userinfo and
// introspection, the server answers 401 (or, for the one real token, 200)
// and never panics or answers 5xx.
func FuzzBearerToken(f *testing.F) {
	e := newEnv(f)
	login := e.login(f, conf)
	valid := login.str("access_token")
	f.Add(valid)
	f.Add(valid[:len(valid)-3])
	f.Add(login.str("refresh_token"))
	f.Add("eyJhbGciOiJub25lIiwidHlwIjoiYXQrand0In0.eyJzdWIiOiJ1In0.")
	f.Add("a.b.c")
	f.Fuzz(func(t *testing.T, raw string) {
		if strings.ContainsAny(raw, "\r\n\x00") {
			return // not a header value a client can send
		}
		req := httptest.NewRequest(http.MethodGet, "/userinfo", nil)
		req.Header.Set("Authorization", "Bearer "+raw)
		rec := httptest.NewRecorder()
		e.handler.ServeHTTP(rec, req)
		switch {
		case rec.Code == http.StatusOK && raw != valid:
			t.Fatalf("userinfo accepted %q", raw)
		case rec.Code != http.StatusOK && rec.Code != http.StatusUnauthorized:
			t.Fatalf("userinfo answered %d to %q", rec.Code, raw)
		}
		in := httptest.NewRequest(http.MethodPost, "/oauth2/introspect", strings.NewReader(form("token", raw)))
		in.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		in.SetBasicAuth("conf", confSecret)
		rec = httptest.NewRecorder()
		e.handler.ServeHTTP(rec, in)
		if rec.Code != http.StatusOK && rec.Code != http.StatusBadRequest {
			t.Fatalf("introspect answered %d to %q", rec.Code, raw)
		}
		if raw != valid && raw != login.str("refresh_token") && strings.Contains(rec.Body.String(), `"active":true`) {
			t.Fatalf("introspect found %q active", raw)
		}
	})
}
