package verify_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"authserver/keys"
	"authserver/keys/verify"
	"authserver/server"
	"authserver/tokenstore/sqlstore"
	"authserver/userstore"
)

// TestZeroDowntimeRotation runs authserver's real key manager, rotating
// every 3 s with a 1 s JWKS max-age, while tokens are issued over HTTP and
// verified continuously by the kit, which caches the JWKS for the served
// max-age. Every token verifies until its exp, and every token's kid was in
// every JWKS served during the max-age before the token was issued: a
// resource server holding any cached JWKS never meets an unknown kid.
func TestZeroDowntimeRotation(t *testing.T) {
	const (
		maxAge    = time.Second
		poll      = 100 * time.Millisecond
		accessTTL = 2 * time.Second
		period    = 3 * time.Second
		run       = 10 * time.Second
	)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	store, err := userstore.Open(ctx, filepath.Join(t.TempDir(), "authserver.db"), userstore.Params{Memory: 64, Time: 1, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	policy := keys.Policy{Period: period, Publish: maxAge + poll + 300*time.Millisecond, Retain: accessTTL + poll + 300*time.Millisecond, RSABits: 2048}
	manager, err := keys.NewManager(store, bytes.Repeat([]byte{3}, keys.KEKSize), policy, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := manager.Step(ctx); err != nil {
		t.Fatal(err)
	}
	go manager.Run(ctx, poll, slog.New(slog.NewTextHandler(io.Discard, nil)))

	hash, err := userstore.Params{Memory: 64, Time: 1, Threads: 1}.Hash("pw")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.CreateUser(ctx, server.User{Email: "alice@example.com", Active: true}, hash); err != nil {
		t.Fatal(err)
	}
	for _, c := range []server.Client{
		{ID: "rs", SecretHash: server.HashSecret("rs-secret"), Grants: []string{"password"}, Alg: server.RS256},
		{ID: "ed", SecretHash: server.HashSecret("ed-secret"), Grants: []string{"password"}, Alg: server.EdDSA},
	} {
		if _, err := store.CreateClient(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	state := sqlstore.New(store.DB(), sqlstore.Options{Grace: time.Minute})
	backoff := server.Backoff{Limit: 5, Window: time.Minute, Base: time.Second, Max: time.Minute}
	var handler http.Handler
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handler.ServeHTTP(w, r) }))
	defer ts.Close()
	srv, err := server.New(server.Config{
		Issuer: ts.URL, AccessTokenTTL: accessTTL, JWKSMaxAge: maxAge,
		RefreshIdle: time.Hour, RefreshLifetime: time.Hour,
		Users: store, Clients: store, Signer: manager, Tokens: state, Throttle: state,
		Throttling: server.Throttling{Login: backoff, Client: backoff},
	})
	if err != nil {
		t.Fatal(err)
	}
	handler = srv.Handler()

	// Record every JWKS the server serves, as a resource server would see
	// it, every 50 ms.
	type served struct {
		at   time.Time
		body string
	}
	var mu sync.Mutex
	var jwks []served
	var wg sync.WaitGroup
	wg.Go(func() {
		for ctx.Err() == nil {
			at := time.Now()
			resp, err := http.Get(ts.URL + "/.well-known/jwks.json")
			if err != nil {
				return
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.Header.Get("Cache-Control") != "public, max-age=1" {
				t.Errorf("Cache-Control %q", resp.Header.Get("Cache-Control"))
			}
			mu.Lock()
			jwks = append(jwks, served{at, string(body)})
			mu.Unlock()
			time.Sleep(50 * time.Millisecond)
		}
	})
	defer func() { cancel(); wg.Wait() }()

	v, err := verify.New(ctx, ts.URL, verify.Options{Audience: ts.URL, RefreshInterval: maxAge})
	if err != nil {
		t.Fatal(err)
	}
	type issued struct {
		token, kid, alg string
		at, exp         time.Time
	}
	var tokens []issued
	kids := map[string]map[string]bool{keys.RS256: {}, keys.EdDSA: {}}
	deadline := time.Now().Add(run)
	for i := 0; time.Now().Before(deadline); i++ {
		c, secret, alg := "rs", "rs-secret", keys.RS256
		if i%2 == 1 {
			c, secret, alg = "ed", "ed-secret", keys.EdDSA
		}
		at := time.Now()
		tok := login(t, ts.URL, c, secret)
		kid := kidOf(t, tok)
		kids[alg][kid] = true
		tokens = append(tokens, issued{tok, kid, alg, at, at.Add(accessTTL)})
		for _, old := range tokens {
			if time.Until(old.exp) < 100*time.Millisecond {
				continue
			}
			if _, err := v.Verify(ctx, old.token); err != nil {
				t.Fatalf("%s token of key %s issued %v ago failed to verify: %v", old.alg, old.kid, time.Since(old.at), err)
			}
		}
		time.Sleep(25 * time.Millisecond)
	}
	for alg, seen := range kids {
		if len(seen) < 3 {
			t.Errorf("%s: %d keys signed in %v, want at least 3 (two rotations)", alg, len(seen), run)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for _, tok := range tokens {
		for _, s := range jwks {
			if s.at.After(tok.at.Add(-maxAge)) && s.at.Before(tok.at) && !strings.Contains(s.body, tok.kid) {
				t.Fatalf("a JWKS served %v before a token of key %s was issued lacks the key: a cache holding it meets an unknown kid", tok.at.Sub(s.at), tok.kid)
			}
		}
	}
}

func login(t *testing.T, issuer, client, secret string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, issuer+"/oauth2/token", strings.NewReader(
		url.Values{"grant_type": {"password"}, "username": {"alice@example.com"}, "password": {"pw"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(client, secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != 200 {
		t.Fatalf("login as %s: %d %v", client, resp.StatusCode, err)
	}
	return body.AccessToken
}

func kidOf(t *testing.T, token string) string {
	t.Helper()
	header, err := base64.RawURLEncoding.DecodeString(strings.Split(token, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var h struct {
		KID string `json:"kid"`
	}
	if err := json.Unmarshal(header, &h); err != nil {
		t.Fatal(err)
	}
	return h.KID
}
