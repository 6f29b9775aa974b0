package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// worker is one load generator loop and the state it keeps between its
// requests.
type worker struct {
	id int
	// n counts the worker's requests.
	n int
	// refresh is the latest refresh token of the worker's own chain.
	refresh string
}

// newWorkers returns n workers.
func newWorkers(n int) []*worker {
	ws := make([]*worker, n)
	for i := range ws {
		ws[i] = &worker{id: i}
	}
	return ws
}

// op makes one request of a scenario as worker w.
type op func(w *worker) outcome

// outcome is what one request came to.
type outcome struct {
	// failure is empty for a success, else what the failure counts as:
	// the HTTP status and the OAuth error code, "transport: …", or
	// another short reason.
	failure string
	// exhausted is set instead when a scenario has nothing left to send
	// (its pool of tokens ran out): the worker stops, and nothing counts.
	exhausted bool
}

var succeeded outcome

// stats collects the outcomes and latencies of a run. A success counts if
// it completes within the run's window, from its start to its deadline (or
// to the moment the scenario ran out of work, if earlier); a failure counts
// whenever it completes.
type stats struct {
	latency  histogram // of the successful requests
	ok       atomic.Int64
	dropped  atomic.Int64 // open loop: requests that could not start on time
	mu       sync.Mutex
	failures map[string]int64
	start    time.Time
	end      atomic.Int64 // the end of the window, in Unix nanoseconds
	// exhausted is set when a worker ran out of work before the deadline.
	exhausted atomic.Bool
}

func newStats() *stats { return &stats{failures: map[string]int64{}} }

// record counts the outcome of a request that completed at done after
// latency.
func (s *stats) record(o outcome, latency time.Duration, done time.Time) {
	switch {
	case o.exhausted:
		s.exhausted.Store(true)
		for end := s.end.Load(); done.UnixNano() < end && !s.end.CompareAndSwap(end, done.UnixNano()); end = s.end.Load() {
		}
	case o.failure != "":
		s.mu.Lock()
		s.failures[o.failure]++
		s.mu.Unlock()
	case done.UnixNano() <= s.end.Load():
		s.ok.Add(1)
		s.latency.add(latency)
	}
}

// elapsed returns the length of the window.
func (s *stats) elapsed() time.Duration {
	return time.Duration(s.end.Load() - s.start.UnixNano())
}

// errors returns the number of failed requests.
func (s *stats) errors() int64 {
	var n int64
	for _, c := range s.failures {
		n += c
	}
	return n
}

// rate returns the successful requests per second.
func (s *stats) rate() float64 {
	if s.elapsed() <= 0 {
		return 0
	}
	return float64(s.ok.Load()) / s.elapsed().Seconds()
}

// lateness is how late after its scheduled time an open-loop request may
// start; a later one is dropped.
const lateness = 10 * time.Millisecond

// load runs do with the workers for d: closed-loop (each worker sends its
// next request when the previous one is answered) when rate is 0, else
// open-loop at rate requests per second, where a request that no worker
// can start within lateness of its scheduled time is dropped, and latency
// counts from the scheduled time.
func load(ctx context.Context, ws []*worker, d time.Duration, rate float64, do op, st *stats) {
	st.start = time.Now()
	deadline := st.start.Add(d)
	st.end.Store(deadline.UnixNano())
	var wg sync.WaitGroup
	if rate <= 0 {
		for _, w := range ws {
			wg.Go(func() {
				for ctx.Err() == nil && time.Now().Before(deadline) {
					t := time.Now()
					o := do(w)
					done := time.Now()
					st.record(o, done.Sub(t), done)
					w.n++
					if o.exhausted {
						return
					}
				}
			})
		}
		wg.Wait()
		return
	}
	// The dispatcher schedules requests on a ticker; the channel holds as
	// many as there are workers, so one that finds it full is dropped at
	// once, and one that waited there too long is dropped by its worker.
	jobs := make(chan time.Time, len(ws))
	for _, w := range ws {
		wg.Go(func() {
			for at := range jobs {
				switch {
				case st.exhausted.Load():
					continue
				case time.Since(at) > lateness:
					st.dropped.Add(1)
					continue
				}
				o := do(w)
				done := time.Now()
				st.record(o, done.Sub(at), done)
				w.n++
			}
		})
	}
	interval := max(time.Millisecond, time.Duration(float64(time.Second)/rate))
	tick := time.NewTicker(interval)
	sent := 0
	for now := st.start; ctx.Err() == nil && now.Before(deadline); now = <-tick.C {
		due := int(now.Sub(st.start).Seconds() * rate)
		for ; sent < due; sent++ {
			at := st.start.Add(time.Duration(float64(sent) / rate * float64(time.Second)))
			select {
			case jobs <- at:
			default:
				st.dropped.Add(1)
			}
		}
	}
	tick.Stop()
	close(jobs)
	wg.Wait()
}

// histogram counts durations in buckets 1 % wide, from 1 ns to about 24 s.
type histogram struct {
	counts [histBuckets]atomic.Int64
}

const (
	histBuckets = 2400
	histGrowth  = 1.01
)

var logGrowth = math.Log(histGrowth)

func (h *histogram) add(d time.Duration) {
	i := 0
	if d > 1 {
		i = min(int(math.Log(float64(d))/logGrowth), histBuckets-1)
	}
	h.counts[i].Add(1)
}

// quantile returns the q-quantile (0 < q ≤ 1) of the durations, or 0 if
// there are none, to within 1 %.
func (h *histogram) quantile(q float64) time.Duration {
	var total int64
	for i := range h.counts {
		total += h.counts[i].Load()
	}
	if total == 0 {
		return 0
	}
	rank := int64(math.Ceil(q * float64(total)))
	var seen int64
	for i := range h.counts {
		if seen += h.counts[i].Load(); seen >= rank {
			return time.Duration(math.Pow(histGrowth, float64(i)+0.5))
		}
	}
	return 0
}

// newHTTPClient returns the load generator's one HTTP client, with a
// connection per worker kept open to each server.
func newHTTPClient(workers int) *http.Client {
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        2 * workers,
			MaxIdleConnsPerHost: workers,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
		},
	}
}

// client is what sends the requests of the scenarios.
type client struct {
	http *http.Client
}

// post sends the urlencoded form to url with the Authorization header auth
// (none if empty) and returns the status and the body.
func (c client) post(url, auth, form string) (int, []byte, error) {
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(form))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	return c.do(req)
}

// get sends a GET request to url.
func (c client) get(url string) (int, []byte, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0, nil, err
	}
	return c.do(req)
}

func (c client) do(req *http.Request) (int, []byte, error) {
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, body, err
}

// check is the outcome of a request that succeeds with 200.
func check(status int, body []byte, err error) outcome {
	if err == nil && status == http.StatusOK {
		return succeeded
	}
	return outcome{failure: failure(status, body, err)}
}

// failure names a failed request: the transport error, or the status and
// the OAuth error code of the body (RFC 6749 §5.2) if it has one.
func failure(status int, body []byte, err error) string {
	if err != nil {
		if status == 0 {
			return "transport: " + shortError(err)
		}
		return fmt.Sprintf("%d read: %s", status, shortError(err))
	}
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil && e.Error != "" {
		return fmt.Sprintf("%d %s", status, e.Error)
	}
	return fmt.Sprint(status)
}

// shortError drops the URL of a *url.Error, so that the same failure at
// different URLs counts together.
func shortError(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 {
		s = s[i+2:]
	}
	return s
}

// sortedFailures returns the failures, most frequent first.
func (s *stats) sortedFailures() []string {
	keys := make([]string, 0, len(s.failures))
	for k := range s.failures {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if s.failures[keys[i]] != s.failures[keys[j]] {
			return s.failures[keys[i]] > s.failures[keys[j]]
		}
		return keys[i] < keys[j]
	})
	return keys
}
