package server_test

import (
	"context"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"authserver/server"
)

func (e *env) password(t testing.TB, user, password string) reply {
	t.Helper()
	return e.post(t, "/oauth2/token", conf, "grant_type", "password", "username", user, "password", password)
}

// TestLoginLockout: after 5 failed passwords an account is refused, even
// with the right password, with 429, Retry-After and the body of a wrong
// password, before any hashing; the lockout doubles after each further
// failure and a success forgets the failures. Unknown accounts are locked
// the same way, so the lockout tells nothing of who exists.
func TestLoginLockout(t *testing.T) {
	e := newEnv(t)
	wrongBody := ""
	for user, pw := range map[string]string{"alice@example.com": alicePassword, "nobody@example.com": "anything"} {
		for i := range 5 {
			r := e.password(t, user, "wrong")
			wantError(t, r, 400, "invalid_grant")
			if wrongBody == "" {
				wrongBody = string(r.raw)
			}
			if string(r.raw) != wrongBody {
				t.Fatalf("failure %d of %s: body %s", i, user, r.raw)
			}
		}
		hashes := e.metric(t, "authserver_password_hash_duration_seconds")
		r := e.password(t, user, pw)
		if r.status != 429 || r.header.Get("Retry-After") != "60" || string(r.raw) != wrongBody {
			t.Fatalf("%s during the lockout: %d %q %s", user, r.status, r.header.Get("Retry-After"), r.raw)
		}
		if e.metric(t, "authserver_password_hash_duration_seconds") != hashes {
			t.Errorf("%s: a password was hashed during the lockout", user)
		}
	}
	e.advance(time.Minute)
	wantError(t, e.password(t, "alice@example.com", "wrong"), 400, "invalid_grant")
	if r := e.password(t, "alice@example.com", alicePassword); r.status != 429 || r.header.Get("Retry-After") != "120" {
		t.Fatalf("after the sixth failure: %d %q", r.status, r.header.Get("Retry-After"))
	}
	e.advance(2 * time.Minute)
	if r := e.password(t, "Alice@Example.com", alicePassword); r.status != 200 {
		t.Fatalf("after the lockout: %d %s", r.status, r.raw)
	}
	for range 4 {
		wantError(t, e.password(t, "alice@example.com", "wrong"), 400, "invalid_grant")
	}
	if r := e.password(t, "alice@example.com", alicePassword); r.status != 200 {
		t.Fatalf("a success did not forget the failures: %d", r.status)
	}
	if !strings.Contains(e.logs.String(), `"event":"login_throttled"`) || strings.Contains(e.logs.String(), "nobody@example.com") {
		t.Error("the throttled-login event is missing, or names an email")
	}
}

// TestLockoutIsBounded: however many failures, the back-off never exceeds
// 15 minutes, so an attacker cannot lock a user out for longer, and the
// right password works once it has passed.
func TestLockoutIsBounded(t *testing.T) {
	e := newEnv(t)
	longest := 0
	for range 12 {
		e.password(t, "alice@example.com", "wrong")
		if r := e.password(t, "alice@example.com", "wrong"); r.status == 429 {
			secs, err := strconv.Atoi(r.header.Get("Retry-After"))
			if err != nil {
				t.Fatal(err)
			}
			longest = max(longest, secs)
		}
		e.advance(14 * time.Minute)
	}
	if longest != 900 {
		t.Fatalf("the longest lockout was %d s, want the 15-minute cap", longest)
	}
	e.advance(15 * time.Minute)
	if r := e.password(t, "alice@example.com", alicePassword); r.status != 200 {
		t.Fatalf("after the capped lockout: %d %q", r.status, r.header.Get("Retry-After"))
	}
}

// TestClientLockout: failed client authentications lock the client out the
// same way (RFC 6749 §2.3.1); during the lockout the right secret is refused.
func TestClientLockout(t *testing.T) {
	e := newEnv(t)
	bad := client{"conf", "wrong-secret-0123456789abcdefghijklmno"}
	for range 5 {
		wantError(t, e.post(t, "/oauth2/token", bad, "grant_type", "password"), 401, "invalid_client")
	}
	r := e.login0(t)
	if r.status != 429 || r.body["error"] != "invalid_client" || r.header.Get("Retry-After") != "60" || !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Basic") {
		t.Fatalf("the right secret during the lockout: %d %v %s", r.status, r.header, r.raw)
	}
	if r := e.introspect(t, conf, "x"); r.status != 429 {
		t.Errorf("introspection during the client's lockout: %d", r.status)
	}
	e.advance(time.Minute)
	if r := e.login0(t); r.status != 200 {
		t.Fatalf("after the lockout: %d %s", r.status, r.raw)
	}
}

// login0 is a password login of alice as conf that may fail.
func (e *env) login0(t testing.TB) reply {
	return e.password(t, "alice@example.com", alicePassword)
}

// TestIPRateLimit: token requests of one client address beyond the burst
// get 429 with Retry-After; X-Forwarded-For counts only from trusted
// proxies.
func TestIPRateLimit(t *testing.T) {
	e := newEnv(t, func(c *server.Config) {
		c.Throttling.IPRate, c.Throttling.IPBurst = 1, 3
	})
	for i := range 3 {
		if r := e.login0(t); r.status != 200 {
			t.Fatalf("request %d: %d", i, r.status)
		}
	}
	r := e.login0(t)
	if r.status != 429 || r.body["error"] != "temporarily_unavailable" || r.header.Get("Retry-After") != "1" {
		t.Fatalf("over the burst: %d %v %s", r.status, r.header, r.raw)
	}
	req := request{body: form("grant_type", "password", "username", "alice@example.com", "password", alicePassword), basic: []string{"conf", confSecret}}
	if r := e.doWith(t, req, "X-Forwarded-For", "198.51.100.1"); r.status != 429 {
		t.Errorf("X-Forwarded-For from an untrusted peer was believed: %d", r.status)
	}
	e.advance(time.Second)
	if r := e.login0(t); r.status != 200 {
		t.Errorf("after a second: %d", r.status)
	}

	proxied := newEnv(t, func(c *server.Config) {
		c.Throttling.IPRate, c.Throttling.IPBurst = 1, 1
		c.TrustedProxies = append(c.TrustedProxies, mustPrefix("127.0.0.0/8"))
	})
	for _, ip := range []string{"198.51.100.1", "198.51.100.2"} {
		if r := proxied.doWith(t, req, "X-Forwarded-For", ip); r.status != 200 {
			t.Errorf("client %s behind a trusted proxy: %d", ip, r.status)
		}
	}
	if r := proxied.doWith(t, req, "X-Forwarded-For", "198.51.100.1"); r.status != 429 {
		t.Errorf("client 198.51.100.1 again: %d", r.status)
	}
}

// TestThrottleSharedByInstances: two server instances on one Redis count
// one account's failures together.
func TestThrottleSharedByInstances(t *testing.T) {
	a := newEnv(t)
	b := newEnv(t, func(c *server.Config) { c.Throttle = a.tokens })
	for i := range 5 {
		e := a
		if i%2 == 1 {
			e = b
		}
		wantError(t, e.password(t, "alice@example.com", "wrong"), 400, "invalid_grant")
	}
	if r := a.login0(t); r.status != 429 {
		t.Errorf("instance a after failures at both: %d", r.status)
	}
}

func mustPrefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }

// TestClientLockoutReachesOtherInstances: a client locked out by failures
// at one instance is refused by another that had just seen it authenticate
// cleanly, at most a second later (the time an instance trusts a clean
// client without asking the store).
func TestClientLockoutReachesOtherInstances(t *testing.T) {
	a := newEnv(t)
	b := newEnv(t, func(c *server.Config) { c.Throttle = a.tokens })
	if r := a.login0(t); r.status != 200 {
		t.Fatalf("first login: %d", r.status)
	}
	bad := client{"conf", "wrong-secret-0123456789abcdefghijklmno"}
	for range 5 {
		wantError(t, b.post(t, "/oauth2/token", bad, "grant_type", "password"), 401, "invalid_client")
	}
	a.advance(time.Second)
	if r := a.login0(t); r.status != 429 {
		t.Fatalf("a second after the lockout at another instance: %d", r.status)
	}
}

// TestKnownClient: an instance remembers a client that authenticated
// cleanly for a second, so a deleted client is refused at most a second
// later; a secret rotated elsewhere is accepted at once, and the old one
// is refused as soon as the new one has been seen.
func TestKnownClient(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	svc := client{"svc", rsSecret}
	grant := func() reply { return e.post(t, "/oauth2/token", svc, "grant_type", "client_credentials") }
	if r := grant(); r.status != 200 {
		t.Fatalf("first grant: %d %s", r.status, r.body)
	}
	lookups := e.clients.lookups.Load()
	for range 3 {
		if r := grant(); r.status != 200 {
			t.Fatalf("grant of a known client: %d %s", r.status, r.body)
		}
	}
	if n := e.clients.lookups.Load() - lookups; n != 0 {
		t.Errorf("a known client was looked up %d times", n)
	}

	const rotated = "rotated-secret-0123456789abcdefghijklmn"
	if err := e.store.RotateClientSecret(ctx, "svc", server.HashSecret(rotated), 0, e.now()); err != nil {
		t.Fatal(err)
	}
	svc.secret = rotated
	if r := grant(); r.status != 200 {
		t.Fatalf("the rotated secret: %d %s", r.status, r.body)
	}
	svc.secret = rsSecret
	wantError(t, grant(), 401, "invalid_client")

	svc.secret = rotated
	if r := grant(); r.status != 200 {
		t.Fatalf("the rotated secret again: %d %s", r.status, r.body)
	}
	if err := e.store.DeleteClient(ctx, "svc"); err != nil {
		t.Fatal(err)
	}
	if r := grant(); r.status != 200 {
		t.Errorf("a deleted client within a second: %d (want the remembered record)", r.status)
	}
	e.advance(time.Second)
	wantError(t, grant(), 401, "invalid_client")
}
