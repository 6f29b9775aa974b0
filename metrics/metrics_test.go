package metrics

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestRefreshReused(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m, err := New(reg)
	if err != nil {
		t.Fatal(err)
	}
	m.RefreshReused()
	m.RefreshReused()
	if got := testutil.ToFloat64(m.refreshReused); got != 2 {
		t.Fatalf("counter = %v, want 2", got)
	}
	if _, err := New(reg); err == nil {
		t.Fatal("registering twice on one registry succeeded")
	}
	if n, err := testutil.GatherAndCount(reg, "authserver_refresh_reuse_detected_total"); err != nil || n != 1 {
		t.Fatalf("gathered %d series, %v", n, err)
	}
}
