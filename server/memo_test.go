package server

import (
	"strconv"
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
