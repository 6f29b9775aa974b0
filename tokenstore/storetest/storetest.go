package storetest

import (
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"authserver/server"
)

// Grace is the grace period of the stores under test: the longest
// access-token lifetime plus clock skew of a typical deployment.
const Grace = 20 * time.Minute

// Lifetimes of the families the suite creates.
const (
	idle     = time.Hour
	lifetime = 24 * time.Hour
)

// Run runs the conformance suite, each subtest on a new empty store from
// open, which must also close the store when the subtest ends (t.Cleanup).
// open may register checks of its own with t.Cleanup; they run after each
// subtest.
func Run(t *testing.T, open func(t *testing.T) server.Tokens) {
	tests := []struct {
		name string
		test func(e *env)
	}{
		{"CreateAndRead", testCreateAndRead},
		{"CreateTakenID", testCreateTakenID},
		{"RefuseMalformed", testRefuseMalformed},
		{"Rotate", testRotate},
		{"UsedIsCapped", testUsedIsCapped},
		{"IdleNeverPastExpires", testIdleNeverPastExpires},
		{"ReuseRevokes", testReuseRevokes},
		{"TooOldIsNotFound", testTooOldIsNotFound},
		{"WrongClient", testWrongClient},
		{"UnknownFamily", testUnknownFamily},
		{"UnknownSecret", testUnknownSecret},
		{"IdleExpiry", testIdleExpiry},
		{"AbsoluteExpiry", testAbsoluteExpiry},
		{"RetryWindow", testRetryWindow},
		{"RetryWindowOff", testRetryWindowOff},
		{"RetryOnlyPrevious", testRetryOnlyPrevious},
		{"CutoffRevokes", testCutoffRevokes},
		{"CutoffBeforeAuthTime", testCutoffBeforeAuthTime},
		{"CutoffNeverMovesBack", testCutoffNeverMovesBack},
		{"RevokeFamily", testRevokeFamily},
		{"AccessTokenActive", testAccessTokenActive},
		{"AccessTokenCutoff", testAccessTokenCutoff},
		{"ConcurrentRotate", testConcurrentRotate},
		{"ConcurrentRotateWithRetry", testConcurrentRotateWithRetry},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.test(&env{t: t, s: open(t), base: time.Now().Truncate(time.Millisecond)})
		})
	}
}

// env is one subtest's store and clock base.
type env struct {
	t    *testing.T
	s    server.Tokens
	base time.Time
}

// at returns the time d after the base.
func (e *env) at(d time.Duration) time.Time { return e.base.Add(d) }

// hash returns the stored hash of a secret.
func hash(secret string) []byte {
	sum := sha256.Sum256([]byte(secret))
	return sum[:]
}

// family creates a family of client "app" for a new user, authenticated at
// authTime, whose current secret is "s0", with edit applied first if given.
func (e *env) family(authTime time.Time, edit ...func(*server.Family)) server.Family {
	e.t.Helper()
	f := server.Family{
		ID: rand.Text(), UserID: "user-" + rand.Text(), ClientID: "app",
		Scope:    []string{"write", "read", "openid"},
		AuthTime: authTime, Expires: authTime.Add(lifetime), IdleExpires: authTime.Add(idle),
		Current: hash("s0"),
	}
	for _, edit := range edit {
		edit(&f)
	}
	if err := e.s.CreateFamily(e.t.Context(), f); err != nil {
		e.t.Fatalf("CreateFamily: %v", err)
	}
	return f
}

// rotation is the rotation of f from secret presented to secret next at
// now, without a retry window.
func rotation(f server.Family, presented, next string, now time.Time) server.Rotation {
	return server.Rotation{
		UserID: f.UserID, FamilyID: f.ID, ClientID: f.ClientID,
		Presented: hash(presented), Next: hash(next), Idle: idle, Now: now,
	}
}

// rotate rotates and fails the test unless the rotation succeeds without a
// retry.
func (e *env) rotate(r server.Rotation) server.Family {
	e.t.Helper()
	f, retry, err := e.s.Rotate(e.t.Context(), r)
	if err != nil || retry != nil {
		e.t.Fatalf("Rotate at %v = %v, %q; want success", r.Now.Sub(e.base), err, retry)
	}
	return f
}

// chain rotates f n times, from "s0" to "s<n>", a minute apart from the base
// on, and returns the family after the last rotation.
func (e *env) chain(f server.Family, n int) server.Family {
	e.t.Helper()
	for i := range n {
		f = e.rotate(rotation(f, fmt.Sprint("s", i), fmt.Sprint("s", i+1), e.at(time.Duration(i+1)*time.Minute)))
	}
	return f
}

// refuse rotates and fails the test unless the error is want; it returns the
// family that Rotate returned.
func (e *env) refuse(r server.Rotation, want error) server.Family {
	e.t.Helper()
	f, retry, err := e.s.Rotate(e.t.Context(), r)
	if !errors.Is(err, want) || retry != nil {
		e.t.Errorf("Rotate at %v = %v, %q; want %v", r.Now.Sub(e.base), err, retry, want)
	}
	return f
}

// read returns the stored family f.
func (e *env) read(f server.Family) server.Family {
	e.t.Helper()
	got, err := e.s.Family(e.t.Context(), f.UserID, f.ID)
	if err != nil {
		e.t.Fatalf("Family: %v", err)
	}
	return got
}

// same fails the test unless got and want are the same family, with times
// compared as instants.
func (e *env) same(what string, got, want server.Family) {
	e.t.Helper()
	if !reflect.DeepEqual(normal(got), normal(want)) {
		e.t.Errorf("%s =\n%+v, want\n%+v", what, got, want)
	}
}

// normal returns f with its times in UTC and without monotonic readings.
func normal(f server.Family) server.Family {
	for _, t := range []*time.Time{&f.AuthTime, &f.Expires, &f.IdleExpires, &f.RotatedAt} {
		*t = t.UTC()
	}
	return f
}

// unchanged fails the test unless the stored family is still want.
func (e *env) unchanged(want server.Family) {
	e.t.Helper()
	e.same("Family", e.read(want), want)
}

func testCreateAndRead(e *env) {
	f := e.family(e.base)
	got := e.read(f)
	e.same("Family", got, f)
	if got.Used != nil || !got.RotatedAt.IsZero() || got.Revoked {
		e.t.Errorf("new family has Used %v, RotatedAt %v, Revoked %v; want nil, zero, false", got.Used, got.RotatedAt, got.Revoked)
	}
}

func testCreateTakenID(e *env) {
	f := e.family(e.base)
	again := f
	again.Current, again.ClientID = hash("other"), "other"
	if err := e.s.CreateFamily(e.t.Context(), again); !errors.Is(err, server.ErrExists) {
		e.t.Errorf("CreateFamily of a taken ID = %v, want ErrExists", err)
	}
	e.unchanged(f)
}

// testRefuseMalformed checks that a store refuses hashes that are not
// SHA-256 sums, which would let an empty secret match an empty hash.
func testRefuseMalformed(e *env) {
	ctx := e.t.Context()
	f := e.family(e.base)
	bad := f
	bad.ID, bad.Current = "bad", nil
	if err := e.s.CreateFamily(ctx, bad); err == nil || errors.Is(err, server.ErrExists) {
		e.t.Errorf("CreateFamily with an empty Current = %v, want an error", err)
	}
	if _, err := e.s.Family(ctx, bad.UserID, bad.ID); !errors.Is(err, server.ErrNotFound) {
		e.t.Errorf("Family after a refused CreateFamily = %v, want ErrNotFound", err)
	}
	r := rotation(f, "s0", "s1", e.at(time.Minute))
	r.Next = r.Next[:sha256.Size-1]
	if _, _, err := e.s.Rotate(ctx, r); err == nil || errors.Is(err, server.ErrNotFound) {
		e.t.Errorf("Rotate to a short Next = %v, want an error", err)
	}
	e.unchanged(f)
}

// testRotate checks RFC 9700 §4.14.2 rotation: the presented token is
// replaced, remembered as used, and the idle expiry moves.
func testRotate(e *env) {
	f := e.family(e.base)
	want := f
	for i, now := range []time.Time{e.at(time.Minute), e.at(2 * time.Minute)} {
		want.Used = append([][]byte{want.Current}, want.Used...)
		want.Current = hash(fmt.Sprint("s", i+1))
		want.RotatedAt, want.IdleExpires = now, now.Add(idle)
		got := e.rotate(rotation(f, fmt.Sprint("s", i), fmt.Sprint("s", i+1), now))
		e.same(fmt.Sprint("Rotate #", i+1), got, want)
		e.unchanged(want)
	}
}

func testUsedIsCapped(e *env) {
	const n = server.MaxUsed + 3
	f := e.chain(e.family(e.base), n)
	var want [][]byte
	for i := n - 1; i >= n-server.MaxUsed; i-- {
		want = append(want, hash(fmt.Sprint("s", i)))
	}
	if got := e.read(f).Used; !reflect.DeepEqual(got, want) {
		e.t.Errorf("after %d rotations, Used has %d hashes, want s%d down to s%d", n, len(got), n-1, n-server.MaxUsed)
	}
}

func testIdleNeverPastExpires(e *env) {
	f := e.family(e.base, func(f *server.Family) { f.Expires = e.at(90 * time.Minute) })
	got := e.rotate(rotation(f, "s0", "s1", e.at(59*time.Minute)))
	if !got.IdleExpires.Equal(f.Expires) {
		e.t.Errorf("IdleExpires = %v, want Expires %v", got.IdleExpires, f.Expires)
	}
}

// testReuseRevokes checks reuse detection (RFC 9700 §4.14.2): a rotated
// token presented again revokes the family.
func testReuseRevokes(e *env) {
	f := e.chain(e.family(e.base), 1)
	got := e.refuse(rotation(f, "s0", "x", e.at(2*time.Minute)), server.ErrReused)
	want := f
	want.Revoked = true
	e.same("family returned with ErrReused", got, want)
	e.unchanged(want)
	e.refuse(rotation(f, "s1", "s2", e.at(3*time.Minute)), server.ErrRevoked)
	e.refuse(rotation(f, "s0", "s2", e.at(3*time.Minute)), server.ErrRevoked)
	e.unchanged(want)
}

func testTooOldIsNotFound(e *env) {
	f := e.chain(e.family(e.base), server.MaxUsed+1)
	e.refuse(rotation(f, "s0", "x", e.at(time.Hour)), server.ErrNotFound)
	e.unchanged(f)
	e.rotate(rotation(f, fmt.Sprint("s", server.MaxUsed+1), "next", e.at(time.Hour)))
}

func testWrongClient(e *env) {
	f := e.chain(e.family(e.base), 1)
	for _, presented := range []string{"s1", "s0", "unknown"} {
		r := rotation(f, presented, "x", e.at(2*time.Minute))
		r.ClientID = "other"
		e.refuse(r, server.ErrWrongClient)
	}
	e.unchanged(f)
	e.rotate(rotation(f, "s1", "s2", e.at(3*time.Minute)))
}

func testUnknownFamily(e *env) {
	ctx := e.t.Context()
	f := e.family(e.base)
	unknown := f
	unknown.ID = "unknown"
	otherUser := f
	otherUser.UserID = "other"
	for name, g := range map[string]server.Family{"unknown family": unknown, "family of another user": otherUser} {
		if _, _, err := e.s.Rotate(ctx, rotation(g, "s0", "s1", e.at(time.Minute))); !errors.Is(err, server.ErrNotFound) {
			e.t.Errorf("Rotate of %s = %v, want ErrNotFound", name, err)
		}
		if err := e.s.RevokeFamily(ctx, g.UserID, g.ID); err != nil {
			e.t.Errorf("RevokeFamily of %s = %v, want nil", name, err)
		}
		if _, err := e.s.Family(ctx, g.UserID, g.ID); !errors.Is(err, server.ErrNotFound) {
			e.t.Errorf("Family of %s after RevokeFamily = %v, want ErrNotFound", name, err)
		}
	}
	e.unchanged(f)
}

func testUnknownSecret(e *env) {
	f := e.chain(e.family(e.base), 1)
	e.refuse(rotation(f, "unknown", "x", e.at(2*time.Minute)), server.ErrNotFound)
	e.unchanged(f)
}

// testIdleExpiry checks that a family ends at its idle expiry, as a token
// ends at its exp (RFC 7519 §4.1.4), and is still readable afterwards.
func testIdleExpiry(e *env) {
	live := e.family(e.base)
	e.rotate(rotation(live, "s0", "s1", live.IdleExpires.Add(-time.Millisecond)))
	for _, now := range []time.Time{e.at(idle), e.at(idle + time.Millisecond)} {
		f := e.family(e.base)
		e.refuse(rotation(f, "s0", "s1", now), server.ErrNotFound)
		e.unchanged(f)
	}
}

func testAbsoluteExpiry(e *env) {
	// IdleExpires is past Expires, so that only Expires ends the family.
	long := func(f *server.Family) { f.Expires, f.IdleExpires = e.at(2*time.Hour), e.at(3*time.Hour) }
	live := e.family(e.base, long)
	e.rotate(rotation(live, "s0", "s1", live.Expires.Add(-time.Millisecond)))
	for _, now := range []time.Time{e.at(2 * time.Hour), e.at(2*time.Hour + time.Millisecond)} {
		f := e.family(e.base, long)
		e.refuse(rotation(f, "s0", "s1", now), server.ErrNotFound)
		e.unchanged(f)
	}
}

// withRetry returns r with a retry window of 10 s and the retry sealed.
func withRetry(r server.Rotation, sealed string) server.Rotation {
	r.Window, r.Retry = 10*time.Second, []byte(sealed)
	return r
}

func testRetryWindow(e *env) {
	ctx := e.t.Context()
	f := e.family(e.base)
	rotated := e.at(time.Minute)
	f = e.rotate(withRetry(rotation(f, "s0", "s1", rotated), "sealed s1"))
	// Replays within the window, up to its last millisecond, get the same
	// successor; a replay neither rotates nor moves the window.
	for _, after := range []time.Duration{0, 5 * time.Second, 10 * time.Second} {
		got, retry, err := e.s.Rotate(ctx, withRetry(rotation(f, "s0", "other", rotated.Add(after)), "sealed other"))
		if err != nil || string(retry) != "sealed s1" {
			e.t.Errorf("replay %v after the rotation = %v, %q; want the retry of the rotation", after, err, retry)
		}
		e.same("family returned with the retry", got, f)
		e.unchanged(f)
	}
	e.refuse(withRetry(rotation(f, "s0", "other", rotated.Add(10*time.Second+time.Millisecond)), "sealed other"),
		server.ErrReused)
	if !e.read(f).Revoked {
		e.t.Error("replay after the window did not revoke the family")
	}
}

func testRetryWindowOff(e *env) {
	// Without a window, even a replay at the instant of the rotation is a
	// reuse, whether the rotation sealed a retry or not.
	for _, sealed := range []string{"", "sealed s1"} {
		f := e.family(e.base)
		r := rotation(f, "s0", "s1", e.at(time.Minute))
		if sealed != "" {
			r = withRetry(r, sealed)
		}
		f = e.rotate(r)
		e.refuse(rotation(f, "s0", "other", e.at(time.Minute)), server.ErrReused)
	}
}

func testRetryOnlyPrevious(e *env) {
	ctx := e.t.Context()
	f := e.family(e.base)
	f = e.rotate(withRetry(rotation(f, "s0", "s1", e.at(time.Minute)), "sealed s1"))
	f = e.rotate(withRetry(rotation(f, "s1", "s2", e.at(time.Minute+time.Second)), "sealed s2"))
	if _, retry, err := e.s.Rotate(ctx, withRetry(rotation(f, "s1", "x", e.at(time.Minute+2*time.Second)), "x")); err != nil || string(retry) != "sealed s2" {
		e.t.Errorf("replay of the previous secret = %v, %q; want the retry of the last rotation", err, retry)
	}
	e.refuse(withRetry(rotation(f, "s0", "x", e.at(time.Minute+2*time.Second)), "x"), server.ErrReused)
}

// setCutoff sets the cut-off of f's user to at, kept for the lifetime of a
// family.
func (e *env) setCutoff(f server.Family, at time.Time) {
	e.t.Helper()
	if err := e.s.SetCutoff(e.t.Context(), f.UserID, at, at.Add(lifetime)); err != nil {
		e.t.Fatalf("SetCutoff: %v", err)
	}
}

func testCutoffRevokes(e *env) {
	f := e.chain(e.family(e.base), 1)
	e.setCutoff(f, f.AuthTime)
	e.refuse(rotation(f, "s1", "s2", e.at(2*time.Minute)), server.ErrRevoked)
	want := f
	want.Revoked = true
	e.unchanged(want)
}

func testCutoffBeforeAuthTime(e *env) {
	f := e.family(e.base)
	e.setCutoff(f, f.AuthTime.Add(-time.Millisecond))
	e.rotate(rotation(f, "s0", "s1", e.at(time.Minute)))
}

func testCutoffNeverMovesBack(e *env) {
	f := e.family(e.base)
	e.setCutoff(f, e.base)
	e.setCutoff(f, e.base.Add(-time.Hour))
	// A family of the same user authenticated before the later cut-off is
	// cut off; one authenticated after it is not.
	before := e.family(e.base.Add(-time.Millisecond), func(g *server.Family) { g.UserID = f.UserID })
	after := e.family(e.base.Add(time.Millisecond), func(g *server.Family) { g.UserID = f.UserID })
	e.refuse(rotation(before, "s0", "s1", e.at(time.Minute)), server.ErrRevoked)
	e.rotate(rotation(after, "s0", "s1", e.at(time.Minute)))
}

func testRevokeFamily(e *env) {
	f := e.chain(e.family(e.base), 1)
	for range 2 { // Revoking twice is no error.
		if err := e.s.RevokeFamily(e.t.Context(), f.UserID, f.ID); err != nil {
			e.t.Fatalf("RevokeFamily: %v", err)
		}
	}
	want := f
	want.Revoked = true
	e.unchanged(want)
	e.refuse(rotation(f, "s1", "s2", e.at(2*time.Minute)), server.ErrRevoked)
}

// active fails the test unless AccessTokenActive(t) is want.
func (e *env) active(what string, t server.AccessToken, want bool) {
	e.t.Helper()
	if got, err := e.s.AccessTokenActive(e.t.Context(), t); err != nil || got != want {
		e.t.Errorf("AccessTokenActive(%s) = %v, %v; want %v", what, got, err, want)
	}
}

func testAccessTokenActive(e *env) {
	ctx := e.t.Context()
	f := e.family(e.base)
	token := func(jti, familyID string) server.AccessToken {
		return server.AccessToken{JTI: jti, UserID: f.UserID, FamilyID: familyID, IssuedAt: e.at(time.Minute)}
	}
	e.active("token of no family", token("a", ""), true)
	e.active("token of a family", token("b", f.ID), true)
	e.active("token of an unknown family", token("c", "unknown"), false)

	if err := e.s.RevokeAccessToken(ctx, "a", e.at(16*time.Minute)); err != nil {
		e.t.Fatalf("RevokeAccessToken: %v", err)
	}
	e.active("revoked token", token("a", ""), false)
	e.active("other token", token("d", ""), true)

	if err := e.s.RevokeFamily(ctx, f.UserID, f.ID); err != nil {
		e.t.Fatalf("RevokeFamily: %v", err)
	}
	e.active("token of a revoked family", token("b", f.ID), false)
	e.active("token of no family, same user", token("e", ""), true)
}

func testAccessTokenCutoff(e *env) {
	cut := e.at(time.Minute)
	f := e.family(e.base)
	later := e.family(cut.Add(time.Millisecond), func(g *server.Family) { g.UserID = f.UserID })
	e.setCutoff(f, cut)
	token := func(familyID string, issued time.Time) server.AccessToken {
		return server.AccessToken{JTI: rand.Text(), UserID: f.UserID, FamilyID: familyID, IssuedAt: issued}
	}
	e.active("token issued before the cut-off", token("", cut.Add(-time.Second)), false)
	e.active("token issued at the cut-off", token("", cut), false)
	e.active("token issued after the cut-off", token("", cut.Add(time.Millisecond)), true)
	e.active("token of a family authenticated after the cut-off", token(later.ID, cut.Add(time.Second)), true)
	// The family is cut off even before a rotation revokes it.
	e.active("token issued after the cut-off in a family authenticated before it",
		token(f.ID, cut.Add(time.Second)), false)
	other := server.AccessToken{JTI: rand.Text(), UserID: "other", IssuedAt: cut}
	e.active("token of another user", other, true)
}

// testConcurrentRotate presents one token 50 times at once: exactly one
// rotation wins; the others find a rotated token (a reuse, which revokes the
// family) or a revoked family.
func testConcurrentRotate(e *env) {
	f := e.family(e.base)
	results := e.rotateAtOnce(f, 50, func(r server.Rotation) server.Rotation { return r })
	winner := -1
	for i, res := range results {
		switch {
		case res.err == nil && res.retry == nil:
			if winner >= 0 {
				e.t.Errorf("rotations %d and %d both succeeded", winner, i)
			}
			winner = i
		case !errors.Is(res.err, server.ErrReused) && !errors.Is(res.err, server.ErrRevoked) &&
			!errors.Is(res.err, server.ErrNotFound):
			e.t.Errorf("rotation %d = %v, %q; want ErrReused, ErrRevoked or ErrNotFound", i, res.err, res.retry)
		}
	}
	if winner < 0 {
		e.t.Fatal("no rotation succeeded")
	}
	if got := e.read(f); !reflect.DeepEqual(got.Current, hash(fmt.Sprint("next", winner))) {
		e.t.Errorf("Current is not the winner's Next")
	}
}

// testConcurrentRotateWithRetry presents one token 50 times at once within
// a retry window: exactly one rotation wins and the others get its retry.
func testConcurrentRotateWithRetry(e *env) {
	f := e.family(e.base)
	results := e.rotateAtOnce(f, 50, func(r server.Rotation) server.Rotation {
		return withRetry(r, "sealed "+string(r.Next))
	})
	winner := -1
	for i, res := range results {
		if res.err == nil && res.retry == nil {
			if winner >= 0 {
				e.t.Errorf("rotations %d and %d both succeeded", winner, i)
			}
			winner = i
		}
	}
	if winner < 0 {
		e.t.Fatal("no rotation succeeded")
	}
	for i, res := range results {
		if i != winner && (res.err != nil || string(res.retry) != "sealed "+string(hash(fmt.Sprint("next", winner)))) {
			e.t.Errorf("rotation %d = %v, %q; want the winner's retry", i, res.err, res.retry)
		}
	}
	if got := e.read(f); !reflect.DeepEqual(got.Current, hash(fmt.Sprint("next", winner))) || got.Revoked {
		e.t.Errorf("family after the rotations: Revoked %v, Current is the winner's Next: %v",
			got.Revoked, reflect.DeepEqual(got.Current, hash(fmt.Sprint("next", winner))))
	}
}

// result is what one Rotate returned.
type result struct {
	retry []byte
	err   error
}

// rotateAtOnce rotates f's current secret "s0" n times concurrently, the
// i-th time to "next<i>", each rotation edited by edit.
func (e *env) rotateAtOnce(f server.Family, n int, edit func(server.Rotation) server.Rotation) []result {
	results := make([]result, n)
	var wg sync.WaitGroup
	for i := range results {
		r := edit(rotation(f, "s0", fmt.Sprint("next", i), e.at(time.Minute)))
		wg.Go(func() {
			_, results[i].retry, results[i].err = e.s.Rotate(e.t.Context(), r)
		})
	}
	wg.Wait()
	return results
}
