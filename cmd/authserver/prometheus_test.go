package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The operations files this test runs against the real server.
const (
	alertsFile    = "../../deploy/prometheus/alerts.yml"
	dashboardFile = "../../deploy/grafana/authserver.json"
)

// promServer is a running Prometheus server.
type promServer struct {
	url string
	log string
}

// startPrometheus starts Prometheus on a free loopback port, scraping target
// (host:port of a /metrics) every second as job authserver and evaluating
// deploy/prometheus/alerts.yml every second, and waits until it is ready.
func startPrometheus(t *testing.T, target string) *promServer {
	t.Helper()
	path, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatalf("%v: install the Debian package prometheus (make deps does)", err)
	}
	rules, err := filepath.Abs(alertsFile)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	config := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(config, fmt.Appendf(nil, `global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - %q
scrape_configs:
  - job_name: authserver
    static_configs:
      - targets: [%q]
`, rules, target), 0o600); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	p := &promServer{url: fmt.Sprintf("http://127.0.0.1:%d", port), log: filepath.Join(dir, "log")}
	logFile, err := os.Create(p.log)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	cmd := exec.Command(path, "--config.file="+config, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", port))
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() { cmd.Process.Kill(); <-exited })
	deadline := time.After(30 * time.Second)
	for {
		if resp, err := http.Get(p.url + "/-/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		select {
		case <-exited:
			t.Fatalf("prometheus exited before it was ready:\n%s", p.readLog())
		case <-deadline:
			t.Fatalf("prometheus not ready within 30s:\n%s", p.readLog())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (p *promServer) readLog() string {
	b, _ := os.ReadFile(p.log)
	return string(b)
}

// api GETs a Prometheus HTTP API path and decodes its data into data. It
// returns the API's error, if any.
func (p *promServer) api(t *testing.T, path string, data any) error {
	t.Helper()
	resp, err := http.Get(p.url + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	if body.Status != "success" {
		return fmt.Errorf("GET %s: %s", path, body.Error)
	}
	return json.Unmarshal(body.Data, data)
}

// query evaluates expr now and returns the value of each series of the result.
func (p *promServer) query(t *testing.T, expr string) ([]float64, error) {
	t.Helper()
	var data struct {
		Result []struct {
			Value [2]any `json:"value"`
		} `json:"result"`
	}
	if err := p.api(t, "/api/v1/query?query="+url.QueryEscape(expr), &data); err != nil {
		return nil, err
	}
	var values []float64
	for _, r := range data.Result {
		s, _ := r.Value[1].(string)
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			t.Fatalf("%s: value %v", expr, r.Value)
		}
		values = append(values, v)
	}
	return values, nil
}

// waitFor polls expr until it returns one series of value want, for at most
// 30 s: a few scrapes and rule evaluations.
func (p *promServer) waitFor(t *testing.T, expr string, want float64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, err := p.query(t, expr)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) == 1 && got[0] == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s = %v after 30s, want %v", expr, got, want)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// alertRule is an alerting rule as GET /api/v1/rules shows it.
type alertRule struct {
	Name           string    `json:"name"`
	Query          string    `json:"query"`
	Health         string    `json:"health"`
	LastError      string    `json:"lastError"`
	State          string    `json:"state"`
	LastEvaluation time.Time `json:"lastEvaluation"`
	Alerts         []struct {
		State       string            `json:"state"`
		Annotations map[string]string `json:"annotations"`
	} `json:"alerts"`
}

// rulesAfter waits until every rule has been evaluated after since and
// returns them by name.
func (p *promServer) rulesAfter(t *testing.T, since time.Time) map[string]alertRule {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var data struct {
			Groups []struct {
				Rules []alertRule `json:"rules"`
			} `json:"groups"`
		}
		if err := p.api(t, "/api/v1/rules?type=alert", &data); err != nil {
			t.Fatal(err)
		}
		rules := map[string]alertRule{}
		fresh := true
		for _, g := range data.Groups {
			for _, r := range g.Rules {
				rules[r.Name] = r
				fresh = fresh && r.LastEvaluation.After(since)
			}
		}
		if fresh && len(rules) > 0 {
			return rules
		}
		if time.Now().After(deadline) {
			t.Fatalf("rules not evaluated after %v within 30s:\n%s", since, p.readLog())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// metricNames are the names of the series that PromQL text selects; a
// histogram's _bucket series is named by its histogram.
var metricNames = regexp.MustCompile(`\b(?:authserver|go|process)_[a-z_]*[a-z]\b`)

// TestPrometheus scrapes a running server with a real Prometheus that loads
// deploy/prometheus/alerts.yml: the token counters arrive with the exact
// counts, every alert rule evaluates without error and stays inactive on a
// healthy server, a refresh token reuse fires AuthserverRefreshReuseDetected,
// and every query of the Grafana dashboard is valid PromQL over metrics the
// server exports.
func TestPrometheus(t *testing.T) {
	dir := t.TempDir()
	secret := setUp(t, dir)
	s := startServer(t, dir)
	metricsURL, err := url.Parse(s.metrics)
	if err != nil || s.metrics == "" {
		t.Fatalf("metrics URL %q: %v", s.metrics, err)
	}
	prom := startPrometheus(t, metricsURL.Host)

	const logins = 3
	var tokens []map[string]any
	for range logins {
		tokens = append(tokens, login(t, s, secret))
	}
	if code, body := s.post(t, "/oauth2/token", secret, "grant_type", "password", "username", "carol@example.com", "password", "wrong"); code != 400 || body["error"] != "invalid_grant" {
		t.Fatalf("wrong password: %d %v", code, body)
	}
	access := tokens[1]["access_token"].(string)
	if code, _ := s.post(t, "/oauth2/revoke", secret, "token", access); code != 200 {
		t.Fatalf("revoke: %d", code)
	}
	if code, body := s.post(t, "/oauth2/introspect", secret, "token", access); code != 200 || body["active"] != false {
		t.Fatalf("introspect a revoked token: %d %v", code, body)
	}

	prom.waitFor(t, `sum(authserver_token_requests_total{grant_type="password",result="ok"})`, logins)
	prom.waitFor(t, `sum(authserver_token_requests_total{grant_type="password",result="invalid_grant"})`, 1)
	scraped := time.Now()

	// Every alert evaluates without error over the server's real series, and
	// none is pending or firing. AuthserverDown and
	// AuthserverTokenLatencyHigh depend on the machine's load (a slow scrape,
	// a slow request) and are left out of the second check.
	rules := prom.rulesAfter(t, scraped)
	for name, r := range rules {
		if r.Health != "ok" {
			t.Errorf("%s: health %s: %s", name, r.Health, r.LastError)
		}
		if r.State != "inactive" && name != "AuthserverDown" && name != "AuthserverTokenLatencyHigh" {
			t.Errorf("%s is %s on a healthy server: %s", name, r.State, r.Query)
		}
	}

	// The rules and the dashboard name only metrics the server exports.
	// The dashboard's queries are valid PromQL.
	var dashboard struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &dashboard); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	var queries []string
	for _, r := range rules {
		queries = append(queries, r.Query)
	}
	vars := strings.NewReplacer("$__rate_interval", "1m", "$job", "authserver", "$instance", ".*")
	for _, panel := range dashboard.Panels {
		for _, target := range panel.Targets {
			expr := vars.Replace(target.Expr)
			if _, err := prom.query(t, expr); err != nil {
				t.Errorf("dashboard panel %q: %v", panel.Title, err)
			}
			queries = append(queries, expr)
		}
	}
	if len(queries) < 20 {
		t.Fatalf("only %d queries in the rules and the dashboard", len(queries))
	}
	resp, err := http.Get(s.metrics)
	if err != nil {
		t.Fatal(err)
	}
	exposition, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	exposition = append([]byte("\n"), exposition...)
	for _, q := range queries {
		for _, name := range metricNames.FindAllString(q, -1) {
			name = strings.TrimSuffix(name, "_bucket")
			// A counter with labels shows once it has counted something:
			// the token store has not failed here.
			if name == "authserver_tokenstore_errors_total" {
				continue
			}
			if !strings.Contains(string(exposition), "\n# HELP "+name+" ") {
				t.Errorf("%s names %s, which the server does not export", q, name)
			}
		}
	}

	// A replayed refresh token fires AuthserverRefreshReuseDetected within
	// a few scrapes.
	refresh := tokens[0]["refresh_token"].(string)
	if code, body := s.post(t, "/oauth2/token", secret, "grant_type", "refresh_token", "refresh_token", refresh); code != 200 {
		t.Fatalf("refresh: %d %v", code, body)
	}
	if code, body := s.post(t, "/oauth2/token", secret, "grant_type", "refresh_token", "refresh_token", refresh); code != 400 || body["error"] != "invalid_grant" {
		t.Fatalf("reuse: %d %v", code, body)
	}
	prom.waitFor(t, `sum(authserver_refresh_reuse_detected_total)`, 1)
	prom.waitFor(t, `count(ALERTS{alertname="AuthserverRefreshReuseDetected", alertstate="firing", severity="ticket"})`, 1)
	reuse := prom.rulesAfter(t, time.Now())["AuthserverRefreshReuseDetected"]
	if len(reuse.Alerts) != 1 || !strings.Contains(reuse.Alerts[0].Annotations["description"], "refresh_reuse_detected") {
		t.Errorf("AuthserverRefreshReuseDetected: %+v", reuse)
	}
}
