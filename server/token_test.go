package server_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// verify checks token against the served JWKS with go-jose, an implementation
// independent of the one that signed it, and returns its header and claims.
func (e *env) verify(t *testing.T, token string, alg jose.SignatureAlgorithm) (jose.Header, map[string]any) {
	t.Helper()
	resp, err := http.Get(e.srv.URL + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	jws, err := jose.ParseSigned(token, []jose.SignatureAlgorithm{alg})
	if err != nil {
		t.Fatalf("parse %s token: %v", alg, err)
	}
	hdr := jws.Signatures[0].Header
	found := set.Key(hdr.KeyID)
	if len(found) != 1 {
		t.Fatalf("kid %q: %d keys in the JWKS", hdr.KeyID, len(found))
	}
	payload, err := jws.Verify(found[0])
	if err != nil {
		t.Fatalf("verify against the JWKS: %v", err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	return hdr, claims
}

// TestPasswordGrantRoundTrip issues tokens with both algorithms and verifies
// them against the JWKS (RFC 6749 §4.3, RFC 9068 §2).
func TestPasswordGrantRoundTrip(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name, client, secret string
		alg                  jose.SignatureAlgorithm
		aud, scope           string
	}{
		{"RS256 default audience", "conf", confSecret, jose.RS256, "https://auth.example.com", "read write"},
		{"EdDSA client audience", "ed", edSecret, jose.EdDSA, "https://api.example.com", "read"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := time.Now().Unix()
			r := e.do(t, request{body: alicePasswordForm(), basic: []string{tc.client, tc.secret}})
			if r.status != http.StatusOK {
				t.Fatalf("status %d: %s", r.status, r.raw)
			}
			if got := r.header.Get("Cache-Control"); got != "no-store" {
				t.Errorf("Cache-Control %q, want no-store (RFC 6749 §5.1)", got)
			}
			if got := r.header.Get("Content-Type"); got != "application/json" {
				t.Errorf("Content-Type %q", got)
			}
			if r.body["token_type"] != "Bearer" || r.body["expires_in"] != float64(900) || r.body["scope"] != tc.scope {
				t.Errorf("response %s", r.raw)
			}
			if rt, _ := r.body["refresh_token"].(string); len(rt) < 60 {
				t.Errorf("no refresh token for a client allowed the refresh grant: %s", r.raw)
			}
			hdr, claims := e.verify(t, r.body["access_token"].(string), tc.alg)
			if hdr.ExtraHeaders["typ"] != "at+jwt" {
				t.Errorf("typ %v, want at+jwt (RFC 9068 §2.1)", hdr.ExtraHeaders["typ"])
			}
			want := map[string]any{
				"iss": "https://auth.example.com", "sub": e.alice.ID, "aud": tc.aud,
				"client_id": tc.client, "scope": tc.scope,
			}
			for k, v := range want {
				if claims[k] != v {
					t.Errorf("claim %s = %v, want %v", k, claims[k], v)
				}
			}
			iat := int64(claims["iat"].(float64))
			if iat < before || iat > time.Now().Unix() || claims["nbf"] != claims["iat"] || int64(claims["exp"].(float64))-iat != 900 {
				t.Errorf("times iat=%v nbf=%v exp=%v", claims["iat"], claims["nbf"], claims["exp"])
			}
			if jti, _ := claims["jti"].(string); len(jti) < 20 {
				t.Errorf("jti %q", jti)
			}
			roles, _ := json.Marshal(claims["roles"])
			if string(roles) != `["admin","dev"]` {
				t.Errorf("roles %s", roles)
			}
		})
	}
}

// TestClientAuthentication covers every way a client authenticates
// (RFC 6749 §2.3.1, §3.2.1).
func TestClientAuthentication(t *testing.T) {
	e := newEnv(t)
	ok := []struct {
		name string
		req  request
	}{
		{"client_secret_basic", request{body: alicePasswordForm(), basic: []string{"conf", confSecret}}},
		{"client_secret_post", request{body: alicePasswordForm("client_id", "conf", "client_secret", confSecret)}},
		{"basic credentials are form-url-decoded §2.3.1", request{body: alicePasswordForm(), basic: []string{"odd:id", oddSecret}}},
		{"basic with the same client_id in the body", request{body: alicePasswordForm("client_id", "conf"), basic: []string{"conf", confSecret}}},
		{"public client by client_id §3.2.1", request{body: alicePasswordForm("client_id", "spa", "scope", "read")}},
	}
	for _, tc := range ok {
		t.Run(tc.name, func(t *testing.T) {
			if r := e.do(t, tc.req); r.status != http.StatusOK {
				t.Fatalf("status %d: %s", r.status, r.raw)
			}
		})
	}
}

// TestTokenErrors checks the code, status and headers of every error of the
// token endpoint (RFC 6749 §5.2).
func TestTokenErrors(t *testing.T) {
	e := newEnv(t)
	confBasic := []string{"conf", confSecret}
	tests := []struct {
		name   string
		req    request
		status int
		code   string
		// basicChallenge is whether WWW-Authenticate must be present.
		basicChallenge bool
	}{
		{"GET is not allowed", request{method: http.MethodGet, basic: confBasic}, 405, "invalid_request", false},
		{"JSON body §3.2", request{contentType: "application/json", body: `{"grant_type":"password"}`, basic: confBasic}, 400, "invalid_request", false},
		{"non-UTF-8 charset", request{contentType: "application/x-www-form-urlencoded; charset=iso-8859-1", body: alicePasswordForm(), basic: confBasic}, 400, "invalid_request", false},
		{"body over 64 KiB", request{body: alicePasswordForm("pad", strings.Repeat("x", 64<<10)), basic: confBasic}, 400, "invalid_request", false},
		{"repeated parameter §3.2", request{body: alicePasswordForm("grant_type", "password"), basic: confBasic}, 400, "invalid_request", false},
		{"repeated empty parameter", request{body: alicePasswordForm() + "&scope=&scope=", basic: confBasic}, 400, "invalid_request", false},
		{"bad percent-encoding", request{body: alicePasswordForm() + "&x=%zz", basic: confBasic}, 400, "invalid_request", false},
		{"NUL in a value", request{body: alicePasswordForm("state", "a\x00b"), basic: confBasic}, 400, "invalid_request", false},
		{"CR LF in a value", request{body: alicePasswordForm("state", "a\r\nSet-Cookie: x=y"), basic: confBasic}, 400, "invalid_request", false},
		{"invalid UTF-8", request{body: alicePasswordForm() + "&state=%ff%fe", basic: confBasic}, 400, "invalid_request", false},
		{"parameters in the query string are ignored", request{query: alicePasswordForm(), basic: confBasic}, 400, "invalid_request", false},
		{"basic and client_secret together §2.3", request{body: alicePasswordForm("client_secret", confSecret), basic: confBasic}, 400, "invalid_request", false},
		{"basic and another client_id", request{body: alicePasswordForm("client_id", "ed"), basic: confBasic}, 400, "invalid_request", false},
		{"no client authentication", request{body: alicePasswordForm()}, 401, "invalid_client", false},
		{"wrong secret, basic", request{body: alicePasswordForm(), basic: []string{"conf", "wrong-secret-0123456789abcdefghijklmn"}}, 401, "invalid_client", true},
		{"wrong secret, post", request{body: alicePasswordForm("client_id", "conf", "client_secret", "wrong")}, 401, "invalid_client", false},
		{"unknown client, basic", request{body: alicePasswordForm(), basic: []string{"nobody", confSecret}}, 401, "invalid_client", true},
		{"confidential client without its secret", request{body: alicePasswordForm("client_id", "conf")}, 401, "invalid_client", false},
		{"public client with a secret", request{body: alicePasswordForm("client_id", "spa", "client_secret", "x")}, 401, "invalid_client", false},
		{"basic credentials not form-url-encoded", request{body: alicePasswordForm(), auth: basic("odd:id", oddSecret)}, 401, "invalid_client", true},
		{"bearer scheme", request{body: alicePasswordForm(), auth: "Bearer abc"}, 401, "invalid_client", true},
		{"malformed base64", request{body: alicePasswordForm(), auth: "Basic !!!"}, 401, "invalid_client", true},
		{"basic without colon", request{body: alicePasswordForm(), auth: "Basic Y29uZg=="}, 401, "invalid_client", true},
		{"missing grant_type", request{body: form("username", "alice@example.com", "password", alicePassword), basic: confBasic}, 400, "invalid_request", false},
		{"empty grant_type counts as missing §3.1", request{body: form("grant_type", "", "username", "alice@example.com", "password", alicePassword), basic: confBasic}, 400, "invalid_request", false},
		{"unknown grant_type", request{body: form("grant_type", "urn:example:magic"), basic: confBasic}, 400, "unsupported_grant_type", false},
		{"grant not allowed for the client", request{body: alicePasswordForm(), basic: []string{"norefresh", confSecret}}, 400, "unauthorized_client", false},
		{"missing password", request{body: form("grant_type", "password", "username", "alice@example.com"), basic: confBasic}, 400, "invalid_request", false},
		{"missing username", request{body: form("grant_type", "password", "password", alicePassword), basic: confBasic}, 400, "invalid_request", false},
		{"scope outside the client's §3.3", request{body: alicePasswordForm("scope", "read admin"), basic: confBasic}, 400, "invalid_scope", false},
		{"malformed scope: double space", request{body: alicePasswordForm("scope", "read  write"), basic: confBasic}, 400, "invalid_scope", false},
		{"malformed scope: quote", request{body: alicePasswordForm("scope", `re"ad`), basic: confBasic}, 400, "invalid_scope", false},
		{"wrong password", request{body: form("grant_type", "password", "username", "alice@example.com", "password", "nope"), basic: confBasic}, 400, "invalid_grant", false},
		{"password over 1024 bytes", request{body: form("grant_type", "password", "username", "alice@example.com", "password", strings.Repeat("p", 1025)), basic: confBasic}, 400, "invalid_request", false},
		{"username over 320 bytes", request{body: form("grant_type", "password", "username", strings.Repeat("a", 310)+"@example.com", "password", "pw"), basic: confBasic}, 400, "invalid_request", false},
		{"client_credentials for a client without it", request{body: form("grant_type", "client_credentials"), basic: confBasic}, 400, "unauthorized_client", false},
		{"client_credentials scope outside the client's", request{body: form("grant_type", "client_credentials", "scope", "write"), basic: []string{"svc", rsSecret}}, 400, "invalid_scope", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(t, tc.req)
			if r.status != tc.status || r.body["error"] != tc.code {
				t.Fatalf("got %d %s, want %d %s", r.status, r.raw, tc.status, tc.code)
			}
			if desc, _ := r.body["error_description"].(string); desc == "" {
				t.Errorf("no error_description: %s", r.raw)
			}
			if got := r.header.Get("Cache-Control"); got != "no-store" {
				t.Errorf("Cache-Control %q, want no-store", got)
			}
			if got := r.header.Get("Content-Type"); got != "application/json" {
				t.Errorf("Content-Type %q, want application/json", got)
			}
			challenge := r.header.Get("WWW-Authenticate")
			if tc.basicChallenge && challenge != `Basic realm="https://auth.example.com"` {
				t.Errorf("WWW-Authenticate %q, want a Basic challenge (RFC 6749 §5.2)", challenge)
			}
			if !tc.basicChallenge && challenge != "" {
				t.Errorf("unexpected WWW-Authenticate %q", challenge)
			}
			if tc.status == 405 && r.header.Get("Allow") != "POST" {
				t.Errorf("Allow %q, want POST", r.header.Get("Allow"))
			}
			if strings.Contains(string(r.raw), "Set-Cookie") || r.header.Get("Set-Cookie") != "" {
				t.Errorf("input reflected into the response")
			}
		})
	}
}

// TestQueryDoesNotOverrideBody proves that a parameter in the query string
// never replaces one in the body (go-oauth2's FormValue reads both).
func TestQueryDoesNotOverrideBody(t *testing.T) {
	e := newEnv(t)
	body := form("grant_type", "password", "username", "alice@example.com", "password", "wrong")
	r := e.do(t, request{query: form("password", alicePassword), body: body, basic: []string{"conf", confSecret}})
	if r.status != 400 || r.body["error"] != "invalid_grant" {
		t.Fatalf("got %d %s, want invalid_grant", r.status, r.raw)
	}
}

// TestInvalidGrantBodiesAreIdentical: unknown user, wrong password and
// inactive user are indistinguishable.
func TestInvalidGrantBodiesAreIdentical(t *testing.T) {
	e := newEnv(t)
	var bodies []string
	for _, creds := range [][2]string{
		{"alice@example.com", "wrong password"},
		{"nobody@example.com", alicePassword},
		{"bob@example.com", bobPassword},
	} {
		r := e.do(t, request{body: form("grant_type", "password", "username", creds[0], "password", creds[1]), basic: []string{"conf", confSecret}})
		if r.status != 400 || r.body["error"] != "invalid_grant" {
			t.Fatalf("%s: got %d %s", creds[0], r.status, r.raw)
		}
		bodies = append(bodies, string(r.raw))
	}
	if bodies[0] != bodies[1] || bodies[1] != bodies[2] {
		t.Fatalf("bodies differ:\n%s", strings.Join(bodies, ""))
	}
}

// TestNoPasswordCheckBeforeClientAuthentication proves the endpoint is no
// password oracle: without a valid client, no password is ever checked.
func TestNoPasswordCheckBeforeClientAuthentication(t *testing.T) {
	e := newEnv(t)
	for _, req := range []request{
		{body: alicePasswordForm()},
		{body: alicePasswordForm(), basic: []string{"conf", "wrong"}},
		{body: alicePasswordForm(), basic: []string{"nobody", confSecret}},
		{body: alicePasswordForm("client_id", "conf", "client_secret", "wrong")},
		{body: alicePasswordForm("scope", "admin"), basic: []string{"conf", confSecret}},
	} {
		if r := e.do(t, req); r.status == http.StatusOK {
			t.Fatalf("accepted: %s", r.raw)
		}
	}
	if n := e.users.calls.Load(); n != 0 {
		t.Fatalf("%d passwords checked for requests that must fail before", n)
	}
}

// TestScopeDefaultsAndDeduplication: an omitted or empty scope gets the
// client's allowed scope (RFC 6749 §3.3, §3.1); repeated tokens count once.
func TestScopeDefaultsAndDeduplication(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		extra []string
		want  string
	}{
		{nil, "read write"},
		{[]string{"scope", ""}, "read write"},
		{[]string{"scope", "write"}, "write"},
		{[]string{"scope", "write read write"}, "write read"},
	} {
		r := e.do(t, request{body: alicePasswordForm(tc.extra...), basic: []string{"conf", confSecret}})
		if r.status != 200 || r.body["scope"] != tc.want {
			t.Errorf("scope %q: got %d %s, want %q", tc.extra, r.status, r.raw, tc.want)
		}
	}
}

// TestForeignArgon2HashLogsIn: a PHC hash made by another Argon2
// implementation (the reference vector) logs in unchanged, and keeps
// logging in after it is re-hashed with the current parameters.
func TestForeignArgon2HashLogsIn(t *testing.T) {
	e := newEnv(t)
	for i := range 2 {
		r := e.do(t, request{body: form("grant_type", "password", "username", "REF@example.com", "password", refPassword), basic: []string{"conf", confSecret}})
		if r.status != 200 {
			t.Fatalf("login %d: %d %s", i, r.status, r.raw)
		}
	}
}

// TestStoreDownFailsClosed: a failing store is 503 temporarily_unavailable
// with Retry-After, never a token and never a 500.
func TestStoreDownFailsClosed(t *testing.T) {
	e := newEnv(t)
	e.store.Close()
	r := e.do(t, request{body: alicePasswordForm(), basic: []string{"conf", confSecret}})
	if r.status != 503 || r.body["error"] != "temporarily_unavailable" || r.header.Get("Retry-After") == "" {
		t.Fatalf("got %d %v %s", r.status, r.header, r.raw)
	}
	if strings.Contains(string(r.raw), "closed") {
		t.Fatalf("cause leaked: %s", r.raw)
	}
}

// TestClientCredentials: the client is the subject; no refresh token; the
// scope is limited to the client's (RFC 6749 §4.4, RFC 9068 §2.2).
func TestClientCredentials(t *testing.T) {
	e := newEnv(t)
	r := e.post(t, "/oauth2/token", client{"svc", rsSecret}, "grant_type", "client_credentials")
	if r.status != 200 || r.str("refresh_token") != "" || r.str("scope") != "read" {
		t.Fatalf("got %d %s", r.status, r.raw)
	}
	_, claims := e.verify(t, r.str("access_token"), "EdDSA")
	if claims["sub"] != "svc" || claims["client_id"] != "svc" || claims["auth_time"] != nil || claims["roles"] != nil || claims["aud"] != "https://api.example.com" {
		t.Errorf("claims %v", claims)
	}
	in := e.introspect(t, client{"svc", rsSecret}, r.str("access_token"))
	if in.body["active"] != true || in.body["sub"] != "svc" || in.body["username"] != nil {
		t.Errorf("introspection: %s", in.raw)
	}
	if u := e.userinfo(t, r.str("access_token")); u.status != 401 {
		t.Errorf("userinfo with a client token: %d", u.status)
	}
	if got := e.metric(t, "authserver_password_hash_duration_seconds"); got != 0 {
		t.Errorf("client_credentials hashed %v passwords", got)
	}
}
