package server

import (
	"strconv"
	"sync"
	"testing"
	"time"
)

// TestMemoBounded: a memo never outgrows memoMax, remembers what it was
// given last, and forgets an entry at its time.
func TestMemoBounded(t *testing.T) {
	var m memo[int]
	now := time.Now()
	for i := range 2 * memoMax {
		m.put("k"+strconv.Itoa(i), i, now.Add(time.Minute))
		if len(m.m) > memoMax {
			t.Fatalf("%d entries after %d puts, want at most %d", len(m.m), i+1, memoMax)
		}
	}
	m.put("newest", 7, now.Add(time.Minute))
	if v, ok := m.get("newest", now); !ok || v != 7 {
		t.Errorf("newest: %v %v, want 7 true", v, ok)
	}
	m.put("old", 8, now.Add(time.Second))
	if v, ok := m.get("old", now.Add(time.Second-time.Nanosecond)); !ok || v != 8 {
		t.Errorf("old before its time: %v %v, want 8 true", v, ok)
	}
	if v, ok := m.get("old", now.Add(time.Second)); ok || v != 0 {
		t.Errorf("old at its time: %v %v, want 0 false", v, ok)
	}
	if _, ok := m.m["old"]; ok {
		t.Error("an expired entry stays in the map after it was asked for")
	}
}

// TestMemoConcurrent: gets, puts and forgets from many goroutines at once
// (run with -race) keep the bound.
func TestMemoConcurrent(t *testing.T) {
	var m memo[int]
	now := time.Now()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 2000 {
				k := strconv.Itoa(g*2000 + i)
				m.put(k, i, now.Add(time.Duration(i%3)*time.Second))
				if v, ok := m.get(k, now); ok && v != i {
					t.Errorf("%s: %d, want %d", k, v, i)
				}
				if i%7 == 0 {
					m.forget(k)
				}
			}
		})
	}
	wg.Wait()
	if len(m.m) > memoMax {
		t.Errorf("%d entries, want at most %d", len(m.m), memoMax)
	}
}
