package verify_test

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"

	"authserver/keys/verify"
	"authserver/keys/verify/verifytest"
)

// t0 is the time of the tests' clock when they start.
var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// clock is a test clock that moves only when told.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// newVerifier returns a verifier of is's tokens for the audience is.URL on
// a clock at t0, with o's other settings.
func newVerifier(t testing.TB, is *verifytest.Issuer, o verify.Options) (*verify.Verifier, *clock) {
	t.Helper()
	c := &clock{now: t0}
	if o.Audience == "" {
		o.Audience = is.URL
	}
	o.Now = c.Now
	v, err := verify.New(t.Context(), is.URL, o)
	if err != nil {
		t.Fatal(err)
	}
	return v, c
}

// with returns a copy of claims changed by changes; a nil value removes a
// claim.
func with(claims map[string]any, changes map[string]any) map[string]any {
	out := make(map[string]any, len(claims))
	for k, v := range claims {
		out[k] = v
	}
	for k, v := range changes {
		if v == nil {
			delete(out, k)
			continue
		}
		out[k] = v
	}
	return out
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func TestVerify(t *testing.T) {
	is := verifytest.NewIssuer(t)
	v, _ := newVerifier(t, is, verify.Options{})
	for _, alg := range []string{"RS256", "EdDSA"} {
		t.Run(alg, func(t *testing.T) {
			claims := with(is.Claims(t0.Add(-time.Minute)), map[string]any{
				"scope": "read write", "roles": []string{"admin"}, "sid": "family-1", "auth_time": t0.Add(-time.Hour).Unix(),
			})
			c, err := v.Verify(t.Context(), is.Token(t, alg, claims))
			if err != nil {
				t.Fatal(err)
			}
			want := verify.Claims{
				Issuer:    is.URL,
				Subject:   "user-1",
				ClientID:  "demo",
				JTI:       claims["jti"].(string),
				SessionID: "family-1",
				Audience:  []string{is.URL},
				Scopes:    []string{"read", "write"},
				Roles:     []string{"admin"},
				Expiry:    t0.Add(14 * time.Minute),
				IssuedAt:  t0.Add(-time.Minute),
				NotBefore: t0.Add(-time.Minute),
				AuthTime:  t0.Add(-time.Hour),
			}
			if got, _ := json.Marshal(c); string(got) != string(must(json.Marshal(want))) {
				t.Errorf("claims\n got %s\nwant %s", got, must(json.Marshal(want)))
			}
			if !c.HasScope("write") || c.HasScope("writ") || !c.HasRole("admin") || c.HasRole("user") {
				t.Errorf("HasScope/HasRole wrong for %+v", c)
			}
		})
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestVerifyAccepts covers the liberal side of each rule: what RFC 9068 and
// RFC 7519 allow must pass.
func TestVerifyAccepts(t *testing.T) {
	is := verifytest.NewIssuer(t)
	v, _ := newVerifier(t, is, verify.Options{Audience: "https://api.example.com"})
	valid := with(is.Claims(t0), map[string]any{"aud": "https://api.example.com"})
	rs := is.Key("RS256")
	for _, tc := range []struct {
		name  string
		token string
	}{
		{"RFC 7519 §4.1.3 aud array containing ours", rs.Sign(t, nil, with(valid, map[string]any{"aud": []string{"https://other.example.com", "https://api.example.com"}}))},
		{"RFC 9068 §4 typ application/at+jwt", rs.Sign(t, map[string]any{"typ": "application/at+jwt"}, valid)},
		{"RFC 9068 §4 typ compared case-insensitively", rs.Sign(t, map[string]any{"typ": "AT+JWT"}, valid)},
		{"RFC 7519 §4.1.4 exp passed within the leeway", rs.Sign(t, nil, with(valid, map[string]any{"exp": t0.Add(-29 * time.Second).Unix()}))},
		{"RFC 7519 §4.1.5 nbf ahead within the leeway", rs.Sign(t, nil, with(valid, map[string]any{"nbf": t0.Add(30 * time.Second).Unix()}))},
		{"RFC 7519 §4.1.6 iat ahead within the leeway", rs.Sign(t, nil, with(valid, map[string]any{"iat": t0.Add(30 * time.Second).Unix()}))},
		{"RFC 7519 §2 fractional NumericDate", rs.Sign(t, nil, with(valid, map[string]any{"exp": float64(t0.Unix()) + 60.5}))},
		{"RFC 8259 §7 aud with escapes", rs.Sign(t, nil, bytes.ReplaceAll(must(json.Marshal(valid)), []byte("https://"), []byte(`https:\/\/`)))},
		{"RFC 9068 §2.2 nbf, scope, roles, auth_time and sid optional", rs.Sign(t, nil, with(valid, map[string]any{"nbf": nil, "auth_time": nil}))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := v.Verify(t.Context(), tc.token); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestVerifyRejects crafts one token for each rule of RFC 9068 §4 (and of
// the JOSE and JWT specifications under it) that breaks only that rule.
func TestVerifyRejects(t *testing.T) {
	is := verifytest.NewIssuer(t)
	v, _ := newVerifier(t, is, verify.Options{})
	valid := is.Claims(t0)
	rs, ed := is.Key("RS256"), is.Key("EdDSA")
	good := rs.Sign(t, nil, valid)
	h, p, s := parts(good)
	pubDER := must(x509.MarshalPKIXPublicKey(rs.Signer.Public()))
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	noneHeader := b64(`{"alg":"none","kid":"` + rs.KID + `","typ":"at+jwt"}`)
	flip := func(part string) string {
		b := []byte(part)
		if i := len(b) / 2; b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	for _, tc := range []struct {
		name  string
		token string
		want  error
	}{
		{"RFC 7518 §3.6 alg none without signature", noneHeader + "." + p + ".", verify.ErrSignature},
		{"RFC 7518 §3.6 alg none with a signature", noneHeader + "." + p + "." + s, verify.ErrSignature},
		{"RFC 8725 §2.1 HS256 keyed with the RSA public key (PEM)", hmacToken(t, rs.KID, pubPEM, valid), verify.ErrSignature},
		{"RFC 8725 §2.1 HS256 keyed with the RSA public key (DER)", hmacToken(t, rs.KID, pubDER, valid), verify.ErrSignature},
		{"RFC 9068 §4 RS256 header on an Ed25519 key's kid", rs.Sign(t, map[string]any{"kid": ed.KID}, valid), verify.ErrSignature},
		{"RFC 9068 §4 EdDSA header on an RSA key's kid", ed.Sign(t, map[string]any{"kid": rs.KID}, valid), verify.ErrSignature},
		{"RFC 9068 §4 typ JWT", rs.Sign(t, map[string]any{"typ": "JWT"}, valid), verify.ErrMalformed},
		{"RFC 9068 §4 typ missing", rs.Sign(t, map[string]any{"typ": nil}, valid), verify.ErrMalformed},
		{"RFC 7515 §4.1.11 crit not understood", rs.Sign(t, map[string]any{"crit": []string{"exp"}, "exp": 1}, valid), verify.ErrMalformed},
		{"RFC 7515 §4.1.4 kid missing", rs.Sign(t, map[string]any{"kid": nil}, valid), verify.ErrMalformed},
		{"RFC 7515 §4.1.4 kid unknown", rs.Sign(t, map[string]any{"kid": "no-such-key"}, valid), verify.ErrUnknownKey},
		{"RFC 7515 §5.2 signature altered", h + "." + p + "." + flip(s), verify.ErrSignature},
		{"RFC 7515 §5.2 payload altered", h + "." + b64(`{"sub":"admin"}`) + "." + s, verify.ErrSignature},
		{"RFC 7515 §5.2 signed by another key with the same kid", verifytest.NewKey(t, "EdDSA").Sign(t, map[string]any{"kid": ed.KID}, valid), verify.ErrSignature},
		{"RFC 9068 §4 iss not the issuer", rs.Sign(t, nil, with(valid, map[string]any{"iss": "https://evil.example.com"})), verify.ErrClaims},
		{"RFC 9068 §4 iss missing", rs.Sign(t, nil, with(valid, map[string]any{"iss": nil})), verify.ErrClaims},
		{"RFC 9068 §4 aud another resource", rs.Sign(t, nil, with(valid, map[string]any{"aud": "https://other.example.com"})), verify.ErrClaims},
		{"RFC 9068 §4 aud array without ours", rs.Sign(t, nil, with(valid, map[string]any{"aud": []string{"https://a.example.com", "https://b.example.com"}})), verify.ErrClaims},
		{"RFC 9068 §4 aud missing", rs.Sign(t, nil, with(valid, map[string]any{"aud": nil})), verify.ErrClaims},
		{"RFC 9068 §4 exp passed beyond the leeway", rs.Sign(t, nil, with(valid, map[string]any{"exp": t0.Add(-31 * time.Second).Unix()})), verify.ErrExpired},
		{"RFC 9068 §4 exp exactly at the leeway", rs.Sign(t, nil, with(valid, map[string]any{"exp": t0.Add(-30 * time.Second).Unix()})), verify.ErrExpired},
		{"RFC 7519 §4.1.5 nbf ahead beyond the leeway", rs.Sign(t, nil, with(valid, map[string]any{"nbf": t0.Add(31 * time.Second).Unix()})), verify.ErrClaims},
		{"RFC 7519 §4.1.6 iat ahead beyond the leeway", rs.Sign(t, nil, with(valid, map[string]any{"iat": t0.Add(31 * time.Second).Unix()})), verify.ErrClaims},
		{"RFC 9068 §2.2 sub missing", rs.Sign(t, nil, with(valid, map[string]any{"sub": nil})), verify.ErrClaims},
		{"RFC 9068 §2.2 client_id missing", rs.Sign(t, nil, with(valid, map[string]any{"client_id": nil})), verify.ErrClaims},
		{"RFC 9068 §2.2 jti missing", rs.Sign(t, nil, with(valid, map[string]any{"jti": nil})), verify.ErrClaims},
		{"RFC 9068 §2.2 exp missing", rs.Sign(t, nil, with(valid, map[string]any{"exp": nil})), verify.ErrClaims},
		{"RFC 9068 §2.2 iat missing", rs.Sign(t, nil, with(valid, map[string]any{"iat": nil})), verify.ErrClaims},
		{"RFC 7519 §2 NumericDate as a string", rs.Sign(t, nil, with(valid, map[string]any{"exp": "2030-01-02"})), verify.ErrMalformed},
		{"RFC 7519 §2 NumericDate out of range", rs.Sign(t, nil, with(valid, map[string]any{"exp": 1e300})), verify.ErrMalformed},
		{"RFC 7519 §4.1.3 aud a number", rs.Sign(t, nil, with(valid, map[string]any{"aud": 7})), verify.ErrMalformed},
		{"RFC 7515 §7.1 two segments", h + "." + p, verify.ErrMalformed},
		{"RFC 7515 §7.1 four segments", good + "." + s, verify.ErrMalformed},
		{"RFC 7515 §7.1 empty", "", verify.ErrMalformed},
		{"RFC 7515 §2 header bad base64", "e" + h + "." + p + "." + s, verify.ErrMalformed},
		{"RFC 7515 §2 padding", h + "=." + p + "." + s, verify.ErrMalformed},
		{"RFC 7515 §2 line break in the signature", h + "." + p + "." + s[:10] + "\n" + s[10:], verify.ErrMalformed},
		{"RFC 7515 §2 standard base64 alphabet", h + "." + p + "." + strings.NewReplacer("-", "+", "_", "/").Replace(s) + "+", verify.ErrMalformed},
		{"RFC 7515 §4 header bad JSON", b64(`{"alg":"RS256",`) + "." + p + "." + s, verify.ErrMalformed},
		{"RFC 7519 §7.2 payload bad JSON", rs.Sign(t, nil, []byte(`{"sub":`)), verify.ErrMalformed},
		{"RFC 7519 §7.2 payload not an object", rs.Sign(t, nil, []byte(`["sub"]`)), verify.ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := v.Verify(t.Context(), tc.token)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if c != nil {
				t.Errorf("claims %+v with an error", c)
			}
		})
	}
}

// parts splits a compact JWS.
func parts(token string) (h, p, s string) {
	f := strings.Split(token, ".")
	return f[0], f[1], f[2]
}

// hmacToken is the key-confusion attack: a token signed with HS256, keyed
// with the bytes of the RSA public key that kid names, which a verifier
// that lets the token choose the algorithm would accept.
func hmacToken(t *testing.T, kid string, secret []byte, claims map[string]any) string {
	hdr := jws.NewHeaders()
	hdr.Set(jws.KeyIDKey, kid)
	hdr.Set(jws.TypeKey, "at+jwt")
	tok, err := jws.Sign(must(json.Marshal(claims)), jws.WithKey(jwa.HS256, secret, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		t.Fatal(err)
	}
	return string(tok)
}

// TestVerifyAlgorithms: a token whose alg the options leave out is refused
// although the key would verify it.
func TestVerifyAlgorithms(t *testing.T) {
	is := verifytest.NewIssuer(t)
	v, _ := newVerifier(t, is, verify.Options{Algorithms: []string{"EdDSA"}})
	if _, err := v.Verify(t.Context(), is.Token(t, "RS256", is.Claims(t0))); !errors.Is(err, verify.ErrSignature) {
		t.Errorf("RS256 with EdDSA only: %v", err)
	}
	if _, err := v.Verify(t.Context(), is.Token(t, "EdDSA", is.Claims(t0))); err != nil {
		t.Errorf("EdDSA: %v", err)
	}
}

// TestUnknownKeyRefresh: a key the issuer publishes after the verifier
// fetched its JWK Set is found by fetching the set again (the key rotation
// of RFC 7517 §5 seen from the resource server).
func TestUnknownKeyRefresh(t *testing.T) {
	is := verifytest.NewIssuer(t)
	v, _ := newVerifier(t, is, verify.Options{})
	next := verifytest.NewKey(t, "EdDSA")
	is.Publish(next)
	c, err := v.Verify(t.Context(), next.Sign(t, nil, is.Claims(t0)))
	if err != nil {
		t.Fatal(err)
	}
	if c.Subject != "user-1" {
		t.Errorf("sub %q", c.Subject)
	}
	if n := is.JWKSFetches(); n != 2 {
		t.Errorf("%d JWKS fetches, want 2: the first and one refresh", n)
	}
	if _, err := v.Verify(t.Context(), next.Sign(t, nil, is.Claims(t0))); err != nil || is.JWKSFetches() != 2 {
		t.Errorf("second token of the new key: %v, %d fetches", err, is.JWKSFetches())
	}
}

// TestUnknownKeyRefreshLimit: unknown kids make the verifier fetch the JWK
// Set at most once per refresh interval, however many arrive at once.
func TestUnknownKeyRefreshLimit(t *testing.T) {
	is := verifytest.NewIssuer(t)
	v, clk := newVerifier(t, is, verify.Options{RefreshInterval: time.Minute})
	rs := is.Key("RS256")
	tokens := make([]string, 100)
	for i := range tokens {
		tokens[i] = rs.Sign(t, map[string]any{"kid": rand.Text()}, is.Claims(t0))
	}
	var wg sync.WaitGroup
	for _, tok := range tokens {
		wg.Go(func() {
			if _, err := v.Verify(t.Context(), tok); !errors.Is(err, verify.ErrUnknownKey) {
				t.Errorf("random kid: %v", err)
			}
		})
	}
	wg.Wait()
	if n := is.JWKSFetches(); n != 2 {
		t.Fatalf("%d JWKS fetches after a burst of 100 unknown kids, want 2: the first and one refresh", n)
	}

	next := verifytest.NewKey(t, "EdDSA")
	is.Publish(next)
	token := next.Sign(t, nil, is.Claims(t0))
	clk.Add(time.Minute - time.Second)
	if _, err := v.Verify(t.Context(), token); !errors.Is(err, verify.ErrUnknownKey) || is.JWKSFetches() != 2 {
		t.Fatalf("within the interval: %v, %d fetches; want ErrUnknownKey and no fetch", err, is.JWKSFetches())
	}
	clk.Add(time.Second)
	if _, err := v.Verify(t.Context(), token); err != nil || is.JWKSFetches() != 3 {
		t.Fatalf("after the interval: %v, %d fetches; want success after one fetch", err, is.JWKSFetches())
	}
}

// TestIssuerDown: while the issuer is down, tokens of the cached keys still
// verify, and an unknown kid fails with ErrUnknownKey and the cause.
func TestIssuerDown(t *testing.T) {
	is := verifytest.NewIssuer(t)
	v, _ := newVerifier(t, is, verify.Options{})
	is.Close()
	if _, err := v.Verify(t.Context(), is.Token(t, "EdDSA", is.Claims(t0))); err != nil {
		t.Errorf("known key: %v", err)
	}
	_, err := v.Verify(t.Context(), verifytest.NewKey(t, "EdDSA").Sign(t, nil, is.Claims(t0)))
	if !errors.Is(err, verify.ErrUnknownKey) || !strings.Contains(err.Error(), "fetching the JWK Set") {
		t.Errorf("unknown key: %v", err)
	}
}

func TestNewFails(t *testing.T) {
	is := verifytest.NewIssuer(t)
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	liar := serveMetadata(t, `{"issuer":"https://auth.example.com","jwks_uri":"`+is.URL+verifytest.JWKSPath+`"}`)
	noJWKS := serveMetadata(t, `{"issuer":"{{.}}","jwks_uri":"{{.}}/jwks"}`)
	noURI := serveMetadata(t, `{"issuer":"{{.}}"}`)
	notJSON := serveMetadata(t, `<html>`)
	notFound := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(notFound.Close)
	api := "https://api.example.com"
	for _, tc := range []struct {
		name   string
		issuer string
		o      verify.Options
		want   string
	}{
		{"RFC 8414 §3.3 metadata names another issuer", liar.URL, verify.Options{Audience: api}, `names issuer "https://auth.example.com"`},
		{"issuer unreachable", closed.URL, verify.Options{Audience: api}, "metadata of"},
		{"JWK Set unreachable", noJWKS.URL, verify.Options{Audience: api}, "JWK Set of"},
		{"RFC 8414 §3 metadata not found", notFound.URL, verify.Options{Audience: api}, "404 Not Found"},
		{"RFC 8414 §3.2 metadata not JSON", notJSON.URL, verify.Options{Audience: api}, "invalid character"},
		{"RFC 8414 §2 metadata without jwks_uri", noURI.URL, verify.Options{Audience: api}, "no usable jwks_uri"},
		{"RFC 8414 §2 issuer with a query", is.URL + "?tenant=a", verify.Options{Audience: api}, "not an http(s) URL"},
		{"RFC 8414 §2 issuer not a URL", "auth.example.com", verify.Options{Audience: api}, "not an http(s) URL"},
		{"RFC 9068 §4 audience missing", is.URL, verify.Options{}, "audience is required"},
		{"RFC 8725 §2.1 algorithm none", is.URL, verify.Options{Audience: api, Algorithms: []string{"RS256", "none"}}, `"none" is not supported`},
		{"RFC 8725 §2.1 algorithm HS256", is.URL, verify.Options{Audience: api, Algorithms: []string{"HS256"}}, `"HS256" is not supported`},
		{"algorithm PS256 not implemented", is.URL, verify.Options{Audience: api, Algorithms: []string{"PS256"}}, `"PS256" is not supported`},
		{"negative leeway", is.URL, verify.Options{Audience: api, Leeway: -time.Second}, "must not be negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := verify.New(t.Context(), tc.issuer, tc.o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New = %v, %v; want an error containing %q", v, err, tc.want)
			}
		})
	}
}

// serveMetadata serves body, with {{.}} replaced by the server's URL, as
// the RFC 8414 metadata of an issuer, and 404 for any other path.
func serveMetadata(t *testing.T, body string) *httptest.Server {
	var srv *httptest.Server
	srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/.well-known/oauth-authorization-server" {
			http.NotFound(w, r)
			return
		}
		io.WriteString(w, strings.ReplaceAll(body, "{{.}}", srv.URL))
	}))
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

// TestUnusableKeys: keys of the JWK Set that may not verify access tokens
// are left out, so that their kid is unknown.
func TestUnusableKeys(t *testing.T) {
	small := verifytest.NewKey(t, "RS256")
	smallRSA := must(rsa.GenerateKey(rand.Reader, 1024))
	small.Signer, small.JWK = smallRSA, must(jwk.PublicKeyOf(smallRSA))
	small.JWK.Set(jwk.KeyIDKey, small.KID)
	small.JWK.Set(jwk.AlgorithmKey, "RS256")
	encryption := verifytest.NewKey(t, "RS256")
	encryption.JWK.Set(jwk.KeyUsageKey, "enc")
	noAlg := verifytest.NewKey(t, "EdDSA")
	noAlg.JWK.Remove(jwk.AlgorithmKey)
	wrongAlg := verifytest.NewKey(t, "RS256")
	wrongAlg.JWK.Set(jwk.AlgorithmKey, "EdDSA")

	is := verifytest.NewIssuer(t)
	for _, k := range []*verifytest.Key{small, encryption, noAlg, wrongAlg} {
		is.Publish(k)
	}
	v, _ := newVerifier(t, is, verify.Options{})
	for name, k := range map[string]*verifytest.Key{
		"RFC 7518 §3.3 RSA key under 2048 bits": small,
		"RFC 7517 §4.2 use enc":                 encryption,
		"RFC 8725 §3.1 key without alg":         noAlg,
		"RFC 8725 §3.1 alg not of the key type": wrongAlg,
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := v.Verify(t.Context(), k.Sign(t, nil, is.Claims(t0))); !errors.Is(err, verify.ErrUnknownKey) {
				t.Errorf("err = %v, want ErrUnknownKey", err)
			}
		})
	}
}

// FuzzVerify: no input makes Verify panic, and every failure is one of the
// documented errors.
func FuzzVerify(f *testing.F) {
	is := verifytest.NewIssuer(f)
	v, _ := newVerifier(f, is, verify.Options{})
	valid := is.Claims(t0)
	rs, ed := is.Key("RS256"), is.Key("EdDSA")
	good := rs.Sign(f, nil, valid)
	h, p, _ := parts(good)
	for _, seed := range []string{
		good,
		ed.Sign(f, nil, valid),
		ed.Sign(f, nil, with(valid, map[string]any{"aud": []string{"x", is.URL}, "exp": 1.5})),
		rs.Sign(f, nil, []byte(`{"exp":"x"}`)),
		rs.Sign(f, map[string]any{"typ": nil, "kid": "k"}, valid),
		b64(`{"alg":"none","typ":"at+jwt","kid":"k"}`) + "." + p + ".",
		h + "." + p,
		"..",
		"a.b.c",
		strings.Repeat("A", 100),
	} {
		f.Add(seed)
	}
	sentinels := []error{verify.ErrMalformed, verify.ErrUnknownKey, verify.ErrSignature, verify.ErrExpired, verify.ErrClaims}
	f.Fuzz(func(t *testing.T, token string) {
		c, err := v.Verify(t.Context(), token)
		if err != nil && !slices.ContainsFunc(sentinels, func(s error) bool { return errors.Is(err, s) }) {
			t.Fatalf("undocumented error %v", err)
		}
		if (err == nil) == (c == nil) {
			t.Fatalf("claims %v with error %v", c, err)
		}
	})
}

// BenchmarkVerify measures Verify of a valid token of each algorithm beside
// its ceiling in the same run: the bare signature check of the same signing
// input with crypto/rsa or crypto/ed25519. The kit's sub-benchmark reports
// its time as a multiple of the ceiling's (x_ceiling).
func BenchmarkVerify(b *testing.B) {
	is := verifytest.NewIssuer(b)
	v, _ := newVerifier(b, is, verify.Options{})
	claims := with(is.Claims(t0), map[string]any{"scope": "read write", "roles": []string{"admin"}, "sid": "family-1"})
	for _, alg := range []string{"RS256", "EdDSA"} {
		token := is.Token(b, alg, claims)
		h, p, s := parts(token)
		input, sig := []byte(h+"."+p), must(base64.RawURLEncoding.DecodeString(s))
		check := ceiling(is.Key(alg), input, sig)
		var ceilingNs float64
		b.Run(alg+"_ceiling", func(b *testing.B) {
			for b.Loop() {
				if !check() {
					b.Fatal("signature does not verify")
				}
			}
			ceilingNs = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
		})
		b.Run(alg, func(b *testing.B) {
			b.ReportAllocs()
			ctx := b.Context()
			for b.Loop() {
				if _, err := v.Verify(ctx, token); err != nil {
					b.Fatal(err)
				}
			}
			if ceilingNs > 0 {
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/ceilingNs, "x_ceiling")
			}
		})
	}
}

// ceiling returns the bare signature check of input with k's public key.
func ceiling(k *verifytest.Key, input, sig []byte) func() bool {
	switch pub := k.Signer.Public().(type) {
	case *rsa.PublicKey:
		return func() bool {
			sum := sha256.Sum256(input)
			return rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig) == nil
		}
	case ed25519.PublicKey:
		return func() bool { return ed25519.Verify(pub, input, sig) }
	}
	panic(fmt.Sprintf("no ceiling for %T", k.Signer))
}
