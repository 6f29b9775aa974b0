package main

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"
)

// rssLimit is the memory target of every scenario that does not hash
// passwords.
const rssLimit = 64 << 20

// row is one line of the table: a scenario or a ceiling.
type row struct {
	name string
	res  result
	// rate is the rate of a row without stats: a signing or hashing
	// ceiling.
	rate      float64
	ceiling   string
	target    float64
	rssTarget bool
}

func (r row) rps() float64 {
	if r.res.stats != nil {
		return r.res.stats.rate()
	}
	return r.rate
}

// errorsCell sums up the failures and dropped requests, most frequent
// first.
func (r row) errorsCell() string {
	st := r.res.stats
	if st == nil {
		return "—"
	}
	n := st.errors()
	var parts []string
	for _, f := range st.sortedFailures() {
		parts = append(parts, fmt.Sprintf("%s ×%d", f, st.failures[f]))
	}
	s := fmt.Sprint(n)
	if len(parts) > 0 {
		s += " (" + strings.Join(parts, ", ") + ")"
	}
	if d := st.dropped.Load(); d > 0 {
		s += fmt.Sprintf(", %d dropped", d)
	}
	if st.exhausted.Load() {
		s += ", token pool ran out"
	}
	return s
}

// line is the row as one line of progress output.
func (r row) line() string {
	st := r.res.stats
	return fmt.Sprintf("%s: %s req/s (%d ok in %.1fs), p50 %s, p90 %s, p99 %s, errors %s, peak RSS %s",
		r.name, rate(r.rps()), st.ok.Load(), st.elapsed().Seconds(), ms(st.latency.quantile(0.50)), ms(st.latency.quantile(0.90)),
		ms(st.latency.quantile(0.99)), r.errorsCell(), mib(r.res.rss))
}

// report is the result of a run.
type report struct {
	opts options
	// ceilings maps the name of a ceiling to its rate, if measured.
	ceilings map[string]float64
	rows     []row
}

// markdown returns the machine, the settings and the table, each target
// marked met or missed.
func (rep *report) markdown() string {
	var b strings.Builder
	o := rep.opts
	store := "the embedded SQLite store"
	if o.redisURL != "" {
		store = "Redis at " + o.redisURL
	}
	loop := "closed-loop"
	if o.rate > 0 {
		loop = fmt.Sprintf("open-loop at %g requests/s", o.rate)
	}
	fmt.Fprintf(&b, "Machine: %s, %d cores (GOMAXPROCS %d), %s %s/%s; authserver and authbench share the cores.\n",
		cpuModel(), runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	fmt.Fprintf(&b, "Server: authserver on loopback, token store %s, a fresh process per scenario. Load: %d workers, %s, %v warm-up + %v per scenario; %s.\n\n",
		store, o.workers, loop, o.warmup, o.duration, time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	b.WriteString("| scenario | rps | p50 | p99 | errors | peak RSS | ceiling used | ratio to ceiling |\n")
	b.WriteString("|---|--:|--:|--:|---|--:|---|---|\n")
	met, missed := 0, 0
	mark := func(ok bool) string {
		if ok {
			met++
			return "met"
		}
		missed++
		return "**missed**"
	}
	for _, r := range rep.rows {
		p50, p99, rss := "—", "—", "—"
		if st := r.res.stats; st != nil {
			p50, p99 = ms(st.latency.quantile(0.50)), ms(st.latency.quantile(0.99))
		}
		if r.res.rss > 0 {
			rss = mib(r.res.rss)
		}
		if r.rssTarget && r.res.rss > 0 {
			rss += fmt.Sprintf(" (≤ 64 MiB: %s)", mark(r.res.rss <= rssLimit))
		}
		used, ratio := "—", "—"
		if r.ceiling != "" {
			c, ok := rep.ceilings[r.ceiling]
			used = r.ceiling
			switch {
			case !ok || c == 0:
				used += " (not measured: add ceiling)"
			default:
				used += " " + rate(c) + "/s"
				ratio = fmt.Sprintf("%.2f", r.rps()/c)
				if r.target > 0 {
					ratio += fmt.Sprintf(" (≥ %.2f: %s)", r.target, mark(r.rps()/c >= r.target))
				}
			}
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", r.name, rate(r.rps()), p50, p99,
			strings.ReplaceAll(r.errorsCell(), "|", `\|`), rss, used, ratio)
	}
	fmt.Fprintf(&b, "\nTargets: %d met, %d missed. rps counts successful requests; latencies are of the successful requests. "+
		"mixed is, per 100 requests, 60 refresh, 5 password, 20 jwks, 15 introspect; it and password hash passwords, so no memory target applies to them.\n", met, missed)
	return b.String()
}

// rate formats a rate per second.
func rate(r float64) string {
	if r >= 100 {
		return fmt.Sprintf("%.0f", r)
	}
	return fmt.Sprintf("%.1f", r)
}

// ms formats a latency.
func ms(d time.Duration) string {
	switch {
	case d == 0:
		return "—"
	case d < time.Millisecond:
		return fmt.Sprintf("%d µs", d.Microseconds())
	case d < 100*time.Millisecond:
		return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond))
}

// mib formats bytes, or — for 0 (unknown).
func mib(b float64) string {
	if b <= 0 {
		return "—"
	}
	return fmt.Sprintf("%.1f MiB", b/(1<<20))
}

// cpuModel returns the first model name of /proc/cpuinfo, or the
// architecture where there is none.
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}
