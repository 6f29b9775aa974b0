package server_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"authserver/keys"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"authserver/metrics"
	"authserver/server"
	"authserver/tokenstore/redisstore"
	"authserver/tokenstore/redistest"
	"authserver/userstore"
)

// testParams keep Argon2id cheap under the race detector.
var testParams = userstore.Params{Memory: 64, Time: 1, Threads: 1}

// Secrets of the test clients and users.
const (
	confSecret = "conf-secret-0123456789abcdefghijklmnop"
	edSecret   = "ed-secret-0123456789abcdefghijklmnopqrs"
	rsSecret   = "rs-secret-0123456789abcdefghijklmnopqrs"
	// oddSecret needs form-URL-encoding inside HTTP Basic (RFC 6749 §2.3.1).
	oddSecret     = "odd secret+with%reserved:chars&=/?#0123"
	alicePassword = "correct horse battery staple"
	bobPassword   = "bob's password"
	// refPassword is the password of the reference Argon2id vector.
	refPassword = "password"
	refHash     = "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc"
)

// countingUsers records how often the real user store is asked to check a
// password.
type countingUsers struct {
	server.Users
	calls atomic.Int64
}

// countingClients counts the lookups of the real client store.
type countingClients struct {
	server.Clients
	lookups atomic.Int64
}

func (c *countingClients) Client(ctx context.Context, id string) (server.Client, error) {
	c.lookups.Add(1)
	return c.Clients.Client(ctx, id)
}

// countingSigner counts the access tokens the real signer verifies.
type countingSigner struct {
	server.Signer
	verified atomic.Int64
}

func (c *countingSigner) Verify(token string) ([]byte, error) {
	c.verified.Add(1)
	return c.Signer.Verify(token)
}

func (c *countingUsers) Authenticate(ctx context.Context, email, password string) (server.User, error) {
	c.calls.Add(1)
	return c.Users.Authenticate(ctx, email, password)
}

// metric returns the sum of the series of name in e's registry whose
// labels include the given name/value pairs.
func (e *env) metric(t testing.TB, name string, labels ...string) float64 {
	t.Helper()
	families, err := e.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	series:
		for _, m := range f.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for i := 0; i < len(labels); i += 2 {
				if have[labels[i]] != labels[i+1] {
					continue series
				}
			}
			switch {
			case m.Counter != nil:
				sum += m.GetCounter().GetValue()
			case m.Gauge != nil:
				sum += m.GetGauge().GetValue()
			case m.Histogram != nil:
				sum += float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return sum
}

// env is a running server on a real SQLite user store, a real Redis token
// store (a throwaway redis-server) and real keys, with a clock the test
// moves.
type env struct {
	srv      *httptest.Server
	handler  http.Handler
	store    *userstore.Store
	keys     *keys.Manager
	users    *countingUsers
	clients  *countingClients
	signer   *countingSigner
	registry *prometheus.Registry
	redis    *redistest.Server
	tokens   *redisstore.Store
	logs     *syncBuffer
	alice    server.User
	// offset is added to the real time to make the server's clock.
	offset atomic.Int64
	// roundTrips counts the server's requests to Redis.
	roundTrips roundTrips
}

// roundTrips is a go-redis hook that counts network round trips: one per
// command, one per pipeline.
type roundTrips struct{ n atomic.Int64 }

func (*roundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }

func (c *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.n.Add(1)
		return next(ctx, cmd)
	}
}

func (c *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		c.n.Add(1)
		return next(ctx, cmds)
	}
}

// advance moves the server's clock forward.
func (e *env) advance(d time.Duration) { e.offset.Add(int64(d)) }

func (e *env) now() time.Time { return time.Now().Add(time.Duration(e.offset.Load())) }

// syncBuffer collects log output safely across goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// testKeyPolicy is the signing-key lifecycle of the tests.
var testKeyPolicy = keys.Policy{Period: 30 * 24 * time.Hour, Publish: 17 * time.Minute, Retain: 17 * time.Minute, RSABits: 2048}

// testThrottling is the brute-force policy of the tests: the defaults of
// the command, without the per-address limit, which tests that need it set.
var testThrottling = server.Throttling{
	Login:  server.Backoff{Limit: 5, Window: 15 * time.Minute, Base: time.Minute, Max: 15 * time.Minute},
	Client: server.Backoff{Limit: 5, Window: 15 * time.Minute, Base: time.Minute, Max: 15 * time.Minute},
}

// testGrace is the grace period of the token store in the tests.
const testGrace = 16 * time.Minute

func newEnv(t testing.TB, configure ...func(*server.Config)) *env {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	store, err := userstore.Open(ctx, filepath.Join(dir, "authserver.db"), testParams)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	e := &env{store: store, users: &countingUsers{Users: store}, clients: &countingClients{Clients: store}, registry: prometheus.NewPedanticRegistry(), logs: &syncBuffer{}}
	observer, err := metrics.New(e.registry, metrics.Options{PerClient: true, Backend: "redis"})
	if err != nil {
		t.Fatal(err)
	}
	store.ObserveHashing(observer)
	set, err := keys.NewManager(store, bytes.Repeat([]byte{1}, keys.KEKSize), testKeyPolicy, e.now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := set.Step(ctx); err != nil {
		t.Fatal(err)
	}
	e.keys = set
	e.signer = &countingSigner{Signer: set}
	e.redis = redistest.Start(t)
	opt, err := redis.ParseURL(e.redis.URL)
	if err != nil {
		t.Fatal(err)
	}
	opt.MaxRetries = -1
	rdb := redis.NewClient(opt)
	rdb.AddHook(&e.roundTrips)
	t.Cleanup(func() { rdb.Close() })
	e.tokens = redisstore.New(rdb, redisstore.Options{Prefix: "t:" + rand.Text() + ":", Grace: testGrace})
	for _, c := range []server.Client{
		{ID: "conf", SecretHash: server.HashSecret(confSecret), Grants: []string{"password", "refresh_token"}, Scopes: []string{"read", "write"}, Alg: server.RS256},
		{ID: "ed", SecretHash: server.HashSecret(edSecret), Grants: []string{"password", "refresh_token"}, Scopes: []string{"read"}, Audience: "https://api.example.com", Alg: server.EdDSA},
		{ID: "odd:id", SecretHash: server.HashSecret(oddSecret), Grants: []string{"password"}, Alg: server.RS256},
		{ID: "spa", Public: true, Grants: []string{"password", "refresh_token"}, Scopes: []string{"read"}, Alg: server.RS256},
		{ID: "norefresh", SecretHash: server.HashSecret(confSecret), Grants: []string{"refresh_token"}, Alg: server.RS256},
		{ID: "rs", SecretHash: server.HashSecret(rsSecret), Grants: []string{"client_credentials"}, Audience: "https://api.example.com", Alg: server.RS256},
		{ID: "svc", SecretHash: server.HashSecret(rsSecret), Grants: []string{"client_credentials"}, Scopes: []string{"read"}, Audience: "https://api.example.com", Alg: server.EdDSA},
	} {
		if _, err := store.CreateClient(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	mkUser := func(email string, active bool, roles []string, password string) server.User {
		hash, err := testParams.Hash(password)
		if err != nil {
			t.Fatal(err)
		}
		u, err := store.CreateUser(ctx, server.User{Email: email, Active: active, Roles: roles}, hash)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	e.alice = mkUser("Alice@Example.com", true, []string{"admin", "dev"}, alicePassword)
	mkUser("bob@example.com", false, nil, bobPassword)
	if _, err := store.CreateUser(ctx, server.User{Email: "ref@example.com", Active: true}, refHash); err != nil {
		t.Fatal(err)
	}
	cfg := server.Config{
		Issuer:          "https://auth.example.com",
		AccessTokenTTL:  15 * time.Minute,
		JWKSMaxAge:      15 * time.Minute,
		RefreshIdle:     14 * 24 * time.Hour,
		RefreshLifetime: 90 * 24 * time.Hour,
		Users:           e.users,
		Clients:         e.clients,
		Signer:          e.signer,
		Tokens:          e.tokens,
		Throttle:        e.tokens,
		Throttling:      testThrottling,
		Observer:        observer,
		Logger:          slog.New(slog.NewJSONHandler(e.logs, nil)),
		Now:             e.now,
	}
	for _, f := range configure {
		f(&cfg)
	}
	s, err := server.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.handler = s.Handler()
	e.srv = httptest.NewServer(e.handler)
	t.Cleanup(e.srv.Close)
	return e
}

// request is one token request.
type request struct {
	method      string
	path        string // default: the token endpoint
	query       string
	contentType string
	body        string
	basic       []string // id and secret, sent form-URL-encoded as RFC 6749 §2.3.1 says
	auth        string   // a raw Authorization header
}

// reply is what came back.
type reply struct {
	status int
	header http.Header
	raw    []byte
	body   map[string]any
}

func (e *env) do(t testing.TB, r request) reply {
	t.Helper()
	return e.doWith(t, r)
}

// doWith sends r with extra header name/value pairs.
func (e *env) doWith(t testing.TB, r request, header ...string) reply {
	t.Helper()
	if r.method == "" {
		r.method = http.MethodPost
	}
	if r.contentType == "" {
		r.contentType = "application/x-www-form-urlencoded"
	}
	if r.path == "" {
		r.path = server.TokenPath
	}
	u := e.srv.URL + r.path
	if r.query != "" {
		u += "?" + r.query
	}
	req, err := http.NewRequest(r.method, u, strings.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", r.contentType)
	if r.basic != nil {
		req.Header.Set("Authorization", basic(url.QueryEscape(r.basic[0]), url.QueryEscape(r.basic[1])))
	}
	if r.auth != "" {
		req.Header.Set("Authorization", r.auth)
	}
	for i := 0; i < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return send(t, req)
}

func send(t testing.TB, req *http.Request) reply {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	rep := reply{status: resp.StatusCode, header: resp.Header, raw: raw}
	if len(raw) > 0 && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &rep.body); err != nil {
			t.Fatalf("body %q: %v", raw, err)
		}
	}
	return rep
}

func basic(id, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(id+":"+secret))
}

// form encodes name/value pairs in order, keeping repetitions.
func form(kv ...string) string {
	var b strings.Builder
	for i := 0; i < len(kv); i += 2 {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(url.QueryEscape(kv[i]) + "=" + url.QueryEscape(kv[i+1]))
	}
	return b.String()
}

func alicePasswordForm(extra ...string) string {
	return form(append([]string{"grant_type", "password", "username", "alice@example.com", "password", alicePassword}, extra...)...)
}
