package server

import (
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"net/http"
	"regexp"
	"time"
)

// The handler names of Observer.HTTPRequest and of the request log.
const (
	HandlerToken      = "token"
	HandlerRevoke     = "revoke"
	HandlerIntrospect = "introspect"
	HandlerUserinfo   = "userinfo"
	HandlerJWKS       = "jwks"
	HandlerMetadata   = "metadata"
	HandlerHealthz    = "healthz"
	HandlerReadyz     = "readyz"
	HandlerOther      = "other"
)

// requestInfo is what a handler tells the request log about its request.
type requestInfo struct {
	grantType, clientID, errorCode string
}

type requestInfoKey struct{}

// info returns the requestInfo of a request being served, or a throwaway
// one outside the logging middleware.
func info(ctx context.Context) *requestInfo {
	if i, ok := ctx.Value(requestInfoKey{}).(*requestInfo); ok {
		return i
	}
	return &requestInfo{}
}

// requestIDPattern is what an incoming X-Request-Id must look like to be
// kept: anything else (too long, or able to forge log fields) is replaced.
var requestIDPattern = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)

// statusWriter remembers the status of a response.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// observe wraps the handler named name: it gives the request an id
// (honouring a well-formed X-Request-Id) and writes one log line per
// request with what the handler reported, and observes the request. The
// line never holds a parameter, a header other than the id, or a token.
func (s *Server) observe(name string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get("X-Request-Id")
		if !requestIDPattern.MatchString(id) {
			id = rand.Text()
		}
		w.Header().Set("X-Request-Id", id)
		ri := &requestInfo{}
		sw := &statusWriter{ResponseWriter: w}
		h.ServeHTTP(sw, r.WithContext(context.WithValue(r.Context(), requestInfoKey{}, ri)))
		d := time.Since(start)
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		s.observer.HTTPRequest(name, r.Method, sw.status, d)
		attrs := make([]slog.Attr, 0, 9)
		attrs = append(attrs, slog.String("request_id", id), slog.String("handler", name), slog.String("method", r.Method),
			slog.String("path", r.URL.Path), slog.Int("status", sw.status), slog.Float64("duration_ms", float64(d.Microseconds())/1000))
		for _, f := range []struct{ k, v string }{{"grant_type", ri.grantType}, {"client_id", ri.clientID}, {"error", ri.errorCode}} {
			if f.v != "" {
				attrs = append(attrs, slog.String(f.k, f.v))
			}
		}
		s.log.LogAttrs(r.Context(), slog.LevelInfo, "request", attrs...)
	})
}

// observedTokens times every call to the token store and reports it, with
// outages (not the contract's answers) as errors.
type observedTokens struct {
	Tokens
	observer Observer
}

// done reports a call started at start that returned err, and returns err.
func (t observedTokens) done(op string, start time.Time, err error) error {
	outage := err
	for _, answer := range []error{ErrNotFound, ErrExists, ErrRevoked, ErrReused, ErrWrongClient} {
		if errors.Is(err, answer) {
			outage = nil
		}
	}
	t.observer.TokenStoreOp(op, time.Since(start), outage)
	return err
}

func (t observedTokens) CreateFamily(ctx context.Context, f Family) error {
	start := time.Now()
	return t.done("create_family", start, t.Tokens.CreateFamily(ctx, f))
}

func (t observedTokens) Rotate(ctx context.Context, r Rotation) (Family, []byte, error) {
	start := time.Now()
	f, retry, err := t.Tokens.Rotate(ctx, r)
	return f, retry, t.done("rotate", start, err)
}

func (t observedTokens) Family(ctx context.Context, userID, familyID string) (Family, error) {
	start := time.Now()
	f, err := t.Tokens.Family(ctx, userID, familyID)
	return f, t.done("family", start, err)
}

func (t observedTokens) RevokeFamily(ctx context.Context, userID, familyID string) error {
	start := time.Now()
	return t.done("revoke_family", start, t.Tokens.RevokeFamily(ctx, userID, familyID))
}

func (t observedTokens) RevokeAccessToken(ctx context.Context, jti string, exp time.Time) error {
	start := time.Now()
	return t.done("revoke_access_token", start, t.Tokens.RevokeAccessToken(ctx, jti, exp))
}

func (t observedTokens) SetCutoff(ctx context.Context, userID string, at, until time.Time) error {
	start := time.Now()
	return t.done("set_cutoff", start, t.Tokens.SetCutoff(ctx, userID, at, until))
}

func (t observedTokens) AccessTokenActive(ctx context.Context, a AccessToken) (bool, error) {
	start := time.Now()
	active, err := t.Tokens.AccessTokenActive(ctx, a)
	return active, t.done("access_token_active", start, err)
}

// nopObserver observes nothing.
type nopObserver struct{}

func (nopObserver) HTTPRequest(string, string, int, time.Duration)     {}
func (nopObserver) TokenRequest(string, string, string, time.Duration) {}
func (nopObserver) RefreshReused()                                     {}
func (nopObserver) Revocation(string)                                  {}
func (nopObserver) Introspection(bool)                                 {}
func (nopObserver) TokenStoreOp(string, time.Duration, error)          {}
