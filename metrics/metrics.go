package metrics

import (
	"context"

	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Options shape the collectors.
type Options struct {
	// PerClient keeps the client_id label of the token request counter;
	// false drops it, for fleets with very many clients.
	PerClient bool
	// Backend names the token store in tokenstore metrics: "redis" or
	// "sqlite".
	Backend string
}

// Buckets of the latency histograms, in seconds: from a cached JWKS answer
// to an Argon2id hash under load.
var buckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// Metrics are the collectors of one server. They implement server.Observer.
type Metrics struct {
	perClient      bool
	backend        string
	tokenRequests  *prometheus.CounterVec
	tokenDuration  *prometheus.HistogramVec
	refreshReused  prometheus.Counter
	revocations    *prometheus.CounterVec
	introspections *prometheus.CounterVec
	hashDuration   prometheus.Histogram
	hashInFlight   prometheus.Gauge
	storeDuration  *prometheus.HistogramVec
	storeErrors    *prometheus.CounterVec
	httpRequests   *prometheus.CounterVec
	httpDuration   *prometheus.HistogramVec
	reg            prometheus.Registerer
}

// New creates the collectors and registers them on reg.
func New(reg prometheus.Registerer, o Options) (*Metrics, error) {
	tokenLabels := []string{"grant_type", "client_id", "result"}
	if !o.PerClient {
		tokenLabels = []string{"grant_type", "result"}
	}
	m := &Metrics{
		perClient: o.PerClient,
		backend:   o.Backend,
		reg:       reg,
		tokenRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authserver_token_requests_total",
			Help: "Token endpoint requests by grant type, client and result (ok or the OAuth error code).",
		}, tokenLabels),
		tokenDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "authserver_token_request_duration_seconds", Buckets: buckets,
			Help: "Time to answer a token endpoint request, by grant type.",
		}, []string{"grant_type"}),
		refreshReused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "authserver_refresh_reuse_detected_total",
			Help: "Rotated refresh tokens presented again; each revoked its family (RFC 9700 §4.14.2).",
		}),
		revocations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authserver_revocations_total",
			Help: "Tokens revoked at the revocation endpoint (RFC 7009), by token type.",
		}, []string{"token_type"}),
		introspections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authserver_introspections_total",
			Help: "Introspection answers (RFC 7662), by whether the token was active.",
		}, []string{"active"}),
		hashDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "authserver_password_hash_duration_seconds", Buckets: buckets,
			Help: "Time of one Argon2id password hash or verification.",
		}),
		hashInFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "authserver_password_hash_in_flight",
			Help: "Argon2id computations running now.",
		}),
		storeDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "authserver_tokenstore_operation_duration_seconds", Buckets: buckets,
			Help: "Time of one token store operation, by operation and backend.",
		}, []string{"op", "backend"}),
		storeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authserver_tokenstore_errors_total",
			Help: "Token store operations that failed (an outage, not an answer), by operation and backend.",
		}, []string{"op", "backend"}),
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authserver_http_requests_total",
			Help: "HTTP requests by handler, method and status code.",
		}, []string{"handler", "method", "code"}),
		httpDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "authserver_http_request_duration_seconds", Buckets: buckets,
			Help: "Time to answer an HTTP request, by handler.",
		}, []string{"handler"}),
	}
	for _, c := range []prometheus.Collector{m.tokenRequests, m.tokenDuration, m.refreshReused, m.revocations,
		m.introspections, m.hashDuration, m.hashInFlight, m.storeDuration, m.storeErrors, m.httpRequests, m.httpDuration} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// methods are the HTTP methods that keep their name in the method label;
// any other is "other", so that a client cannot grow the label set.
var methods = map[string]bool{"GET": true, "HEAD": true, "POST": true, "PUT": true, "DELETE": true, "OPTIONS": true, "PATCH": true}

// HTTPRequest observes one HTTP request.
func (m *Metrics) HTTPRequest(handler, method string, code int, d time.Duration) {
	if !methods[method] {
		method = "other"
	}
	m.httpRequests.WithLabelValues(handler, method, strconv.Itoa(code)).Inc()
	m.httpDuration.WithLabelValues(handler).Observe(d.Seconds())
}

// TokenRequest observes one token endpoint request.
func (m *Metrics) TokenRequest(grantType, clientID, result string, d time.Duration) {
	if m.perClient {
		m.tokenRequests.WithLabelValues(grantType, clientID, result).Inc()
	} else {
		m.tokenRequests.WithLabelValues(grantType, result).Inc()
	}
	m.tokenDuration.WithLabelValues(grantType).Observe(d.Seconds())
}

// RefreshReused counts a detected refresh token reuse.
func (m *Metrics) RefreshReused() { m.refreshReused.Inc() }

// Revocation counts a revoked token.
func (m *Metrics) Revocation(tokenType string) { m.revocations.WithLabelValues(tokenType).Inc() }

// Introspection counts an introspection answer.
func (m *Metrics) Introspection(active bool) {
	m.introspections.WithLabelValues(strconv.FormatBool(active)).Inc()
}

// TokenStoreOp observes one token store operation.
func (m *Metrics) TokenStoreOp(op string, d time.Duration, err error) {
	m.storeDuration.WithLabelValues(op, m.backend).Observe(d.Seconds())
	if err != nil {
		m.storeErrors.WithLabelValues(op, m.backend).Inc()
	}
}

// HashStarted and HashFinished observe one Argon2id computation.
func (m *Metrics) HashStarted() { m.hashInFlight.Inc() }

// HashFinished ends what HashStarted began.
func (m *Metrics) HashFinished(d time.Duration) {
	m.hashInFlight.Dec()
	m.hashDuration.Observe(d.Seconds())
}

// Key is what the key collector needs of one signing key.
type Key struct {
	Alg, State string
	Activated  time.Time
}

// WatchKeys registers the signing key gauges, read from keys at each
// scrape: the number of keys by algorithm and state, the age of each active
// key, and the rotation period.
func (m *Metrics) WatchKeys(period time.Duration, keys func() []Key, now func() time.Time) error {
	return m.reg.Register(&keyCollector{period: period, keys: keys, now: now})
}

var (
	keysDesc   = prometheus.NewDesc("authserver_signing_keys", "Signing keys by algorithm and state (next, active, retired).", []string{"alg", "state"}, nil)
	ageDesc    = prometheus.NewDesc("authserver_signing_key_age_seconds", "Seconds since the active key of each algorithm activated.", []string{"alg"}, nil)
	periodDesc = prometheus.NewDesc("authserver_signing_key_rotation_period_seconds", "The configured rotation period of the signing keys.", nil, nil)
	readyDesc  = prometheus.NewDesc("authserver_ready", "1 when the readiness check passes, else 0.", []string{"check"}, nil)
)

// keyCollector reads the signing keys at scrape time.
type keyCollector struct {
	period time.Duration
	keys   func() []Key
	now    func() time.Time
}

func (c *keyCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- keysDesc
	ch <- ageDesc
	ch <- periodDesc
}

func (c *keyCollector) Collect(ch chan<- prometheus.Metric) {
	counts := map[[2]string]float64{}
	for _, alg := range []string{"RS256", "EdDSA"} {
		for _, state := range []string{"next", "active", "retired"} {
			counts[[2]string{alg, state}] = 0
		}
	}
	now := c.now()
	for _, k := range c.keys() {
		counts[[2]string{k.Alg, k.State}]++
		if k.State == "active" {
			ch <- prometheus.MustNewConstMetric(ageDesc, prometheus.GaugeValue, now.Sub(k.Activated).Seconds(), k.Alg)
		}
	}
	for k, n := range counts {
		ch <- prometheus.MustNewConstMetric(keysDesc, prometheus.GaugeValue, n, k[0], k[1])
	}
	ch <- prometheus.MustNewConstMetric(periodDesc, prometheus.GaugeValue, c.period.Seconds())
}

// Check is the outcome of one readiness check.
type Check struct {
	Name string
	Err  error
}

// WatchReadiness registers authserver_ready, which runs ready at each
// scrape.
func (m *Metrics) WatchReadiness(ready func(context.Context) []Check) error {
	return m.reg.Register(readyCollector(ready))
}

// readyCollector runs the readiness checks at scrape time.
type readyCollector func(context.Context) []Check

func (c readyCollector) Describe(ch chan<- *prometheus.Desc) { ch <- readyDesc }

func (c readyCollector) Collect(ch chan<- prometheus.Metric) {
	for _, check := range c(context.Background()) {
		v := 1.0
		if check.Err != nil {
			v = 0
		}
		ch <- prometheus.MustNewConstMetric(readyDesc, prometheus.GaugeValue, v, check.Name)
	}
}
