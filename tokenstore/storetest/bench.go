package storetest

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"testing"
	"time"

	"authserver/server"
)

// BenchRotate measures Rotate on s: each iteration rotates the token that
// the previous one issued, so the family has a full list of used hashes.
func BenchRotate(b *testing.B, s server.Tokens) {
	now := time.Now().Truncate(time.Millisecond)
	f := server.Family{
		ID: rand.Text(), UserID: "bench-user", ClientID: "app", Scope: []string{"read"},
		AuthTime: now, Expires: now.Add(lifetime), IdleExpires: now.Add(idle), Current: hash("s0"),
	}
	if err := s.CreateFamily(b.Context(), f); err != nil {
		b.Fatal(err)
	}
	r := server.Rotation{UserID: f.UserID, FamilyID: f.ID, ClientID: f.ClientID, Presented: f.Current, Idle: idle, Now: now}
	var n uint64
	for b.Loop() {
		n++
		next := sha256.Sum256(binary.BigEndian.AppendUint64(nil, n))
		r.Next = next[:]
		if _, _, err := s.Rotate(b.Context(), r); err != nil {
			b.Fatal(err)
		}
		r.Presented = r.Next
	}
}

// BenchLocked measures Locked on s of a key with failures on record.
func BenchLocked(b *testing.B, s server.Throttle) {
	now := time.Now().Truncate(time.Millisecond)
	key := "bench-" + rand.Text()
	for range backoff.Limit {
		if _, err := s.Fail(b.Context(), key, now, backoff); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		if lockedFor, _, err := s.Locked(b.Context(), key, now); err != nil || lockedFor == 0 {
			b.Fatalf("Locked = %v, %v; want a lockout", lockedFor, err)
		}
	}
}

// BenchAllow measures Allow on s when it gives a token, so that it writes:
// each iteration comes a millisecond after the previous one, and the
// bucket refills one token a millisecond.
func BenchAllow(b *testing.B, s server.Throttle) {
	now := time.Now().Truncate(time.Millisecond)
	key := "bench-" + rand.Text()
	for b.Loop() {
		now = now.Add(time.Millisecond)
		if ok, retry, err := s.Allow(b.Context(), key, now, 1000, 1); err != nil || !ok {
			b.Fatalf("Allow = %v, %v, %v; want a token", ok, retry, err)
		}
	}
}
