package metrics

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func newMetrics(t *testing.T, o Options) (*Metrics, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	m, err := New(reg, o)
	if err != nil {
		t.Fatal(err)
	}
	return m, reg
}

// TestObserver: each observation lands in its series with its labels.
func TestObserver(t *testing.T) {
	m, reg := newMetrics(t, Options{PerClient: true, Backend: "redis"})
	m.TokenRequest("password", "app", "ok", 10*time.Millisecond)
	m.TokenRequest("password", "unknown", "invalid_client", time.Millisecond)
	m.RefreshReused()
	m.Revocation("refresh_token")
	m.Introspection(false)
	m.TokenStoreOp("rotate", time.Millisecond, nil)
	m.TokenStoreOp("rotate", time.Millisecond, errors.New("down"))
	m.HashStarted()
	m.HashStarted()
	m.HashFinished(20 * time.Millisecond)
	m.HTTPRequest("token", "POST", 200, time.Millisecond)
	m.HTTPRequest("token", "BREW", 405, time.Millisecond)

	want := `
# HELP authserver_token_requests_total Token endpoint requests by grant type, client and result (ok or the OAuth error code).
# TYPE authserver_token_requests_total counter
authserver_token_requests_total{client_id="app",grant_type="password",result="ok"} 1
authserver_token_requests_total{client_id="unknown",grant_type="password",result="invalid_client"} 1
# HELP authserver_refresh_reuse_detected_total Rotated refresh tokens presented again; each revoked its family (RFC 9700 §4.14.2).
# TYPE authserver_refresh_reuse_detected_total counter
authserver_refresh_reuse_detected_total 1
# HELP authserver_revocations_total Tokens revoked at the revocation endpoint (RFC 7009), by token type.
# TYPE authserver_revocations_total counter
authserver_revocations_total{token_type="refresh_token"} 1
# HELP authserver_introspections_total Introspection answers (RFC 7662), by whether the token was active.
# TYPE authserver_introspections_total counter
authserver_introspections_total{active="false"} 1
# HELP authserver_tokenstore_errors_total Token store operations that failed (an outage, not an answer), by operation and backend.
# TYPE authserver_tokenstore_errors_total counter
authserver_tokenstore_errors_total{backend="redis",op="rotate"} 1
# HELP authserver_password_hash_in_flight Argon2id computations running now.
# TYPE authserver_password_hash_in_flight gauge
authserver_password_hash_in_flight 1
# HELP authserver_http_requests_total HTTP requests by handler, method and status code.
# TYPE authserver_http_requests_total counter
authserver_http_requests_total{code="200",handler="token",method="POST"} 1
authserver_http_requests_total{code="405",handler="token",method="other"} 1
`
	names := []string{"authserver_token_requests_total", "authserver_refresh_reuse_detected_total", "authserver_revocations_total",
		"authserver_introspections_total", "authserver_tokenstore_errors_total", "authserver_password_hash_in_flight", "authserver_http_requests_total"}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}
	for name, n := range map[string]int{"authserver_token_request_duration_seconds": 1, "authserver_tokenstore_operation_duration_seconds": 1,
		"authserver_password_hash_duration_seconds": 1, "authserver_http_request_duration_seconds": 1} {
		if got, err := testutil.GatherAndCount(reg, name); err != nil || got != n {
			t.Errorf("%s: %d series, %v", name, got, err)
		}
	}
	if _, err := New(reg, Options{}); err == nil {
		t.Error("registering twice on one registry succeeded")
	}
}

// TestWithoutPerClient: --metrics-per-client=false drops client_id.
func TestWithoutPerClient(t *testing.T) {
	m, reg := newMetrics(t, Options{})
	m.TokenRequest("refresh_token", "app", "ok", time.Millisecond)
	want := `
# HELP authserver_token_requests_total Token endpoint requests by grant type, client and result (ok or the OAuth error code).
# TYPE authserver_token_requests_total counter
authserver_token_requests_total{grant_type="refresh_token",result="ok"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "authserver_token_requests_total"); err != nil {
		t.Error(err)
	}
}

// TestScrapeTimeCollectors: signing keys and readiness are read at scrape.
func TestScrapeTimeCollectors(t *testing.T) {
	m, reg := newMetrics(t, Options{})
	now := time.Unix(1_000_000, 0)
	keys := []Key{{"RS256", "active", now.Add(-time.Hour)}, {"RS256", "retired", now.Add(-48 * time.Hour)}, {"EdDSA", "active", now.Add(-time.Minute)}, {"EdDSA", "next", time.Time{}}}
	if err := m.WatchKeys(30*24*time.Hour, func() []Key { return keys }, func() time.Time { return now }); err != nil {
		t.Fatal(err)
	}
	redis := errors.New("down")
	if err := m.WatchReadiness(func(context.Context) []Check { return []Check{{"database", nil}, {"redis", redis}} }); err != nil {
		t.Fatal(err)
	}
	want := `
# HELP authserver_signing_keys Signing keys by algorithm and state (next, active, retired).
# TYPE authserver_signing_keys gauge
authserver_signing_keys{alg="EdDSA",state="active"} 1
authserver_signing_keys{alg="EdDSA",state="next"} 1
authserver_signing_keys{alg="EdDSA",state="retired"} 0
authserver_signing_keys{alg="RS256",state="active"} 1
authserver_signing_keys{alg="RS256",state="next"} 0
authserver_signing_keys{alg="RS256",state="retired"} 1
# HELP authserver_signing_key_age_seconds Seconds since the active key of each algorithm activated.
# TYPE authserver_signing_key_age_seconds gauge
authserver_signing_key_age_seconds{alg="EdDSA"} 60
authserver_signing_key_age_seconds{alg="RS256"} 3600
# HELP authserver_signing_key_rotation_period_seconds The configured rotation period of the signing keys.
# TYPE authserver_signing_key_rotation_period_seconds gauge
authserver_signing_key_rotation_period_seconds 2.592e+06
# HELP authserver_ready 1 when the readiness check passes, else 0.
# TYPE authserver_ready gauge
authserver_ready{check="database"} 1
authserver_ready{check="redis"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "authserver_signing_keys", "authserver_signing_key_age_seconds",
		"authserver_signing_key_rotation_period_seconds", "authserver_ready"); err != nil {
		t.Error(err)
	}
}
