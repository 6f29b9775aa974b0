package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the collectors of one server.
type Metrics struct {
	refreshReused prometheus.Counter
}

// New creates the collectors and registers them on reg.
func New(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		refreshReused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "authserver_refresh_reuse_detected_total",
			Help: "Rotated refresh tokens presented again; each revoked its family (RFC 9700 §4.14.2).",
		}),
	}
	if err := reg.Register(m.refreshReused); err != nil {
		return nil, err
	}
	return m, nil
}

// RefreshReused counts a detected refresh token reuse.
func (m *Metrics) RefreshReused() { m.refreshReused.Inc() }
