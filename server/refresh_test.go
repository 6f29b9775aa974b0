package server_test

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"authserver/server"
)

// client is how a test client authenticates: Basic with its secret, or
// client_id alone for a public client.
type client struct{ id, secret string }

var (
	conf = client{"conf", confSecret}
	ed   = client{"ed", edSecret}
	spa  = client{"spa", ""}
	rs   = client{"rs", rsSecret}
)

// post sends a form to path as c.
func (e *env) post(t testing.TB, path string, c client, kv ...string) reply {
	t.Helper()
	req := request{body: form(kv...)}
	if c.secret == "" {
		req.body = form(append([]string{"client_id", c.id}, kv...)...)
	} else {
		req.basic = []string{c.id, c.secret}
	}
	req.path = path
	return e.do(t, req)
}

// login runs the password grant for alice as c and returns the reply, which
// must be a success.
func (e *env) login(t testing.TB, c client, extra ...string) reply {
	t.Helper()
	r := e.post(t, "/oauth2/token", c, append([]string{"grant_type", "password", "username", "alice@example.com", "password", alicePassword}, extra...)...)
	if r.status != http.StatusOK {
		t.Fatalf("login as %s: %d %s", c.id, r.status, r.raw)
	}
	return r
}

func (e *env) refresh(t testing.TB, c client, token string, extra ...string) reply {
	t.Helper()
	return e.post(t, "/oauth2/token", c, append([]string{"grant_type", "refresh_token", "refresh_token", token}, extra...)...)
}

func (r reply) str(name string) string {
	s, _ := r.body[name].(string)
	return s
}

// wantError checks an OAuth error reply.
func wantError(t testing.TB, r reply, status int, code string) {
	t.Helper()
	if r.status != status || r.body["error"] != code {
		t.Fatalf("got %d %s, want %d %s", r.status, r.raw, status, code)
	}
}

// TestRefreshRotates: each refresh returns a new refresh token in the same
// family and a new access token (RFC 6749 §6, RFC 9700 §4.14.2).
func TestRefreshRotates(t *testing.T) {
	e := newEnv(t)
	first := e.login(t, conf)
	rt := first.str("refresh_token")
	if rt == "" {
		t.Fatalf("no refresh token for a client allowed the refresh grant: %s", first.raw)
	}
	_, claims := e.verify(t, first.str("access_token"), "RS256")
	sid := claims["sid"]
	if sid == nil || claims["auth_time"] == nil {
		t.Fatalf("access token without sid/auth_time: %v", claims)
	}
	authTime := claims["auth_time"]
	seen := map[string]bool{rt: true}
	for i := range 3 {
		e.advance(time.Minute)
		r := e.refresh(t, conf, rt)
		if r.status != http.StatusOK || r.header.Get("Cache-Control") != "no-store" {
			t.Fatalf("refresh %d: %d %s", i, r.status, r.raw)
		}
		rt = r.str("refresh_token")
		if seen[rt] {
			t.Fatalf("refresh %d returned a refresh token seen before", i)
		}
		seen[rt] = true
		_, claims := e.verify(t, r.str("access_token"), "RS256")
		if claims["sid"] != sid || claims["auth_time"] != authTime || claims["sub"] != e.alice.ID || r.str("scope") != "read write" {
			t.Fatalf("refresh %d: claims %v scope %q", i, claims, r.str("scope"))
		}
	}
	if strings.Contains(e.logs.String(), rt) {
		t.Fatal("a refresh token was logged")
	}
}

// TestNoRefreshTokenWithoutTheGrant: a client not allowed refresh_token gets
// none.
func TestNoRefreshTokenWithoutTheGrant(t *testing.T) {
	e := newEnv(t)
	r := e.do(t, request{body: form("grant_type", "password", "username", "alice@example.com", "password", alicePassword), basic: []string{"odd:id", oddSecret}})
	if r.status != 200 || r.str("refresh_token") != "" {
		t.Fatalf("got %d %s", r.status, r.raw)
	}
}

// TestRefreshReuseRevokesFamily: a rotated token presented again revokes the
// whole family, its refresh and access tokens, counts a metric and logs a
// warning that names family, client and user but not the token.
func TestRefreshReuseRevokesFamily(t *testing.T) {
	e := newEnv(t)
	first := e.login(t, conf)
	old := first.str("refresh_token")
	second := e.refresh(t, conf, old)
	if second.status != 200 {
		t.Fatalf("refresh: %d %s", second.status, second.raw)
	}
	wantError(t, e.refresh(t, conf, old), 400, "invalid_grant")
	if n := int64(e.metric(t, "authserver_refresh_reuse_detected_total")); n != 1 {
		t.Errorf("reuse counted %d times, want 1", n)
	}
	wantError(t, e.refresh(t, conf, second.str("refresh_token")), 400, "invalid_grant")
	for _, at := range []string{first.str("access_token"), second.str("access_token")} {
		if r := e.introspect(t, conf, at); r.body["active"] != false {
			t.Errorf("access token of a revoked family is active: %s", r.raw)
		}
	}
	logs := e.logs.String()
	_, claims := e.verify(t, first.str("access_token"), "RS256")
	for _, want := range []string{`"level":"WARN"`, `"event":"refresh_reuse_detected"`, claims["sid"].(string), `"client_id":"conf"`, e.alice.ID} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %s:\n%s", want, logs)
		}
	}
	for _, secret := range []string{old, second.str("refresh_token"), strings.Split(old, ".")[2]} {
		if strings.Contains(logs, secret) {
			t.Errorf("log holds a refresh token")
		}
	}
}

// TestRefreshClientBinding: a refresh token works only for the client it was
// issued to, after that client authenticated; a refused attempt consumes
// nothing.
func TestRefreshClientBinding(t *testing.T) {
	e := newEnv(t)
	rt := e.login(t, conf).str("refresh_token")
	wantError(t, e.refresh(t, ed, rt), 400, "invalid_grant")
	wantError(t, e.refresh(t, client{"conf", "wrong-secret-0123456789abcdefghijklmno"}, rt), 401, "invalid_client")
	wantError(t, e.do(t, request{body: form("grant_type", "refresh_token", "refresh_token", rt)}), 401, "invalid_client")
	wantError(t, e.refresh(t, client{"norefresh", confSecret}, rt), 400, "invalid_grant")
	if r := e.refresh(t, conf, rt); r.status != 200 {
		t.Fatalf("the right client after refused attempts: %d %s", r.status, r.raw)
	}
	if n := int64(e.metric(t, "authserver_refresh_reuse_detected_total")); n != 0 {
		t.Errorf("refused attempts counted as reuse: %d", n)
	}
}

// TestRefreshPublicClient: a public client refreshes with its client_id.
func TestRefreshPublicClient(t *testing.T) {
	e := newEnv(t)
	r := e.refresh(t, spa, e.login(t, spa).str("refresh_token"))
	if r.status != 200 || r.str("refresh_token") == "" {
		t.Fatalf("got %d %s", r.status, r.raw)
	}
}

// TestRefreshErrors: malformed input.
func TestRefreshErrors(t *testing.T) {
	e := newEnv(t)
	rt := e.login(t, conf).str("refresh_token")
	parts := strings.Split(rt, ".")
	for name, tc := range map[string]struct {
		token  string
		status int
		code   string
	}{
		"missing":                 {"", 400, "invalid_request"},
		"garbage":                 {"garbage", 400, "invalid_grant"},
		"an access token":         {e.login(t, conf).str("access_token"), 400, "invalid_grant"},
		"unknown family":          {parts[0] + ".AAAAAAAAAAAAAAAAAAAAAA." + parts[2], 400, "invalid_grant"},
		"wrong secret":            {parts[0] + "." + parts[1] + "." + strings.Repeat("A", 43), 400, "invalid_grant"},
		"another user's":          {"someone-else." + parts[1] + "." + parts[2], 400, "invalid_grant"},
		"short secret":            {parts[0] + "." + parts[1] + ".AAAA", 400, "invalid_grant"},
		"control char in user id": {"a\tb." + parts[1] + "." + parts[2], 400, "invalid_request"},
	} {
		t.Run(name, func(t *testing.T) {
			wantError(t, e.refresh(t, conf, tc.token), tc.status, tc.code)
		})
	}
	if r := e.refresh(t, conf, rt); r.status != 200 {
		t.Fatalf("a forged token with the family id revoked the family: %d %s", r.status, r.raw)
	}
}

// TestRefreshScope: the scope may narrow the access token, never widen the
// grant (RFC 6749 §6); the family keeps its original scope, and a refused
// scope consumes nothing.
func TestRefreshScope(t *testing.T) {
	e := newEnv(t)
	rt := e.login(t, conf).str("refresh_token")
	wantError(t, e.refresh(t, conf, rt, "scope", "read admin"), 400, "invalid_scope")
	narrow := e.refresh(t, conf, rt, "scope", "read")
	if narrow.status != 200 || narrow.str("scope") != "read" {
		t.Fatalf("narrowed: %d %s", narrow.status, narrow.raw)
	}
	_, claims := e.verify(t, narrow.str("access_token"), "RS256")
	if claims["scope"] != "read" {
		t.Errorf("access token scope %v", claims["scope"])
	}
	full := e.refresh(t, conf, narrow.str("refresh_token"))
	if full.status != 200 || full.str("scope") != "read write" {
		t.Fatalf("after narrowing, the family lost its scope: %d %s", full.status, full.raw)
	}
	narrowLogin := e.login(t, conf, "scope", "read")
	wantError(t, e.refresh(t, conf, narrowLogin.str("refresh_token"), "scope", "write"), 400, "invalid_scope")
}

// TestConcurrentRefresh: of 50 concurrent refreshes with one token exactly
// one succeeds.
func TestConcurrentRefresh(t *testing.T) {
	e := newEnv(t)
	rt := e.login(t, conf).str("refresh_token")
	var wg sync.WaitGroup
	codes := make(chan int, 50)
	for range 50 {
		wg.Go(func() { codes <- e.refresh(t, conf, rt).status })
	}
	wg.Wait()
	close(codes)
	ok := 0
	for c := range codes {
		switch c {
		case 200:
			ok++
		case 400:
		default:
			t.Errorf("status %d", c)
		}
	}
	if ok != 1 {
		t.Fatalf("%d of 50 concurrent refreshes succeeded, want exactly 1", ok)
	}
}

// TestRefreshLifetimes: the idle lifetime (14 days) and the absolute one
// (90 days from the login) both end a family.
func TestRefreshLifetimes(t *testing.T) {
	e := newEnv(t)
	day := 24 * time.Hour
	idle := e.login(t, conf).str("refresh_token")
	e.advance(14*day + time.Second)
	wantError(t, e.refresh(t, conf, idle), 400, "invalid_grant")

	rt := e.login(t, conf).str("refresh_token")
	for elapsed := time.Duration(0); elapsed+13*day < 90*day; elapsed += 13 * day {
		e.advance(13 * day)
		r := e.refresh(t, conf, rt)
		if r.status != 200 {
			t.Fatalf("refresh after %v: %d %s", elapsed+13*day, r.status, r.raw)
		}
		rt = r.str("refresh_token")
	}
	e.advance(13 * day) // 91 days after the login
	wantError(t, e.refresh(t, conf, rt), 400, "invalid_grant")
}

// TestRefreshRetryWindow: within the window a replay of the previous token
// by the same client gets the same successor and a fresh access token; the
// family never forks; outside it, reuse detection applies.
func TestRefreshRetryWindow(t *testing.T) {
	e := newEnv(t, func(c *server.Config) { c.RefreshRetryWindow = 10 * time.Second })
	r0 := e.login(t, conf).str("refresh_token")
	first := e.refresh(t, conf, r0)
	r1 := first.str("refresh_token")
	e.advance(5 * time.Second)
	replay := e.refresh(t, conf, r0)
	if replay.status != 200 || replay.str("refresh_token") != r1 || replay.str("access_token") == first.str("access_token") {
		t.Fatalf("replay within the window: %d %s", replay.status, replay.raw)
	}
	wantError(t, e.refresh(t, ed, r0), 400, "invalid_grant") // another client: no retry
	r2 := e.refresh(t, conf, r1).str("refresh_token")
	if r2 == "" {
		t.Fatal("the successor did not rotate after a retry")
	}
	wantError(t, e.refresh(t, conf, r0), 400, "invalid_grant") // older than the previous one
	wantError(t, e.refresh(t, conf, r2), 400, "invalid_grant") // the family is revoked

	late := newEnv(t, func(c *server.Config) { c.RefreshRetryWindow = 10 * time.Second })
	a0 := late.login(t, conf).str("refresh_token")
	a1 := late.refresh(t, conf, a0).str("refresh_token")
	late.advance(11 * time.Second)
	wantError(t, late.refresh(t, conf, a0), 400, "invalid_grant")
	wantError(t, late.refresh(t, conf, a1), 400, "invalid_grant")
	if int64(late.metric(t, "authserver_refresh_reuse_detected_total")) != 1 {
		t.Error("a replay outside the window was not counted as reuse")
	}
}

// TestRefreshDisabledOrDeletedUser: the refresh grant refuses, and revokes
// the family, when the user was disabled or deleted.
func TestRefreshDisabledOrDeletedUser(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	rt := e.login(t, conf).str("refresh_token")
	if err := e.store.SetUserActive(ctx, "alice@example.com", false); err != nil {
		t.Fatal(err)
	}
	wantError(t, e.refresh(t, conf, rt), 400, "invalid_grant")
	if err := e.store.SetUserActive(ctx, "alice@example.com", true); err != nil {
		t.Fatal(err)
	}
	wantError(t, e.refresh(t, conf, rt), 400, "invalid_grant")

	rt = e.login(t, conf).str("refresh_token")
	if err := e.store.DeleteUser(ctx, "alice@example.com"); err != nil {
		t.Fatal(err)
	}
	wantError(t, e.refresh(t, conf, rt), 400, "invalid_grant")
}

// TestUserCutoff: a cut-off (set by disabling a user or changing a password)
// makes every earlier token of the user inactive, refresh and access, at
// once: even a token and user the instance remembers from an introspection.
func TestUserCutoff(t *testing.T) {
	e := newEnv(t)
	login := e.login(t, conf)
	if r := e.introspect(t, conf, login.str("access_token")); r.body["active"] != true {
		t.Fatalf("access token before any cut-off: %s", r.raw)
	}
	now := e.now()
	if err := e.tokens.SetCutoff(t.Context(), e.alice.ID, now, now.Add(90*24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	wantError(t, e.refresh(t, conf, login.str("refresh_token")), 400, "invalid_grant")
	if r := e.introspect(t, conf, login.str("access_token")); r.body["active"] != false {
		t.Errorf("access token before the cut-off is active: %s", r.raw)
	}
	e.advance(time.Second)
	after := e.login(t, conf)
	if r := e.introspect(t, conf, after.str("access_token")); r.body["active"] != true {
		t.Errorf("access token after the cut-off is inactive: %s", r.raw)
	}
	if r := e.refresh(t, conf, after.str("refresh_token")); r.status != 200 {
		t.Errorf("refresh after the cut-off: %d %s", r.status, r.raw)
	}
}
