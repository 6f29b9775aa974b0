package server_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

func (e *env) introspect(t testing.TB, c client, token string, extra ...string) reply {
	t.Helper()
	return e.post(t, "/oauth2/introspect", c, append([]string{"token", token}, extra...)...)
}

func (e *env) revoke(t testing.TB, c client, token string, extra ...string) reply {
	t.Helper()
	return e.post(t, "/oauth2/revoke", c, append([]string{"token", token}, extra...)...)
}

// wantInactive checks the whole answer for an inactive token: nothing but
// {"active": false} (RFC 7662 §2.2).
func wantInactive(t testing.TB, r reply) {
	t.Helper()
	if r.status != 200 || strings.TrimSpace(string(r.raw)) != `{"active":false}` {
		t.Fatalf("got %d %s, want {\"active\":false}", r.status, r.raw)
	}
}

// TestRevokeAccessToken: a revoked access token is inactive at once for
// introspection and userinfo (RFC 7009 §2.1), while offline verification
// trusts it until exp.
func TestRevokeAccessToken(t *testing.T) {
	e := newEnv(t)
	login := e.login(t, conf)
	at := login.str("access_token")
	if r := e.revoke(t, conf, at, "token_type_hint", "refresh_token"); r.status != 200 || len(r.raw) != 0 {
		t.Fatalf("revoke: %d %q", r.status, r.raw)
	}
	wantInactive(t, e.introspect(t, conf, at))
	if r := e.userinfo(t, at); r.status != 401 {
		t.Errorf("userinfo with a revoked token: %d", r.status)
	}
	e.verify(t, at, "RS256") // still a valid signature
	if r := e.refresh(t, conf, login.str("refresh_token")); r.status != 200 {
		t.Errorf("revoking an access token killed its refresh token: %d %s", r.status, r.raw)
	}
}

// TestRevokeRefreshToken: revoking a refresh token revokes its family and
// every access token issued in it (RFC 7009 §2.1).
func TestRevokeRefreshToken(t *testing.T) {
	e := newEnv(t)
	login := e.login(t, conf)
	next := e.refresh(t, conf, login.str("refresh_token"))
	if r := e.revoke(t, conf, next.str("refresh_token"), "token_type_hint", "access_token"); r.status != 200 {
		t.Fatalf("revoke: %d %s", r.status, r.raw)
	}
	wantError(t, e.refresh(t, conf, next.str("refresh_token")), 400, "invalid_grant")
	wantInactive(t, e.introspect(t, conf, login.str("access_token")))
	wantInactive(t, e.introspect(t, conf, next.str("access_token")))
	if int64(e.metric(t, "authserver_refresh_reuse_detected_total")) != 0 {
		t.Error("a revocation was counted as reuse")
	}
}

// TestRevokeIsHarmlessForOthers: unknown, malformed, expired and already
// revoked tokens answer 200; another client's token is left untouched and
// answers 200 too (RFC 7009 §2.2).
func TestRevokeIsHarmlessForOthers(t *testing.T) {
	e := newEnv(t)
	login := e.login(t, conf)
	for name, token := range map[string]string{
		"malformed":                      "garbage",
		"unknown refresh token":          strings.Split(login.str("refresh_token"), ".")[0] + ".AAAAAAAAAAAAAAAAAAAAAA." + strings.Repeat("A", 43),
		"another client's access token":  login.str("access_token"),
		"another client's refresh token": login.str("refresh_token"),
	} {
		if r := e.revoke(t, ed, token); r.status != 200 {
			t.Errorf("%s: %d %s", name, r.status, r.raw)
		}
	}
	if r := e.introspect(t, conf, login.str("access_token")); r.body["active"] != true {
		t.Errorf("another client revoked the access token: %s", r.raw)
	}
	if r := e.refresh(t, conf, login.str("refresh_token")); r.status != 200 {
		t.Errorf("another client revoked the refresh token: %d %s", r.status, r.raw)
	}
	at := e.login(t, conf).str("access_token")
	for range 2 {
		if r := e.revoke(t, conf, at); r.status != 200 {
			t.Errorf("revoke twice: %d", r.status)
		}
	}
	e.advance(16 * time.Minute)
	if r := e.revoke(t, conf, login.str("access_token")); r.status != 200 {
		t.Errorf("expired: %d", r.status)
	}
}

// TestRevokeErrors: client authentication as at the token endpoint, and a
// missing token is invalid_request.
func TestRevokeErrors(t *testing.T) {
	e := newEnv(t)
	at := e.login(t, conf).str("access_token")
	wantError(t, e.revoke(t, client{"conf", "wrong-secret-0123456789abcdefghijklmno"}, at), 401, "invalid_client")
	wantError(t, e.do(t, request{path: "/oauth2/revoke", body: form("token", at)}), 401, "invalid_client")
	wantError(t, e.post(t, "/oauth2/revoke", conf), 400, "invalid_request")
	wantError(t, e.do(t, request{path: "/oauth2/revoke", method: http.MethodGet, basic: []string{"conf", confSecret}}), 405, "invalid_request")
	wantError(t, e.do(t, request{path: "/oauth2/revoke", body: form("token", at, "token", at), basic: []string{"conf", confSecret}}), 400, "invalid_request")
	if r := e.introspect(t, conf, at); r.body["active"] != true {
		t.Errorf("a refused revocation revoked: %s", r.raw)
	}
}

// TestIntrospectAccessToken: the RFC 7662 §2.2 members of an active token,
// to the client it was issued to and to a client of its audience.
func TestIntrospectAccessToken(t *testing.T) {
	e := newEnv(t)
	at := e.login(t, ed).str("access_token")
	for _, c := range []client{ed, rs} {
		r := e.introspect(t, c, at, "token_type_hint", "access_token")
		if r.status != 200 || r.header.Get("Cache-Control") != "no-store" {
			t.Fatalf("%s: %d %s", c.id, r.status, r.raw)
		}
		_, claims := e.verify(t, at, "EdDSA")
		want := map[string]any{
			"active": true, "scope": "read", "client_id": "ed", "username": "Alice@Example.com", "token_type": "Bearer",
			"exp": claims["exp"], "iat": claims["iat"], "nbf": claims["nbf"], "sub": e.alice.ID,
			"aud": "https://api.example.com", "iss": "https://auth.example.com", "jti": claims["jti"],
		}
		got, _ := json.Marshal(r.body)
		wantJSON, _ := json.Marshal(want)
		if string(got) != string(wantJSON) {
			t.Errorf("%s:\n got %s\nwant %s", c.id, got, wantJSON)
		}
	}
}

// TestIntrospectInactive: anything not active is {"active": false} and
// nothing more.
func TestIntrospectInactive(t *testing.T) {
	e := newEnv(t)
	login := e.login(t, conf)
	at := login.str("access_token")
	parts := strings.Split(at, ".")
	for name, tc := range map[string]struct {
		c     client
		token string
	}{
		"malformed":                   {conf, "garbage"},
		"bad signature":               {conf, parts[0] + "." + parts[1] + "." + strings.Repeat("A", len(parts[2]))},
		"another client, no audience": {ed, at},
		"another audience":            {rs, at},
		"refresh token of another":    {ed, login.str("refresh_token")},
	} {
		t.Run(name, func(t *testing.T) { wantInactive(t, e.introspect(t, tc.c, tc.token)) })
	}
	e.advance(15*time.Minute + time.Second)
	wantInactive(t, e.introspect(t, conf, at))
}

// TestIntrospectRefreshToken: the current refresh token is active; a rotated
// one is not.
func TestIntrospectRefreshToken(t *testing.T) {
	e := newEnv(t)
	rt := e.login(t, conf).str("refresh_token")
	r := e.introspect(t, conf, rt, "token_type_hint", "refresh_token")
	if r.body["active"] != true || r.body["client_id"] != "conf" || r.body["sub"] != e.alice.ID || r.body["scope"] != "read write" || r.body["username"] != "Alice@Example.com" {
		t.Fatalf("current refresh token: %s", r.raw)
	}
	e.refresh(t, conf, rt)
	wantInactive(t, e.introspect(t, conf, rt))
}

// TestIntrospectErrors: only authenticated confidential clients may ask.
func TestIntrospectErrors(t *testing.T) {
	e := newEnv(t)
	at := e.login(t, spa).str("access_token")
	wantError(t, e.introspect(t, spa, at), 401, "invalid_client")
	wantError(t, e.do(t, request{path: "/oauth2/introspect", body: form("token", at)}), 401, "invalid_client")
	r := e.introspect(t, client{"conf", "wrong-secret-0123456789abcdefghijklmno"}, at)
	wantError(t, r, 401, "invalid_client")
	if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Basic") {
		t.Errorf("WWW-Authenticate %q", r.header.Get("WWW-Authenticate"))
	}
	wantError(t, e.post(t, "/oauth2/introspect", conf), 400, "invalid_request")
}

func (e *env) userinfo(t testing.TB, token string) reply {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.srv.URL+"/userinfo", nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return send(t, req)
}

// TestUserinfo: RFC 6750 bearer access to the current user.
func TestUserinfo(t *testing.T) {
	e := newEnv(t)
	at := e.login(t, conf).str("access_token")
	r := e.userinfo(t, at)
	if r.status != 200 || r.body["sub"] != e.alice.ID || r.body["email"] != "Alice@Example.com" || r.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("userinfo: %d %s", r.status, r.raw)
	}
	if roles, _ := json.Marshal(r.body["roles"]); string(roles) != `["admin","dev"]` || r.body["created_at"] == nil {
		t.Errorf("userinfo: %s", r.raw)
	}

	none := e.userinfo(t, "")
	if none.status != 401 || none.header.Get("WWW-Authenticate") != `Bearer realm="https://auth.example.com"` {
		t.Errorf("no token: %d %q (RFC 6750 §3.1: no error code without credentials)", none.status, none.header.Get("WWW-Authenticate"))
	}
	for name, token := range map[string]string{"garbage": "garbage", "refresh token": e.login(t, conf).str("refresh_token")} {
		r := e.userinfo(t, token)
		if r.status != 401 || !strings.Contains(r.header.Get("WWW-Authenticate"), `error="invalid_token"`) || r.body["error"] != "invalid_token" {
			t.Errorf("%s: %d %q %s", name, r.status, r.header.Get("WWW-Authenticate"), r.raw)
		}
	}
	// Disabled in the store alone, without the cut-off that `user disable`
	// also sets, the user reaches userinfo once the instance's memory of
	// the user (a second) has passed.
	if err := e.store.SetUserActive(t.Context(), "alice@example.com", false); err != nil {
		t.Fatal(err)
	}
	e.advance(time.Second)
	if r := e.userinfo(t, at); r.status != 403 || r.body["error"] != "access_denied" {
		t.Errorf("disabled user: %d %s", r.status, r.raw)
	}
	if err := e.store.SetUserActive(t.Context(), "alice@example.com", true); err != nil {
		t.Fatal(err)
	}
	e.advance(16 * time.Minute)
	if r := e.userinfo(t, at); r.status != 401 || !strings.Contains(r.header.Get("WWW-Authenticate"), "invalid_token") {
		t.Errorf("expired: %d %q", r.status, r.header.Get("WWW-Authenticate"))
	}
}

// TestRedisDownFailsClosed: with Redis down the token, revoke, introspect
// and userinfo endpoints answer 503 temporarily_unavailable with
// Retry-After and issue nothing; JWKS and metadata are still served; when
// Redis returns, everything works again without a restart.
func TestRedisDownFailsClosed(t *testing.T) {
	e := newEnv(t)
	login := e.login(t, conf)
	e.redis.Stop(t)
	for name, r := range map[string]reply{
		"password grant": e.post(t, "/oauth2/token", conf, "grant_type", "password", "username", "alice@example.com", "password", alicePassword),
		"refresh grant":  e.refresh(t, conf, login.str("refresh_token")),
		"revoke":         e.revoke(t, conf, login.str("access_token")),
		"introspect":     e.introspect(t, conf, login.str("access_token")),
		"userinfo":       e.userinfo(t, login.str("access_token")),
	} {
		if r.status != 503 || r.body["error"] != "temporarily_unavailable" || r.header.Get("Retry-After") == "" {
			t.Errorf("%s: %d %v %s", name, r.status, r.header, r.raw)
		}
		if strings.Contains(string(r.raw), "token\":") {
			t.Errorf("%s issued a token with Redis down: %s", name, r.raw)
		}
	}
	for _, path := range []string{"/.well-known/jwks.json", "/.well-known/oauth-authorization-server"} {
		if r := e.get(t, path); r.status != 200 {
			t.Errorf("%s with Redis down: %d", path, r.status)
		}
	}
	e.redis.Start(t)
	// The restarted Redis is empty: the old family is gone, new logins work.
	wantError(t, e.refresh(t, conf, login.str("refresh_token")), 400, "invalid_grant")
	again := e.login(t, conf)
	if r := e.refresh(t, conf, again.str("refresh_token")); r.status != 200 {
		t.Fatalf("after Redis returned: %d %s", r.status, r.raw)
	}
}

// TestVerifiedTokensRemembered: a token introspected again costs no
// signature verification, yet its revocation and expiry count at once, and
// a forged payload under its signature is not taken for it.
func TestVerifiedTokensRemembered(t *testing.T) {
	e := newEnv(t)
	at := e.login(t, conf).str("access_token")
	before := e.signer.verified.Load()
	for range 3 {
		if r := e.introspect(t, conf, at); r.status != 200 || r.body["active"] != true {
			t.Fatalf("introspect: %d %s", r.status, r.raw)
		}
	}
	if n := e.signer.verified.Load() - before; n != 1 {
		t.Errorf("three introspections verified the signature %d times, want 1", n)
	}
	parts := strings.Split(at, ".")
	payload, _ := json.Marshal(map[string]any{"iss": "https://auth.example.com", "sub": "mallory", "client_id": "conf", "exp": time.Now().Add(time.Hour).Unix()})
	wantInactive(t, e.introspect(t, conf, parts[0]+"."+base64.RawURLEncoding.EncodeToString(payload)+"."+parts[2]))

	if r := e.revoke(t, conf, at); r.status != 200 {
		t.Fatalf("revoke: %d %s", r.status, r.raw)
	}
	wantInactive(t, e.introspect(t, conf, at))

	fresh := e.login(t, conf).str("access_token")
	if r := e.introspect(t, conf, fresh); r.body["active"] != true {
		t.Fatalf("introspect: %d %s", r.status, r.raw)
	}
	e.advance(15*time.Minute + time.Second)
	wantInactive(t, e.introspect(t, conf, fresh))
}

// TestUserinfoCutoffAtOnce: a cut-off (`user disable`, `user delete`,
// `user set-password`) refuses userinfo at once, though the instance
// remembers the user as it was a moment before.
func TestUserinfoCutoffAtOnce(t *testing.T) {
	e := newEnv(t)
	at := e.login(t, conf).str("access_token")
	if r := e.userinfo(t, at); r.status != 200 {
		t.Fatalf("userinfo: %d %s", r.status, r.raw)
	}
	now := e.now()
	if err := e.tokens.SetCutoff(t.Context(), e.alice.ID, now, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if r := e.userinfo(t, at); r.status != 401 || !strings.Contains(r.header.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Errorf("userinfo after a cut-off: %d %q", r.status, r.header.Get("WWW-Authenticate"))
	}
}
