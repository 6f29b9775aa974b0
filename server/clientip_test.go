package server

import (
	"net/http"
	"net/netip"
	"testing"
)

// TestClientIP: X-Forwarded-For counts only from trusted proxies, and its
// trusted hops are skipped from the right.
func TestClientIP(t *testing.T) {
	s := &Server{proxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}}
	for _, tc := range []struct {
		name, remote string
		xff          []string
		want         string
	}{
		{"direct client", "203.0.113.7:5000", nil, "203.0.113.7"},
		{"forged header from an untrusted peer", "203.0.113.7:5000", []string{"198.51.100.1"}, "203.0.113.7"},
		{"behind a trusted proxy", "10.1.2.3:5000", []string{"198.51.100.1"}, "198.51.100.1"},
		{"client-forged first hop is ignored", "10.1.2.3:5000", []string{"1.2.3.4, 198.51.100.1"}, "198.51.100.1"},
		{"two trusted proxies", "10.1.2.3:5000", []string{"198.51.100.1, 10.9.9.9"}, "198.51.100.1"},
		{"several header lines", "[::1]:5000", []string{"1.2.3.4", "198.51.100.1"}, "198.51.100.1"},
		{"garbage hop stops at the proxy", "10.1.2.3:5000", []string{"not-an-ip"}, "10.1.2.3"},
		{"IPv4-mapped IPv6 peer", "[::ffff:203.0.113.7]:5000", nil, "203.0.113.7"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &http.Request{RemoteAddr: tc.remote, Header: http.Header{}}
			for _, v := range tc.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := s.clientIP(r); got.String() != tc.want {
				t.Errorf("clientIP = %s, want %s", got, tc.want)
			}
		})
	}
}
