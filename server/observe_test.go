package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"authserver/server"
)

// TestMetricsAfterScriptedMix drives successes, each token error code, a
// reuse detection, revocations and introspections, then checks the exact
// counters and label sets, and that no label value and no log line holds a
// secret, password or token of the test.
func TestMetricsAfterScriptedMix(t *testing.T) {
	e := newEnv(t)
	var tokens []string
	login := e.login(t, conf)
	tokens = append(tokens, login.str("access_token"), login.str("refresh_token"))
	second := e.refresh(t, conf, login.str("refresh_token"))
	tokens = append(tokens, second.str("access_token"), second.str("refresh_token"))
	e.refresh(t, conf, login.str("refresh_token")) // reuse: invalid_grant
	edLogin := e.login(t, ed)
	tokens = append(tokens, edLogin.str("access_token"), edLogin.str("refresh_token"))
	pw := func(extra ...string) []string {
		return append([]string{"grant_type", "password", "username", "alice@example.com", "password", alicePassword}, extra...)
	}
	for _, r := range []struct {
		c  client
		kv []string
	}{
		{client{"conf", "wrong-secret-0123456789abcdefghijklmno"}, pw()},                                // invalid_client
		{conf, []string{"username", "alice@example.com"}},                                               // invalid_request (no grant_type)
		{conf, []string{"grant_type", "urn:x"}},                                                         // unsupported_grant_type
		{client{"norefresh", confSecret}, pw()},                                                         // unauthorized_client
		{conf, pw("scope", "admin")},                                                                    // invalid_scope
		{conf, []string{"grant_type", "password", "username", "alice@example.com", "password", "nope"}}, // invalid_grant
	} {
		e.post(t, "/oauth2/token", r.c, r.kv...)
	}
	e.revoke(t, ed, edLogin.str("access_token"))
	e.revoke(t, ed, edLogin.str("refresh_token"))
	e.introspect(t, conf, second.str("access_token"))
	e.introspect(t, conf, "garbage")

	for _, c := range []struct {
		labels []string
		want   float64
	}{
		{[]string{"grant_type", "password", "client_id", "conf", "result", "ok"}, 1},
		{[]string{"grant_type", "password", "client_id", "ed", "result", "ok"}, 1},
		{[]string{"grant_type", "refresh_token", "client_id", "conf", "result", "ok"}, 1},
		{[]string{"grant_type", "refresh_token", "client_id", "conf", "result", "invalid_grant"}, 1},
		{[]string{"grant_type", "password", "client_id", "unknown", "result", "invalid_client"}, 1},
		{[]string{"grant_type", "other", "client_id", "conf", "result", "invalid_request"}, 1},
		{[]string{"grant_type", "other", "client_id", "conf", "result", "unsupported_grant_type"}, 1},
		{[]string{"grant_type", "password", "client_id", "norefresh", "result", "unauthorized_client"}, 1},
		{[]string{"grant_type", "password", "client_id", "conf", "result", "invalid_scope"}, 1},
		{[]string{"grant_type", "password", "client_id", "conf", "result", "invalid_grant"}, 1},
		{nil, 10},
	} {
		if got := e.metric(t, "authserver_token_requests_total", c.labels...); got != c.want {
			t.Errorf("authserver_token_requests_total%v = %v, want %v", c.labels, got, c.want)
		}
	}
	checks := map[string]float64{
		"authserver_refresh_reuse_detected_total": 1,
		"authserver_revocations_total":            2,
		"authserver_introspections_total":         2,
	}
	for name, want := range checks {
		if got := e.metric(t, name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"authserver_revocations_total", []string{"token_type", "access_token"}, 1},
		{"authserver_revocations_total", []string{"token_type", "refresh_token"}, 1},
		{"authserver_introspections_total", []string{"active", "true"}, 0}, // revoked by the reuse: the family is dead
		{"authserver_introspections_total", []string{"active", "false"}, 2},
		{"authserver_token_request_duration_seconds", []string{"grant_type", "password"}, 6},
		{"authserver_http_requests_total", []string{"handler", "token", "method", "POST", "code", "401"}, 1},
		{"authserver_http_requests_total", []string{"handler", "revoke", "code", "200"}, 2},
		{"authserver_tokenstore_operation_duration_seconds", []string{"op", "rotate", "backend", "redis"}, 2},
		{"authserver_tokenstore_errors_total", nil, 0},
		{"authserver_password_hash_duration_seconds", nil, 3}, // conf, ed, and the wrong password
		{"authserver_password_hash_in_flight", nil, 0},
	} {
		if got := e.metric(t, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}

	// No label value and no log line holds a secret of the test.
	secrets := append(tokens, confSecret, edSecret, alicePassword, "nope", "wrong-secret-0123456789abcdefghijklmno", e.alice.ID)
	families, err := e.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				for _, s := range secrets {
					if strings.Contains(l.GetValue(), s) {
						t.Errorf("%s{%s=%q} holds a secret of the test", f.GetName(), l.GetName(), l.GetValue())
					}
				}
			}
		}
	}
	logs := e.logs.String()
	for _, s := range append(secrets[:len(secrets)-1], strings.Split(tokens[1], ".")[2], strings.Split(tokens[0], ".")[2]) {
		if strings.Contains(logs, s) {
			t.Errorf("a log line holds a secret of the test: %.20s…", s)
		}
	}
}

// TestRequestLog: one line per request, with a request id (a well-formed
// incoming one is kept, anything else replaced), method, path, status,
// duration, grant type, client id and OAuth error code.
func TestRequestLog(t *testing.T) {
	e := newEnv(t)
	req := request{body: form("grant_type", "password", "username", "alice@example.com", "password", "nope"), basic: []string{"conf", confSecret}}
	r := e.doWith(t, req, "X-Request-Id", "req-123.abc")
	if r.header.Get("X-Request-Id") != "req-123.abc" {
		t.Errorf("X-Request-Id %q", r.header.Get("X-Request-Id"))
	}
	r = e.doWith(t, req, "X-Request-Id", "evil\" injected=1")
	if id := r.header.Get("X-Request-Id"); id == "" || strings.Contains(id, "evil") {
		t.Errorf("a malformed X-Request-Id was kept: %q", id)
	}
	var lines []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(e.logs.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("not a JSON log line: %s", line)
		}
		if rec["msg"] == "request" {
			lines = append(lines, rec)
		}
	}
	if len(lines) != 2 {
		t.Fatalf("%d request lines, want 2", len(lines))
	}
	first := lines[0]
	for k, v := range map[string]any{"request_id": "req-123.abc", "method": "POST", "path": "/oauth2/token", "status": float64(400),
		"handler": "token", "grant_type": "password", "client_id": "conf", "error": "invalid_grant"} {
		if first[k] != v {
			t.Errorf("log %s = %v, want %v", k, first[k], v)
		}
	}
	if _, ok := first["duration_ms"].(float64); !ok {
		t.Errorf("no duration_ms: %v", first)
	}
}

// TestReadyz: 200 when every check passes, else 503 naming the failing
// checks, without their causes.
func TestReadyz(t *testing.T) {
	failing := errors.New("dial tcp 10.1.2.3:6379: connection refused")
	var redisErr error
	e := newEnv(t, func(c *server.Config) {
		c.Checks = []server.Check{
			{Name: "database", Run: func(ctx context.Context) error { return nil }},
			{Name: "redis", Run: func(ctx context.Context) error { return redisErr }},
		}
	})
	if r := e.get(t, "/readyz"); r.status != 200 || r.body["status"] != "ready" {
		t.Errorf("ready: %d %s", r.status, r.raw)
	}
	redisErr = failing
	r := e.get(t, "/readyz")
	checks, _ := r.body["checks"].(map[string]any)
	if r.status != 503 || r.body["status"] != "not ready" || checks["redis"] != "failing" || checks["database"] != "ok" {
		t.Errorf("not ready: %d %s", r.status, r.raw)
	}
	if strings.Contains(string(r.raw), "10.1.2.3") {
		t.Errorf("a cause leaked: %s", r.raw)
	}
	if !strings.Contains(e.logs.String(), "10.1.2.3") {
		t.Error("the cause was not logged")
	}
}
