package redistest

import (
	"bufio"
	"fmt"
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
	cmd      *exec.Cmd
	exited   chan struct{}
}

// Start returns the server of REDIS_URL if it is set, else a new
// redis-server that is stopped when the test ends. It fails the test if
// redis-server is not on PATH or does not start.
func Start(t testing.TB) *Server {
	t.Helper()
	if url := os.Getenv("REDIS_URL"); url != "" {
		return &Server{URL: url, external: true}
	}
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatalf("redistest: redis-server is not on PATH; install it (apt-get install redis-server; `make test` installs it) or set REDIS_URL")
	}
	s := &Server{dir: t.TempDir()}
	t.Cleanup(func() { s.stop() })
	// Another process may take the free port before redis-server binds it:
	// then try another.
	var err error
	for range 3 {
		if s.port, err = freePort(); err != nil {
			break
		}
		if err = s.start(); err == nil {
			s.URL = fmt.Sprintf("redis://127.0.0.1:%d/0", s.port)
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
	cmd := exec.Command("redis-server", "--port", strconv.Itoa(s.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", s.dir)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start redis-server: %w", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	s.cmd, s.exited = cmd, exited
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
	for deadline := time.Now().Add(startTimeout); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		select {
		case <-exited:
			s.cmd = nil
			out, _ := os.ReadFile(log.Name())
			return fmt.Errorf("redis-server on port %d exited at start:\n%s", s.port, out)
		default:
		}
		if ping(addr) == nil {
			return nil
		}
	}
	s.stop()
	return fmt.Errorf("redis-server on port %d did not answer PING within %v", s.port, startTimeout)
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

// ping sends PING to the server at addr and reads its answer.
func ping(addr string) error {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(time.Second))
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	if strings.TrimSpace(line) != "+PONG" {
		return fmt.Errorf("PING answered %q", line)
	}
	return nil
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
