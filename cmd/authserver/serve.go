package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"

	"authserver/keys"
	"authserver/metrics"
	"authserver/server"
	"authserver/userstore"
)

// The stores satisfy what the server consumes.
var (
	_ server.Users    = (*userstore.Store)(nil)
	_ server.Clients  = (*userstore.Store)(nil)
	_ server.Signer   = (*keys.Manager)(nil)
	_ server.Observer = (*metrics.Metrics)(nil)
)

func init() {
	commands["serve"] = &command{usage: "serve", setup: noFlags(serve)}
	commands["migrate"] = &command{usage: "migrate", setup: noFlags(func(e *env) error {
		e.cfg.NoMigrate = true
		return withUsers(e, func(s *userstore.Store) error {
			if err := s.Migrate(e.ctx); err != nil {
				return err
			}
			fmt.Fprintln(e.stdout, "the database schema is up to date")
			return nil
		})
	})}
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
	log := e.cfg.logger(e.stderr)
	redis.SetLogger(redisLog{log})
	st, err := openStores(e)
	if err != nil {
		return err
	}
	defer st.Close()
	users := st.users
	if !e.cfg.NoBootstrap && !e.cfg.postgres() {
		if err := bootstrap(e, users); err != nil {
			return err
		}
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m, err := metrics.New(reg, metrics.Options{PerClient: e.cfg.MetricsPerClient, Backend: st.backend})
	if err != nil {
		return err
	}
	users.ObserveHashing(m)
	users.LimitHashing(e.cfg.HashConcurrency, e.cfg.HashQueueTimeout)
	limitMemory(e, log)
	proxies, err := e.cfg.proxies()
	if err != nil {
		return err
	}
	signer, err := keyManager(e, users, log)
	if err != nil {
		return err
	}
	events, err := signer.Step(e.ctx)
	if err != nil {
		return err
	}
	for _, ev := range events {
		log.Info(ev, "event", "signing_key_transition")
	}
	srv, err := server.New(server.Config{
		Issuer:             e.cfg.Issuer,
		AccessTokenTTL:     e.cfg.AccessTokenTTL,
		JWKSMaxAge:         e.cfg.JWKSMaxAge,
		RefreshIdle:        e.cfg.RefreshIdle,
		RefreshLifetime:    e.cfg.RefreshLifetime,
		RefreshRetryWindow: e.cfg.RefreshRetryWindow,
		Users:              users,
		Clients:            users,
		Signer:             signer,
		Tokens:             st.tokens,
		Throttle:           st.tokens,
		Throttling:         server.Throttling{Login: e.cfg.Lockout, Client: e.cfg.Lockout, IPRate: e.cfg.IPRate, IPBurst: e.cfg.IPBurst},
		Observer:           m,
		Logger:             log,
		CORSOrigins:        e.cfg.CORSOrigins,
		TrustedProxies:     proxies,
		Checks: append(st.checks, server.Check{Name: "signing_keys", Run: func(context.Context) error {
			return signer.Current().Ready()
		}}),
	})
	if err != nil {
		return err
	}
	err = errors.Join(
		m.WatchKeys(e.cfg.KeyRotationPeriod, func() []metrics.Key {
			var ks []metrics.Key
			for _, k := range signer.Current().List() {
				ks = append(ks, metrics.Key{Alg: k.Alg, State: k.State, Activated: k.Activated})
			}
			return ks
		}, time.Now),
		m.WatchReadiness(func(ctx context.Context) []metrics.Check {
			var checks []metrics.Check
			for _, c := range srv.Ready(ctx) {
				checks = append(checks, metrics.Check{Name: c.Name, Err: c.Err})
			}
			return checks
		}),
	)
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
	servers := []*http.Server{hs}
	listeners := []net.Listener{ln}
	if e.cfg.MetricsAddr != "" {
		mln, err := net.Listen("tcp", e.cfg.MetricsAddr)
		if err != nil {
			ln.Close()
			return fmt.Errorf("metrics listener: %w", err)
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}))
		servers = append(servers, &http.Server{Handler: mux, ReadHeaderTimeout: readHeaderTimeout, WriteTimeout: writeTimeout})
		listeners = append(listeners, mln)
		log.Info("metrics listening", "addr", mln.Addr().String())
	}
	if e.cfg.PprofAddr != "" {
		pln, err := net.Listen("tcp", e.cfg.PprofAddr)
		if err != nil {
			for _, l := range listeners {
				l.Close()
			}
			return fmt.Errorf("pprof listener: %w", err)
		}
		mux := http.NewServeMux()
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		servers = append(servers, &http.Server{Handler: mux, ReadHeaderTimeout: readHeaderTimeout})
		listeners = append(listeners, pln)
		log.Warn("profiler listening; do not expose it", "addr", pln.Addr().String())
	}
	if st.purge != nil {
		go purgeLoop(e.ctx, log, st.purge)
	}
	go signer.Run(e.ctx, e.cfg.KeyPollInterval, log)
	log.Info("listening", "addr", ln.Addr().String(), "issuer", e.cfg.Issuer, "version", version)
	done := make(chan error, len(servers))
	for i, s := range servers {
		go func() { done <- s.Serve(listeners[i]) }()
	}
	select {
	case err := <-done:
		return err
	case <-e.ctx.Done():
	}
	log.Info("shutting down")
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	var errs []error
	for _, s := range servers {
		if err := s.Shutdown(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// baseMemory is the memory the server needs besides password hashing.
const baseMemory = 32 << 20

// limitMemory sets the Go runtime's soft memory limit to what the server
// needs: baseMemory plus two Argon2id memories per hashing slot, the hash
// being computed and the garbage of the one before, so that a login flood
// cannot grow the heap past it. With room for one garbage memory per slot
// the runtime reuses it for the next hash; at one memory per slot it would
// return each to the system and fault it in again, and logins ran at about
// half the rate of raw Argon2id instead of at it (README "Performance").
// An operator's GOMEMLIMIT wins.
func limitMemory(e *env, log *slog.Logger) {
	if os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	limit := int64(baseMemory) + 2*int64(e.cfg.HashConcurrency)*int64(e.cfg.Argon2.Memory)<<10
	debug.SetMemoryLimit(limit)
	log.Info("memory limit set", "bytes", limit)
}

// redisLog writes go-redis's own messages (such as a failed dial) as
// structured warnings.
type redisLog struct{ log *slog.Logger }

func (l redisLog) Printf(ctx context.Context, format string, v ...any) {
	l.log.WarnContext(ctx, fmt.Sprintf(format, v...), "component", "redis")
}

// purgeInterval is how often expired records leave the embedded token store.
const purgeInterval = 10 * time.Minute

// purgeLoop purges the embedded token store until ctx ends.
func purgeLoop(ctx context.Context, log *slog.Logger, purge func(time.Time) error) {
	t := time.NewTicker(purgeInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			if err := purge(now); err != nil {
				log.Error("purging expired tokens failed", "error", err)
			}
		}
	}
}

// openUsers opens the database of users and clients.
func openUsers(e *env) (*userstore.Store, error) {
	if e.cfg.postgres() {
		return userstore.OpenPostgres(e.ctx, e.cfg.DatabaseURL, e.cfg.Argon2, userstore.PostgresOptions{
			MaxOpenConns: e.cfg.DBMaxConns, ConnMaxLifetime: e.cfg.DBConnLifetime, NoMigrate: e.cfg.NoMigrate,
		})
	}
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
