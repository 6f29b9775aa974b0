package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// defaultArgon2 are the default Argon2id settings, which the flood test
// needs instead of the cheap ones of the other tests.
var defaultArgon2 = []string{"--argon2-memory", "19456", "--argon2-time", "2", "--argon2-threads", "1"}

// fromIP returns an HTTP client whose connections leave from ip, a loopback
// address: one client of many, as a flood from many hosts looks.
func fromIP(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}}
}

// peakRSS returns the peak resident set size of a process (VmHWM), in bytes.
func peakRSS(t testing.TB, pid int) int64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc status")
	return 0
}

// TestLoginFlood: 300 concurrent password logins (distinct accounts from
// distinct addresses, as credential stuffing looks) against the default
// settings: peak memory stays under 100 MiB + hash-concurrency × Argon2id
// memory, every request is answered (200, 400 or 503) within 10 s, and a
// legitimate login right after succeeds.
func TestLoginFlood(t *testing.T) {
	dir := t.TempDir()
	mustCLI(t, dir, "carol's password\n", append([]string{"user", "create", "--email", "carol@example.com", "--password-stdin"}, defaultArgon2...)...)
	secret := strings.TrimSpace(mustCLI(t, dir, "", "client", "create", "--id", "app", "--grant", "password"))
	const concurrency = 2
	s := startServer(t, dir, append([]string{"--no-bootstrap", "--hash-concurrency", strconv.Itoa(concurrency)}, defaultArgon2...)...)
	login := func(c *http.Client, user, password string) (int, time.Duration) {
		start := time.Now()
		req, _ := http.NewRequest(http.MethodPost, s.url+"/oauth2/token", strings.NewReader(url.Values{
			"grant_type": {"password"}, "username": {user}, "password": {password}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("app", secret)
		resp, err := c.Do(req)
		if err != nil {
			t.Errorf("%s: %v", user, err)
			return 0, time.Since(start)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, time.Since(start)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[int]int{}
	var slowest time.Duration
	for i := range 300 {
		wg.Go(func() {
			code, d := login(fromIP(fmt.Sprintf("127.0.%d.%d", 1+i/250, 1+i%250)), fmt.Sprintf("user%d@example.com", i), "guess")
			mu.Lock()
			defer mu.Unlock()
			codes[code]++
			slowest = max(slowest, d)
		})
	}
	wg.Wait()
	for code, n := range codes {
		if code != 200 && code != 400 && code != 503 {
			t.Errorf("%d answers with status %d", n, code)
		}
	}
	if slowest > 10*time.Second {
		t.Errorf("the slowest answer took %v, want at most 10 s", slowest)
	}
	if code, _ := login(http.DefaultClient, "carol@example.com", "carol's password"); code != 200 {
		t.Errorf("a legitimate login after the flood: %d", code)
	}
	peak := peakRSS(t, s.cmd.Process.Pid)
	limit := int64(100<<20) + concurrency*19456<<10
	t.Logf("answers %v, slowest %v, peak RSS %d MiB (limit %d MiB)", codes, slowest, peak>>20, limit>>20)
	if peak > limit {
		t.Errorf("peak RSS %d MiB, want at most %d MiB", peak>>20, limit>>20)
	}
	s.stop(t)
}

// TestSlowClients: 200 connections that send their headers one byte a
// second neither stop a normal client from getting a token nor stay open
// past the header timeout.
func TestSlowClients(t *testing.T) {
	dir := t.TempDir()
	secret := setUp(t, dir)
	s := startServer(t, dir, "--no-bootstrap")
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	addr := strings.TrimPrefix(s.url, "http://")
	closed := make(chan time.Duration, 200)
	for range 200 {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		go func() {
			start := time.Now()
			line := "POST /oauth2/token HTTP/1.1\r\nHost: x\r\nX-Slow: "
			for i := 0; ctx.Err() == nil; i++ {
				if _, err := conn.Write([]byte{line[i%len(line)]}); err != nil {
					closed <- time.Since(start)
					return
				}
				time.Sleep(time.Second)
			}
		}()
	}
	time.Sleep(time.Second)
	start := time.Now()
	login(t, s, secret)
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("a normal login beside 200 slow clients took %v", d)
	}
	// The server drops each slow connection at its header timeout (5 s);
	// the next write then fails.
	for range 200 {
		select {
		case d := <-closed:
			if d > 10*time.Second {
				t.Fatalf("a slow connection stayed open %v", d)
			}
		case <-time.After(15 * time.Second):
			t.Fatal("slow connections were not closed by the header timeout")
		}
	}
	s.stop(t)
}

// TestUnlock: `user unlock` ends an account's lockout at once.
func TestUnlock(t *testing.T) {
	dir := t.TempDir()
	secret := setUp(t, dir)
	s := startServer(t, dir, "--no-bootstrap")
	for range 5 {
		s.post(t, "/oauth2/token", secret, "grant_type", "password", "username", "carol@example.com", "password", "wrong")
	}
	if code, _ := s.post(t, "/oauth2/token", secret, "grant_type", "password", "username", "carol@example.com", "password", "carol's password"); code != 429 {
		t.Fatalf("after 5 failures: %d", code)
	}
	mustCLI(t, dir, "", "user", "unlock", "--email", "Carol@example.com")
	login(t, s, secret)
	s.stop(t)
}
