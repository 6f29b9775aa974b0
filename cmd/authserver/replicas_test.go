package main

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"authserver/tokenstore/redistest"
	"authserver/userstore/pgtest"
)

// TestReplicas runs three `authserver serve` processes on one PostgreSQL and
// one Redis, behind one issuer, and checks that they act as one server.
func TestReplicas(t *testing.T) {
	dir, settings := production(t)
	mustCLI(t, dir, "carol's password\n", append([]string{"user", "create", "--email", "carol@example.com", "--password-stdin"}, settings...)...)
	secret := strings.TrimSpace(mustCLI(t, dir, "", append([]string{"client", "create", "--id", "app", "--grant", "password", "--grant", "refresh_token", "--alg", "EdDSA"}, settings...)...))
	// Keys rotate every 4 s: published 2.2 s (1 s max-age + 0.2 s poll + 1 s
	// margin) before they sign.
	replicaArgs := append([]string{"--no-bootstrap", "--no-migrate", "--issuer", "https://auth.example.com",
		"--jwks-max-age", "1s", "--key-poll-interval", "200ms", "--key-rotation-period", "4s", "--ip-rate-limit", "0", "--refresh-retry-window", "10s"}, settings...)
	var replicas []*served
	for range 3 {
		replicas = append(replicas, startServer(t, dir, replicaArgs...))
	}
	a, b, c := replicas[0], replicas[1], replicas[2]
	refresh := func(s *served, token string) (int, map[string]any) {
		return s.post(t, "/oauth2/token", secret, "grant_type", "refresh_token", "refresh_token", token)
	}

	// A refresh token issued by one replica rotates at another; replaying
	// an old one (older than the retry window's one previous token) at a
	// third revokes the family everywhere.
	r0 := login(t, a, secret)["refresh_token"].(string)
	code, r1 := refresh(b, r0)
	if code != 200 {
		t.Fatalf("rotation at another replica: %d %v", code, r1)
	}
	code, r2 := refresh(a, r1["refresh_token"].(string))
	if code != 200 {
		t.Fatalf("second rotation: %d %v", code, r2)
	}
	if code, _ := refresh(c, r0); code != 400 {
		t.Fatalf("replay at a third replica: %d", code)
	}
	if code, _ := refresh(a, r2["refresh_token"].(string)); code != 400 {
		t.Fatalf("the family survived the reuse at another replica: %d", code)
	}

	// A revocation at one is seen by introspection at another at once.
	at := login(t, a, secret)["access_token"].(string)
	if code, _ := b.post(t, "/oauth2/revoke", secret, "token", at); code != 200 {
		t.Fatalf("revoke: %d", code)
	}
	if _, body := c.post(t, "/oauth2/introspect", secret, "token", at); body["active"] != false {
		t.Fatalf("introspection at another replica after revocation: %v", body)
	}

	// Keys: every transition performed by exactly one replica, adopted by
	// all, which serve byte-identical JWKS.
	time.Sleep(9 * time.Second) // two rotation periods
	jwks := func(s *served) (string, string) {
		resp, err := http.Get(s.url + "/.well-known/jwks.json")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return string(body), resp.Header.Get("ETag")
	}
	var same bool
	for range 20 { // a transition may be in its poll interval right now
		bodyA, etagA := jwks(a)
		bodyB, etagB := jwks(b)
		bodyC, etagC := jwks(c)
		if same = bodyA == bodyB && bodyB == bodyC && etagA == etagB && etagB == etagC; same {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !same {
		t.Error("the replicas serve different JWKS")
	}
	transitions := map[string]int{}
	for _, s := range replicas {
		for _, rec := range s.logRecords(t) {
			if rec["event"] == "signing_key_transition" {
				transitions[rec["msg"].(string)]++
			}
		}
	}
	published := 0
	for msg, n := range transitions {
		if n != 1 {
			t.Errorf("%q performed %d times", msg, n)
		}
		if strings.Contains(msg, "published as next") {
			published++
		}
	}
	if published < 2 {
		t.Errorf("%d keys published in two rotation periods: %v", published, transitions)
	}

	// Killing a replica mid-load loses no family: every refresh token a
	// client received still refreshes at another replica. A rotation whose
	// answer died with the replica is recovered by the retry window: the
	// client's retry with its last token gets the successor it missed.
	var mu sync.Mutex
	latest := make([]string, 8)
	for i := range latest {
		latest[i] = login(t, b, secret)["refresh_token"].(string)
	}
	var wg sync.WaitGroup
	for i, token := range latest {
		wg.Go(func() {
			for {
				next, err := tryRefresh(b.url, secret, token)
				if err != nil {
					return // b is gone: the client keeps its last token
				}
				token = next
				mu.Lock()
				latest[i] = token
				mu.Unlock()
			}
		})
	}
	time.Sleep(300 * time.Millisecond)
	b.cmd.Process.Kill()
	wg.Wait()
	for i, token := range latest {
		if code, body := refresh(a, token); code != 200 {
			t.Errorf("chain %d: the last refresh token a client received does not refresh at another replica: %d %v", i, code, body)
		}
	}
	a.stop(t)
	c.stop(t)
}

// tryRefresh refreshes token at the server at url, or fails when the server
// does not answer 200.
func tryRefresh(url, secret, token string) (string, error) {
	req, _ := http.NewRequest(http.MethodPost, url+"/oauth2/token", strings.NewReader("grant_type=refresh_token&refresh_token="+token))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("app", secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var body struct {
		RefreshToken string `json:"refresh_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != 200 {
		return "", fmt.Errorf("status %d", resp.StatusCode)
	}
	return body.RefreshToken, nil
}

// production sets up a production configuration for a test: a new
// PostgreSQL database, migrated, a throwaway Redis and a key-encryption key
// in the environment. It returns a data dir and the settings every command
// needs.
func production(t testing.TB) (dir string, settings []string) {
	k := make([]byte, 32)
	rand.Read(k)
	t.Setenv("AUTHSERVER_KEY_ENCRYPTION_KEY", base64.StdEncoding.EncodeToString(k))
	settings = []string{"--database-url", pgtest.Open(t), "--redis-url", redistest.Start(t).URL}
	dir = t.TempDir()
	mustCLI(t, dir, "", append([]string{"migrate"}, settings...)...)
	return dir, settings
}
