package storetest

import (
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"authserver/server"
)

// backoff is the Backoff of most throttle subtests: a window longer than
// any lockout, so that only the lockout counts down.
var backoff = server.Backoff{Limit: 3, Window: time.Hour, Base: time.Minute, Max: 10 * time.Minute}

// RunThrottle runs the conformance suite of server.Throttle, each subtest
// on a new empty store from open, which must also close the store when the
// subtest ends (t.Cleanup). open may register checks of its own with
// t.Cleanup; they run after each subtest.
func RunThrottle(t *testing.T, open func(t *testing.T) server.Throttle) {
	tests := []struct {
		name string
		test func(e *throttleEnv)
	}{
		{"NoFailures", testNoFailures},
		{"BelowLimit", testBelowLimit},
		{"LockedAtLimit", testLockedAtLimit},
		{"LockoutDoubles", testLockoutDoubles},
		{"LockoutCountsDown", testLockoutCountsDown},
		{"WindowForgets", testWindowForgets},
		{"LockoutOutlivesWindow", testLockoutOutlivesWindow},
		{"Reset", testReset},
		{"KeysIndependent", testKeysIndependent},
		{"ConcurrentFail", testConcurrentFail},
		{"RefuseInvalid", testRefuseInvalid},
		{"AllowBurst", testAllowBurst},
		{"AllowRefill", testAllowRefill},
		{"AllowFractionalRate", testAllowFractionalRate},
		{"AllowNeverMoreThanBurst", testAllowNeverMoreThanBurst},
		{"ConcurrentAllow", testConcurrentAllow},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.test(&throttleEnv{t: t, s: open(t), base: time.Now().Truncate(time.Millisecond)})
		})
	}
}

// throttleEnv is one throttle subtest's store and clock base.
type throttleEnv struct {
	t    *testing.T
	s    server.Throttle
	base time.Time
}

// at returns the time d after the base.
func (e *throttleEnv) at(d time.Duration) time.Time { return e.base.Add(d) }

// fail records a failure of key at d after the base under b and fails the
// test unless it locks key out for want.
func (e *throttleEnv) fail(key string, d time.Duration, b server.Backoff, want time.Duration) {
	e.t.Helper()
	if got, err := e.s.Fail(e.t.Context(), key, e.at(d), b); err != nil || got != want {
		e.t.Errorf("Fail(%s) at %v = %v, %v; want %v", key, d, got, err, want)
	}
}

// locked fails the test unless key is locked out for wantFor with
// wantFailures at d after the base.
func (e *throttleEnv) locked(key string, d, wantFor time.Duration, wantFailures int) {
	e.t.Helper()
	if got, n, err := e.s.Locked(e.t.Context(), key, e.at(d)); err != nil || got != wantFor || n != wantFailures {
		e.t.Errorf("Locked(%s) at %v = %v, %d, %v; want %v, %d", key, d, got, n, err, wantFor, wantFailures)
	}
}

// allow takes a token from key's bucket at d after the base and fails the
// test unless the answer is ok and retry.
func (e *throttleEnv) allow(key string, d time.Duration, rate float64, burst int, ok bool, retry time.Duration) {
	e.t.Helper()
	if gotOK, gotRetry, err := e.s.Allow(e.t.Context(), key, e.at(d), rate, burst); err != nil || gotOK != ok || gotRetry != retry {
		e.t.Errorf("Allow(%s, %v, %d) at %v = %v, %v, %v; want %v, %v", key, rate, burst, d, gotOK, gotRetry, err, ok, retry)
	}
}

// drain takes n tokens from key's bucket at d after the base, each of
// which must be there, and checks that the next one is refused for retry.
func (e *throttleEnv) drain(key string, d time.Duration, rate float64, burst, n int, retry time.Duration) {
	e.t.Helper()
	for range n {
		e.allow(key, d, rate, burst, true, 0)
	}
	e.allow(key, d, rate, burst, false, retry)
}

func testNoFailures(e *throttleEnv) {
	e.locked("k", 0, 0, 0)
}

func testBelowLimit(e *throttleEnv) {
	for i := range backoff.Limit - 1 {
		e.fail("k", time.Duration(i)*time.Second, backoff, 0)
	}
	e.locked("k", time.Minute, 0, backoff.Limit-1)
}

func testLockedAtLimit(e *throttleEnv) {
	for i := range backoff.Limit - 1 {
		e.fail("k", time.Duration(i)*time.Second, backoff, 0)
	}
	last := time.Duration(backoff.Limit) * time.Second
	e.fail("k", last, backoff, backoff.Base)
	e.locked("k", last, backoff.Base, backoff.Limit)
}

// testLockoutDoubles checks that each failure after the limit doubles the
// lockout up to the cap, and that the cap holds however many failures
// follow (the doubling must not overflow).
func testLockoutDoubles(e *throttleEnv) {
	for i := range backoff.Limit - 1 {
		e.fail("k", time.Duration(i)*time.Second, backoff, 0)
	}
	i := backoff.Limit
	for _, want := range []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute, 10 * time.Minute, 10 * time.Minute} {
		e.fail("k", time.Duration(i)*time.Second, backoff, want)
		i++
	}
	for range 70 {
		e.fail("k", time.Duration(i)*time.Second, backoff, backoff.Max)
		i++
	}
	e.locked("k", time.Duration(i-1)*time.Second, backoff.Max, backoff.Limit+75)
}

// testLockoutCountsDown checks that Locked reports what is left of the
// lockout to the millisecond, then 0 while the failures still count, then
// nothing once the window after the last one has passed.
func testLockoutCountsDown(e *throttleEnv) {
	for range backoff.Limit - 1 {
		e.fail("k", 0, backoff, 0)
	}
	e.fail("k", 0, backoff, backoff.Base)
	for _, d := range []time.Duration{0, time.Millisecond, time.Second, backoff.Base - time.Millisecond} {
		e.locked("k", d, backoff.Base-d, backoff.Limit)
	}
	e.locked("k", backoff.Base, 0, backoff.Limit)
	e.locked("k", backoff.Window, 0, backoff.Limit)
	e.locked("k", backoff.Window+time.Millisecond, 0, 0)
}

// testWindowForgets checks that failures exactly the window apart form a
// chain and one a millisecond later starts a new one.
func testWindowForgets(e *throttleEnv) {
	b := server.Backoff{Limit: 3, Window: 10 * time.Minute, Base: time.Minute, Max: time.Hour}
	e.fail("chain", 0, b, 0)
	e.fail("chain", b.Window, b, 0)
	e.fail("chain", 2*b.Window, b, b.Base)

	e.fail("broken", 0, b, 0)
	e.fail("broken", b.Window, b, 0)
	e.locked("broken", 2*b.Window, 0, 2)
	e.locked("broken", 2*b.Window+time.Millisecond, 0, 0)
	e.fail("broken", 2*b.Window+time.Millisecond, b, 0)
	e.locked("broken", 2*b.Window+time.Millisecond, 0, 1)
	e.fail("broken", 2*b.Window+time.Second, b, 0)
	e.fail("broken", 2*b.Window+2*time.Second, b, b.Base)
}

// testLockoutOutlivesWindow checks a lockout longer than the window: it
// runs to its end after the failures that caused it are forgotten, and a
// failure in it starts a new chain without shortening it.
func testLockoutOutlivesWindow(e *throttleEnv) {
	b := server.Backoff{Limit: 2, Window: time.Minute, Base: 5 * time.Minute, Max: time.Hour}
	e.fail("k", 0, b, 0)
	e.fail("k", time.Second, b, b.Base)
	later := time.Second + 2*time.Minute
	e.locked("k", later, 3*time.Minute, 0)
	e.fail("k", later, b, 3*time.Minute)
	e.locked("k", later, 3*time.Minute, 1)
	e.fail("k", later+time.Millisecond, b, b.Base)
	e.locked("k", later+time.Millisecond, b.Base, 2)
	e.locked("k", later+b.Base, time.Millisecond, 0)
	e.locked("k", later+time.Millisecond+b.Base, 0, 0)
}

func testReset(e *throttleEnv) {
	ctx := e.t.Context()
	for range backoff.Limit - 1 {
		e.fail("k", 0, backoff, 0)
	}
	e.fail("k", 0, backoff, backoff.Base)
	if err := e.s.Reset(ctx, "k"); err != nil {
		e.t.Fatalf("Reset: %v", err)
	}
	e.locked("k", 0, 0, 0)
	e.fail("k", time.Second, backoff, 0)
	e.locked("k", time.Second, 0, 1)
	if err := e.s.Reset(ctx, "unknown"); err != nil {
		e.t.Errorf("Reset of an unknown key = %v, want nil", err)
	}
}

func testKeysIndependent(e *throttleEnv) {
	for range backoff.Limit - 1 {
		e.fail("a", 0, backoff, 0)
	}
	e.fail("a", 0, backoff, backoff.Base)
	e.locked("b", 0, 0, 0)
	e.fail("b", 0, backoff, 0)
	e.locked("b", 0, 0, 1)
	if err := e.s.Reset(e.t.Context(), "b"); err != nil {
		e.t.Fatalf("Reset: %v", err)
	}
	e.locked("a", 0, backoff.Base, backoff.Limit)

	// Buckets are apart from each other and from the failures.
	e.drain("a", 0, 1, 2, 2, time.Second)
	e.drain("b", 0, 1, 2, 2, time.Second)
	e.drain("c", 0, 1, 2, 2, time.Second)
	e.locked("a", 0, backoff.Base, backoff.Limit)
	e.locked("c", 0, 0, 0)
}

// testConcurrentFail records 20 failures of one key at once: each is
// counted once, so the lockouts returned are those of counts 1 to 20.
func testConcurrentFail(e *throttleEnv) {
	const n = 20
	b := server.Backoff{Limit: 10, Window: time.Hour, Base: time.Second, Max: time.Hour}
	got := make([]time.Duration, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { got[i], errs[i] = e.s.Fail(e.t.Context(), "k", e.base, b) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			e.t.Fatalf("Fail #%d: %v", i, err)
		}
	}
	var want []time.Duration
	for count := 1; count <= n; count++ {
		if count < b.Limit {
			want = append(want, 0)
		} else {
			want = append(want, b.Base<<(count-b.Limit))
		}
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		e.t.Errorf("concurrent Fails returned %v, want %v", got, want)
	}
	e.locked("k", 0, b.Base<<(n-b.Limit), n)
}

// testRefuseInvalid checks that a backoff or a bucket that the arithmetic
// cannot serve (tokenstore.CheckBackoff, tokenstore.CheckBucket) is an
// error that records nothing.
func testRefuseInvalid(e *throttleEnv) {
	ctx := e.t.Context()
	for _, edit := range []func(*server.Backoff){
		func(b *server.Backoff) { b.Limit = 0 },
		func(b *server.Backoff) { b.Window = 0 },
		func(b *server.Backoff) { b.Base = time.Microsecond },
		func(b *server.Backoff) { b.Max = b.Base - time.Millisecond },
	} {
		b := backoff
		edit(&b)
		if _, err := e.s.Fail(ctx, "k", e.base, b); err == nil {
			e.t.Errorf("Fail with %+v succeeded, want an error", b)
		}
	}
	e.locked("k", 0, 0, 0)
	for _, tt := range []struct {
		rate  float64
		burst int
	}{{0, 1}, {-1, 1}, {math.NaN(), 1}, {math.Inf(1), 1}, {1, 0}, {1e-300, 1}} {
		if _, _, err := e.s.Allow(ctx, "k", e.base, tt.rate, tt.burst); err == nil {
			e.t.Errorf("Allow with rate %v and burst %d succeeded, want an error", tt.rate, tt.burst)
		}
	}
	e.drain("k", 0, 1, 1, 1, time.Second)
}

// testAllowBurst checks that a full bucket gives burst tokens at once, then
// refuses until one token has come back, without a refusal taking any.
func testAllowBurst(e *throttleEnv) {
	e.drain("k", 0, 4, 10, 10, 250*time.Millisecond)
	e.allow("k", 0, 4, 10, false, 250*time.Millisecond)
	e.allow("k", 100*time.Millisecond, 4, 10, false, 150*time.Millisecond)
}

func testAllowRefill(e *throttleEnv) {
	e.drain("k", 0, 4, 10, 10, 250*time.Millisecond)
	e.allow("k", 249*time.Millisecond, 4, 10, false, time.Millisecond)
	e.allow("k", 250*time.Millisecond, 4, 10, true, 0)
	e.allow("k", 250*time.Millisecond, 4, 10, false, 250*time.Millisecond)
	e.drain("k", 1250*time.Millisecond, 4, 10, 4, 250*time.Millisecond)
}

// testAllowFractionalRate checks rates whose token takes a fractional
// number of milliseconds, or more than a second: a token is there from the
// first whole millisecond at which it has fully come back.
func testAllowFractionalRate(e *throttleEnv) {
	e.drain("third", 0, 3, 1, 1, 334*time.Millisecond) // 333.3 ms a token
	e.allow("third", 333*time.Millisecond, 3, 1, false, time.Millisecond)
	e.allow("third", 334*time.Millisecond, 3, 1, true, 0)
	e.allow("third", 334*time.Millisecond, 3, 1, false, 334*time.Millisecond)

	// A token taken after a fractional refill leaves a fraction, which the
	// store keeps exactly: the next token comes 333 ms later, not 334.
	e.drain("carry", 0, 3, 2, 2, 334*time.Millisecond)
	e.allow("carry", 334*time.Millisecond, 3, 2, true, 0)
	e.allow("carry", 334*time.Millisecond, 3, 2, false, 333*time.Millisecond)
	e.allow("carry", 666*time.Millisecond, 3, 2, false, time.Millisecond)
	e.allow("carry", 667*time.Millisecond, 3, 2, true, 0)

	e.drain("slow", 0, 0.5, 2, 2, 2*time.Second)
	e.allow("slow", 1999*time.Millisecond, 0.5, 2, false, time.Millisecond)
	e.allow("slow", 2*time.Second, 0.5, 2, true, 0)
}

func testAllowNeverMoreThanBurst(e *throttleEnv) {
	e.drain("k", 0, 10, 3, 3, 100*time.Millisecond)
	e.drain("k", time.Hour, 10, 3, 3, 100*time.Millisecond)
	e.drain("k", 2*time.Hour, 10, 3, 3, 100*time.Millisecond)
}

// testConcurrentAllow takes 50 tokens at once from a bucket of 10: exactly
// 10 are given.
func testConcurrentAllow(e *throttleEnv) {
	const n, burst = 50, 10
	type answer struct {
		ok    bool
		retry time.Duration
		err   error
	}
	answers := make([]answer, n)
	var wg sync.WaitGroup
	for i := range answers {
		wg.Go(func() {
			a := &answers[i]
			a.ok, a.retry, a.err = e.s.Allow(e.t.Context(), "k", e.base, 1, burst)
		})
	}
	wg.Wait()
	given := 0
	for i, a := range answers {
		switch {
		case a.err != nil:
			e.t.Errorf("Allow #%d: %v", i, a.err)
		case a.ok:
			given++
		case a.retry != time.Second:
			e.t.Errorf("refused Allow #%d has retry %v, want 1s", i, a.retry)
		}
	}
	if given != burst {
		e.t.Errorf("%d concurrent Allows gave %d tokens, want %d", n, given, burst)
	}
	e.allow("k", 0, 1, burst, false, time.Second)
}
