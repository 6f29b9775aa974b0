package redistest

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// startTimeout bounds the wait for a new redis-server to answer PING.
const startTimeout = 10 * time.Second

// Server is a Redis server for a test.
type Server struct {
	// URL is the redis:// URL of the server.
	URL string

	// external is true for the server of REDIS_URL, which a test may not
	// stop.
	external bool
	port     int
	dir      string
	// args are the arguments of redis-server beyond the common ones.
	args   []string
	cmd    *exec.Cmd
	exited chan struct{}
}

// Start returns the server of REDIS_URL if it is set, else a new
// redis-server that is stopped when the test ends. It fails the test if
// redis-server is not on PATH or does not start.
func Start(t testing.TB) *Server {
	t.Helper()
	if url := os.Getenv("REDIS_URL"); url != "" {
		return &Server{URL: url, external: true}
	}
	need(t, "redis-server")
	return launch(t, nil)
}

// need fails the test unless every program of names is on PATH.
func need(t testing.TB, names ...string) {
	t.Helper()
	for _, name := range names {
		if _, err := exec.LookPath(name); err != nil {
			t.Fatalf("redistest: %s is not on PATH; install it (apt-get install redis-server, which brings redis-cli; `make test` installs it) or set REDIS_URL for the single-server tests", name)
		}
	}
}

// launch starts a redis-server with the extra arguments args on a free port
// in a new temporary directory, stopped when the test ends.
func launch(t testing.TB, args []string) *Server {
	t.Helper()
	s := &Server{dir: t.TempDir(), args: args}
	t.Cleanup(func() { s.stop() })
	// Another process may take the free port before redis-server binds it:
	// then try another.
	var err error
	for range 3 {
		if s.port, err = freePort(); err != nil {
			break
		}
		if err = s.start(); err == nil {
			s.URL = fmt.Sprintf("redis://%s/0", s.addr())
			return s
		}
	}
	t.Fatalf("redistest: %v", err)
	return nil
}

// Stop stops the server, as a crash would: at once and without saving.
func (s *Server) Stop(t testing.TB) {
	t.Helper()
	if s.external {
		t.Fatal("redistest: cannot stop the server of REDIS_URL; a fault test needs a throwaway server (unset REDIS_URL)")
	}
	s.stop()
}

// Start starts a stopped server again, on the same port and in the same
// directory, empty.
func (s *Server) Start(t testing.TB) {
	t.Helper()
	if s.external {
		t.Fatal("redistest: cannot restart the server of REDIS_URL; a fault test needs a throwaway server (unset REDIS_URL)")
	}
	if s.cmd != nil {
		t.Fatal("redistest: Start of a running server")
	}
	if err := s.start(); err != nil {
		t.Fatalf("redistest: %v", err)
	}
}

// start runs redis-server on s.port and waits until it answers PING.
func (s *Server) start() error {
	log, err := os.Create(filepath.Join(s.dir, "redis.log"))
	if err != nil {
		return err
	}
	defer log.Close()
	cmd := exec.Command("redis-server", append([]string{"--port", strconv.Itoa(s.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", s.dir}, s.args...)...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start redis-server: %w", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	s.cmd, s.exited = cmd, exited
	for deadline := time.Now().Add(startTimeout); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		select {
		case <-exited:
			s.cmd = nil
			out, _ := os.ReadFile(log.Name())
			return fmt.Errorf("redis-server on port %d exited at start:\n%s", s.port, out)
		default:
		}
		if ping(s.addr()) == nil {
			return nil
		}
	}
	s.stop()
	return fmt.Errorf("redis-server on port %d did not answer PING within %v", s.port, startTimeout)
}

// addr is the host:port of the server.
func (s *Server) addr() string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
}

// stop kills the server, if it runs, and waits until it has exited.
func (s *Server) stop() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	<-s.exited
	s.cmd = nil
}

// ping sends PING to the server at addr and checks its answer.
func ping(addr string) error {
	reply, err := do(addr, "PING")
	if err == nil && reply != "PONG" {
		err = fmt.Errorf("PING answered %q", reply)
	}
	return err
}

// do sends the inline command cmd to the server at addr and returns its
// reply, which must be a simple or a bulk string.
func do(addr, cmd string) (string, error) {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(time.Second))
	if _, err := conn.Write([]byte(cmd + "\r\n")); err != nil {
		return "", err
	}
	r := bufio.NewReader(conn)
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimSuffix(line, "\r\n")
	switch {
	case strings.HasPrefix(line, "+"):
		return line[1:], nil
	case strings.HasPrefix(line, "$"):
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < 0 {
			return "", fmt.Errorf("%s answered %q", cmd, line)
		}
		b := make([]byte, n+2) // The string and its CRLF.
		if _, err := io.ReadFull(r, b); err != nil {
			return "", err
		}
		return string(b[:n]), nil
	}
	return "", fmt.Errorf("%s answered %q", cmd, line)
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
