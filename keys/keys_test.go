package keys

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/lestrrat-go/jwx/v2/jwk"
)

// start is the fake time at which the tests' key sets begin.
var start = time.Date(2025, 1, 2, 3, 4, 5, 678, time.FixedZone("CET", 3600))

// claims is a typical RFC 9068 §2.2 access token payload.
var claims = []byte(`{"iss":"https://auth.example.com","sub":"5ba552d67","aud":"https://rs.example.com",` +
	`"exp":1735787045,"iat":1735786145,"nbf":1735786145,"jti":"dbe39bf3a3ba4238a513f51d6e1691c4",` +
	`"client_id":"s6BhdRkqt3","scope":"read write","roles":["admin"],"sid":"NNgEx1yJ2bUWRT8Sf5wOpQ"}`)

// TestThumbprintRFC7638 checks thumbprint against the example of RFC 7638 §3.1.
func TestThumbprintRFC7638(t *testing.T) {
	k, err := jwk.ParseKey([]byte(`{"kty":"RSA","e":"AQAB","alg":"RS256","kid":"2011-04-29",` +
		`"n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"}`))
	if err != nil {
		t.Fatal(err)
	}
	got, err := thumbprint(k)
	if err != nil {
		t.Fatal(err)
	}
	if want := "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"; got != want {
		t.Errorf("thumbprint = %s, want %s", got, want)
	}
}

// TestKIDIsThumbprint checks each kid against a thumbprint computed by
// go-jose (RFC 7638 §3).
func TestKIDIsThumbprint(t *testing.T) {
	s := newTestSet(t)
	set := jwkSet(t, s)
	for _, info := range s.List() {
		found := set.Key(info.KID)
		if len(found) != 1 {
			t.Fatalf("JWKS has %d keys with kid %s, want 1", len(found), info.KID)
		}
		sum, err := found[0].Thumbprint(crypto.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		if want := base64.RawURLEncoding.EncodeToString(sum); info.KID != want {
			t.Errorf("%s kid = %s, want thumbprint %s", info.Alg, info.KID, want)
		}
	}
}

// TestJWKS checks the published set (RFC 7517 §5): public keys only, each
// with kid, alg and use "sig", under a stable strong entity tag.
func TestJWKS(t *testing.T) {
	s := newTestSet(t)
	set := jwkSet(t, s)
	if len(set.Keys) != 2 {
		t.Fatalf("JWKS has %d keys, want 2", len(set.Keys))
	}
	infos := s.List()
	for i, k := range set.Keys {
		if !k.IsPublic() || k.Use != "sig" || k.KeyID != infos[i].KID || k.Algorithm != infos[i].Alg {
			t.Errorf("key %d: public %v, use %q, kid %q, alg %q; want public, sig, %s, %s",
				i, k.IsPublic(), k.Use, k.KeyID, k.Algorithm, infos[i].KID, infos[i].Alg)
		}
	}

	body, etag := s.JWKS()
	var raw struct{ Keys []map[string]json.RawMessage }
	if err := json.Unmarshal(body, &raw); err != nil {
		t.Fatal(err)
	}
	for i, members := range raw.Keys {
		for _, private := range []string{"d", "p", "q", "dp", "dq", "qi"} {
			if _, ok := members[private]; ok {
				t.Errorf("key %d has private member %q", i, private)
			}
		}
		for _, required := range []string{"kty", "kid", "alg", "use"} {
			if _, ok := members[required]; !ok {
				t.Errorf("key %d lacks member %q", i, required)
			}
		}
	}

	sum := sha256.Sum256(body)
	if want := `"` + base64.RawURLEncoding.EncodeToString(sum[:])[:etagLen] + `"`; etag != want {
		t.Errorf("ETag = %s, want %s", etag, want)
	}
	if body2, etag2 := s.JWKS(); etag2 != etag || !bytes.Equal(body2, body) {
		t.Errorf("second JWKS call: ETag %s, want %s; body changed: %v", etag2, etag, !bytes.Equal(body2, body))
	}
}

// TestSign verifies tokens with go-jose against the published keys and checks
// the protected header of RFC 9068 §2.1.
func TestSign(t *testing.T) {
	s := newTestSet(t)
	set := jwkSet(t, s)
	for _, info := range s.List() {
		t.Run(info.Alg, func(t *testing.T) {
			tok, err := s.Sign(info.Alg, claims)
			if err != nil {
				t.Fatalf("Sign: %v", err)
			}
			jws, err := jose.ParseSigned(tok, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(info.Alg)})
			if err != nil {
				t.Fatalf("ParseSigned: %v", err)
			}
			h := jws.Signatures[0].Protected
			if h.KeyID != info.KID || h.Algorithm != info.Alg || h.ExtraHeaders[jose.HeaderType] != "at+jwt" {
				t.Errorf("header kid %q, alg %q, typ %v; want %s, %s, at+jwt", h.KeyID, h.Algorithm, h.ExtraHeaders[jose.HeaderType], info.KID, info.Alg)
			}
			keys := set.Key(h.KeyID)
			if len(keys) != 1 {
				t.Fatalf("JWKS has %d keys with kid %s, want 1", len(keys), h.KeyID)
			}
			payload, err := jws.Verify(keys[0])
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if !bytes.Equal(payload, claims) {
				t.Errorf("payload = %s, want %s", payload, claims)
			}
		})
	}
	for _, alg := range []string{"", "none", "HS256", "ES256", "rs256"} {
		if tok, err := s.Sign(alg, claims); err == nil {
			t.Errorf("Sign(%q) = %s, want an error", alg, tok)
		}
	}
}

// TestSignConcurrent lets the race detector watch concurrent signing.
func TestSignConcurrent(t *testing.T) {
	s := newTestSet(t)
	var wg sync.WaitGroup
	for range 4 {
		for _, alg := range []string{"RS256", "EdDSA"} {
			wg.Go(func() {
				for range 5 {
					if _, err := s.Sign(alg, claims); err != nil {
						t.Error(err)
					}
				}
			})
		}
	}
	wg.Wait()
}

// BenchmarkSign measures Sign beside a ceiling: the raw signature over a
// signing input of the same size, with the same key.
func BenchmarkSign(b *testing.B) {
	s := newTestSet(b)
	for _, alg := range []string{"RS256", "EdDSA"} {
		tok, err := s.Sign(alg, claims)
		if err != nil {
			b.Fatal(err)
		}
		input := []byte(tok[:strings.LastIndexByte(tok, '.')])
		b.Run(alg, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Sign(alg, claims); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(alg+"_ceiling", func(b *testing.B) {
			b.ReportAllocs()
			switch k := s.active[alg].signer.(type) {
			case *rsa.PrivateKey:
				for b.Loop() {
					sum := sha256.Sum256(input)
					if _, err := rsa.SignPKCS1v15(nil, k, crypto.SHA256, sum[:]); err != nil {
						b.Fatal(err)
					}
				}
			case ed25519.PrivateKey:
				for b.Loop() {
					ed25519.Sign(k, input)
				}
			}
		})
	}
}

// jwkSet parses the published JWK Set with go-jose.
func jwkSet(t *testing.T, s *Set) jose.JSONWebKeySet {
	t.Helper()
	body, _ := s.JWKS()
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(body, &set); err != nil {
		t.Fatalf("JWKS does not parse: %v\n%s", err, body)
	}
	return set
}

// TestVerify accepts what Sign produced and refuses any change of header,
// payload, signature, key or algorithm.
func TestVerify(t *testing.T) {
	set, other := newTestSet(t), newTestSet(t)
	claims := []byte(`{"sub":"u1"}`)
	for _, alg := range []string{"RS256", "EdDSA"} {
		tok, err := set.Sign(alg, claims)
		if err != nil {
			t.Fatal(err)
		}
		got, err := set.Verify(tok)
		if err != nil || string(got) != string(claims) {
			t.Fatalf("%s: Verify = %q, %v", alg, got, err)
		}
		foreign, err := other.Sign(alg, claims)
		if err != nil {
			t.Fatal(err)
		}
		parts := strings.Split(tok, ".")
		enc := base64.RawURLEncoding.EncodeToString
		for name, bad := range map[string]string{
			"another set's key": foreign,
			"changed payload":   parts[0] + "." + enc([]byte(`{"sub":"u2"}`)) + "." + parts[2],
			"changed signature": parts[0] + "." + parts[1] + "." + enc([]byte("x")),
			"typ JWT":           enc([]byte(`{"alg":"`+alg+`","kid":"`+set.active[alg].KID+`","typ":"JWT"}`)) + "." + parts[1] + "." + parts[2],
			"alg none":          enc([]byte(`{"alg":"none","kid":"`+set.active[alg].KID+`","typ":"at+jwt"}`)) + "." + parts[1] + ".",
			"not a JWS":         "garbage",
		} {
			if _, err := set.Verify(bad); err == nil {
				t.Errorf("%s: %s verified", alg, name)
			}
		}
	}
}

// BenchmarkVerify measures Verify beside a ceiling: the raw signature check
// of the same signing input with the same key.
func BenchmarkVerify(b *testing.B) {
	s := newTestSet(b)
	for _, alg := range []string{"RS256", "EdDSA"} {
		tok, err := s.Sign(alg, claims)
		if err != nil {
			b.Fatal(err)
		}
		dot := strings.LastIndexByte(tok, '.')
		input := []byte(tok[:dot])
		sig, err := base64.RawURLEncoding.DecodeString(tok[dot+1:])
		if err != nil {
			b.Fatal(err)
		}
		b.Run(alg, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Verify(tok); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(alg+"_ceiling", func(b *testing.B) {
			b.ReportAllocs()
			switch k := s.active[alg].signer.(type) {
			case *rsa.PrivateKey:
				for b.Loop() {
					sum := sha256.Sum256(input)
					if err := rsa.VerifyPKCS1v15(&k.PublicKey, crypto.SHA256, sum[:], sig); err != nil {
						b.Fatal(err)
					}
				}
			case ed25519.PrivateKey:
				pub := k.Public().(ed25519.PublicKey)
				for b.Loop() {
					if !ed25519.Verify(pub, input, sig) {
						b.Fatal("bad signature")
					}
				}
			}
		})
	}
}
