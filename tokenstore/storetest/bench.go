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
