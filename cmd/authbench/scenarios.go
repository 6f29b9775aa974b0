package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"authserver/server"
	"authserver/userstore"
)

// The clients authbench creates. Every one signs with EdDSA but
// clientSvcRS256, so that the password and refresh scenarios measure the
// server's own work around one cheap signature.
const (
	// clientLogin has the password grant only: no refresh token.
	clientLogin = "bench-login"
	// clientApp has the password and refresh_token grants; it introspects
	// its own access tokens.
	clientApp      = "bench-app"
	clientSvcEdDSA = "bench-svc-eddsa"
	clientSvcRS256 = "bench-svc-rs256"
)

var benchClients = []struct {
	id, alg string
	grants  []string
}{
	{clientLogin, server.EdDSA, []string{"password"}},
	{clientApp, server.EdDSA, []string{"password", "refresh_token"}},
	{clientSvcEdDSA, server.EdDSA, []string{"client_credentials"}},
	{clientSvcRS256, server.RS256, []string{"client_credentials"}},
}

// users is the number of users the password grants spread over; each has
// userPassword.
const (
	users        = 100
	userPassword = "authbench correct horse battery staple"
	// introspectPool is the number of access tokens introspected.
	introspectPool = 100
)

func userEmail(i int) string { return fmt.Sprintf("bench-user-%03d@example.com", i%users) }

// passwordForm is the body of a password grant of user i.
func passwordForm(i int) string {
	return "grant_type=password&username=" + url.QueryEscape(userEmail(i)) + "&password=" + url.QueryEscape(userPassword)
}

const clientCredentialsForm = "grant_type=client_credentials"

// scenario is one kind of load.
type scenario struct {
	name string
	// ceiling names the ceiling the scenario is compared with, and target
	// is the lowest acceptable ratio of its rate to the ceiling's (0: no
	// target).
	ceiling string
	target  float64
	// hashes is set for scenarios that compute Argon2id during the run;
	// the memory target does not apply to them.
	hashes bool
	// setup prepares the scenario on the preparation server, before any
	// scenario runs (logins, pools of tokens), and returns its request.
	setup func(ctx context.Context, b *bench, ws []*worker) (op, error)
}

// The ceilings.
const (
	ceilHTTP    = "HTTP"
	ceilRSA     = "RSA-2048 signing"
	ceilEd25519 = "Ed25519 signing"
	ceilArgon2  = "Argon2id"
)

// scenarios are every scenario, in the order in which "all" runs them.
var scenarios = []*scenario{
	{name: "password", ceiling: ceilArgon2, target: 0.90, hashes: true, setup: setupPassword},
	{name: "refresh", ceiling: ceilHTTP, target: 0.35, setup: setupRefresh},
	{name: "client_credentials_eddsa", ceiling: ceilHTTP, target: 0.50, setup: setupClientCredentials(clientSvcEdDSA)},
	{name: "client_credentials_rs256", ceiling: ceilRSA, target: 0.80, setup: setupClientCredentials(clientSvcRS256)},
	{name: "introspect", ceiling: ceilHTTP, target: 0.40, setup: setupIntrospect},
	{name: "jwks", ceiling: ceilHTTP, target: 0.80, setup: setupJWKS},
	{name: "revoke", ceiling: ceilHTTP, setup: setupRevoke},
	{name: "mixed", hashes: true, setup: setupMixed},
}

// needsUsers reports whether any of the scenarios logs users in.
func needsUsers(scs []*scenario) bool {
	for _, sc := range scs {
		switch sc.name {
		case "password", "refresh", "introspect", "mixed":
			return true
		}
	}
	return false
}

// selectScenarios resolves the command-line names into scenarios, and
// whether the ceilings run.
func selectScenarios(names []string, alg string) ([]*scenario, bool, error) {
	if len(names) == 0 {
		return nil, false, errors.New("name at least one scenario")
	}
	byName := map[string]*scenario{}
	for _, sc := range scenarios {
		byName[sc.name] = sc
	}
	want := map[string]bool{}
	ceilings := false
	for _, n := range names {
		switch n {
		case "all":
			ceilings = true
			for _, sc := range scenarios {
				want[sc.name] = true
			}
		case "ceiling":
			ceilings = true
		case "client_credentials":
			switch alg {
			case "":
				want["client_credentials_eddsa"], want["client_credentials_rs256"] = true, true
			case server.EdDSA:
				want["client_credentials_eddsa"] = true
			case server.RS256:
				want["client_credentials_rs256"] = true
			default:
				return nil, false, fmt.Errorf("--alg %q: want EdDSA or RS256", alg)
			}
		default:
			if byName[n] == nil {
				return nil, false, fmt.Errorf("unknown scenario %q", n)
			}
			want[n] = true
		}
	}
	var out []*scenario
	for _, sc := range scenarios {
		if want[sc.name] {
			out = append(out, sc)
		}
	}
	return out, ceilings, nil
}

// tokenResponse is the part of a token response (RFC 6749 §5.1) authbench
// reads.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
}

// token posts a token request as client id and returns the response.
func (b *bench) token(id, form string) (tokenResponse, error) {
	status, body, err := b.client.post(b.srv.url+server.TokenPath, b.auth[id], form)
	var t tokenResponse
	if err == nil && status == 200 {
		err = json.Unmarshal(body, &t)
	}
	if err == nil && (status != 200 || t.AccessToken == "") {
		err = errors.New(failure(status, body, nil))
	}
	return t, err
}

// parallel runs f(i) for i in [0, n) on the workers' number of goroutines
// and returns the first error.
func (b *bench) parallel(n int, f func(i int) error) error {
	var next atomic.Int64
	var mu sync.Mutex
	var first error
	var wg sync.WaitGroup
	for range b.opts.workers {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				if err := f(i); err != nil {
					mu.Lock()
					first = cmp.Or(first, err)
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	return first
}

// login starts a refresh chain for each worker: one password grant by
// clientApp.
func (b *bench) login(ws []*worker) error {
	return b.parallel(len(ws), func(i int) error {
		t, err := b.token(clientApp, passwordForm(ws[i].id))
		if err == nil && t.RefreshToken == "" {
			err = errors.New("no refresh_token in the password grant of a refresh_token client")
		}
		ws[i].refresh = t.RefreshToken
		return err
	})
}

// refresh rotates the worker's chain once. A chain that breaks counts an
// error, and the worker logs in again for its next request.
func (b *bench) refresh(w *worker) outcome {
	status, body, err := b.client.post(b.srv.url+server.TokenPath, b.auth[clientApp], "grant_type=refresh_token&refresh_token="+url.QueryEscape(w.refresh))
	var t tokenResponse
	if err == nil && status == 200 && json.Unmarshal(body, &t) == nil && t.RefreshToken != "" {
		w.refresh = t.RefreshToken
		return succeeded
	}
	f := failure(status, body, err)
	if f == "200" {
		f = "200 without refresh_token"
	}
	if t, err := b.token(clientApp, passwordForm(w.id)); err == nil {
		w.refresh = t.RefreshToken
	}
	return outcome{failure: f}
}

// introspectTokens returns introspectPool valid access tokens of clientApp
// for one user: a login and its refreshes, so that one Argon2id
// computation makes them all.
func (b *bench) introspectTokens() ([]string, error) {
	if b.introspect != nil {
		return b.introspect, nil
	}
	t, err := b.token(clientApp, passwordForm(0))
	if err != nil {
		return nil, fmt.Errorf("login: %w", err)
	}
	pool := []string{t.AccessToken}
	for len(pool) < introspectPool {
		if t, err = b.token(clientApp, "grant_type=refresh_token&refresh_token="+url.QueryEscape(t.RefreshToken)); err != nil {
			return nil, fmt.Errorf("refresh: %w", err)
		}
		pool = append(pool, t.AccessToken)
	}
	b.introspect = pool
	return pool, nil
}

// introspectOne introspects token as clientApp; an inactive answer is a
// failure, since every token of the pool is valid.
func (b *bench) introspectOne(token string) outcome {
	status, body, err := b.client.post(b.srv.url+server.IntrospectPath, b.auth[clientApp], "token="+url.QueryEscape(token))
	if err == nil && status == 200 && !bytes.Contains(body, []byte(`"active":true`)) {
		return outcome{failure: "200 inactive"}
	}
	return check(status, body, err)
}

// setupPassword returns password grants by clientLogin (no refresh token)
// of the users in turn.
func setupPassword(_ context.Context, b *bench, _ []*worker) (op, error) {
	forms := make([]string, users)
	for i := range forms {
		forms[i] = passwordForm(i)
	}
	var next atomic.Int64
	auth := b.auth[clientLogin]
	return func(*worker) outcome {
		return check(b.client.post(b.srv.url+server.TokenPath, auth, forms[next.Add(1)%users]))
	}, nil
}

// setupRefresh logs each worker in once; its requests rotate the worker's
// own chain.
func setupRefresh(_ context.Context, b *bench, ws []*worker) (op, error) {
	if err := b.login(ws); err != nil {
		return nil, err
	}
	return b.refresh, nil
}

// setupClientCredentials returns the setup of client_credentials grants of
// client id.
func setupClientCredentials(id string) func(context.Context, *bench, []*worker) (op, error) {
	return func(_ context.Context, b *bench, _ []*worker) (op, error) {
		auth := b.auth[id]
		return func(*worker) outcome {
			return check(b.client.post(b.srv.url+server.TokenPath, auth, clientCredentialsForm))
		}, nil
	}
}

// setupIntrospect returns introspections of the pool of access tokens,
// each worker going through it from its own place.
func setupIntrospect(_ context.Context, b *bench, _ []*worker) (op, error) {
	pool, err := b.introspectTokens()
	if err != nil {
		return nil, err
	}
	return func(w *worker) outcome { return b.introspectOne(pool[(w.id+w.n)%len(pool)]) }, nil
}

// setupJWKS returns GET requests of the JWK Set, without a conditional
// header.
func setupJWKS(_ context.Context, b *bench, _ []*worker) (op, error) {
	return func(*worker) outcome { return check(b.client.get(b.srv.url + server.JWKSPath)) }, nil
}

// revokeProbe is how long setupRevoke revokes a first batch of tokens to
// learn how many the run needs.
const revokeProbe = 500 * time.Millisecond

// setupRevoke returns revocations (RFC 7009) of fresh access tokens of
// clientSvcEdDSA, each once, issued beforehand by client_credentials. A
// short probe measures the revocation rate, and the pool holds half as
// many again as the warm-up and the run need at that rate; should it run
// out, the run ends early, measured over its real length.
func setupRevoke(ctx context.Context, b *bench, ws []*worker) (op, error) {
	revoke := func(pool []string) op {
		var next atomic.Int64
		auth := b.auth[clientSvcEdDSA]
		return func(*worker) outcome {
			i := next.Add(1) - 1
			if i >= int64(len(pool)) {
				return outcome{exhausted: true}
			}
			return check(b.client.post(b.srv.url+server.RevokePath, auth, "token="+pool[i]+"&token_type_hint=access_token"))
		}
	}
	probe, err := b.issue(2000)
	if err != nil {
		return nil, err
	}
	st := newStats()
	load(ctx, ws, revokeProbe, 0, revoke(probe), st)
	if st.errors() > 0 {
		return nil, fmt.Errorf("revocation probe: %d of %d failed: %v", st.errors(), st.errors()+st.ok.Load(), st.sortedFailures())
	}
	perSecond := 1.5 * st.rate()
	if b.opts.rate > 0 {
		perSecond = min(perSecond, 1.2*b.opts.rate)
	}
	need := int(perSecond*(b.opts.warmup+b.opts.duration).Seconds()) + len(ws)
	pool, err := b.issue(need)
	if err != nil {
		return nil, err
	}
	return revoke(pool), nil
}

// issue returns n fresh access tokens of clientSvcEdDSA.
func (b *bench) issue(n int) ([]string, error) {
	pool := make([]string, n)
	err := b.parallel(n, func(i int) error {
		t, err := b.token(clientSvcEdDSA, clientCredentialsForm)
		pool[i] = t.AccessToken
		return err
	})
	return pool, err
}

// setupMixed returns a production-shaped mix. Per 100 requests of each
// worker: 60 refreshes of its own chain, 5 password grants (clientLogin),
// 20 JWKS fetches and 15 introspections of the pool, interleaved: the
// worker's k-th request takes slot (13·id + 7·k) mod 100, and slots 0–59
// refresh, 60–64 log in, 65–84 fetch the JWKS and 85–99 introspect.
func setupMixed(_ context.Context, b *bench, ws []*worker) (op, error) {
	if err := b.login(ws); err != nil {
		return nil, err
	}
	pool, err := b.introspectTokens()
	if err != nil {
		return nil, err
	}
	auth := b.auth[clientLogin]
	return func(w *worker) outcome {
		switch slot := (13*w.id + 7*w.n) % 100; {
		case slot < 60:
			return b.refresh(w)
		case slot < 65:
			return check(b.client.post(b.srv.url+server.TokenPath, auth, passwordForm(w.id+w.n)))
		case slot < 85:
			return check(b.client.get(b.srv.url + server.JWKSPath))
		default:
			return b.introspectOne(pool[(w.id+w.n)%len(pool)])
		}
	}, nil
}

// createClients creates the clients with the CLI and keeps the
// Authorization header of each.
func (b *bench) createClients(ctx context.Context) error {
	b.auth = map[string]string{}
	for _, c := range benchClients {
		args := []string{"client", "create", "--id", c.id, "--alg", c.alg}
		for _, g := range c.grants {
			args = append(args, "--grant", g)
		}
		out, err := b.srv.cli(ctx, "", args...)
		if err != nil {
			return err
		}
		// RFC 6749 §2.3.1: form-encoded, then Base64.
		cred := url.QueryEscape(c.id) + ":" + url.QueryEscape(strings.TrimSpace(out))
		b.auth[c.id] = "Basic " + base64.StdEncoding.EncodeToString([]byte(cred))
	}
	return nil
}

// createUsers creates the users with `authserver user import`, from one
// Argon2id hash of userPassword at the server's default parameters: a
// hundred `user create --password-stdin` would compute a hundred hashes
// (and a hundred more for their dummy hashes) for the same result.
func (b *bench) createUsers(ctx context.Context, dir string) error {
	hash, err := userstore.DefaultParams.Hash(userPassword)
	if err != nil {
		return err
	}
	var rows strings.Builder
	w := csv.NewWriter(&rows)
	w.Write([]string{"email", "hashed_password", "is_active", "roles", "created_at"})
	for i := range users {
		w.Write([]string{userEmail(i), hash, "true", "", ""})
	}
	if w.Flush(); w.Error() != nil {
		return w.Error()
	}
	file := filepath.Join(dir, "users.csv")
	if err := os.WriteFile(file, []byte(rows.String()), 0o600); err != nil {
		return err
	}
	_, err = b.srv.cli(ctx, "", "user", "import", "--csv", file)
	return err
}
