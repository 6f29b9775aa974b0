package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// authserver is the server under test: a binary built from this module, a
// data directory, and at most one running `authserver serve` process,
// always on the same two loopback ports so that the issuer, and so every
// token issued, stays valid from one process to the next.
type authserver struct {
	bin, dataDir, redisURL string
	addr, metricsAddr      string
	// pprofAddr, when set, is the server's --pprof-addr.
	pprofAddr string
	// url is the base URL of the server and its issuer.
	url string
	log string // the file of the running process's standard error

	cmd    *exec.Cmd
	exited chan struct{}
}

// newAuthserver builds ./cmd/authserver into dir and prepares a fresh data
// directory and two free ports there.
func newAuthserver(ctx context.Context, dir, redisURL string) (*authserver, error) {
	s := &authserver{bin: filepath.Join(dir, "authserver"), dataDir: filepath.Join(dir, "data"), redisURL: redisURL, log: filepath.Join(dir, "authserver.log")}
	build := exec.CommandContext(ctx, "go", "build", "-o", s.bin, "authserver/cmd/authserver")
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build authserver/cmd/authserver (run authbench inside the module): %v\n%s", err, out)
	}
	var err error
	if s.addr, err = freeAddr(); err != nil {
		return nil, err
	}
	if s.metricsAddr, err = freeAddr(); err != nil {
		return nil, err
	}
	s.url = "http://" + s.addr
	return s, nil
}

// freeAddr returns a loopback address whose port was free a moment ago.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// env is the environment of the authserver processes: authbench's own,
// without AUTHSERVER_* settings, which would change the server under test.
func env() []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AUTHSERVER_") {
			out = append(out, kv)
		}
	}
	return out
}

// cli runs an authserver command on the data directory with stdin and
// returns its standard output.
func (s *authserver) cli(ctx context.Context, stdin string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, s.bin, append(args, "--data-dir", s.dataDir)...)
	cmd.Env = env()
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("authserver %s: %v: %s", strings.Join(args[:min(2, len(args))], " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// startTimeout bounds the wait for a new server to be ready.
const startTimeout = 30 * time.Second

// start runs `authserver serve` and waits until /readyz answers 200.
func (s *authserver) start(ctx context.Context) error {
	if s.cmd != nil {
		return errors.New("authserver already runs")
	}
	args := []string{"serve", "--data-dir", s.dataDir, "--no-bootstrap", "--addr", s.addr, "--issuer", s.url,
		"--metrics-addr", s.metricsAddr, "--ip-rate-limit", "0"}
	if s.redisURL != "" {
		args = append(args, "--redis-url", s.redisURL)
	}
	if s.pprofAddr != "" {
		args = append(args, "--pprof-addr", s.pprofAddr)
	}
	log, err := os.Create(s.log)
	if err != nil {
		return err
	}
	defer log.Close()
	cmd := exec.Command(s.bin, args...)
	cmd.Env = env()
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	s.cmd, s.exited = cmd, exited
	c := &http.Client{Timeout: time.Second}
	for deadline := time.Now().Add(startTimeout); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		select {
		case <-exited:
			s.cmd = nil
			return fmt.Errorf("authserver serve exited at start:\n%s", s.logTail())
		case <-ctx.Done():
			s.stop()
			return ctx.Err()
		default:
		}
		if resp, err := c.Get(s.url + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
	}
	s.stop()
	return fmt.Errorf("authserver serve was not ready within %v:\n%s", startTimeout, s.logTail())
}

// stop ends the running server gracefully (SIGTERM), or kills it after
// 15 s, and waits until it has exited.
func (s *authserver) stop() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(15 * time.Second):
		s.cmd.Process.Kill()
		<-s.exited
	}
	s.cmd = nil
}

// logTail returns the last lines of the server's log.
func (s *authserver) logTail() string {
	b, _ := os.ReadFile(s.log)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.Join(lines[max(0, len(lines)-20):], "\n")
}

// scrapeInterval is how often watchRSS reads the server's metrics.
const scrapeInterval = 200 * time.Millisecond

// watchRSS scrapes the server's /metrics every scrapeInterval until the
// returned function is called, which returns the highest
// process_resident_memory_bytes seen (0 if none).
func (s *authserver) watchRSS() func() float64 {
	c := &http.Client{Timeout: time.Second}
	var mu sync.Mutex
	var peak float64
	scrape := func() {
		rss, err := scrapeGauge(c, "http://"+s.metricsAddr+"/metrics", "process_resident_memory_bytes")
		mu.Lock()
		if err == nil && rss > peak {
			peak = rss
		}
		mu.Unlock()
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(scrapeInterval)
		defer t.Stop()
		for {
			scrape()
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() float64 {
		close(done)
		<-finished
		scrape()
		return peak
	}
}

// scrapeGauge reads the value of the unlabelled metric name from the
// Prometheus text exposition at url.
func scrapeGauge(c *http.Client, url, name string) (float64, error) {
	resp, err := c.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("%s: no %s", url, name)
}
