package server_test

import (
	"net/http"
	"strings"
	"testing"

	"authserver/server"
)

// TestCORS: off by default; an allowed origin gets its preflight answered
// and its responses marked; any other origin gets no CORS header.
func TestCORS(t *testing.T) {
	preflight := func(e *env, origin string) *http.Response {
		req, _ := http.NewRequest(http.MethodOptions, e.srv.URL+"/oauth2/token", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	off := newEnv(t)
	if resp := preflight(off, "https://app.example.com"); resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Error("CORS is on by default")
	}
	e := newEnv(t, func(c *server.Config) { c.CORSOrigins = []string{"https://app.example.com"} })
	resp := preflight(e, "https://app.example.com")
	if resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example.com" ||
		!strings.Contains(resp.Header.Get("Access-Control-Allow-Headers"), "Authorization") || resp.Header.Get("Access-Control-Allow-Credentials") != "" {
		t.Errorf("allowed preflight: %d %v", resp.StatusCode, resp.Header)
	}
	if resp := preflight(e, "https://evil.example.com"); resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("a foreign origin got CORS headers: %v", resp.Header)
	}
	r := e.doWith(t, request{body: alicePasswordForm("client_id", "spa", "scope", "read")}, "Origin", "https://app.example.com")
	if r.status != 200 || r.header.Get("Access-Control-Allow-Origin") != "https://app.example.com" || !strings.Contains(r.header.Get("Vary"), "Origin") {
		t.Errorf("token request from an allowed origin: %d %v", r.status, r.header)
	}
}
