package server_test

import (
	"net/http"
	"strings"
	"testing"

	"golang.org/x/crypto/argon2"

	"authserver/userstore"
)

// BenchmarkPasswordGrant measures whole password-grant requests over
// loopback HTTP with the default Argon2id parameters, beside its ceiling: the
// raw Argon2id computation at the same parameters, in the same run.
func BenchmarkPasswordGrant(b *testing.B) {
	testParams = userstore.DefaultParams
	defer func() { testParams = userstore.Params{Memory: 64, Time: 1, Threads: 1} }()
	e := newEnv(b)
	body := alicePasswordForm()
	b.Run("token", func(b *testing.B) {
		for b.Loop() {
			req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/oauth2/token", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth("conf", confSecret)
			if r := send(b, req); r.status != http.StatusOK {
				b.Fatalf("status %d: %s", r.status, r.raw)
			}
		}
	})
	b.Run("argon2id_ceiling", func(b *testing.B) {
		p := userstore.DefaultParams
		salt := make([]byte, 16)
		for b.Loop() {
			argon2.IDKey([]byte(alicePassword), salt, p.Time, p.Memory, p.Threads, 32)
		}
	})
}
