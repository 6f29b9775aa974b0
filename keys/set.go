package keys

import (
	"cmp"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
)

// StateActive marks the key that signs new tokens for its algorithm. It is
// the only state so far; rotation will add "next" and "retired".
const StateActive = "active"

// The signing algorithms (RFC 7518 §3.1, RFC 8037 §3.1).
const (
	eddsa = string(jwa.EdDSA)
	rs256 = string(jwa.RS256)
)

// algs lists the algorithms that a set holds an active key of, in List order.
var algs = []string{eddsa, rs256}

const (
	// rsaBits is the RSA modulus size; RFC 7518 §3.3 requires at least 2048.
	rsaBits = 2048
	// accessTokenType is the typ header of a JWT access token (RFC 9068 §2.1).
	accessTokenType = "at+jwt"
	// etagLen is the number of base64url characters of the JWK Set's SHA-256
	// kept in its entity tag: 132 bits.
	etagLen = 22
)

// Info describes one key without its private part.
type Info struct {
	KID     string
	Alg     string // "RS256" or "EdDSA"
	State   string
	Created time.Time // UTC, seconds precision
}

// Set is the signing key set: the active key of each algorithm and the
// precomputed JWK Set. It is immutable and so safe for concurrent use.
type Set struct {
	keys   []*key          // sorted by algorithm, then creation time
	active map[string]*key // by algorithm
	byKID  map[string]*key
	jwks   []byte
	etag   string
}

// key is one signing key, prepared once so that signing does no key
// conversion.
type key struct {
	Info
	signer crypto.Signer // *rsa.PrivateKey with precomputed CRT values, or ed25519.PrivateKey
	public jwk.Key       // the published JWK: kty, kid, alg, use and the public parameters
}

// Sign returns a compact JWS (RFC 7515 §7.1) over claims, signed with the
// active key of alg, with the protected header {alg, kid, typ: "at+jwt"}
// (RFC 9068 §2.1).
func (s *Set) Sign(alg string, claims []byte) (string, error) {
	k := s.active[alg]
	if k == nil {
		return "", fmt.Errorf("keys: no signing key for alg %q", alg)
	}
	// The header is built per call: jws.Sign writes alg into the headers it
	// is given, so one shared value would be a data race.
	h := jws.NewHeaders()
	if err := errors.Join(h.Set(jws.KeyIDKey, k.KID), h.Set(jws.TypeKey, accessTokenType)); err != nil {
		return "", fmt.Errorf("keys: build header: %w", err)
	}
	tok, err := jws.Sign(claims, jws.WithKey(jwa.SignatureAlgorithm(alg), k.signer, jws.WithProtectedHeaders(h)))
	if err != nil {
		return "", fmt.Errorf("keys: sign with %s key %s: %w", alg, k.KID, err)
	}
	return string(tok), nil
}

// Verify returns the claims of token if it is a compact JWS with the header
// typ "at+jwt" (RFC 9068 §4), signed by the key of the set that its kid
// names, with that key's algorithm and no other (RFC 8725 §3.1).
func (s *Set) Verify(token string) ([]byte, error) {
	msg, err := jws.Parse([]byte(token))
	if err != nil {
		return nil, fmt.Errorf("keys: parse token: %w", err)
	}
	if len(msg.Signatures()) != 1 {
		return nil, errors.New("keys: token does not have exactly one signature")
	}
	h := msg.Signatures()[0].ProtectedHeaders()
	if h.Type() != accessTokenType {
		return nil, fmt.Errorf("keys: token typ %q is not %s", h.Type(), accessTokenType)
	}
	k := s.byKID[h.KeyID()]
	if k == nil || string(h.Algorithm()) != k.Alg {
		return nil, fmt.Errorf("keys: no %s key with kid %q", h.Algorithm(), h.KeyID())
	}
	claims, err := jws.Verify([]byte(token), jws.WithKey(jwa.SignatureAlgorithm(k.Alg), k.signer.Public()))
	if err != nil {
		return nil, fmt.Errorf("keys: verify token: %w", err)
	}
	return claims, nil
}

// JWKS returns the public JWK Set (RFC 7517 §5) and its strong entity tag
// (RFC 9110 §8.8.3). Both are computed once; callers must not modify body.
func (s *Set) JWKS() (body []byte, etag string) {
	return s.jwks, s.etag
}

// List describes the keys, sorted by algorithm, then creation time.
func (s *Set) List() []Info {
	infos := make([]Info, len(s.keys))
	for i, k := range s.keys {
		infos[i] = k.Info
	}
	return infos
}

// newSet checks that ks holds exactly one active key of each algorithm and
// precomputes the JWK Set.
func newSet(ks []*key) (*Set, error) {
	slices.SortFunc(ks, func(a, b *key) int {
		return cmp.Or(cmp.Compare(a.Alg, b.Alg), a.Created.Compare(b.Created))
	})
	s := &Set{keys: ks, active: make(map[string]*key, len(algs)), byKID: make(map[string]*key, len(ks))}
	pub := jwk.NewSet()
	for _, k := range ks {
		if s.byKID[k.KID] != nil {
			return nil, fmt.Errorf("duplicate kid %s", k.KID)
		}
		s.byKID[k.KID] = k
		if k.State != StateActive {
			return nil, fmt.Errorf("key %s has unknown state %q", k.KID, k.State)
		}
		if s.active[k.Alg] != nil {
			return nil, fmt.Errorf("more than one active %s key", k.Alg)
		}
		s.active[k.Alg] = k
		if err := pub.AddKey(k.public); err != nil {
			return nil, fmt.Errorf("publish key %s: %w", k.KID, err)
		}
	}
	for _, alg := range algs {
		if s.active[alg] == nil {
			return nil, fmt.Errorf("no active %s key", alg)
		}
	}
	body, err := json.Marshal(pub)
	if err != nil {
		return nil, fmt.Errorf("encode JWK Set: %w", err)
	}
	sum := sha256.Sum256(body)
	s.jwks = body
	s.etag = `"` + base64.RawURLEncoding.EncodeToString(sum[:])[:etagLen] + `"`
	return s, nil
}

// generate creates a new key for alg.
func generate(alg string, created time.Time) (*key, error) {
	var signer crypto.Signer
	var err error
	switch alg {
	case rs256:
		signer, err = rsa.GenerateKey(rand.Reader, rsaBits)
	case eddsa:
		_, signer, err = ed25519.GenerateKey(rand.Reader)
	default:
		err = errors.New("unsupported algorithm")
	}
	if err != nil {
		return nil, fmt.Errorf("generate %s key: %w", alg, err)
	}
	return newKey(alg, signer, StateActive, created)
}

// newKey derives the kid and the published JWK of signer, a key of alg.
func newKey(alg string, signer crypto.Signer, state string, created time.Time) (*key, error) {
	pub, err := jwk.PublicKeyOf(signer)
	if err != nil {
		return nil, fmt.Errorf("public JWK of %s key: %w", alg, err)
	}
	kid, err := thumbprint(pub)
	if err != nil {
		return nil, err
	}
	err = errors.Join(
		pub.Set(jwk.KeyIDKey, kid),
		pub.Set(jwk.AlgorithmKey, jwa.SignatureAlgorithm(alg)),
		pub.Set(jwk.KeyUsageKey, jwk.ForSignature),
	)
	if err != nil {
		return nil, fmt.Errorf("public JWK of %s key %s: %w", alg, kid, err)
	}
	return &key{
		Info:   Info{KID: kid, Alg: alg, State: state, Created: created},
		signer: signer,
		public: pub,
	}, nil
}

// thumbprint returns the JWK thumbprint of k with SHA-256, base64url-encoded
// without padding (RFC 7638 §3), which is the key's kid.
func thumbprint(k jwk.Key) (string, error) {
	sum, err := k.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("JWK thumbprint: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(sum), nil
}
