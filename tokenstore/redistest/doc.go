// Package redistest starts a throwaway redis-server for tests: on a free
// loopback port, in a temporary directory, without persistence, stopped when
// the test ends. If REDIS_URL is set, it hands out that server instead, which
// tests must share politely: a unique key prefix per test, their own keys
// deleted at the end, never FLUSHDB. StartCluster starts a throwaway Redis
// Cluster of three masters the same way.
package redistest
