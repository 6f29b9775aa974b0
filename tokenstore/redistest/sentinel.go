package redistest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// sentinelMaster is the name under which a test's sentinel watches its
// master.
const sentinelMaster = "authserver"

// Sentinel is a Redis Sentinel watching one master, for a test.
type Sentinel struct {
	// Addr is the host:port of the sentinel.
	Addr string
}

// URL returns authserver's --redis-url of the master through the sentinel:
// redis+sentinel://sentinel?master_name=authserver.
func (s *Sentinel) URL() string {
	return "redis+sentinel://" + s.Addr + "?master_name=" + sentinelMaster
}

// StartSentinel starts a throwaway redis-server in sentinel mode on a free
// loopback port, watching master, and waits until it names the master's
// address. It is stopped when the test ends.
func StartSentinel(t testing.TB, master *Server) *Sentinel {
	t.Helper()
	need(t, "redis-server")
	if master.external {
		t.Fatal("redistest: a sentinel needs a throwaway master (unset REDIS_URL)")
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "sentinel.conf")
	// A sentinel rewrites its configuration file, so it gets one of its own.
	if err := os.WriteFile(conf, []byte(fmt.Sprintf("sentinel monitor %s 127.0.0.1 %d 1\n", sentinelMaster, master.port)), 0o600); err != nil {
		t.Fatal(err)
	}
	port, err := freePort()
	if err != nil {
		t.Fatalf("redistest: %v", err)
	}
	cmd := exec.Command("redis-server", conf, "--sentinel", "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir)
	if err := cmd.Start(); err != nil {
		t.Fatalf("redistest: start redis-server --sentinel: %v", err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	s := &Sentinel{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port))}
	for deadline := time.Now().Add(startTimeout); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if masterKnown(s.Addr) {
			return s
		}
	}
	t.Fatalf("redistest: the sentinel on %s did not come up within %v", s.Addr, startTimeout)
	return nil
}

// masterKnown reports whether the sentinel at addr already names the
// address of its master.
func masterKnown(addr string) bool {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(time.Second))
	fmt.Fprintf(conn, "SENTINEL GET-MASTER-ADDR-BY-NAME %s\r\n", sentinelMaster)
	buf := make([]byte, 64)
	n, _ := conn.Read(buf)
	return n > 0 && buf[0] == '*' && buf[1] == '2'
}
