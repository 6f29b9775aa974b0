// Package verifytest runs a small authorization server for tests of
// resource servers: it serves the metadata (RFC 8414) and the JWK Set
// (RFC 7517) that package verify reads, over real HTTP, with keys generated
// for the test, and signs access tokens (RFC 9068) with them.
package verifytest

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
)

// JWKSPath is where the issuer serves its JWK Set, as authserver does.
const JWKSPath = "/.well-known/jwks.json"

// Key is a signing key of the test issuer.
type Key struct {
	KID    string // the RFC 7638 thumbprint, as authserver makes it
	Alg    string // "RS256" or "EdDSA"
	Signer crypto.Signer
	// JWK is the public key as the issuer publishes it, with kid, alg and
	// use "sig"; a test may change it before Publish.
	JWK jwk.Key
}

// NewKey generates a key for alg, "RS256" (RSA, 2048 bits) or "EdDSA"
// (Ed25519). The issuer publishes it only after Publish.
func NewKey(t testing.TB, alg string) *Key {
	t.Helper()
	k, err := newKey(alg)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newKey(alg string) (*Key, error) {
	var s crypto.Signer
	var err error
	switch alg {
	case "RS256":
		s, err = rsa.GenerateKey(rand.Reader, 2048)
	case "EdDSA":
		_, s, err = ed25519.GenerateKey(rand.Reader)
	default:
		return nil, fmt.Errorf("verifytest: no key for alg %q", alg)
	}
	if err != nil {
		return nil, err
	}
	pub, err := jwk.PublicKeyOf(s)
	if err != nil {
		return nil, err
	}
	tp, err := pub.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, err
	}
	k := &Key{KID: base64.RawURLEncoding.EncodeToString(tp), Alg: alg, Signer: s, JWK: pub}
	for name, v := range map[string]any{jwk.KeyIDKey: k.KID, jwk.AlgorithmKey: alg, jwk.KeyUsageKey: jwk.ForSignature} {
		if err := pub.Set(name, v); err != nil {
			return nil, err
		}
	}
	return k, nil
}

// Sign returns a compact JWS of claims, signed with k, with the header
// {alg, kid, typ: "at+jwt"} of an access token (RFC 9068 §2.1) changed by
// header: a nil value removes a parameter. claims is marshalled as JSON
// unless it is a []byte already.
func (k *Key) Sign(t testing.TB, header map[string]any, claims any) string {
	t.Helper()
	payload, ok := claims.([]byte)
	if !ok {
		var err error
		if payload, err = json.Marshal(claims); err != nil {
			t.Fatal(err)
		}
	}
	params := map[string]any{jws.KeyIDKey: k.KID, jws.TypeKey: "at+jwt"}
	for name, v := range header {
		params[name] = v
	}
	hdr := jws.NewHeaders()
	for name, v := range params {
		if v == nil {
			continue
		}
		if err := hdr.Set(name, v); err != nil {
			t.Fatal(err)
		}
	}
	tok, err := jws.Sign(payload, jws.WithKey(jwa.SignatureAlgorithm(k.Alg), k.Signer, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		t.Fatal(err)
	}
	return string(tok)
}

// defaultKeys are the keys every Issuer starts with, generated once per
// test binary because RSA key generation is slow.
var defaultKeys = sync.OnceValues(func() ([]*Key, error) {
	rs, err := newKey("RS256")
	if err != nil {
		return nil, err
	}
	ed, err := newKey("EdDSA")
	return []*Key{rs, ed}, err
})

// Issuer is a test authorization server whose issuer identifier is its URL.
type Issuer struct {
	URL string

	srv     *httptest.Server
	mu      sync.Mutex
	keys    []*Key
	fetches atomic.Int64
}

// NewIssuer starts an issuer that publishes one RS256 and one EdDSA key.
// It stops when the test ends.
func NewIssuer(t testing.TB) *Issuer {
	t.Helper()
	keys, err := defaultKeys()
	if err != nil {
		t.Fatal(err)
	}
	is := &Issuer{keys: slices.Clone(keys)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/oauth-authorization-server", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]string{"issuer": is.URL, "jwks_uri": is.URL + JWKSPath})
	})
	mux.HandleFunc("GET "+JWKSPath, is.jwks)
	is.srv = httptest.NewUnstartedServer(mux)
	is.URL = "http://" + is.srv.Listener.Addr().String()
	is.srv.Start()
	t.Cleanup(is.srv.Close)
	return is
}

func (is *Issuer) jwks(w http.ResponseWriter, r *http.Request) {
	is.fetches.Add(1)
	set := jwk.NewSet()
	is.mu.Lock()
	for _, k := range is.keys {
		set.AddKey(k.JWK)
	}
	is.mu.Unlock()
	w.Header().Set("Content-Type", "application/jwk-set+json")
	w.Header().Set("Cache-Control", "public, max-age=900")
	json.NewEncoder(w).Encode(set)
}

// Close stops the issuer, as if it were down.
func (is *Issuer) Close() { is.srv.Close() }

// Publish adds k to the JWK Set.
func (is *Issuer) Publish(k *Key) {
	is.mu.Lock()
	defer is.mu.Unlock()
	is.keys = append(is.keys, k)
}

// JWKSFetches returns how often the JWK Set was fetched.
func (is *Issuer) JWKSFetches() int64 { return is.fetches.Load() }

// Key returns the first published key of alg.
func (is *Issuer) Key(alg string) *Key {
	is.mu.Lock()
	defer is.mu.Unlock()
	for _, k := range is.keys {
		if k.Alg == alg {
			return k
		}
	}
	panic(fmt.Sprintf("verifytest: no key for alg %q", alg))
}

// Claims returns the claims of a valid access token issued at now, as
// authserver issues them by default (RFC 9068 §2.2): aud is the issuer, the
// lifetime 15 minutes.
func (is *Issuer) Claims(now time.Time) map[string]any {
	return map[string]any{
		"iss":       is.URL,
		"sub":       "user-1",
		"aud":       is.URL,
		"exp":       now.Add(15 * time.Minute).Unix(),
		"iat":       now.Unix(),
		"nbf":       now.Unix(),
		"jti":       rand.Text(),
		"client_id": "demo",
		"auth_time": now.Unix(),
	}
}

// Token returns an access token with claims, signed with the issuer's key
// of alg.
func (is *Issuer) Token(t testing.TB, alg string, claims map[string]any) string {
	t.Helper()
	return is.Key(alg).Sign(t, nil, claims)
}
