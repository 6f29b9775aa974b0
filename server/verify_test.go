package server_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/lestrrat-go/jwx/v2/jwt"
)

// TestResourceServerVerification runs the verification the README shows a
// resource server: fetch the JWKS once, then verify tokens offline.
func TestResourceServerVerification(t *testing.T) {
	e := newEnv(t)
	for _, c := range [][2]string{{"conf", confSecret}, {"ed", edSecret}} {
		r := e.do(t, request{body: alicePasswordForm(), basic: []string{c[0], c[1]}})
		if r.status != http.StatusOK {
			t.Fatalf("%s: %d %s", c[0], r.status, r.raw)
		}
		token := []byte(r.body["access_token"].(string))
		aud := "https://auth.example.com"
		if c[0] == "ed" {
			aud = "https://api.example.com"
		}

		// The README's code, as a resource server runs it.
		set, err := jwk.Fetch(context.Background(), e.srv.URL+"/.well-known/jwks.json")
		if err != nil {
			t.Fatal(err)
		}
		msg, err := jws.Parse(token)
		if err != nil || msg.Signatures()[0].ProtectedHeaders().Type() != "at+jwt" {
			t.Fatalf("not an RFC 9068 access token: %v", err)
		}
		tok, err := jwt.Parse(token, jwt.WithKeySet(set), jwt.WithIssuer("https://auth.example.com"), jwt.WithAudience(aud))
		if err != nil {
			t.Fatalf("%s: %v", c[0], err)
		}
		if tok.Subject() != e.alice.ID {
			t.Errorf("sub %q", tok.Subject())
		}
		if _, err := jwt.Parse(token, jwt.WithKeySet(set), jwt.WithAudience("https://other.example.com")); err == nil {
			t.Error("a token for another audience verified")
		}
	}
}
