// Command exampleapi is a small resource server that accepts authserver's
// access tokens through package keys/verify: the API of the README
// walkthrough.
//
//	exampleapi [--issuer http://localhost:8080] [--audience <issuer>] [--addr :9000]
//
// GET /public needs no token, GET /users/me any valid access token, and
// GET /admin one whose user has the role admin.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"authserver/keys/verify"
)

// HTTP server limits, as authserver sets them.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 10 * time.Second
	writeTimeout      = 10 * time.Second
	idleTimeout       = 120 * time.Second
	shutdownTimeout   = 10 * time.Second
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	err := run(ctx, os.Args[1:], log)
	stop()
	switch {
	case errors.Is(err, flag.ErrHelp):
	case err != nil:
		log.Error("exampleapi stopped", "error", err)
		os.Exit(1)
	}
}

// run serves the API until ctx ends, then shuts down gracefully: requests
// in flight may finish within shutdownTimeout.
func run(ctx context.Context, args []string, log *slog.Logger) error {
	fs := flag.NewFlagSet("exampleapi", flag.ContinueOnError)
	issuer := fs.String("issuer", "http://localhost:8080", "issuer identifier of the authorization server")
	audience := fs.String("audience", "", "this API's audience, which tokens must name in aud (default: the issuer, authserver's default aud)")
	addr := fs.String("addr", ":9000", "listen address")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *audience == "" {
		*audience = *issuer
	}
	v, err := verify.New(ctx, *issuer, verify.Options{Audience: *audience})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           routes(v),
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	log.Info("listening", "addr", ln.Addr().String(), "issuer", *issuer, "audience", *audience)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	return srv.Shutdown(ctx)
}

// routes returns the API's handler.
func routes(v *verify.Verifier) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /public", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]string{"message": "hello"})
	})
	mux.Handle("GET /users/me", v.Middleware(http.HandlerFunc(me)))
	mux.Handle("GET /admin", v.Middleware(verify.RequireRole("admin", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]string{"message": "hello, admin"})
	}))))
	return mux
}

// me answers with what the access token says about its user and client.
func me(w http.ResponseWriter, r *http.Request) {
	c, _ := verify.ClaimsFrom(r.Context())
	writeJSON(w, struct {
		Subject  string   `json:"sub"`
		ClientID string   `json:"client_id"`
		Scope    string   `json:"scope"`
		Roles    []string `json:"roles"`
	}{c.Subject, c.ClientID, strings.Join(c.Scopes, " "), append([]string{}, c.Roles...)})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}
