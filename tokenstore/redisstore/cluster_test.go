package redisstore_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"authserver/server"
	"authserver/tokenstore/redisstore"
	"authserver/tokenstore/redistest"
	"authserver/tokenstore/storetest"
)

// The tests of this file run the store on a real Redis Cluster of three
// masters: a script whose keys were in different slots would fail with
// CROSSSLOT, a command sent to the wrong master with MOVED.

// clusterClient returns a client of the cluster, closed when the test ends.
// It reads the cluster's URL as authserver reads a redis+cluster://
// --redis-url: as go-redis's cluster URL of the scheme redis.
func clusterClient(t testing.TB, c *redistest.Cluster) *redis.ClusterClient {
	t.Helper()
	opts, err := redis.ParseClusterURL("redis" + strings.TrimPrefix(c.URL(), "redis+cluster"))
	if err != nil {
		t.Fatal(err)
	}
	if len(opts.Addrs) != len(c.Addrs) {
		t.Fatalf("the URL %s names %q, want the nodes %q", c.URL(), opts.Addrs, c.Addrs)
	}
	rdb := redis.NewClusterClient(opts)
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

// openCluster returns a store on rdb under a new random prefix, and checks
// when the test ends that every key under it has a TTL. The cluster is the
// test's own: the keys are not deleted.
func openCluster(t *testing.T, rdb *redis.ClusterClient) (*redisstore.Store, string) {
	prefix := "test:" + rand.Text() + ":"
	t.Cleanup(func() {
		for _, master := range masters(t, rdb) {
			checkTTLs(t, master, prefix)
		}
	})
	return redisstore.New(rdb, redisstore.Options{Prefix: prefix, Grace: storetest.Grace}), prefix
}

// masters returns a client of each master of the cluster.
func masters(t *testing.T, rdb *redis.ClusterClient) []*redis.Client {
	var (
		mu      sync.Mutex
		clients []*redis.Client
	)
	// ForEachMaster calls concurrently; t.Fatal belongs to the test's own
	// goroutine, so the clients are collected and used there.
	err := rdb.ForEachMaster(context.Background(), func(ctx context.Context, master *redis.Client) error {
		mu.Lock()
		defer mu.Unlock()
		clients = append(clients, master)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return clients
}

// TestCluster runs the conformance suites and the slot test on one
// cluster.
func TestCluster(t *testing.T) {
	rdb := clusterClient(t, redistest.StartCluster(t))
	t.Run("Conformance", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) server.Tokens { s, _ := openCluster(t, rdb); return s })
	})
	t.Run("ThrottleConformance", func(t *testing.T) {
		storetest.RunThrottle(t, func(t *testing.T) server.Throttle { s, _ := openCluster(t, rdb); return s })
	})
	t.Run("Slots", func(t *testing.T) { testClusterSlots(t, rdb) })
}

// testClusterSlots: a family's hash and its user's cut-off are in one hash
// slot (the rotation script reads both), and the families of different
// users spread over the masters.
func testClusterSlots(t *testing.T, rdb *redis.ClusterClient) {
	ctx := t.Context()
	s, prefix := openCluster(t, rdb)
	const users = 32
	for i := range users {
		f := family(fmt.Sprintf("f%d", i))
		f.UserID = fmt.Sprintf("user-%d", i)
		if err := s.CreateFamily(ctx, f); err != nil {
			t.Fatal(err)
		}
		if err := s.SetCutoff(ctx, f.UserID, f.AuthTime, f.AuthTime.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}

	// slots maps each user to the slots of its keys, found on the master
	// that holds them; mastersOf to the masters.
	slots := map[string]map[int64]bool{}
	mastersOf := map[string]bool{}
	keys := 0
	for _, master := range masters(t, rdb) {
		found, err := scan(master, prefix)
		if err != nil {
			t.Fatal(err)
		}
		for _, key := range found {
			_, tagged, _ := strings.Cut(key, "{")
			user, _, _ := strings.Cut(tagged, "}")
			slot, err := master.ClusterKeySlot(ctx, key).Result()
			if err != nil {
				t.Fatal(err)
			}
			if slots[user] == nil {
				slots[user] = map[int64]bool{}
			}
			slots[user][slot] = true
			mastersOf[master.Options().Addr] = true
			keys++
		}
	}
	if keys != 2*users {
		t.Fatalf("the masters hold %d keys, want a family and a cut-off for each of %d users", keys, users)
	}
	for user, s := range slots {
		if len(s) != 1 {
			t.Errorf("the family and the cut-off of %s are in the slots %v, want one", user, s)
		}
	}
	if len(mastersOf) < 2 {
		t.Errorf("the families of %d users are all on %v, want them spread over more than one master", users, mastersOf)
	}
}
