package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// bin is the authserver binary the tests run as a real process.
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "authserver-bin")
	if err != nil {
		panic(err)
	}
	bin = filepath.Join(dir, "authserver")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// cheapArgon2 keeps the tests fast; the default parameters are tested in
// userstore.
var cheapArgon2 = []string{"AUTHSERVER_ARGON2_MEMORY=64", "AUTHSERVER_ARGON2_TIME=1"}

// cli runs authserver with args and the given standard input in dataDir.
func cli(t testing.TB, dataDir, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "AUTHSERVER_DATA_DIR="+dataDir)
	cmd.Env = append(cmd.Env, cheapArgon2...)
	cmd.Stdin = strings.NewReader(stdin)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return o.String(), e.String(), code
}

// mustCLI runs a command that must succeed.
func mustCLI(t testing.TB, dataDir, stdin string, args ...string) string {
	t.Helper()
	out, errOut, code := cli(t, dataDir, stdin, args...)
	if code != 0 {
		t.Fatalf("authserver %s: exit %d\n%s", strings.Join(args, " "), code, errOut)
	}
	return out
}

// served is a running "authserver serve" process.
type served struct {
	cmd     *exec.Cmd
	url     string
	dataDir string
	// metrics is the URL of its /metrics.
	metrics string
	exited  chan struct{}
	// out and log are the files of its standard output and error: files,
	// not buffers, so that no copying goroutine races with the test.
	out, log string
}

// stdout returns what the server printed so far.
func (s *served) stdout(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile(s.out)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// logRecords returns the JSON log lines so far.
func (s *served) logRecords(t testing.TB) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(s.log)
	if err != nil {
		t.Fatal(err)
	}
	var recs []map[string]any
	for _, line := range bytes.Split(b, []byte("\n")) {
		var rec map[string]any
		if json.Unmarshal(line, &rec) == nil {
			recs = append(recs, rec)
		}
	}
	return recs
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startServer starts the server on a free port, with /metrics on another,
// and waits until it listens.
func startServer(t testing.TB, dataDir string, args ...string) *served {
	t.Helper()
	port := freePort(t)
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	return launch(t, dataDir, url, append([]string{"serve", "--addr", fmt.Sprintf("127.0.0.1:%d", port), "--issuer", url, "--metrics-addr", "127.0.0.1:0"}, args...))
}

// restart stops the server and starts it again with the same settings.
func (s *served) restart(t testing.TB) *served {
	t.Helper()
	s.stop(t)
	return launch(t, s.dataDir, s.url, s.cmd.Args[1:])
}

// launch starts authserver with args and waits until it listens at url.
func launch(t testing.TB, dataDir, url string, args []string) *served {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "AUTHSERVER_DATA_DIR="+dataDir)
	cmd.Env = append(cmd.Env, cheapArgon2...)
	dir := t.TempDir()
	s := &served{cmd: cmd, url: url, dataDir: dataDir, out: filepath.Join(dir, "stdout"), log: filepath.Join(dir, "stderr")}
	for _, f := range []struct {
		path string
		to   *io.Writer
	}{{s.out, &cmd.Stdout}, {s.log, &cmd.Stderr}} {
		file, err := os.Create(f.path)
		if err != nil {
			t.Fatal(err)
		}
		defer file.Close()
		*f.to = file
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() { cmd.Process.Kill(); <-exited })
	deadline := time.After(30 * time.Second)
	for {
		for _, rec := range s.logRecords(t) {
			if rec["msg"] == "metrics listening" {
				s.metrics = "http://" + rec["addr"].(string) + "/metrics"
			}
			if rec["msg"] == "listening" {
				s.exited = exited
				return s
			}
		}
		select {
		case <-exited:
			t.Fatalf("authserver serve exited before listening:\n%s", s.readLog(t))
		case <-deadline:
			t.Fatal("authserver serve did not listen within 30s")
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (s *served) readLog(t testing.TB) string {
	b, _ := os.ReadFile(s.log)
	return string(b)
}

// stop sends SIGTERM and expects a clean exit.
func (s *served) stop(t testing.TB) {
	t.Helper()
	s.cmd.Process.Signal(syscall.SIGTERM)
	<-s.exited
	if !s.cmd.ProcessState.Success() {
		t.Fatalf("serve exited with %v:\n%s", s.cmd.ProcessState, s.readLog(t))
	}
}

// TestFirstStart: an empty data dir gets a demo client and an admin user
// whose printed curl command returns a token; a second start prints nothing.
func TestFirstStart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	s := startServer(t, dir)
	curlLine := regexp.MustCompile(`(?m)^\s+(curl .*)$`).FindStringSubmatch(s.stdout(t))
	if curlLine == nil {
		t.Fatalf("no curl command in:\n%s", s.stdout(t))
	}
	out, err := exec.Command("sh", "-c", curlLine[1]).Output()
	if err != nil {
		t.Fatalf("%s: %v", curlLine[1], err)
	}
	var tok map[string]any
	if err := json.Unmarshal(out, &tok); err != nil || tok["access_token"] == nil {
		t.Fatalf("printed curl command answered %s", out)
	}
	s.stop(t)
	for _, f := range []string{"key-encryption-key", "authserver.db"} {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if f == "key-encryption-key" && fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v, want 0600", f, fi.Mode().Perm())
		}
	}
	if fi, _ := os.Stat(dir); fi.Mode().Perm() != 0o700 {
		t.Errorf("data dir mode %v, want 0700", fi.Mode().Perm())
	}
	again := startServer(t, dir)
	again.stop(t)
	if out := again.stdout(t); out != "" {
		t.Errorf("second start printed:\n%s", out)
	}
	keys := mustCLI(t, dir, "", "keys", "list")
	if !regexp.MustCompile(`(?m)^\S{43}\s+RS256\s+active\s`).MatchString(keys) || !regexp.MustCompile(`(?m)^\S{43}\s+EdDSA\s+active\s`).MatchString(keys) {
		t.Errorf("keys list:\n%s", keys)
	}
}

// TestNoBootstrap: --no-bootstrap creates nothing.
func TestNoBootstrap(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir, "--no-bootstrap")
	s.stop(t)
	if out := s.stdout(t); out != "" {
		t.Errorf("printed:\n%s", out)
	}
	if out := mustCLI(t, dir, "", "user", "list"); strings.Count(out, "\n") != 1 {
		t.Errorf("users after --no-bootstrap:\n%s", out)
	}
}

// TestUserAndClientCommands drives the user and client commands and then
// logs in over HTTP with what they created.
func TestUserAndClientCommands(t *testing.T) {
	dir := t.TempDir()
	mustCLI(t, dir, "s3cret password\n", "user", "create", "--email", "Carol@Example.com", "--role", "admin", "--role", "ops", "--password-stdin")
	mustCLI(t, dir, "", "user", "create", "--email", "ref@example.com", "--password-hash",
		"$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc")
	mustCLI(t, dir, "x\n", "user", "create", "--email", "dave@example.com", "--inactive", "--password-stdin")
	list := mustCLI(t, dir, "", "user", "list")
	if strings.Contains(list, "$argon2") || !strings.Contains(list, "admin,ops") || !regexp.MustCompile(`dave@example.com\s+\S+\s+false`).MatchString(list) {
		t.Errorf("user list:\n%s", list)
	}
	secret := strings.TrimSpace(mustCLI(t, dir, "", "client", "create", "--id", "app", "--name", "My app", "--grant", "password", "--grant", "refresh_token", "--scope", "read", "--alg", "EdDSA"))
	if len(secret) < 43 {
		t.Fatalf("generated secret %q", secret)
	}
	mustCLI(t, dir, "a-chosen-secret-of-at-least-32-chars\n", "client", "create", "--id", "chosen", "--grant", "password", "--secret-stdin")
	mustCLI(t, dir, "", "client", "create", "--id", "spa", "--grant", "password", "--public")
	clients := mustCLI(t, dir, "", "client", "list")
	for _, want := range []string{"app", "My app", "confidential", "password,refresh_token", "EdDSA", "spa", "public"} {
		if !strings.Contains(clients, want) {
			t.Errorf("client list lacks %q:\n%s", want, clients)
		}
	}
	if strings.Contains(clients, secret) {
		t.Error("client list shows a secret")
	}

	s := startServer(t, dir)
	login := func(client, secret, user, password string) int {
		req, _ := http.NewRequest("POST", s.url+"/oauth2/token", strings.NewReader(
			"grant_type=password&username="+user+"&password="+password))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(client, secret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := login("app", secret, "carol@example.com", "s3cret+password"); code != 200 {
		t.Errorf("carol: %d", code)
	}
	if code := login("chosen", "a-chosen-secret-of-at-least-32-chars", "ref@example.com", "password"); code != 200 {
		t.Errorf("imported hash: %d", code)
	}
	mustCLI(t, dir, "", "user", "disable", "--email", "carol@example.com")
	if code := login("app", secret, "carol@example.com", "s3cret+password"); code != 400 {
		t.Errorf("disabled carol: %d", code)
	}
	mustCLI(t, dir, "", "user", "enable", "--email", "CAROL@example.com")
	if code := login("app", secret, "carol@example.com", "s3cret+password"); code != 200 {
		t.Errorf("enabled carol: %d", code)
	}
	mustCLI(t, dir, "", "client", "delete", "--id", "app")
	// The server remembers a client that authenticated cleanly for a
	// second (README "What a replica remembers").
	time.Sleep(time.Second)
	if code := login("app", secret, "carol@example.com", "s3cret+password"); code != 401 {
		t.Errorf("deleted client: %d", code)
	}
	mustCLI(t, dir, "", "user", "delete", "--email", "carol@example.com")
	if code := login("chosen", "a-chosen-secret-of-at-least-32-chars", "carol@example.com", "s3cret+password"); code != 400 {
		t.Errorf("deleted carol: %d", code)
	}
	s.stop(t)
}

// TestCommandErrors: every refusal exits non-zero with a message on stderr.
func TestCommandErrors(t *testing.T) {
	dir := t.TempDir()
	mustCLI(t, dir, "pw\n", "user", "create", "--email", "a@example.com", "--password-stdin")
	for _, tc := range []struct {
		stdin string
		args  []string
		want  string
	}{
		{"pw\n", []string{"user", "create", "--email", "A@EXAMPLE.com", "--password-stdin"}, "already exists"},
		{"", []string{"user", "create", "--email", "b@example.com", "--password-stdin"}, "at least 1"},
		{"pw\n", []string{"user", "create", "--password-stdin"}, "--email is required"},
		{"pw\n", []string{"user", "create", "--email", "b@example.com", "--password-stdin", "--password-hash", "$argon2id$x"}, "exactly one"},
		{"", []string{"user", "create", "--email", "b@example.com", "--password-hash", "$2b$12$abcdefghijklmnopqrstuv"}, "bcrypt"},
		{"", []string{"user", "create", "--email", "b@example.com", "--password-hash", "$argon2id$x"}, "argon2"},
		{"", []string{"user", "disable", "--email", "nobody@example.com"}, "not found"},
		{"", []string{"user", "delete", "--email", "nobody@example.com"}, "not found"},
		{"", []string{"client", "delete", "--id", "nobody"}, "not found"},
		{"", []string{"client", "create", "--id", "x"}, "--grant"},
		{"", []string{"client", "create", "--id", "x", "--grant", "implicit"}, "implicit"},
		{"", []string{"client", "create", "--id", "x", "--grant", "password", "--alg", "HS256"}, "HS256"},
		{"", []string{"client", "create", "--id", "x", "--grant", "password", "--scope", `a"b`}, "scope"},
		{"short\n", []string{"client", "create", "--id", "x", "--grant", "password", "--secret-stdin"}, "at least 32"},
		{"", []string{"client", "create", "--id", "x", "--grant", "client_credentials", "--public"}, "public client"},
		{"", []string{"keys", "rotate", "--alg", "HS256"}, "HS256"},
		{"", []string{"serve", "--rsa-bits", "1024", "--jwks-max-age", "1.5s"}, "--rsa-bits"},
		{"", []string{"serve", "--jwks-max-age", "1.5s"}, "--jwks-max-age"},
		{"", []string{"serve", "--key-rotation-period", "10m"}, "--key-rotation-period"},
		{"", []string{"serve", "--issuer", "ftp://x/", "--access-token-ttl", "1s"}, "--access-token-ttl"},
		{"", []string{"serve", "--issuer", "ftp://x/"}, "--issuer"},
		{"", []string{"frobnicate"}, "unknown command"},
		{"", []string{"user", "list", "extra"}, "unexpected argument"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			_, stderr, code := cli(t, dir, tc.stdin, tc.args...)
			if code == 0 || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want non-zero and %q", code, stderr, tc.want)
			}
		})
	}
}

// TestHelpAndVersion: --help on every command, and version.
func TestHelpAndVersion(t *testing.T) {
	for name := range commands {
		args := append(strings.Fields(name), "--help")
		_, stderr, code := cli(t, t.TempDir(), "", args...)
		if code != 0 || !strings.Contains(stderr, "usage: authserver "+name) || !strings.Contains(stderr, "-data-dir") {
			t.Errorf("%s --help: exit %d\n%s", name, code, stderr)
		}
	}
	out, _, code := cli(t, t.TempDir(), "", "--help")
	if code != 0 || !strings.Contains(out, "client create") {
		t.Errorf("--help: %d\n%s", code, out)
	}
	if out := mustCLI(t, t.TempDir(), "", "version"); !strings.HasPrefix(out, "authserver ") {
		t.Errorf("version: %q", out)
	}
}

// TestFlagBeatsEnvironment: AUTHSERVER_* sets a setting; a flag wins.
func TestFlagBeatsEnvironment(t *testing.T) {
	envDir, flagDir := t.TempDir(), t.TempDir()
	mustCLI(t, envDir, "pw\n", "user", "create", "--email", "env@example.com", "--password-stdin")
	mustCLI(t, envDir, "pw\n", "user", "create", "--data-dir", flagDir, "--email", "flag@example.com", "--password-stdin")
	if out := mustCLI(t, envDir, "", "user", "list"); !strings.Contains(out, "env@") || strings.Contains(out, "flag@") {
		t.Errorf("env dir:\n%s", out)
	}
	if out := mustCLI(t, envDir, "", "user", "list", "--data-dir", flagDir); !strings.Contains(out, "flag@") || strings.Contains(out, "env@") {
		t.Errorf("flag dir:\n%s", out)
	}
}

// TestClientRotateSecret: the new secret works at once and the old one for
// the grace period.
func TestClientRotateSecret(t *testing.T) {
	dir := t.TempDir()
	old := strings.TrimSpace(mustCLI(t, dir, "", "client", "create", "--id", "svc", "--grant", "client_credentials"))
	s := startServer(t, dir, "--no-bootstrap")
	token := func(secret string) int {
		req, _ := http.NewRequest("POST", s.url+"/oauth2/token", strings.NewReader("grant_type=client_credentials"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("svc", secret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := token(old); code != 200 {
		t.Fatalf("client_credentials: %d", code)
	}
	fresh := strings.TrimSpace(mustCLI(t, dir, "", "client", "rotate-secret", "--id", "svc", "--grace", "1h"))
	if fresh == old || token(fresh) != 200 || token(old) != 200 {
		t.Errorf("within the grace period both secrets must work")
	}
	newest := strings.TrimSpace(mustCLI(t, dir, "", "client", "rotate-secret", "--id", "svc", "--grace", "0s"))
	if code := token(newest); code != 200 {
		t.Errorf("a secret just rotated to: %d, want 200 at once", code)
	}
	if token(fresh) != 401 {
		t.Error("a secret rotated with no grace still works")
	}
	if _, stderr, code := cli(t, dir, "", "client", "rotate-secret", "--id", "nobody"); code == 0 || !strings.Contains(stderr, "not found") {
		t.Errorf("unknown client: %d %s", code, stderr)
	}
	s.stop(t)
}

// TestUserImport: a CSV from another user table imports once; its bcrypt
// user logs in with the old password.
func TestUserImport(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(t.TempDir(), "users.csv")
	csv := "email,hashed_password,is_active,roles,created_at\n" +
		"ref@example.com,\"$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc\",true,admin,2024-01-01 00:00:00\n" +
		// bcrypt of "bcrypt password", cost 4
		"old@example.com,$2b$04$btVCJhLlAZpfzY/X3uZKSuGiS7c/zIo9s1a3qnxrdWU7vEHUI.tde,true,,\n" +
		"broken@example.com,plaintext,true,,\n"
	if err := os.WriteFile(file, []byte(csv), 0o600); err != nil {
		t.Fatal(err)
	}
	out, stderr, code := cli(t, dir, "", "user", "import", "--csv", file)
	if code == 0 || !strings.Contains(out, "imported 2, skipped 0 (already there), rejected 1") || !strings.Contains(out, "line 4:") || !strings.Contains(stderr, "1 rows rejected") {
		t.Fatalf("first import: %d\n%s%s", code, out, stderr)
	}
	if out, _, _ := cli(t, dir, "", "user", "import", "--csv", file); !strings.Contains(out, "imported 0, skipped 2") {
		t.Fatalf("second import:\n%s", out)
	}
	secret := strings.TrimSpace(mustCLI(t, dir, "", "client", "create", "--id", "app", "--grant", "password"))
	s := startServer(t, dir, "--no-bootstrap")
	for user, pw := range map[string]string{"ref@example.com": "password", "old@example.com": "bcrypt password"} {
		for range 2 { // the second login runs on the re-hashed Argon2id
			if code, body := s.post(t, "/oauth2/token", secret, "grant_type", "password", "username", user, "password", pw); code != 200 {
				t.Fatalf("%s: %d %v", user, code, body)
			}
		}
	}
	s.stop(t)
}
