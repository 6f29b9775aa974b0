package tokenstore_test

import (
	"bytes"
	"crypto/sha256"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"authserver/server"
	"authserver/tokenstore"
)

func TestUsedRoundTrip(t *testing.T) {
	used := [][]byte{bytes.Repeat([]byte{1}, sha256.Size), bytes.Repeat([]byte{2}, sha256.Size)}
	if got, err := tokenstore.SplitUsed(tokenstore.JoinUsed(used)); err != nil || !reflect.DeepEqual(got, used) {
		t.Errorf("SplitUsed(JoinUsed(used)) = %v, %v", got, err)
	}
	if got, err := tokenstore.SplitUsed(nil); got != nil || err != nil {
		t.Errorf("SplitUsed(nil) = %v, %v; want nil, nil", got, err)
	}
	if _, err := tokenstore.SplitUsed(make([]byte, sha256.Size+1)); err == nil {
		t.Error("SplitUsed of 33 bytes succeeded")
	}
}

func TestScopeRoundTrip(t *testing.T) {
	for _, scope := range [][]string{nil, {"read"}, {"write", "read", "openid"}} {
		if got := tokenstore.SplitScope(tokenstore.JoinScope(scope)); !reflect.DeepEqual(got, scope) {
			t.Errorf("SplitScope(JoinScope(%q)) = %q", scope, got)
		}
	}
}

func TestTimeRoundTrip(t *testing.T) {
	now := time.Now()
	for _, tm := range []time.Time{{}, now.Truncate(time.Millisecond)} {
		if got := tokenstore.Time(tokenstore.Millis(tm)); !got.Equal(tm) {
			t.Errorf("Time(Millis(%v)) = %v", tm, got)
		}
	}
	if got := tokenstore.Time(tokenstore.Millis(now)); got.After(now) || now.Sub(got) >= time.Millisecond {
		t.Errorf("Time(Millis(%v)) = %v, want it truncated to the millisecond", now, got)
	}
}

func TestLockout(t *testing.T) {
	b := server.Backoff{Limit: 3, Window: time.Hour, Base: 1500 * time.Millisecond, Max: time.Minute}
	for count, want := range map[int]time.Duration{
		0: 0, 2: 0, 3: 1500 * time.Millisecond, 4: 3 * time.Second, 7: 24 * time.Second,
		8: 48 * time.Second, 9: time.Minute, 100: time.Minute, math.MaxInt: time.Minute,
	} {
		if got := tokenstore.Lockout(count, b); got != want {
			t.Errorf("Lockout(%d) = %v, want %v", count, got, want)
		}
	}
	// The largest backoff doubles up to its cap without overflowing.
	huge := server.Backoff{Limit: 1, Window: time.Millisecond, Base: time.Millisecond, Max: math.MaxInt64}
	if got := tokenstore.Lockout(math.MaxInt, huge); got != huge.Max.Truncate(time.Millisecond) {
		t.Errorf("Lockout of the largest backoff = %v, want %v", got, huge.Max)
	}
	if err := tokenstore.CheckBackoff(huge); err != nil {
		t.Errorf("CheckBackoff(%+v) = %v", huge, err)
	}
}

func TestCheckBackoff(t *testing.T) {
	valid := server.Backoff{Limit: 5, Window: 15 * time.Minute, Base: time.Minute, Max: time.Hour}
	if err := tokenstore.CheckBackoff(valid); err != nil {
		t.Fatalf("CheckBackoff(%+v) = %v", valid, err)
	}
	for _, edit := range []func(*server.Backoff){
		func(b *server.Backoff) { b.Limit = 0 },
		func(b *server.Backoff) { b.Window = time.Microsecond },
		func(b *server.Backoff) { b.Base = -time.Second },
		func(b *server.Backoff) { b.Max = b.Base - time.Millisecond },
	} {
		b := valid
		edit(&b)
		if err := tokenstore.CheckBackoff(b); err == nil {
			t.Errorf("CheckBackoff(%+v) = nil, want an error", b)
		}
	}
}

func TestCheckBucket(t *testing.T) {
	for _, tt := range []struct {
		rate  float64
		burst int
		ok    bool
	}{
		{1, 1, true}, {0.001, 100, true}, {1e9, 1 << 30, true},
		{0, 1, false}, {-1, 1, false}, {math.NaN(), 1, false}, {math.Inf(1), 1, false},
		{1, 0, false}, {1e-12, 1, false}, {1e-9, 10_000, false},
	} {
		if err := tokenstore.CheckBucket(tt.rate, tt.burst); (err == nil) != tt.ok {
			t.Errorf("CheckBucket(%v, %d) = %v, want ok %v", tt.rate, tt.burst, err, tt.ok)
		}
	}
}

// TestFailures follows one key through a chain, its lockout and its
// expiry, with Locked and Expires checked at each step.
func TestFailures(t *testing.T) {
	b := server.Backoff{Limit: 2, Window: time.Minute, Base: 5 * time.Minute, Max: time.Hour}
	base := time.Now().Truncate(time.Millisecond)
	ms := base.UnixMilli()
	var f tokenstore.Failures
	if got := f.Fail(base, b); got != 0 || f != (tokenstore.Failures{Count: 1, Last: ms, Window: 60_000}) {
		t.Fatalf("first Fail = %v, %+v", got, f)
	}
	if got := f.Fail(base.Add(time.Second), b); got != b.Base || f.Expires() != ms+1000+b.Base.Milliseconds() {
		t.Fatalf("second Fail = %v, %+v (expires %d)", got, f, f.Expires())
	}
	// A replica whose clock is behind counts its failure, locks from its
	// now, and moves nothing back.
	if got := f.Fail(base, b); got != 2*b.Base || f.Count != 3 || f.Last != ms+1000 {
		t.Fatalf("Fail from behind = %v, %+v", got, f)
	}
	end := base.Add(2 * b.Base)
	if lockedFor, n := f.Locked(end.Add(-time.Millisecond)); lockedFor != time.Millisecond || n != 0 {
		t.Errorf("Locked a millisecond before the end = %v, %d", lockedFor, n)
	}
	if lockedFor, n := f.Locked(end); lockedFor != 0 || n != 0 || f.Expires() != end.UnixMilli() {
		t.Errorf("Locked at the end = %v, %d (expires %d)", lockedFor, n, f.Expires())
	}
	if got := f.Fail(end, b); got != 0 || f != (tokenstore.Failures{Count: 1, Last: end.UnixMilli(), Window: 60_000}) {
		t.Errorf("Fail after the expiry = %v, %+v; want a new record", got, f)
	}
}

// TestBucketRetryExact checks, on random buckets, that a refused Allow's
// retry is exact to the millisecond (a millisecond earlier is refused, at
// the retry a token is there) and changes nothing, and that a bucket is full
// at its Expires (it gives burst tokens) and not a millisecond before.
func TestBucketRetryExact(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	base := time.Now().Truncate(time.Millisecond)
	// tokens returns how many tokens k gives at once at ms.
	tokens := func(k tokenstore.Bucket, ms int64, rate float64, burst int) int {
		n := 0
		for n <= burst {
			if ok, _ := k.Allow(time.UnixMilli(ms), rate, burst); !ok {
				break
			}
			n++
		}
		return n
	}
	for range 2000 {
		rate := []float64{r.Float64() * 10, r.Float64() * 1000, 1 / (1 + r.Float64()*100), float64(1 + r.IntN(50))}[r.IntN(4)]
		burst := 1 + r.IntN(20)
		var k tokenstore.Bucket
		now := base
		for range 30 {
			now = now.Add(time.Duration(r.IntN(2000)) * time.Millisecond / time.Duration(1+r.IntN(20)))
			before := k
			ok, retry := k.Allow(now, rate, burst)
			if ok {
				expires := k.Expires(rate)
				if got := tokens(k, expires, rate, burst); got != burst {
					t.Fatalf("rate %v burst %d: %+v gives %d tokens at its Expires %d, want %d", rate, burst, k, got, expires, burst)
				}
				// Full means nothing missing: a token taken at Expires
				// leaves exactly 1 taken; a millisecond before, none is
				// there or it leaves more.
				for ms, full := range map[int64]bool{expires: true, expires - 1: false} {
					probe := k
					if ok, _ := probe.Allow(time.UnixMilli(ms), rate, burst); (ok && probe.Taken == 1) != full {
						t.Fatalf("rate %v burst %d: %+v, whose Expires is %d, at %d: %v, %+v",
							rate, burst, k, expires, ms, ok, probe)
					}
				}
				continue
			}
			if k != before || retry <= 0 {
				t.Fatalf("rate %v burst %d: refused Allow changed %+v to %+v, retry %v", rate, burst, before, k, retry)
			}
			if got := tokens(k, now.Add(retry-time.Millisecond).UnixMilli(), rate, burst); got != 0 {
				t.Fatalf("rate %v burst %d: %d tokens a millisecond before the retry %v", rate, burst, got, retry)
			}
			if got := tokens(k, now.Add(retry).UnixMilli(), rate, burst); got != 1 {
				t.Fatalf("rate %v burst %d: %d tokens at the retry %v, want 1", rate, burst, got, retry)
			}
		}
	}
}
