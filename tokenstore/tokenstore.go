package tokenstore

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"math"
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

// CheckBackoff reports a server.Backoff that Fail must refuse: a Limit
// below 1, a Window, Base or Max shorter than a millisecond (the unit of
// every stored time), or a Max shorter than Base.
func CheckBackoff(b server.Backoff) error {
	if b.Limit < 1 {
		return fmt.Errorf("backoff limit %d: want at least 1", b.Limit)
	}
	for i, d := range []time.Duration{b.Window, b.Base, b.Max} {
		if d < time.Millisecond {
			return fmt.Errorf("backoff %s %v: want at least 1ms", []string{"window", "base", "max"}[i], d)
		}
	}
	if b.Max < b.Base {
		return fmt.Errorf("backoff max %v is shorter than its base %v", b.Max, b.Base)
	}
	return nil
}

// Lockout returns how long count failures lock a key out under b:
// 0 below b.Limit, else b.Base × 2^(count − b.Limit), at most b.Max, in
// whole milliseconds. b must pass CheckBackoff.
func Lockout(count int, b server.Backoff) time.Duration {
	return time.Duration(lockout(count, b)) * time.Millisecond
}

// lockout is Lockout in milliseconds. It doubles step by step, as the Lua
// scripts do, and stops at the cap, so that it never overflows.
func lockout(count int, b server.Backoff) int64 {
	if count < b.Limit {
		return 0
	}
	lock, most := b.Base.Milliseconds(), b.Max.Milliseconds()
	for range count - b.Limit {
		if lock >= most {
			break
		}
		lock *= 2
	}
	return min(lock, most)
}

// Failures are the failures of a throttle key as a backend stores them. The
// zero Failures is a key without failures.
//
// The failures are a chain, each at most Window after the previous one: a
// failure more than the window after the latest (Last) starts a new chain,
// and so does a record past Expires. A lockout (Until) runs to its end even
// when the chain that caused it is forgotten, and a failure never shortens
// it.
type Failures struct {
	// Count is the length of the chain.
	Count int
	// Last is the time of the latest failure, and Window the window of the
	// Backoff it was recorded with, in milliseconds.
	Last, Window int64
	// Until is the end of the lockout, 0 if none.
	Until int64
}

// Expires returns when f no longer matters and may be deleted: the
// millisecond after the window of its latest failure or the end of its
// lockout, whichever is later. A backend treats a record at or past its
// Expires as absent, whether or not it is still stored.
func (f Failures) Expires() int64 {
	return max(f.Last+f.Window+1, f.Until)
}

// Locked returns what server.Throttle.Locked returns for a key whose stored
// failures are f: how long it is still locked out at now and how many
// failures still count, that is those that the next failure at now would
// continue (so that a Fail at now makes them one more).
func (f Failures) Locked(now time.Time) (lockedFor time.Duration, failures int) {
	ms := Millis(now)
	if ms >= f.Expires() {
		return 0, 0
	}
	if ms-f.Last <= f.Window {
		failures = f.Count
	}
	return time.Duration(max(f.Until-ms, 0)) * time.Millisecond, failures
}

// Fail records a failure at now under b, which must pass CheckBackoff, as
// server.Throttle.Fail specifies, and returns how long the key is locked
// out from now on: the longer of the lockout of the new count (Lockout)
// and what is left of the current one. The backend must then write f back,
// in the same transaction, to expire at f.Expires(). fail.lua of redisstore
// mirrors it.
func (f *Failures) Fail(now time.Time, b server.Backoff) (lockedFor time.Duration) {
	ms, window := Millis(now), b.Window.Milliseconds()
	if ms >= f.Expires() {
		*f = Failures{}
	}
	if f.Count > 0 && ms-f.Last > window {
		f.Count = 0
	}
	f.Count++
	f.Last = max(f.Last, ms) // A replica whose clock is behind never moves it back.
	f.Window = window
	if lock := lockout(f.Count, b); lock > 0 {
		f.Until = max(f.Until, ms+lock)
	}
	return time.Duration(max(f.Until-ms, 0)) * time.Millisecond
}

// maxFill is the longest time, in milliseconds, that a bucket may take to
// fill: the longest time.Duration, some 292 years. A retry is at most that,
// and every time a backend computes stays an exact integer in a float64
// (the numbers of Redis's Lua scripts). A Backoff's durations are
// time.Durations, so its times stay within that range too.
const maxFill = int64(math.MaxInt64 / time.Millisecond)

// CheckBucket reports a token bucket that Allow must refuse: a rate that is
// not positive and finite, a burst below 1, or a bucket that would take
// longer than the longest time.Duration to fill.
func CheckBucket(rate float64, burst int) error {
	switch {
	case !(rate > 0) || math.IsInf(rate, 0):
		return fmt.Errorf("bucket rate %v: want a positive finite rate", rate)
	case burst < 1:
		return fmt.Errorf("bucket burst %d: want at least 1", burst)
	case float64(burst)*1000/rate > float64(maxFill-1):
		return fmt.Errorf("bucket of burst %d at rate %v/s takes longer than %v to fill", burst, rate,
			time.Duration(math.MaxInt64))
	}
	return nil
}

// Bucket is a token bucket as a backend stores it: how many tokens have
// been taken and not yet refilled, as of a time. The zero Bucket is full.
type Bucket struct {
	// Taken is the number of tokens missing at At: 0 when the bucket is
	// full, at most its burst.
	Taken float64
	// At is when Taken was counted, in unix milliseconds.
	At int64
}

// taken returns the tokens still missing d milliseconds after k.At at
// rate, never below 0. Every computation of a bucket goes through it (and
// allow.lua's taken), so that they agree to the last bit.
func (k Bucket) taken(d int64, rate float64) float64 {
	return max(k.Taken-float64(d)*rate/1000, 0)
}

// wait returns the fewest whole milliseconds after k.At at which no more
// than missing tokens are missing at rate: the estimate of the division,
// corrected for its rounding.
func (k Bucket) wait(missing, rate float64) int64 {
	d := max(int64(math.Ceil((k.Taken-missing)*1000/rate)), 0)
	for k.taken(d, rate) > missing {
		d++
	}
	for d > 0 && k.taken(d-1, rate) <= missing {
		d--
	}
	return d
}

// Expires returns when k is full again at rate, and may be deleted, in
// unix milliseconds. A bucket at or past it is the same as none.
func (k Bucket) Expires(rate float64) int64 {
	return k.At + k.wait(0, rate)
}

// Allow takes one token at now from k, which holds at most burst and
// refills at rate per second, as server.Throttle.Allow specifies; rate and
// burst must pass CheckBucket. Time counts in whole milliseconds: ok is
// whether a token was there; if not, retry is the fewest milliseconds after
// now at which one will be, and k is unchanged. If ok, the backend must
// write k back, in the same transaction, to expire at k.Expires(rate).
// allow.lua of redisstore mirrors it.
func (k *Bucket) Allow(now time.Time, rate float64, burst int) (ok bool, retry time.Duration) {
	ms := Millis(now)
	// A replica whose clock is behind refills nothing and never moves At
	// back. Both the decision and the retry compare with burst − 1 what
	// taken returns from the stored k, so that the retry is exact: a call
	// at now + retry finds the token.
	if taken := k.taken(max(ms-k.At, 0), rate); taken <= float64(burst-1) {
		*k = Bucket{Taken: taken + 1, At: max(k.At, ms)}
		return true, 0
	}
	return false, time.Duration(k.At+k.wait(float64(burst-1), rate)-ms) * time.Millisecond
}
