package server_test

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/crypto/argon2"

	"authserver/server"
	"authserver/userstore"
)

// BenchmarkPasswordGrant measures whole password-grant requests over
// loopback HTTP with the default Argon2id parameters, beside its ceiling: the
// raw Argon2id computation at the same parameters, in the same run.
func BenchmarkPasswordGrant(b *testing.B) {
	testParams = userstore.DefaultParams
	defer func() { testParams = userstore.Params{Memory: 64, Time: 1, Threads: 1} }()
	e := newEnv(b)
	body := form("grant_type", "password", "username", "alice@example.com", "password", alicePassword)
	b.Run("token", func(b *testing.B) {
		for b.Loop() {
			req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/oauth2/token", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth(url.QueryEscape("odd:id"), url.QueryEscape(oddSecret)) // no refresh grant: no Redis
			if r := send(b, req); r.status != http.StatusOK {
				b.Fatalf("status %d: %s", r.status, r.raw)
			}
		}
	})
	b.Run("argon2id_ceiling", func(b *testing.B) {
		p := userstore.DefaultParams
		salt := make([]byte, 16)
		for b.Loop() {
			argon2.IDKey([]byte(alicePassword), salt, p.Time, p.Memory, p.Threads, 32)
		}
	})
}

// BenchmarkRefreshGrant measures whole refresh-grant requests over loopback
// HTTP against a real Redis, each a valid rotation of the chain, and reports
// the Redis round trips per refresh; beside it, the raw signature of the
// same algorithm in the same run.
func BenchmarkRefreshGrant(b *testing.B) {
	for _, tc := range []struct {
		alg  string
		c    client
		sign func() error
	}{
		{"EdDSA", ed, ed25519Ceiling()},
		{"RS256", conf, rsaCeiling(b)},
	} {
		e := newEnv(b)
		b.Run(tc.alg, func(b *testing.B) {
			rt := e.login(b, tc.c).str("refresh_token")
			start := e.roundTrips.n.Load()
			for b.Loop() {
				r := e.refresh(b, tc.c, rt)
				if r.status != http.StatusOK {
					b.Fatalf("status %d: %s", r.status, r.raw)
				}
				rt = r.str("refresh_token")
			}
			b.ReportMetric(float64(e.roundTrips.n.Load()-start)/float64(b.N), "redis_round_trips/op")
		})
		b.Run(tc.alg+"_signing_ceiling", func(b *testing.B) {
			for b.Loop() {
				if err := tc.sign(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func ed25519Ceiling() func() error {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	msg := make([]byte, 600)
	return func() error { ed25519.Sign(priv, msg); return nil }
}

func rsaCeiling(b *testing.B) func() error {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		b.Fatal(err)
	}
	sum := sha256.Sum256(make([]byte, 600))
	return func() error {
		_, err := rsa.SignPKCS1v15(nil, priv, crypto.SHA256, sum[:])
		return err
	}
}

// BenchmarkJWKS measures JWKS requests over loopback HTTP, with parallel
// clients, beside its ceiling in the same run: a handler that writes the
// same bytes with no logic at all.
func BenchmarkJWKS(b *testing.B) {
	e := newEnv(b)
	body, _ := e.keys.JWKS()
	static := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.Write(body)
	}))
	defer static.Close()
	for _, tc := range []struct{ name, url string }{
		{"jwks", e.srv.URL + "/.well-known/jwks.json"},
		{"static_ceiling", static.URL},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					resp, err := http.Get(tc.url)
					if err != nil {
						b.Fatal(err)
					}
					n, _ := io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 || n != int64(len(body)) {
						b.Fatalf("status %d, %d bytes", resp.StatusCode, n)
					}
				}
			})
		})
	}
}

// BenchmarkInstrumentation measures the cost of metrics and the request log
// on the cheapest token request (an EdDSA refresh over loopback HTTP on
// Redis): with the Prometheus observer, and with none, in the same run.
func BenchmarkInstrumentation(b *testing.B) {
	for _, tc := range []struct {
		name      string
		configure func(*server.Config)
	}{
		{"metrics", func(*server.Config) {}},
		{"no_metrics_ceiling", func(c *server.Config) { c.Observer = nil }},
	} {
		e := newEnv(b, tc.configure)
		b.Run(tc.name, func(b *testing.B) {
			rt := e.login(b, ed).str("refresh_token")
			for b.Loop() {
				r := e.refresh(b, ed, rt)
				if r.status != http.StatusOK {
					b.Fatalf("status %d: %s", r.status, r.raw)
				}
				rt = r.str("refresh_token")
			}
		})
	}
}

// BenchmarkEnumerationTiming compares, over 200 samples each, the median
// latency of a login with an unknown username and one with a wrong
// password, at the default Argon2id parameters: they must be within 10% of
// each other, so that timing does not tell which accounts exist.
func BenchmarkEnumerationTiming(b *testing.B) {
	testParams = userstore.DefaultParams
	defer func() { testParams = userstore.Params{Memory: 64, Time: 1, Threads: 1} }()
	e := newEnv(b)
	// alice's hash was made with the default parameters above, so no
	// rehash runs on the wrong-password path.
	median := func(user string) time.Duration {
		samples := make([]time.Duration, 200)
		for i := range samples {
			start := time.Now()
			r := e.post(b, "/oauth2/token", client{"odd:id", oddSecret}, "grant_type", "password", "username", user, "password", "wrong")
			samples[i] = time.Since(start)
			if r.status != http.StatusBadRequest {
				b.Fatalf("status %d: %s", r.status, r.raw)
			}
		}
		slices.Sort(samples)
		return samples[len(samples)/2]
	}
	for b.Loop() {
		unknown, wrong := median("nobody@example.com"), median("alice@example.com")
		b.ReportMetric(float64(unknown.Microseconds())/1000, "unknown_user_median_ms")
		b.ReportMetric(float64(wrong.Microseconds())/1000, "wrong_password_median_ms")
		b.ReportMetric(float64(unknown)/float64(wrong), "ratio")
	}
}

// BenchmarkClientAuthentication measures client_secret_basic
// authentication of a token request in process (lookup in SQLite, lockout
// check in Redis, constant-time hash comparison), through a
// client_credentials grant that fails at the grant so no token is signed,
// beside its ceiling: SHA-256 of the secret alone.
func BenchmarkClientAuthentication(b *testing.B) {
	e := newEnv(b)
	// invalid_scope: after authentication, before any token.
	b.Run("authenticate", inProcess(e, form("grant_type", "client_credentials", "scope", "write"), http.StatusBadRequest))
	b.Run("sha256_ceiling", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			server.HashSecret(rsSecret)
		}
	})
}

// BenchmarkClientCredentialsGrant measures a whole client_credentials
// request of an EdDSA client in process (form, authentication of a client
// the server remembers, claims, signature, response, log line and
// metrics), beside its ceiling: the Ed25519 signature alone.
func BenchmarkClientCredentialsGrant(b *testing.B) {
	e := newEnv(b)
	b.Run("token", inProcess(e, form("grant_type", "client_credentials"), http.StatusOK))
	sign := ed25519Ceiling()
	b.Run("ed25519_ceiling", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sign()
		}
	})
}

// BenchmarkIntrospection measures introspections of one access token over
// loopback HTTP, as a resource server makes on every request it serves,
// and reports the Redis round trips per introspection; beside it, in the
// same run, the one round trip it cannot avoid: a Redis PING.
func BenchmarkIntrospection(b *testing.B) {
	e := newEnv(b)
	at := e.login(b, ed).str("access_token")
	b.Run("introspect", func(b *testing.B) {
		b.ReportAllocs()
		start := e.roundTrips.n.Load()
		for b.Loop() {
			if r := e.introspect(b, ed, at); r.body["active"] != true {
				b.Fatalf("introspect: %d %s", r.status, r.raw)
			}
		}
		b.ReportMetric(float64(e.roundTrips.n.Load()-start)/float64(b.N), "redis_round_trips/op")
	})
	b.Run("redis_ping_ceiling", func(b *testing.B) {
		opt, err := redis.ParseURL(e.redis.URL)
		if err != nil {
			b.Fatal(err)
		}
		rdb := redis.NewClient(opt)
		defer rdb.Close()
		b.ReportAllocs()
		for b.Loop() {
			if err := rdb.Ping(b.Context()).Err(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// inProcess returns a benchmark of token requests with body by the client
// svc, served by e's handler in process, each answered with status.
func inProcess(e *env, body string, status int) func(*testing.B) {
	return func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			req := httptest.NewRequest(http.MethodPost, "/oauth2/token", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth("svc", rsSecret)
			rec := httptest.NewRecorder()
			e.handler.ServeHTTP(rec, req)
			if rec.Code != status {
				b.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
		}
	}
}
