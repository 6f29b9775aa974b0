package tokenstore

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"authserver/server"
)

// Record is a family as a backend stores it.
type Record struct {
	server.Family
	// Retry is the server.Rotation.Retry of the last rotation.
	Retry []byte
}

// Rotate applies r to rec, a stored family whose user's cut-off is cutoff
// (zero if none), as server.Tokens.Rotate specifies. It returns what Rotate
// returns besides rec.Family, and whether it changed rec, which the backend
// must then write back in the same transaction. A family that is cut off is
// revoked (RFC 9700 §4.14.2: the family dies with the login); a rotated
// secret presented again revokes it too, unless it is a replay of the
// previous secret within r.Window.
func (rec *Record) Rotate(cutoff time.Time, r server.Rotation) (retry []byte, changed bool, err error) {
	f := &rec.Family
	now := Millis(r.Now)
	window := r.Window.Milliseconds()
	switch {
	case now >= Millis(End(*f)):
		return nil, false, server.ErrNotFound
	case f.ClientID != r.ClientID:
		return nil, false, server.ErrWrongClient
	case f.Revoked:
		return nil, false, server.ErrRevoked
	case cutOff(f.AuthTime, cutoff):
		f.Revoked = true
		return nil, true, server.ErrRevoked
	case bytes.Equal(r.Presented, f.Current):
		used := append([][]byte{f.Current}, f.Used...)
		f.Used = used[:min(len(used), server.MaxUsed)]
		f.Current = r.Next
		f.RotatedAt = Time(now)
		f.IdleExpires = Time(min(now+r.Idle.Milliseconds(), Millis(f.Expires)))
		rec.Retry = r.Retry
		return nil, true, nil
	case len(f.Used) > 0 && bytes.Equal(r.Presented, f.Used[0]) &&
		window > 0 && now-Millis(f.RotatedAt) <= window && len(rec.Retry) > 0:
		return rec.Retry, false, nil
	case slices.ContainsFunc(f.Used, func(h []byte) bool { return bytes.Equal(h, r.Presented) }):
		f.Revoked = true
		return nil, true, server.ErrReused
	}
	return nil, false, server.ErrNotFound
}

// Active reports whether an unexpired access token t is active, as
// server.Tokens.AccessTokenActive specifies: denied is whether its jti is
// denied, family its family (nil if unknown; only Revoked and AuthTime are
// read) and cutoff its user's cut-off (zero if none).
func Active(t server.AccessToken, denied bool, family *server.Family, cutoff time.Time) bool {
	switch {
	case denied, cutOff(t.IssuedAt, cutoff):
		return false
	case t.FamilyID == "":
		return true
	}
	return family != nil && !family.Revoked && !cutOff(family.AuthTime, cutoff)
}

// cutOff reports whether what was issued or authenticated at t is inactive
// under cutoff, zero meaning none.
func cutOff(t, cutoff time.Time) bool {
	return !cutoff.IsZero() && Millis(t) <= Millis(cutoff)
}

// End returns the logical end of a family: the earlier of its idle and
// absolute expiries. A backend keeps the family until End plus its grace
// period.
func End(f server.Family) time.Time {
	if f.IdleExpires.Before(f.Expires) {
		return f.IdleExpires
	}
	return f.Expires
}

// CheckFamily reports a family that CreateFamily must refuse: one without
// ID, UserID or ClientID, or whose hashes are not SHA-256 sums, or with more
// than server.MaxUsed of them in Used.
func CheckFamily(f server.Family) error {
	switch {
	case f.ID == "" || f.UserID == "" || f.ClientID == "":
		return errors.New("family needs an ID, a UserID and a ClientID")
	case len(f.Used) > server.MaxUsed:
		return fmt.Errorf("family has %d used hashes, more than %d", len(f.Used), server.MaxUsed)
	}
	return checkHashes(append([][]byte{f.Current}, f.Used...)...)
}

// CheckRotation reports a rotation whose hashes are not SHA-256 sums.
func CheckRotation(r server.Rotation) error {
	return checkHashes(r.Presented, r.Next)
}

// checkHashes reports a hash that is not sha256.Size bytes long.
func checkHashes(hashes ...[]byte) error {
	for _, h := range hashes {
		if len(h) != sha256.Size {
			return fmt.Errorf("hash of %d bytes, want a SHA-256 of %d", len(h), sha256.Size)
		}
	}
	return nil
}

// Millis returns t as stored: unix milliseconds, 0 for the zero time.
func Millis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// Time returns the time of stored unix milliseconds, in UTC; 0 is the zero
// time.
func Time(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

// JoinScope returns the stored form of a scope: its values joined by spaces,
// which a scope value never contains (RFC 6749 §3.3).
func JoinScope(scope []string) string {
	return strings.Join(scope, " ")
}

// SplitScope returns the scope of its stored form, nil if empty.
func SplitScope(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, " ")
}

// JoinUsed returns the stored form of Family.Used: its hashes, newest
// first, concatenated.
func JoinUsed(used [][]byte) []byte {
	return bytes.Join(used, nil)
}

// SplitUsed returns the Family.Used of its stored form, nil if empty.
func SplitUsed(b []byte) ([][]byte, error) {
	if len(b)%sha256.Size != 0 {
		return nil, fmt.Errorf("used hashes of %d bytes, not a multiple of %d", len(b), sha256.Size)
	}
	var used [][]byte
	for h := range slices.Chunk(b, sha256.Size) {
		used = append(used, h)
	}
	return used, nil
}
