package server_test

import (
	"bytes"
	"net/http"
	"os/exec"
	"strings"
	"testing"
)

func (e *env) get(t *testing.T, path string, header ...string) reply {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return send(t, req)
}

// TestJWKS: public members only (RFC 7517 §4, §6), cacheable, revalidated
// with an ETag.
func TestJWKS(t *testing.T) {
	e := newEnv(t)
	r := e.get(t, "/.well-known/jwks.json")
	if r.status != 200 || r.header.Get("Content-Type") != "application/jwk-set+json" {
		t.Fatalf("got %d %q", r.status, r.header.Get("Content-Type"))
	}
	if got := r.header.Get("Cache-Control"); got != "public, max-age=900" {
		t.Errorf("Cache-Control %q", got)
	}
	for _, private := range []string{`"d"`, `"p"`, `"q"`, `"dp"`, `"dq"`, `"qi"`} {
		if bytes.Contains(r.raw, []byte(private)) {
			t.Errorf("JWKS holds private member %s", private)
		}
	}
	for _, want := range []string{`"alg":"RS256"`, `"alg":"EdDSA"`, `"use":"sig"`, `"kid":`} {
		if !bytes.Contains(r.raw, []byte(want)) {
			t.Errorf("JWKS lacks %s: %s", want, r.raw)
		}
	}
	etag := r.header.Get("ETag")
	if etag == "" {
		t.Fatal("no ETag")
	}
	if r2 := e.get(t, "/.well-known/jwks.json", "If-None-Match", etag); r2.status != http.StatusNotModified || len(r2.raw) != 0 {
		t.Errorf("revalidation: %d %q", r2.status, r2.raw)
	}
	if r3 := e.get(t, "/.well-known/jwks.json", "If-None-Match", `"other"`); r3.status != 200 {
		t.Errorf("stale ETag: %d", r3.status)
	}
}

// TestMetadata: the RFC 8414 document, identical at the OpenID location.
func TestMetadata(t *testing.T) {
	e := newEnv(t)
	r := e.get(t, "/.well-known/oauth-authorization-server")
	if r.status != 200 {
		t.Fatalf("status %d", r.status)
	}
	oidc := e.get(t, "/.well-known/openid-configuration")
	if !bytes.Equal(r.raw, oidc.raw) {
		t.Errorf("documents differ:\n%s\n%s", r.raw, oidc.raw)
	}
	want := `{"issuer":"https://auth.example.com","token_endpoint":"https://auth.example.com/oauth2/token",` +
		`"jwks_uri":"https://auth.example.com/.well-known/jwks.json","revocation_endpoint":"https://auth.example.com/oauth2/revoke",` +
		`"introspection_endpoint":"https://auth.example.com/oauth2/introspect","userinfo_endpoint":"https://auth.example.com/userinfo",` +
		`"grant_types_supported":["client_credentials","password","refresh_token"],"response_types_supported":[],` +
		`"token_endpoint_auth_methods_supported":["client_secret_basic","client_secret_post","none"],` +
		`"revocation_endpoint_auth_methods_supported":["client_secret_basic","client_secret_post","none"],` +
		`"introspection_endpoint_auth_methods_supported":["client_secret_basic","client_secret_post"],` +
		`"scopes_supported":["read","write"],"access_token_signing_alg_values_supported":["RS256","EdDSA"]}` + "\n"
	if string(r.raw) != want {
		t.Errorf("metadata\n got %s\nwant %s", r.raw, want)
	}
}

// TestOtherEndpoints: health, methods, security headers.
func TestOtherEndpoints(t *testing.T) {
	e := newEnv(t)
	r := e.get(t, "/healthz")
	if r.status != 200 || r.body["status"] != "ok" {
		t.Errorf("healthz %d %s", r.status, r.raw)
	}
	if r.header.Get("X-Content-Type-Options") != "nosniff" || r.header.Get("Referrer-Policy") != "no-referrer" {
		t.Errorf("security headers missing: %v", r.header)
	}
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/.well-known/jwks.json", nil)
	if r := send(t, req); r.status != 405 || r.header.Get("Allow") != "GET, HEAD" || r.body["error"] != "invalid_request" {
		t.Errorf("POST jwks: %d %v %s", r.status, r.header, r.raw)
	}
}

// TestImportArrows keeps the package graph of DESIGN.md: server imports none
// of its sibling packages.
func TestImportArrows(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "authserver/server").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, sibling := range []string{"authserver/keys", "authserver/userstore", "authserver/tokenstore", "authserver/metrics", "authserver/cmd"} {
			if dep == sibling || strings.HasPrefix(dep, sibling+"/") {
				t.Errorf("server imports %s", dep)
			}
		}
	}
}
