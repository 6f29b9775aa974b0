package server

import (
	"context"
	"net/http"
	"time"
)

// Check is one readiness check: a dependency the server cannot serve
// without.
type Check struct {
	// Name is a short fixed name: "database", "redis", "signing_keys".
	Name string
	// Run returns nil when the dependency answers. Its error is logged; the
	// /readyz answer names only the check.
	Run func(ctx context.Context) error
}

// checkTimeout bounds each readiness check.
const checkTimeout = 2 * time.Second

// CheckResult is the outcome of one check.
type CheckResult struct {
	Name string
	Err  error
}

// Ready runs every readiness check, concurrently, each within checkTimeout.
func (s *Server) Ready(ctx context.Context) []CheckResult {
	results := make([]CheckResult, len(s.checks))
	done := make(chan struct{}, len(s.checks))
	for i, c := range s.checks {
		go func() {
			ctx, cancel := context.WithTimeout(ctx, checkTimeout)
			defer cancel()
			results[i] = CheckResult{Name: c.Name, Err: c.Run(ctx)}
			done <- struct{}{}
		}()
	}
	for range s.checks {
		<-done
	}
	return results
}

// health answers that the process is up.
func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	w.Header()["Cache-Control"] = headerNoStore
	writeJSON(w, http.StatusOK, struct {
		Status string `json:"status"`
	}{"ok"})
}

// ready answers 200 when every readiness check passes, else 503 with the
// failing checks; the causes go to the log only.
func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	w.Header()["Cache-Control"] = headerNoStore
	status, code := "ready", http.StatusOK
	checks := map[string]string{}
	for _, res := range s.Ready(r.Context()) {
		checks[res.Name] = "ok"
		if res.Err != nil {
			checks[res.Name] = "failing"
			status, code = "not ready", http.StatusServiceUnavailable
			s.log.WarnContext(r.Context(), "readiness check failed", "check", res.Name, "error", res.Err)
		}
	}
	writeJSON(w, code, struct {
		Status string            `json:"status"`
		Checks map[string]string `json:"checks"`
	}{status, checks})
}
