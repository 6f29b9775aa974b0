package tokenstore_test

import (
	"bytes"
	"crypto/sha256"
	"reflect"
	"testing"
	"time"

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
