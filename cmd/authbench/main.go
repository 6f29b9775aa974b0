// Command authbench is the load generator of authserver. It builds
// ./cmd/authserver, runs it on loopback with a fresh data directory (and
// the Redis of --redis-url, else the embedded SQLite store), creates the
// users and clients its scenarios need with the authserver CLI, drives each
// scenario with concurrent workers, and reports throughput, latency, errors
// and the server's peak memory beside ceilings measured in the same run on
// the same cores:
//
//	go run ./cmd/authbench [flags] <scenario>...
//
// Scenarios (each request a success only with 200):
//
//   - password: password grants of 100 users in turn, all with the same
//     password, by a client without refresh tokens;
//   - refresh: each worker logs in once, then rotates its own refresh-token
//     chain, every request a valid rotation; a broken chain counts an
//     error and the worker logs in again;
//   - client_credentials: client_credentials grants of an EdDSA client
//     (client_credentials_eddsa) and of an RS256 client
//     (client_credentials_rs256); --alg picks one;
//   - introspect: introspection of a pool of 100 valid access tokens by the
//     confidential client they were issued to (an inactive answer is an
//     error);
//   - jwks: GET /.well-known/jwks.json;
//   - revoke: revocation of fresh access tokens, each once, issued
//     beforehand by client_credentials;
//   - mixed: production-shaped: per 100 requests of each worker, 60
//     refreshes, 5 password grants, 20 JWKS fetches and 15 introspections,
//     interleaved;
//   - ceiling: the ceilings below; all: the ceilings, then every scenario.
//
// Every client but the RS256 one signs with EdDSA. Logins that only prepare
// a scenario (the refresh chains, the introspected tokens) happen on a
// preparation server process beforehand, and each scenario runs on a fresh
// `authserver serve` process on the same ports, so that its peak resident
// memory (process_resident_memory_bytes, scraped every 200 ms) is its own.
//
// Load is closed-loop, --workers workers for --duration after a --warmup
// that is not counted, or open-loop at --rate requests per second, where a
// request that cannot start within 10 ms of its time is dropped and
// latency counts from its scheduled time. Latency percentiles are of the
// successful requests.
//
// With --pprof-addr, the server under test serves its Go profiler there
// (authserver serve --pprof-addr), to profile it under a scenario.
//
// Ceilings, measured in the same run:
//
//   - HTTP: a child process (authbench itself, re-executed with a hidden
//     subcommand, so that it has a Go runtime of its own, as authserver
//     does) serves on loopback with net/http and authserver's server
//     limits one handler that parses the form and the Basic credentials of
//     the client_credentials request and answers a JSON body as long as
//     authserver's answer, with its headers; it is driven closed-loop with
//     the same request, workers, warm-up and duration;
//   - signing: raw RSA-2048 PKCS #1 v1.5 over SHA-256, and Ed25519,
//     signatures per second of a real token's signing input on GOMAXPROCS
//     goroutines for 3 s each;
//   - hashing: raw argon2.IDKey at the server's default parameters per
//     second on GOMAXPROCS goroutines for 5 s.
//
// The table compares client_credentials EdDSA, refresh, jwks and introspect
// with the HTTP ceiling, client_credentials RS256 with the RSA ceiling and
// password with the Argon2id ceiling, and checks the peak RSS of every
// scenario that does not hash passwords against 64 MiB.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"authserver/server"
	"authserver/userstore"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	switch {
	case errors.Is(err, flag.ErrHelp):
	case err != nil:
		fmt.Fprintln(os.Stderr, "authbench:", err)
		os.Exit(1)
	}
}

// options are authbench's settings.
type options struct {
	workers          int
	duration, warmup time.Duration
	rate             float64
	alg              string
	redisURL         string
	pprofAddr        string
	out              string
	// cryptoDuration, when set, replaces the 3 s of each signing ceiling
	// and the 5 s of the hashing ceiling.
	cryptoDuration time.Duration
}

// bench is one run of authbench.
type bench struct {
	opts   options
	client client
	srv    *authserver
	// auth maps a client id to its Authorization header.
	auth map[string]string
	// sample is what the HTTP and signing ceilings imitate.
	sample struct {
		responseSize int    // bytes of a client_credentials EdDSA answer
		signingInput []byte // of its access token (RFC 7515 §5.1)
	}
	// introspect is the pool of access tokens to introspect.
	introspect []string
	log        io.Writer
}

// result is what a scenario or the HTTP ceiling measured.
type result struct {
	stats *stats
	rss   float64 // peak resident bytes of the server, 0 unknown
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == ceilingServerCommand {
		return serveCeiling(args[1:], stdin, stdout)
	}
	var o options
	fs := flag.NewFlagSet("authbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&o.workers, "workers", 32, "concurrent workers")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "measured time of each scenario")
	fs.DurationVar(&o.warmup, "warmup", time.Second, "unmeasured warm-up before each scenario")
	fs.Float64Var(&o.rate, "rate", 0, "open-loop requests per second (0: closed-loop)")
	fs.StringVar(&o.alg, "alg", "", "client_credentials: EdDSA or RS256 only (default both)")
	fs.StringVar(&o.redisURL, "redis-url", "", "token store of the server (default: the embedded SQLite store)")
	fs.StringVar(&o.pprofAddr, "pprof-addr", "", "serve the server's Go profiler here (its --pprof-addr) while the scenarios run")
	fs.StringVar(&o.out, "out", "", "also write the table to this file")
	fs.DurationVar(&o.cryptoDuration, "crypto-duration", 0, "time of each signing and hashing ceiling (default 3s signing, 5s hashing)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: authbench [flags] <scenario>...\n\nscenarios: password refresh client_credentials client_credentials_eddsa client_credentials_rs256\n           introspect jwks revoke mixed ceiling all\n\nflags:")
		fs.PrintDefaults()
	}
	// Flags may come before, between and after the scenarios.
	var names []string
	for rest := args; len(rest) > 0; rest = rest[1:] {
		if err := fs.Parse(rest); err != nil {
			return err
		}
		if rest = fs.Args(); len(rest) == 0 {
			break
		}
		names = append(names, rest[0])
	}
	if o.workers < 1 || o.duration <= 0 || o.warmup < 0 || o.rate < 0 || o.cryptoDuration < 0 {
		return errors.New("--workers and --duration must be positive, --warmup, --rate and --crypto-duration not negative")
	}
	selected, ceilings, err := selectScenarios(names, o.alg)
	if err != nil {
		fs.Usage()
		return err
	}
	dir, err := os.MkdirTemp("", "authbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	b := &bench{opts: o, client: client{newHTTPClient(o.workers)}, log: stderr}
	b.logf("building authserver")
	if b.srv, err = newAuthserver(ctx, dir, o.redisURL); err != nil {
		return err
	}
	b.srv.pprofAddr = o.pprofAddr
	defer b.srv.stop()
	if err := b.createClients(ctx); err != nil {
		return err
	}
	if needsUsers(selected) {
		b.logf("creating %d users", users)
		if err := b.createUsers(ctx, dir); err != nil {
			return err
		}
	}
	workers, ops, err := b.prepare(ctx, selected)
	if err != nil {
		return err
	}

	rep := &report{opts: o}
	if ceilings {
		if err := b.ceilings(ctx, rep); err != nil {
			return err
		}
	}
	for i, sc := range selected {
		b.logf("%s: %v warm-up, %v measured", sc.name, o.warmup, o.duration)
		res, err := b.runScenario(ctx, workers[i], ops[i])
		if err != nil {
			return fmt.Errorf("%s: %w", sc.name, err)
		}
		r := row{name: sc.name, res: res, ceiling: sc.ceiling, target: sc.target, rssTarget: !sc.hashes}
		fmt.Fprintln(stdout, r.line())
		rep.rows = append(rep.rows, r)
	}

	table := rep.markdown()
	fmt.Fprint(stdout, "\n"+table)
	if o.out != "" {
		return os.WriteFile(o.out, []byte(table), 0o644)
	}
	return nil
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.log, "authbench: "+format+"\n", args...)
}

// prepare runs a preparation server: it takes the sample of a
// client_credentials answer, and runs the setup of each scenario, whose
// logins would otherwise count in the scenario's memory.
func (b *bench) prepare(ctx context.Context, selected []*scenario) ([][]*worker, []op, error) {
	b.logf("preparing on %s", b.srv.url)
	if err := b.srv.start(ctx); err != nil {
		return nil, nil, err
	}
	defer b.client.http.CloseIdleConnections()
	defer b.srv.stop()
	status, body, err := b.client.post(b.srv.url+server.TokenPath, b.auth[clientSvcEdDSA], clientCredentialsForm)
	var t tokenResponse
	if err == nil && status == 200 {
		err = json.Unmarshal(body, &t)
	}
	if err != nil || status != 200 || strings.Count(t.AccessToken, ".") != 2 {
		return nil, nil, fmt.Errorf("client_credentials: %s", failure(status, body, err))
	}
	b.sample.responseSize = len(body)
	b.sample.signingInput = []byte(t.AccessToken[:strings.LastIndexByte(t.AccessToken, '.')])
	workers := make([][]*worker, len(selected))
	ops := make([]op, len(selected))
	for i, sc := range selected {
		workers[i] = newWorkers(b.opts.workers)
		if ops[i], err = sc.setup(ctx, b, workers[i]); err != nil {
			return nil, nil, fmt.Errorf("%s: setup: %w", sc.name, err)
		}
	}
	return workers, ops, nil
}

// runScenario runs do with the workers on a fresh server process: the
// warm-up, then the measured run, watching the server's memory throughout.
func (b *bench) runScenario(ctx context.Context, ws []*worker, do op) (result, error) {
	if err := b.srv.start(ctx); err != nil {
		return result{}, err
	}
	defer b.client.http.CloseIdleConnections()
	defer b.srv.stop()
	peak := b.srv.watchRSS()
	load(ctx, ws, b.opts.warmup, b.opts.rate, do, newStats())
	st := newStats()
	load(ctx, ws, b.opts.duration, b.opts.rate, do, st)
	return result{stats: st, rss: peak()}, ctx.Err()
}

// ceilings measures the ceilings into the report.
func (b *bench) ceilings(ctx context.Context, rep *report) error {
	signing, hashing := 3*time.Second, 5*time.Second
	if d := b.opts.cryptoDuration; d > 0 {
		signing, hashing = d, d
	}
	b.logf("HTTP ceiling: %v warm-up, %v measured", b.opts.warmup, b.opts.duration)
	res, err := b.httpCeiling(ctx)
	if err != nil {
		return fmt.Errorf("HTTP ceiling: %w", err)
	}
	rep.ceilings = map[string]float64{ceilHTTP: res.stats.rate()}
	rep.rows = append(rep.rows, row{name: fmt.Sprintf("ceiling: HTTP (%d-byte form in, %d-byte JSON out)", len(clientCredentialsForm), b.sample.responseSize), res: res})
	b.logf("signing ceilings: %v each", signing)
	rsaRate, err := rsaCeiling(ctx, signing, b.sample.signingInput)
	if err != nil {
		return err
	}
	edRate, err := ed25519Ceiling(ctx, signing, b.sample.signingInput)
	if err != nil {
		return err
	}
	b.logf("hashing ceiling: %v", hashing)
	argonRate := argon2Ceiling(ctx, hashing)
	p := userstore.DefaultParams
	for _, c := range []struct {
		name, what string
		rate       float64
	}{
		{ceilRSA, "rsa.SignPKCS1v15, SHA-256", rsaRate},
		{ceilEd25519, "ed25519.Sign", edRate},
		{ceilArgon2, fmt.Sprintf("argon2.IDKey m=%d t=%d p=%d", p.Memory, p.Time, p.Threads), argonRate},
	} {
		rep.ceilings[c.name] = c.rate
		rep.rows = append(rep.rows, row{name: fmt.Sprintf("ceiling: %s (%s)", c.name, c.what), rate: c.rate})
	}
	return ctx.Err()
}
