package server

import (
	"strings"
	"sync"
	"time"
)

// memoMax bounds what one memo remembers. At about 1 KiB an entry (an
// access token and its claims, the largest), 4 MiB.
const memoMax = 4096

// memo is what a replica remembers for a while, so that a hot path does not
// repeat work: a map of at most memoMax entries, each with the time until
// which it holds. When full it forgets one entry at random (a map's
// iteration starts at a random place); an expired one goes when it is next
// asked for.
type memo[V any] struct {
	mu sync.RWMutex
	m  map[string]memoEntry[V]
}

type memoEntry[V any] struct {
	v     V
	until time.Time
}

// get returns what is remembered for k, if it holds at now.
func (c *memo[V]) get(k string, now time.Time) (V, bool) {
	c.mu.RLock()
	e, ok := c.m[k]
	c.mu.RUnlock()
	if ok && !now.Before(e.until) {
		c.forget(k)
		var zero V
		return zero, false
	}
	return e.v, ok
}

// put remembers v for k until until.
func (c *memo[V]) put(k string, v V, until time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[string]memoEntry[V])
	}
	if _, ok := c.m[k]; !ok && len(c.m) >= memoMax {
		for old := range c.m {
			delete(c.m, old)
			break
		}
	}
	// A copy of the key, so that the map keeps it and not the request
	// body it may have been cut from.
	c.m[strings.Clone(k)] = memoEntry[V]{v, until}
}

// forget forgets k.
func (c *memo[V]) forget(k string) {
	c.mu.Lock()
	delete(c.m, k)
	c.mu.Unlock()
}
