package main

import (
	"bufio"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/argon2"

	"authserver/userstore"
)

// ceilingServerCommand is the hidden subcommand with which authbench runs
// the HTTP ceiling's server in a child process of its own.
const ceilingServerCommand = "http-ceiling-server"

// The HTTP server limits of `authserver serve` (cmd/authserver/serve.go),
// which the HTTP ceiling's server shares.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 10 * time.Second
	writeTimeout      = 10 * time.Second
	idleTimeout       = 120 * time.Second
	maxHeaderBytes    = 16 << 10
	maxBodyBytes      = 64 << 10
)

// serveCeiling is the child process of the HTTP ceiling: a net/http server
// on a loopback port, with authserver's limits, whose one handler parses a
// token request's form and Basic credentials and answers a JSON body of
// --size bytes with the token endpoint's headers. It prints its address on
// standard output and exits when standard input closes.
func serveCeiling(args []string, stdin io.Reader, stdout io.Writer) error {
	fs := flag.NewFlagSet(ceilingServerCommand, flag.ContinueOnError)
	size := fs.Int("size", 650, "bytes of the JSON response")
	if err := fs.Parse(args); err != nil {
		return err
	}
	body := jsonOfSize(*size)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	hs := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
			_, _, basic := r.BasicAuth()
			if r.Method != http.MethodPost || r.ParseForm() != nil || r.PostForm.Get("grant_type") == "" || !basic {
				http.Error(w, `{"error":"invalid_request"}`, http.StatusBadRequest)
				return
			}
			h := w.Header()
			h.Set("Content-Type", "application/json")
			h.Set("Cache-Control", "no-store")
			h.Set("Pragma", "no-cache")
			h.Set("X-Content-Type-Options", "nosniff")
			h.Set("Referrer-Policy", "no-referrer")
			w.Write(body)
		}),
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          log.New(io.Discard, "", 0),
	}
	go hs.Serve(ln)
	fmt.Fprintln(stdout, ln.Addr().String())
	io.Copy(io.Discard, stdin)
	return nil
}

// jsonOfSize returns a token-response-shaped JSON object of n bytes (at
// least its fixed part).
func jsonOfSize(n int) []byte {
	const head, tail = `{"access_token":"`, `","token_type":"Bearer","expires_in":900,"scope":"read"}`
	pad := max(0, n-len(head)-len(tail))
	return []byte(head + strings.Repeat("A", pad) + tail)
}

// ceilingChild is the running child process of the HTTP ceiling.
type ceilingChild struct {
	url   string
	cmd   *exec.Cmd
	stdin io.WriteCloser
}

// startCeilingChild starts authbench itself (os.Executable) with the hidden
// subcommand, so that the ceiling's server has a Go runtime of its own, as
// authserver does.
func startCeilingChild(size int) (*ceilingChild, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, ceilingServerCommand, "--size", strconv.Itoa(size))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	addr, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		stdin.Close()
		cmd.Wait()
		return nil, fmt.Errorf("HTTP ceiling server: %w", err)
	}
	return &ceilingChild{url: "http://" + strings.TrimSpace(addr), cmd: cmd, stdin: stdin}, nil
}

// peakRSS returns the child's peak resident memory (VmHWM), or 0 if
// /proc does not tell.
func (c *ceilingChild) peakRSS() float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", c.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			return kb * 1024
		}
	}
	return 0
}

func (c *ceilingChild) stop() {
	c.stdin.Close()
	c.cmd.Wait()
}

// httpCeiling drives the HTTP ceiling's server with the request of the
// client_credentials scenario (same form body, same Basic credentials),
// answered with a body as long as the server's answer, with the same
// workers, warm-up and duration as the scenarios, always closed-loop.
func (b *bench) httpCeiling(ctx context.Context) (result, error) {
	child, err := startCeilingChild(b.sample.responseSize)
	if err != nil {
		return result{}, err
	}
	defer child.stop()
	defer b.client.http.CloseIdleConnections()
	auth := b.auth[clientSvcEdDSA]
	do := func(*worker) outcome {
		return check(b.client.post(child.url+"/oauth2/token", auth, clientCredentialsForm))
	}
	ws := newWorkers(b.opts.workers)
	load(ctx, ws, b.opts.warmup, 0, do, newStats())
	st := newStats()
	load(ctx, ws, b.opts.duration, 0, do, st)
	return result{stats: st, rss: child.peakRSS()}, ctx.Err()
}

// perSecond runs f on GOMAXPROCS goroutines for d and returns the calls of
// f per second.
func perSecond(ctx context.Context, d time.Duration, f func()) float64 {
	var calls atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(d)
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			var n int64
			for ctx.Err() == nil && time.Now().Before(deadline) {
				f()
				n++
			}
			calls.Add(n)
		})
	}
	wg.Wait()
	return float64(calls.Load()) / time.Since(start).Seconds()
}

// rsaCeiling returns raw RSA-2048 PKCS #1 v1.5 signatures over SHA-256 of
// msg per second (RS256, RFC 7518 §3.3), on every core.
func rsaCeiling(ctx context.Context, d time.Duration, msg []byte) (float64, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return 0, err
	}
	var failed atomic.Bool
	rate := perSecond(ctx, d, func() {
		h := sha256.Sum256(msg)
		if _, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, h[:]); err != nil {
			failed.Store(true)
		}
	})
	if failed.Load() {
		return 0, errors.New("rsa.SignPKCS1v15 failed")
	}
	return rate, nil
}

// ed25519Ceiling returns raw Ed25519 signatures of msg per second (EdDSA,
// RFC 8037), on every core.
func ed25519Ceiling(ctx context.Context, d time.Duration, msg []byte) (float64, error) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return 0, err
	}
	return perSecond(ctx, d, func() { ed25519.Sign(key, msg) }), nil
}

// argon2Ceiling returns raw Argon2id hashes per second at the server's
// default parameters (userstore.DefaultParams: m=19456 KiB, t=2, p=1), with
// a 16-byte salt and a 32-byte key as the server's hashes, on every core.
func argon2Ceiling(ctx context.Context, d time.Duration) float64 {
	p := userstore.DefaultParams
	salt := make([]byte, 16)
	rand.Read(salt)
	return perSecond(ctx, d, func() { argon2.IDKey([]byte(userPassword), salt, p.Time, p.Memory, p.Threads, 32) })
}
