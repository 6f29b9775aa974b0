package main

import (
	"crypto/rand"
	"encoding/base64"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"authserver/tokenstore/redistest"
	"authserver/userstore/pgtest"
)

// BenchmarkReplicas measures client_credentials (EdDSA) throughput of one
// replica and of two replicas on one PostgreSQL and one Redis, driven by 16
// closed-loop workers for 3 s each, on this machine. Run it with
// -benchtime 1x: every iteration is one whole measurement.
func BenchmarkReplicas(b *testing.B) {
	dir, settings := production(b)
	secret := strings.TrimSpace(mustCLI(b, dir, "", append([]string{"client", "create", "--id", "svc", "--grant", "client_credentials", "--alg", "EdDSA"}, settings...)...))
	args := append([]string{"--no-bootstrap", "--no-migrate", "--issuer", "https://auth.example.com", "--ip-rate-limit", "0"}, settings...)
	one, two := startServer(b, dir, args...), startServer(b, dir, args...)
	for b.Loop() {
		single := throughput(b, []string{one.url}, secret)
		pair := throughput(b, []string{one.url, two.url}, secret)
		b.ReportMetric(single, "rps_1_replica")
		b.ReportMetric(pair, "rps_2_replicas")
		b.ReportMetric(pair/single, "ratio")
	}
}

// throughput runs 16 workers for 3 s against the servers, round robin, and
// returns the successful token requests per second.
func throughput(b *testing.B, urls []string, secret string) float64 {
	var ok, failed atomic.Int64
	deadline := time.Now().Add(3 * time.Second)
	var wg sync.WaitGroup
	body := url.Values{"grant_type": {"client_credentials"}}.Encode()
	for w := range 16 {
		wg.Go(func() {
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
			for i := w; time.Now().Before(deadline); i++ {
				req, _ := http.NewRequest(http.MethodPost, urls[i%len(urls)]+"/oauth2/token", strings.NewReader(body))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.SetBasicAuth("svc", secret)
				resp, err := client.Do(req)
				if err != nil {
					failed.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == 200 {
					ok.Add(1)
				} else {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if failed.Load() > 0 {
		b.Errorf("%d requests failed", failed.Load())
	}
	return float64(ok.Load()) / 3
}

// BenchmarkPasswordGrantDatabases compares the median latency of a password
// grant at the default Argon2id parameters with the users in SQLite and in
// PostgreSQL, one request at a time, 50 each.
func BenchmarkPasswordGrantDatabases(b *testing.B) {
	k := make([]byte, 32)
	rand.Read(k)
	b.Setenv("AUTHSERVER_KEY_ENCRYPTION_KEY", base64.StdEncoding.EncodeToString(k))
	redis := redistest.Start(b).URL
	for _, db := range []struct{ name, url string }{{"sqlite", ""}, {"postgres", pgtest.Open(b)}} {
		settings := append([]string{"--redis-url", redis}, defaultArgon2...)
		if db.url != "" {
			settings = append(settings, "--database-url", db.url)
		}
		dir := b.TempDir()
		mustCLI(b, dir, "", append([]string{"migrate"}, settings...)...)
		mustCLI(b, dir, "pw\n", append([]string{"user", "create", "--email", "carol@example.com", "--password-stdin"}, settings...)...)
		secret := strings.TrimSpace(mustCLI(b, dir, "", append([]string{"client", "create", "--id", "app", "--grant", "password"}, settings...)...))
		s := startServer(b, dir, append([]string{"--no-bootstrap", "--ip-rate-limit", "0"}, settings...)...)
		b.Run(db.name, func(b *testing.B) {
			for b.Loop() {
				samples := make([]time.Duration, 50)
				for i := range samples {
					start := time.Now()
					if code, body := s.post(b, "/oauth2/token", secret, "grant_type", "password", "username", "carol@example.com", "password", "pw"); code != 200 {
						b.Fatalf("%d %v", code, body)
					}
					samples[i] = time.Since(start)
				}
				slices.Sort(samples)
				b.ReportMetric(float64(samples[25].Microseconds())/1000, "median_ms")
			}
		})
		s.stop(b)
	}
}
