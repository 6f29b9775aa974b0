package redistest

import (
	"context"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// clusterTimeout bounds the forming of a cluster: redis-cli assigning the
// slots and every node agreeing that all of them are served.
const clusterTimeout = 30 * time.Second

// Cluster is a Redis Cluster of three masters for a test.
type Cluster struct {
	// Addrs are the host:port addresses of the masters.
	Addrs []string
}

// URL returns authserver's --redis-url of the cluster:
// redis+cluster://node1?addr=node2&addr=node3.
func (c *Cluster) URL() string {
	return "redis+cluster://" + c.Addrs[0] + "?addr=" + strings.Join(c.Addrs[1:], "&addr=")
}

// StartCluster starts three throwaway redis-server masters with cluster
// mode on, each on free loopback ports in a temporary directory without
// persistence, joins them with redis-cli --cluster create (the slots split
// in three, no replicas) and waits until every node reports
// cluster_state:ok. The nodes are stopped when the test ends. REDIS_URL
// does not apply: a test always gets a cluster of its own. It fails the
// test if redis-server or redis-cli is not on PATH.
func StartCluster(t testing.TB) *Cluster {
	t.Helper()
	need(t, "redis-server", "redis-cli")
	c := &Cluster{}
	for range 3 {
		// The cluster bus listens on a port of its own, by default the
		// client port + 10000, which may be taken or above 65535 for a
		// port of the ephemeral range: give it a free port too
		// (--cluster-port, Redis 7).
		bus, err := freePort()
		if err != nil {
			t.Fatalf("redistest: %v", err)
		}
		s := launch(t, []string{"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
			"--cluster-port", strconv.Itoa(bus)})
		c.Addrs = append(c.Addrs, s.addr())
	}
	ctx, cancel := context.WithTimeout(context.Background(), clusterTimeout)
	defer cancel()
	args := append(append([]string{"--cluster", "create"}, c.Addrs...), "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.CommandContext(ctx, "redis-cli", args...).CombinedOutput(); err != nil {
		t.Fatalf("redistest: redis-cli %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	for _, addr := range c.Addrs {
		for {
			info, err := do(addr, "CLUSTER INFO")
			if err == nil && strings.Contains(info, "cluster_state:ok") {
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("redistest: cluster node %s not ok within %v: %v\n%s", addr, clusterTimeout, err, info)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	return c
}
