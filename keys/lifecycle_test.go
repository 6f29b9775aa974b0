package keys

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"authserver/userstore"
)

// policy is the lifecycle of the tests: a 30-day period, keys published 17
// minutes before they sign (a 15-minute JWKS max-age, a 30 s poll and a
// margin) and retained 17 minutes after (a 15-minute token lifetime, skew
// and the poll).
var policy = Policy{Period: 30 * 24 * time.Hour, Publish: 17 * time.Minute, Retain: 17 * time.Minute, RSABits: 2048}

// clock is a fake clock that tests move.
type clock struct{ t atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.t.Store(start.UnixNano())
	return c
}

func (c *clock) now() time.Time          { return time.Unix(0, c.t.Load()) }
func (c *clock) advance(d time.Duration) { c.t.Add(int64(d)) }

// kek is the key-encryption key of the tests.
var kek = bytes.Repeat([]byte{7}, KEKSize)

// openStore opens a real SQLite database in a temporary directory.
func openStore(t testing.TB) *userstore.Store {
	t.Helper()
	s, err := userstore.Open(context.Background(), filepath.Join(t.TempDir(), "authserver.db"), userstore.Params{Memory: 64, Time: 1, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newManager(t testing.TB, store Store, c *clock, key []byte) *Manager {
	t.Helper()
	m, err := NewManager(store, key, policy, c.now)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// newTestSet returns the first version of a new key set.
func newTestSet(t testing.TB) *Set {
	t.Helper()
	m := newManager(t, openStore(t), newClock(), kek)
	if _, err := m.Step(context.Background()); err != nil {
		t.Fatal(err)
	}
	return m.Current()
}

// states returns "alg:state" of each key, in List order.
func states(s *Set) []string {
	var out []string
	for _, k := range s.List() {
		out = append(out, k.Alg+":"+k.State)
	}
	return out
}

func step(t *testing.T, m *Manager) []string {
	t.Helper()
	events, err := m.Step(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return events
}

// TestLifecycle moves a fake clock through a whole rotation of both
// algorithms: next → active → retired → removed.
func TestLifecycle(t *testing.T) {
	c := newClock()
	m := newManager(t, openStore(t), c, kek)
	if err := m.Current().Ready(); err == nil {
		t.Error("an empty set is ready")
	}
	step(t, m)
	first := m.Current()
	if err := first.Ready(); err != nil {
		t.Errorf("the first set: %v", err)
	}
	if got := states(first); !slices.Equal(got, []string{"EdDSA:active", "RS256:active"}) {
		t.Fatalf("first start: %v", got)
	}
	old, err := first.Sign(RS256, claims)
	if err != nil {
		t.Fatal(err)
	}

	c.advance(policy.Period - policy.Publish - time.Second)
	if events := step(t, m); events != nil {
		t.Fatalf("a step before the publication time did %v", events)
	}
	c.advance(time.Second)
	step(t, m)
	published := m.Current()
	if got := states(published); !slices.Equal(got, []string{"EdDSA:active", "EdDSA:next", "RS256:active", "RS256:next"}) {
		t.Fatalf("at the publication time: %v", got)
	}
	for _, alg := range algs {
		next := find(published.keys, alg, StateNext)
		if want := first.active[alg].Activated.Add(policy.Period); !next.ActivateAt.Equal(want) {
			t.Errorf("%s next activates at %v, want %v", alg, next.ActivateAt, want)
		}
		if published.active[alg] != first.active[alg] {
			t.Errorf("%s: a published key signs before its time", alg)
		}
		if _, ok := published.byKID[next.KID]; !ok || !bytes.Contains(jwksOf(published), []byte(next.KID)) {
			t.Errorf("%s next key is not in the JWKS", alg)
		}
	}

	c.advance(policy.Publish - time.Second)
	step(t, m)
	if got := states(m.Current()); !slices.Equal(got, states(published)) {
		t.Fatalf("a next key activated early: %v", got)
	}
	c.advance(time.Second)
	step(t, m)
	rotated := m.Current()
	if got := states(rotated); !slices.Equal(got, []string{"EdDSA:retired", "EdDSA:active", "RS256:retired", "RS256:active"}) {
		t.Fatalf("at the activation time: %v", got)
	}
	for _, alg := range algs {
		if rotated.active[alg].KID != find(published.keys, alg, StateNext).KID {
			t.Errorf("%s: the published key did not become active", alg)
		}
	}
	if _, err := rotated.Verify(old); err != nil {
		t.Errorf("a token of the retired key no longer verifies: %v", err)
	}

	c.advance(policy.Retain - time.Second)
	step(t, m)
	if _, err := m.Current().Verify(old); err != nil {
		t.Errorf("the retired key left before its tokens expired: %v", err)
	}
	c.advance(time.Second)
	step(t, m)
	if got := states(m.Current()); !slices.Equal(got, []string{"EdDSA:active", "RS256:active"}) {
		t.Fatalf("after retention: %v", got)
	}
	if _, err := m.Current().Verify(old); err == nil {
		t.Error("a removed key still verifies")
	}
}

// TestManualRotation: keys rotate publishes a next key that signs only after
// the publication lead, and brings an already published one forward.
func TestManualRotation(t *testing.T) {
	c := newClock()
	m := newManager(t, openStore(t), c, kek)
	step(t, m)
	c.advance(time.Hour)
	if _, err := m.Rotate(t.Context(), EdDSA); err != nil {
		t.Fatal(err)
	}
	if got := states(m.Current()); !slices.Equal(got, []string{"EdDSA:active", "EdDSA:next", "RS256:active"}) {
		t.Fatalf("after rotate: %v", got)
	}
	next := find(m.Current().keys, EdDSA, StateNext)
	if want := c.now().UTC().Add(policy.Publish); !next.ActivateAt.Equal(want) {
		t.Errorf("activates at %v, want %v", next.ActivateAt, want)
	}
	c.advance(policy.Publish - time.Second)
	step(t, m)
	if m.Current().active[EdDSA].KID == next.KID {
		t.Fatal("a manually rotated key signed before the publication lead")
	}
	c.advance(time.Second)
	step(t, m)
	if m.Current().active[EdDSA].KID != next.KID {
		t.Fatal("the manually rotated key did not activate")
	}

	// A scheduled next key, published days before its time, is brought
	// forward to now by a manual rotation.
	c.advance(policy.Period - policy.Publish)
	step(t, m)
	scheduled := find(m.Current().keys, RS256, StateNext)
	if scheduled == nil {
		t.Fatal("no scheduled RS256 key")
	}
	c.advance(policy.Publish / 2)
	if _, err := m.Rotate(t.Context(), RS256); err != nil {
		t.Fatal(err)
	}
	if got := find(m.Current().keys, RS256, StateNext).ActivateAt; !got.Equal(scheduled.Created.Add(policy.Publish)) {
		t.Errorf("brought forward to %v, want %v", got, scheduled.Created.Add(policy.Publish))
	}
	if _, err := m.Rotate(t.Context(), "HS256"); err == nil {
		t.Error("rotating an unknown alg succeeded")
	}
}

// TestSealedAtRest: the stored set holds no private key in the clear, and
// another key-encryption key cannot open it: a clear error, never a new set.
func TestSealedAtRest(t *testing.T) {
	store := openStore(t)
	c := newClock()
	m := newManager(t, store, c, kek)
	step(t, m)
	_, data, err := store.LoadKeySet(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, member := range []string{`"d"`, `"p"`, `"q"`, `"dp"`, `"dq"`, `"qi"`, `"kty"`} {
		if bytes.Contains(data, []byte(member)) {
			t.Errorf("the stored set holds %s in the clear", member)
		}
	}
	wrong := newManager(t, store, c, bytes.Repeat([]byte{8}, KEKSize))
	if _, err := wrong.Step(t.Context()); !errors.Is(err, ErrWrongKEK) {
		t.Fatalf("Step with a wrong key-encryption key: %v, want ErrWrongKEK", err)
	}
	if err := wrong.Load(t.Context()); !errors.Is(err, ErrWrongKEK) {
		t.Fatalf("Load with a wrong key-encryption key: %v", err)
	}
	if _, after, _ := store.LoadKeySet(t.Context()); !bytes.Equal(after, data) {
		t.Error("a wrong key-encryption key changed the stored set")
	}
	if _, err := NewManager(store, kek[:16], policy, c.now); err == nil {
		t.Error("a 16-byte key-encryption key was accepted")
	}
}

// TestReplicasRace: managers on one database step at the same moments;
// exactly one performs each transition, and all end with the same JWKS.
func TestReplicasRace(t *testing.T) {
	store := openStore(t)
	c := newClock()
	var managers []*Manager
	for range 4 {
		managers = append(managers, newManager(t, store, c, kek))
	}
	var all []string
	for _, d := range []time.Duration{0, policy.Period - policy.Publish, policy.Publish, policy.Retain} {
		c.advance(d)
		var mu sync.Mutex
		var wg sync.WaitGroup
		var done []string
		for _, m := range managers {
			wg.Go(func() {
				events, err := m.Step(context.Background())
				if err != nil {
					t.Error(err)
				}
				mu.Lock()
				done = append(done, events...)
				mu.Unlock()
			})
		}
		wg.Wait()
		if len(done) == 0 {
			t.Fatalf("nobody stepped after %v", d)
		}
		all = append(all, done...)
		for _, m := range managers {
			step(t, m) // pick up what the winner did
		}
		want := jwksOf(managers[0].Current())
		for i, m := range managers[1:] {
			if got := jwksOf(m.Current()); !bytes.Equal(got, want) {
				t.Fatalf("replica %d serves another JWKS after %v", i+1, d)
			}
		}
	}
	// first keys (2) + published (2) + activated (2) + removed (2)
	if len(all) != 8 {
		t.Fatalf("transitions performed: %d, want 8 (each exactly once):\n%s", len(all), strings.Join(all, "\n"))
	}
}

func jwksOf(s *Set) []byte {
	body, _ := s.JWKS()
	return body
}

// TestPolicyValidate refuses policies under which a key could sign before
// it is known, or never rotate.
func TestPolicyValidate(t *testing.T) {
	for name, p := range map[string]Policy{
		"no publication lead": {Period: time.Hour, Retain: time.Minute, RSABits: 2048},
		"period within lead":  {Period: time.Minute, Publish: time.Minute, Retain: time.Minute, RSABits: 2048},
		"no retention":        {Period: time.Hour, Publish: time.Minute, RSABits: 2048},
		"RSA 1024":            {Period: time.Hour, Publish: time.Minute, Retain: time.Minute, RSABits: 1024},
	} {
		if p.Validate() == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if err := policy.Validate(); err != nil {
		t.Errorf("the default policy: %v", err)
	}
}
