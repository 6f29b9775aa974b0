package keys

import (
	"context"
	"crypto/cipher"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Store keeps the sealed key set of all replicas, changed only by
// compare-and-swap.
type Store interface {
	// LoadKeySet returns the stored key set and its version; version 0 and
	// no data when there is none yet.
	LoadKeySet(ctx context.Context) (version int64, data []byte, err error)
	// SwapKeySet stores data as version+1 if the stored version is still
	// version, and reports whether it did.
	SwapKeySet(ctx context.Context, version int64, data []byte) (bool, error)
}

// Policy says when keys change.
type Policy struct {
	// Period is how long a key signs before the next one takes over.
	Period time.Duration
	// Publish is how long a new key is published as next before it signs:
	// at least the JWKS cache lifetime (its max-age) plus the poll interval
	// plus a margin, so that every replica and every resource server's
	// cached JWKS knows the key before any token names it.
	Publish time.Duration
	// Retain is how long a retired key stays published: the longest
	// access-token lifetime plus clock skew plus the poll interval (a
	// replica may sign with the key until it polls).
	Retain time.Duration
	// RSABits is the modulus size of new RSA keys: 2048, 3072 or 4096.
	RSABits int
}

// Validate reports a policy under which keys could sign before they are
// known, or never rotate.
func (p Policy) Validate() error {
	switch {
	case p.Publish <= 0 || p.Retain <= 0:
		return errors.New("keys: publication and retention must be positive")
	case p.Period <= p.Publish:
		return fmt.Errorf("keys: the rotation period %v must be longer than the publication lead %v", p.Period, p.Publish)
	case p.RSABits != 2048 && p.RSABits != 3072 && p.RSABits != 4096:
		return fmt.Errorf("keys: RSA keys of %d bits; want 2048, 3072 or 4096", p.RSABits)
	}
	return nil
}

// Manager keeps the signing key set of one replica: it performs the
// transitions that are due, by compare-and-swap on the stored set so that
// exactly one replica performs each, and picks up those of the others. It
// signs and verifies with the current version of the set.
type Manager struct {
	store  Store
	aead   cipher.AEAD
	policy Policy
	now    func() time.Time
	mu     sync.Mutex // serializes updates
	set    atomic.Pointer[Set]
}

// NewManager returns a manager of the set in store, sealed under kek, with
// an empty set until the first Step or Load.
func NewManager(store Store, kek []byte, p Policy, now func() time.Time) (*Manager, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	aead, err := newAEAD(kek)
	if err != nil {
		return nil, err
	}
	m := &Manager{store: store, aead: aead, policy: p, now: now}
	empty, err := newSet(0, nil)
	if err != nil {
		return nil, err
	}
	m.set.Store(empty)
	return m, nil
}

// maxSwaps bounds the compare-and-swap attempts of one update: each lost
// one means another replica changed the set meanwhile.
const maxSwaps = 5

// Load reads the stored set without changing it.
func (m *Manager) Load(ctx context.Context) error {
	_, err := m.update(ctx, func(ks []*key) ([]*key, []string, error) { return ks, nil, nil })
	return err
}

// Step performs the transitions that are due now (first keys, publication,
// activation, retirement, removal) and returns what it did.
func (m *Manager) Step(ctx context.Context) ([]string, error) {
	return m.update(ctx, func(ks []*key) ([]*key, []string, error) {
		return m.policy.plan(ks, m.now, nil)
	})
}

// Rotate starts a rotation of each of algs now: it publishes a next key, or
// brings the activation of the next key forward, to the earliest time at
// which every cached JWKS knows it. Activation itself is a later Step.
func (m *Manager) Rotate(ctx context.Context, rotate ...string) ([]string, error) {
	for _, alg := range rotate {
		if !slices.Contains(algs, alg) {
			return nil, fmt.Errorf("keys: no keys of alg %q", alg)
		}
	}
	return m.update(ctx, func(ks []*key) ([]*key, []string, error) {
		return m.policy.plan(ks, m.now, rotate)
	})
}

// update applies change to the stored set by compare-and-swap, retrying
// when another replica changed it meanwhile, and installs the result.
func (m *Manager) update(ctx context.Context, change func([]*key) ([]*key, []string, error)) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for range maxSwaps {
		version, data, err := m.store.LoadKeySet(ctx)
		if err != nil {
			return nil, err
		}
		ks, err := m.keysOf(version, data)
		if err != nil {
			return nil, err
		}
		next, events, err := change(ks)
		if err != nil {
			return nil, err
		}
		if len(events) == 0 {
			return nil, m.install(version, ks)
		}
		for _, k := range next {
			if k.sealed == nil {
				if k.sealed, err = seal(m.aead, k); err != nil {
					return nil, err
				}
			}
		}
		data, err = encode(next)
		if err != nil {
			return nil, err
		}
		swapped, err := m.store.SwapKeySet(ctx, version, data)
		if err != nil {
			return nil, err
		}
		if swapped {
			return events, m.install(version+1, next)
		}
	}
	return nil, fmt.Errorf("keys: the key set changed under %d attempts to update it", maxSwaps)
}

// keysOf returns the keys of a stored version, decoding them only when the
// version is not the installed one.
func (m *Manager) keysOf(version int64, data []byte) ([]*key, error) {
	if cur := m.set.Load(); cur.version == version {
		return cur.keys, nil
	}
	if data == nil {
		return nil, nil
	}
	return decode(m.aead, data)
}

// install makes version the current set, unless it already is.
func (m *Manager) install(version int64, ks []*key) error {
	if m.set.Load().version == version {
		return nil
	}
	s, err := newSet(version, ks)
	if err != nil {
		return fmt.Errorf("keys: key set version %d: %w", version, err)
	}
	m.set.Store(s)
	return nil
}

// Run steps every poll until ctx ends: it performs the transitions due and
// picks up those of other replicas. A failed step is logged and retried at
// the next tick, while the current set keeps serving.
func (m *Manager) Run(ctx context.Context, poll time.Duration, log *slog.Logger) {
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			events, err := m.Step(ctx)
			if err != nil {
				log.ErrorContext(ctx, "signing key step failed", "error", err)
			}
			for _, e := range events {
				log.InfoContext(ctx, e, "event", "signing_key_transition")
			}
		}
	}
}

// Current returns the current version of the set.
func (m *Manager) Current() *Set { return m.set.Load() }

// Sign signs claims with the current set (see Set.Sign).
func (m *Manager) Sign(alg string, claims []byte) (string, error) {
	return m.Current().Sign(alg, claims)
}

// Verify verifies a token with the current set (see Set.Verify).
func (m *Manager) Verify(token string) ([]byte, error) { return m.Current().Verify(token) }

// JWKS returns the JWK Set of the current set (see Set.JWKS).
func (m *Manager) JWKS() ([]byte, string) { return m.Current().JWKS() }

// plan returns the keys after the transitions due now, and a description
// of each; rotate lists the algorithms whose rotation starts now. A new key
// is dated after it was generated (which may take a while for RSA), so that
// its publication lead counts from when it can be stored.
func (p Policy) plan(ks []*key, clock func() time.Time, rotate []string) ([]*key, []string, error) {
	now := clock().UTC()
	var out []*key
	var events []string
	for _, k := range ks {
		if k.State == StateRetired && !now.Before(k.RemoveAt) {
			events = append(events, fmt.Sprintf("%s key %s removed", k.Alg, k.KID))
			continue
		}
		out = append(out, k)
	}
	for _, alg := range algs {
		active, next := find(out, alg, StateActive), find(out, alg, StateNext)
		switch {
		case active == nil:
			// The first key of a new set signs at once: no JWKS has been
			// served, so none is cached.
			k, err := generate(alg, p.RSABits)
			if err != nil {
				return nil, nil, err
			}
			created := clock().UTC()
			k.State, k.Created, k.Activated = StateActive, created, created
			out = append(out, k)
			events = append(events, fmt.Sprintf("%s key %s created and active", alg, k.KID))
		case next == nil && (slices.Contains(rotate, alg) || !now.Before(active.Activated.Add(p.Period-p.Publish))):
			k, err := generate(alg, p.RSABits)
			if err != nil {
				return nil, nil, err
			}
			created := clock().UTC()
			at := created.Add(p.Publish)
			if !slices.Contains(rotate, alg) {
				at = latest(at, active.Activated.Add(p.Period))
			}
			k.State, k.Created, k.ActivateAt = StateNext, created, at
			out = append(out, k)
			events = append(events, fmt.Sprintf("%s key %s published as next; it activates at %s", alg, k.KID, at.Format(time.RFC3339)))
		case next != nil:
			if at := latest(next.Created.Add(p.Publish), now); slices.Contains(rotate, alg) && at.Before(next.ActivateAt) {
				next = replace(out, next, func(k *key) { k.ActivateAt = at })
				events = append(events, fmt.Sprintf("%s key %s now activates at %s", alg, next.KID, at.Format(time.RFC3339)))
			}
			if !now.Before(next.ActivateAt) {
				replace(out, active, func(k *key) { k.State, k.Retired, k.RemoveAt = StateRetired, now, now.Add(p.Retain) })
				replace(out, next, func(k *key) { k.State, k.Activated = StateActive, now })
				events = append(events, fmt.Sprintf("%s key %s active; key %s retired until %s", alg, next.KID, active.KID, now.Add(p.Retain).Format(time.RFC3339)))
			}
		}
	}
	return out, events, nil
}

// find returns the key of alg in state, or nil.
func find(ks []*key, alg, state string) *key {
	for _, k := range ks {
		if k.Alg == alg && k.State == state {
			return k
		}
	}
	return nil
}

// replace replaces k in ks by a copy changed by edit, and returns the copy:
// installed keys are never changed in place.
func replace(ks []*key, k *key, edit func(*key)) *key {
	c := *k
	edit(&c)
	ks[slices.Index(ks, k)] = &c
	return &c
}

func latest(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
