package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"authserver/tokenstore/redistest"
)

// tokenReply posts a form to the server as client app and decodes the reply.
func (s *served) post(t testing.TB, path, secret string, kv ...string) (int, map[string]any) {
	t.Helper()
	form := url.Values{}
	for i := 0; i < len(kv); i += 2 {
		form.Set(kv[i], kv[i+1])
	}
	req, err := http.NewRequest(http.MethodPost, s.url+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("app", secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body
}

// setUp creates client app and user carol in dir and returns app's secret.
func setUp(t testing.TB, dir string, settings ...string) string {
	t.Helper()
	mustCLI(t, dir, "carol's password\n", append([]string{"user", "create", "--email", "carol@example.com", "--password-stdin"}, settings...)...)
	return strings.TrimSpace(mustCLI(t, dir, "", append([]string{"client", "create", "--id", "app", "--grant", "password", "--grant", "refresh_token", "--scope", "read"}, settings...)...))
}

func login(t testing.TB, s *served, secret string) map[string]any {
	t.Helper()
	code, body := s.post(t, "/oauth2/token", secret, "grant_type", "password", "username", "carol@example.com", "password", "carol's password")
	if code != 200 {
		t.Fatalf("login: %d %v", code, body)
	}
	return body
}

// TestTokenStores runs one life of a login against each token store: the
// embedded one in the SQLite file, and Redis through --redis-url, directly
// and through a Sentinel. The
// command line's user changes cut off the user's tokens in the same store.
func TestTokenStores(t *testing.T) {
	for _, store := range []string{"embedded", "redis", "sentinel"} {
		t.Run(store, func(t *testing.T) {
			dir := t.TempDir()
			var settings []string
			switch store {
			case "redis":
				settings = []string{"--redis-url", redistest.Start(t).URL}
			case "sentinel":
				settings = []string{"--redis-url", redistest.StartSentinel(t, redistest.Start(t)).URL()}
			}
			secret := setUp(t, dir, settings...)
			s := startServer(t, dir, settings...)
			first := login(t, s, secret)
			code, second := s.post(t, "/oauth2/token", secret, "grant_type", "refresh_token", "refresh_token", first["refresh_token"].(string))
			if code != 200 {
				t.Fatalf("refresh: %d %v", code, second)
			}
			// The token store survives a restart of the server.
			s = s.restart(t)
			if code, body := s.post(t, "/oauth2/introspect", secret, "token", second["access_token"].(string)); code != 200 || body["active"] != true {
				t.Fatalf("introspect after restart: %d %v", code, body)
			}
			mustCLI(t, dir, "a new password\n", append([]string{"user", "set-password", "--email", "carol@example.com", "--password-stdin"}, settings...)...)
			if code, body := s.post(t, "/oauth2/introspect", secret, "token", second["access_token"].(string)); code != 200 || body["active"] != false {
				t.Errorf("access token after a password change: %d %v", code, body)
			}
			if code, body := s.post(t, "/oauth2/token", secret, "grant_type", "refresh_token", "refresh_token", second["refresh_token"].(string)); code != 400 || body["error"] != "invalid_grant" {
				t.Errorf("refresh after a password change: %d %v", code, body)
			}
			if code, _ := s.post(t, "/oauth2/token", secret, "grant_type", "password", "username", "carol@example.com", "password", "carol's password"); code != 400 {
				t.Errorf("the old password still logs in: %d", code)
			}
			s.stop(t)
		})
	}
}

// TestDisableCutsOffAndReuseIsCounted: `user disable` makes the user's
// access tokens inactive at once; a replayed refresh token shows in
// authserver_refresh_reuse_detected_total and in a warning log line.
func TestDisableCutsOffAndReuseIsCounted(t *testing.T) {
	dir := t.TempDir()
	secret := setUp(t, dir)
	s := startServer(t, dir)
	first := login(t, s, secret)
	rt := first["refresh_token"].(string)
	if code, _ := s.post(t, "/oauth2/token", secret, "grant_type", "refresh_token", "refresh_token", rt); code != 200 {
		t.Fatalf("refresh: %d", code)
	}
	if code, _ := s.post(t, "/oauth2/token", secret, "grant_type", "refresh_token", "refresh_token", rt); code != 400 {
		t.Fatalf("reuse: %d", code)
	}
	resp, err := http.Get(s.metrics)
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(metrics), "authserver_refresh_reuse_detected_total 1") || !strings.Contains(string(metrics), "process_resident_memory_bytes") {
		t.Errorf("metrics:\n%s", metrics)
	}
	var warned bool
	for _, rec := range s.logRecords(t) {
		if rec["event"] == "refresh_reuse_detected" && rec["level"] == "WARN" && rec["client_id"] == "app" {
			warned = true
		}
	}
	if !warned || strings.Contains(s.readLog(t), strings.Split(rt, ".")[2]) {
		t.Errorf("reuse log:\n%s", s.readLog(t))
	}

	fresh := login(t, s, secret)
	mustCLI(t, dir, "", "user", "disable", "--email", "carol@example.com")
	if code, body := s.post(t, "/oauth2/introspect", secret, "token", fresh["access_token"].(string)); body["active"] != false {
		t.Errorf("access token of a disabled user: %d %v", code, body)
	}
	s.stop(t)
}

// TestRedisURLs: the accepted --redis-url forms and the refused ones.
func TestRedisURLs(t *testing.T) {
	for raw, ok := range map[string]bool{
		"redis://127.0.0.1:6379/0":                                     true,
		"rediss://user:pw@cache:6380/2":                                true,
		"redis://h:1?dial_timeout=5s":                                  true,
		"redis+sentinel://s1:26379?master_name=mymaster&addr=s2:26379": true,
		"redis+sentinel://s1:26379":                                    false,
		"redis+cluster://n1:7000?addr=n2:7000&addr=n3:7000":            true,
		"rediss+cluster://n1:7000":                                     true,
		"http://x":                                                     false,
		"redis+other://x:1":                                            false,
		"redis://h:1?no_such_option=1":                                 false,
	} {
		connect, err := redisConnector(raw)
		if (err == nil) != ok {
			t.Errorf("%s: err %v, want ok=%v", raw, err, ok)
		}
		if err == nil {
			connect().Close()
		}
	}
}

// TestDurationSettings: durations take Go units and whole days.
func TestDurationSettings(t *testing.T) {
	for in, want := range map[string]string{"14d": "14d", "90d": "90d", "36h": "36h0m0s", "15m": "15m0s", "0": "0s"} {
		var d duration
		if err := d.Set(in); err != nil || d.String() != want {
			t.Errorf("%s: %v %q, want %q", in, err, d.String(), want)
		}
	}
	for _, bad := range []string{"1.5d", "-1d", "d", "14days", "x"} {
		var d duration
		if d.Set(bad) == nil {
			t.Errorf("%s accepted", bad)
		}
	}
	_, stderr, code := cli(t, t.TempDir(), "", "user", "list", "--refresh-idle", "100d", "--refresh-retry-window", "1h")
	if code == 0 || !strings.Contains(stderr, "--refresh-idle") || !strings.Contains(stderr, "--refresh-retry-window") {
		t.Errorf("exit %d: %s", code, stderr)
	}
}

// TestReadinessFollowsRedis: /readyz and authserver_ready follow Redis going
// away and coming back, while /healthz stays up.
func TestReadinessFollowsRedis(t *testing.T) {
	dir := t.TempDir()
	redis := redistest.Start(t)
	s := startServer(t, dir, "--no-bootstrap", "--redis-url", redis.URL)
	get := func(url string) (int, string) {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if code, body := get(s.url + "/readyz"); code != 200 || !strings.Contains(body, `"redis":"ok"`) || !strings.Contains(body, `"signing_keys":"ok"`) || !strings.Contains(body, `"database":"ok"`) {
		t.Fatalf("ready: %d %s", code, body)
	}
	redis.Stop(t)
	if code, body := get(s.url + "/readyz"); code != 503 || !strings.Contains(body, `"redis":"failing"`) {
		t.Errorf("Redis down: %d %s", code, body)
	}
	if _, metrics := get(s.metrics); !strings.Contains(metrics, `authserver_ready{check="redis"} 0`) || !strings.Contains(metrics, `authserver_ready{check="database"} 1`) {
		t.Errorf("metrics with Redis down:\n%s", metrics)
	}
	if code, _ := get(s.url + "/healthz"); code != 200 {
		t.Errorf("healthz with Redis down: %d", code)
	}
	redis.Start(t)
	if code, body := get(s.url + "/readyz"); code != 200 {
		t.Errorf("Redis back: %d %s", code, body)
	}
	s.stop(t)
}
