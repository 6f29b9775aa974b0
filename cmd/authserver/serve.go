package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"authserver/keys"
	"authserver/server"
	"authserver/userstore"
)

// The stores satisfy what the server consumes.
var (
	_ server.Users   = (*userstore.Store)(nil)
	_ server.Clients = (*userstore.Store)(nil)
	_ server.Signer  = (*keys.Set)(nil)
)

func init() {
	commands["serve"] = &command{usage: "serve", setup: noFlags(serve)}
}

// HTTP server limits: a slow or hostile client cannot hold a connection or
// memory for long.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 10 * time.Second
	writeTimeout      = 10 * time.Second
	idleTimeout       = 120 * time.Second
	maxHeaderBytes    = 16 << 10
	shutdownTimeout   = 10 * time.Second
)

func serve(e *env) error {
	log := slog.New(slog.NewJSONHandler(e.stderr, nil))
	users, err := openUsers(e)
	if err != nil {
		return err
	}
	defer users.Close()
	if !e.cfg.NoBootstrap {
		if err := bootstrap(e, users); err != nil {
			return err
		}
	}
	signer, err := keys.Open(e.cfg.keysPath(), time.Now())
	if err != nil {
		return err
	}
	srv, err := server.New(server.Config{
		Issuer:         e.cfg.Issuer,
		AccessTokenTTL: e.cfg.AccessTokenTTL,
		JWKSMaxAge:     15 * time.Minute,
		Users:          users,
		Clients:        users,
		Signer:         signer,
		Logger:         log,
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", e.cfg.Addr)
	if err != nil {
		return err
	}
	hs := &http.Server{
		Handler:           srv.Handler(),
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	log.Info("listening", "addr", ln.Addr().String(), "issuer", e.cfg.Issuer, "version", version)
	done := make(chan error, 1)
	go func() { done <- hs.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-e.ctx.Done():
	}
	log.Info("shutting down")
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := hs.Shutdown(ctx); err != nil {
		return err
	}
	if err := <-done; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// openUsers opens the database of users and clients.
func openUsers(e *env) (*userstore.Store, error) {
	if err := e.cfg.ensureDataDir(); err != nil {
		return nil, err
	}
	return userstore.Open(e.ctx, e.cfg.databasePath(), e.cfg.Argon2)
}

// Names of what bootstrap creates.
const (
	demoClientID = "demo"
	adminEmail   = "admin@example.com"
)

// bootstrap creates, in an empty embedded database, a confidential demo
// client and an admin user with random secrets, and prints them once.
func bootstrap(e *env, users *userstore.Store) error {
	empty, err := users.Empty(e.ctx)
	if err != nil || !empty {
		return err
	}
	secret, password := rand.Text()+rand.Text(), rand.Text()
	if _, err := users.CreateClient(e.ctx, server.Client{
		ID:         demoClientID,
		Name:       "Demo client",
		SecretHash: server.HashSecret(secret),
		Grants:     []string{"password", "refresh_token"},
		Scopes:     []string{"read", "write"},
		Alg:        server.RS256,
	}); err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	hash, err := e.cfg.Argon2.Hash(password)
	if err != nil {
		return err
	}
	if _, err := users.CreateUser(e.ctx, server.User{Email: adminEmail, Active: true, Roles: []string{"admin"}}, hash); err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	fmt.Fprintf(e.stdout, `First start: created a demo client and an admin user. Their secrets are shown only now.
  client_id:     %s
  client_secret: %s
  user:          %s
  password:      %s
Get an access token:
  curl -s -u '%s:%s' -d grant_type=password -d username=%s -d 'password=%s' %s%s
`, demoClientID, secret, adminEmail, password, demoClientID, secret, adminEmail, password, strings.TrimSuffix(e.cfg.Issuer, "/"), server.TokenPath)
	return nil
}
