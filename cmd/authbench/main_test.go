package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestMain lets the test binary serve the HTTP ceiling as authbench does:
// startCeilingChild re-executes os.Executable, here the test binary.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == ceilingServerCommand {
		if err := serveCeiling(os.Args[2:], os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestSmoke runs two scenarios and the ceilings very briefly against a
// self-started server and reads the table it writes.
func TestSmoke(t *testing.T) {
	out := filepath.Join(t.TempDir(), "bench.md")
	var stdout, stderr bytes.Buffer
	args := []string{"--duration", "300ms", "--warmup", "100ms", "--workers", "4", "--crypto-duration", "300ms", "--out", out,
		"client_credentials", "jwks", "ceiling"}
	if err := run(t.Context(), args, strings.NewReader(""), &stdout, &stderr); err != nil {
		t.Fatalf("authbench %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	table, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout.String(), string(table)) {
		t.Errorf("the table of --out is not the one printed:\n%s", stdout.String())
	}
	for _, want := range []string{"Machine: ", " cores (GOMAXPROCS ", "go1.", "| scenario | rps | p50 | p99 | errors | peak RSS | ceiling used | ratio to ceiling |"} {
		if !strings.Contains(string(table), want) {
			t.Errorf("the report lacks %q:\n%s", want, table)
		}
	}
	rows := map[string][]string{}
	for line := range strings.Lines(string(table)) {
		if !strings.HasPrefix(line, "| ") || strings.HasPrefix(line, "| scenario ") {
			continue
		}
		cells := strings.Split(strings.Trim(strings.TrimSpace(line), "|"), " | ")
		name, _, _ := strings.Cut(strings.TrimSpace(cells[0]), " (")
		rows[name] = cells
	}
	for _, name := range []string{"ceiling: HTTP", "ceiling: RSA-2048 signing", "ceiling: Ed25519 signing", "ceiling: Argon2id",
		"client_credentials_eddsa", "client_credentials_rs256", "jwks"} {
		cells, ok := rows[name]
		if !ok {
			t.Errorf("no row %q in\n%s", name, table)
			continue
		}
		if len(cells) != 8 {
			t.Errorf("%s: %d cells, want 8: %q", name, len(cells), cells)
			continue
		}
		if rps, err := strconv.ParseFloat(cells[1], 64); err != nil || rps <= 0 {
			t.Errorf("%s: rps %q", name, cells[1])
		}
		if name == "ceiling: HTTP" || !strings.HasPrefix(name, "ceiling") {
			if cells[4] != "0" {
				t.Errorf("%s: errors %q", name, cells[4])
			}
			if !strings.HasSuffix(cells[2], "s") || !strings.HasSuffix(cells[3], "s") {
				t.Errorf("%s: p50 %q, p99 %q", name, cells[2], cells[3])
			}
		}
		if !strings.HasPrefix(name, "ceiling") {
			if !strings.Contains(cells[5], "MiB (≤ 64 MiB: ") {
				t.Errorf("%s: peak RSS %q", name, cells[5])
			}
			if ratio, _, _ := strings.Cut(cells[7], " "); ratio == "—" {
				t.Errorf("%s: no ratio to the ceiling: %q", name, cells[7])
			}
		}
	}
}

// TestHistogram checks the quantiles of known durations to within the
// histogram's 1 %.
func TestHistogram(t *testing.T) {
	var h histogram
	if h.quantile(0.5) != 0 {
		t.Error("quantile of nothing")
	}
	for i := 1; i <= 1000; i++ {
		h.add(time.Duration(i) * time.Microsecond)
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 500 * time.Microsecond}, {0.9, 900 * time.Microsecond}, {0.99, 990 * time.Microsecond}, {1, time.Millisecond}} {
		got := h.quantile(c.q)
		if diff := float64(got-c.want) / float64(c.want); diff < -0.01 || diff > 0.01 {
			t.Errorf("quantile(%v) = %v, want %v", c.q, got, c.want)
		}
	}
}

// TestSelectScenarios checks how the command line names scenarios.
func TestSelectScenarios(t *testing.T) {
	for _, c := range []struct {
		args     []string
		alg      string
		want     string
		ceilings bool
	}{
		{[]string{"client_credentials"}, "", "client_credentials_eddsa client_credentials_rs256", false},
		{[]string{"client_credentials"}, "RS256", "client_credentials_rs256", false},
		{[]string{"jwks", "password", "ceiling"}, "", "password jwks", true},
		{[]string{"all"}, "", "password refresh client_credentials_eddsa client_credentials_rs256 introspect jwks revoke mixed", true},
	} {
		got, ceilings, err := selectScenarios(c.args, c.alg)
		var names []string
		for _, sc := range got {
			names = append(names, sc.name)
		}
		if err != nil || strings.Join(names, " ") != c.want || ceilings != c.ceilings {
			t.Errorf("%v --alg %q: %v %v %v, want %s %v", c.args, c.alg, names, ceilings, err, c.want, c.ceilings)
		}
	}
	for _, bad := range [][]string{nil, {"nothing"}} {
		if _, _, err := selectScenarios(bad, ""); err == nil {
			t.Errorf("%v: no error", bad)
		}
	}
	if _, _, err := selectScenarios([]string{"client_credentials"}, "HS256"); err == nil {
		t.Error("--alg HS256: no error")
	}
}
