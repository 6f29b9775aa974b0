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
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
)

// The states of a key: published before it signs, signing, published until
// the last token it signed has expired. A removed key leaves the set.
const (
	StateNext    = "next"
	StateActive  = "active"
	StateRetired = "retired"
)

// The signing algorithms (RFC 7518 §3.1, RFC 8037 §3.1).
const (
	EdDSA = string(jwa.EdDSA)
	RS256 = string(jwa.RS256)
)

// algs lists the algorithms the set keeps keys of, in List order.
var algs = []string{EdDSA, RS256}

const (
	// accessTokenType is the typ header of a JWT access token (RFC 9068 §2.1).
	accessTokenType = "at+jwt"
	// etagLen is the number of base64url characters of the JWK Set's SHA-256
	// kept in its entity tag: 132 bits.
	etagLen = 22
)

// Info describes one key without its private part: its state and the times
// of its transitions, in UTC. Zero times have not happened.
type Info struct {
	KID   string
	Alg   string // "RS256" or "EdDSA"
	State string
	// Created is when the key was generated and published.
	Created time.Time
	// ActivateAt is when a next key becomes active.
	ActivateAt time.Time
	Activated  time.Time
	Retired    time.Time
	// RemoveAt is when a retired key leaves the set.
	RemoveAt time.Time
}

// Set is one version of the signing key set: the active key of each
// algorithm, every published key, and the precomputed JWK Set. It is
// immutable and so safe for concurrent use.
type Set struct {
	version int64
	keys    []*key          // sorted by algorithm, then creation time
	active  map[string]*key // by algorithm
	byKID   map[string]*key
	jwks    []byte
	etag    string
}

// key is one signing key, prepared once so that signing does no key
// conversion.
type key struct {
	Info
	signer crypto.Signer // *rsa.PrivateKey with precomputed CRT values, or ed25519.PrivateKey
	public jwk.Key       // the published JWK: kty, kid, alg, use and the public parameters
	sealed []byte        // the stored, sealed private key
	header string        // the base64url protected header of the tokens it signs
}

// Sign returns a compact JWS (RFC 7515 §7.1) over claims, signed with the
// active key of alg, with the protected header {alg, kid, typ: "at+jwt"}
// (RFC 9068 §2.1). The header's encoding is computed once per key; the
// signature is crypto/ed25519's or crypto/rsa's PKCS #1 v1.5 over SHA-256
// (RFC 7518 §3.3, RFC 8037 §3.1).
func (s *Set) Sign(alg string, claims []byte) (string, error) {
	k := s.active[alg]
	if k == nil {
		return "", fmt.Errorf("keys: no active key for alg %q", alg)
	}
	enc := base64.RawURLEncoding
	n := len(k.header) + 1 + enc.EncodedLen(len(claims))
	buf := make([]byte, n, n+1+enc.EncodedLen(512))
	copy(buf, k.header)
	buf[len(k.header)] = '.'
	enc.Encode(buf[len(k.header)+1:], claims)
	sig, err := k.sign(buf)
	if err != nil {
		return "", fmt.Errorf("keys: sign with %s key %s: %w", alg, k.KID, err)
	}
	buf = append(buf, '.')
	buf = enc.AppendEncode(buf, sig)
	return string(buf), nil
}

// sign signs input with the key's algorithm.
func (k *key) sign(input []byte) ([]byte, error) {
	switch priv := k.signer.(type) {
	case ed25519.PrivateKey:
		return ed25519.Sign(priv, input), nil
	case *rsa.PrivateKey:
		sum := sha256.Sum256(input)
		return rsa.SignPKCS1v15(nil, priv, crypto.SHA256, sum[:])
	}
	return nil, fmt.Errorf("unsupported key type %T", k.signer)
}

// verify reports whether sig is the key's signature of input.
func (k *key) verify(input, sig []byte) bool {
	switch priv := k.signer.(type) {
	case ed25519.PrivateKey:
		// The private key holds its public key in its second half
		// (crypto/ed25519): no copy per verification.
		return ed25519.Verify(ed25519.PublicKey(priv[ed25519.SeedSize:]), input, sig)
	case *rsa.PrivateKey:
		sum := sha256.Sum256(input)
		return rsa.VerifyPKCS1v15(&priv.PublicKey, crypto.SHA256, sum[:], sig) == nil
	}
	return false
}

// joseHeader is the protected header of an access token.
type joseHeader struct {
	Alg  string `json:"alg"`
	KID  string `json:"kid"`
	Typ  string `json:"typ"`
	Crit any    `json:"crit,omitempty"`
}

// Verify returns the claims of token if it is a compact JWS with the header
// typ "at+jwt" (RFC 9068 §4) and no crit, signed by a published key of the
// set that its kid names, with that key's algorithm and no other (RFC 8725
// §3.1). Every part must be strict base64url, so a token has one spelling.
func (s *Set) Verify(token string) ([]byte, error) {
	h64, rest, ok1 := strings.Cut(token, ".")
	p64, s64, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || strings.Contains(s64, ".") {
		return nil, errors.New("keys: not a compact JWS of three parts")
	}
	enc := base64.RawURLEncoding.Strict()
	raw, err := enc.DecodeString(h64)
	if err != nil {
		return nil, errors.New("keys: header is not base64url")
	}
	var h joseHeader
	if err := json.Unmarshal(raw, &h); err != nil {
		return nil, fmt.Errorf("keys: header: %w", err)
	}
	if h.Typ != accessTokenType || h.Crit != nil {
		return nil, fmt.Errorf("keys: token typ %q is not %s, or the header has crit", h.Typ, accessTokenType)
	}
	k := s.byKID[h.KID]
	if k == nil || h.Alg != k.Alg {
		return nil, fmt.Errorf("keys: no %s key with kid %q", h.Alg, h.KID)
	}
	sig, err := enc.DecodeString(s64)
	if err != nil || !k.verify([]byte(token[:len(h64)+1+len(p64)]), sig) {
		return nil, errors.New("keys: the signature does not verify")
	}
	claims, err := enc.DecodeString(p64)
	if err != nil {
		return nil, errors.New("keys: payload is not base64url")
	}
	return claims, nil
}

// Ready reports an algorithm without an active key: the set cannot sign
// its tokens.
func (s *Set) Ready() error {
	for _, alg := range algs {
		if s.active[alg] == nil {
			return fmt.Errorf("keys: no active %s key", alg)
		}
	}
	return nil
}

// JWKS returns the public JWK Set (RFC 7517 §5) of every published key and
// its strong entity tag (RFC 9110 §8.8.3). Both are computed once per
// version, from the keys alone, so every replica serves the same bytes;
// callers must not modify body.
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

// newSet checks that ks holds at most one active and one next key of each
// algorithm and precomputes the JWK Set.
func newSet(version int64, ks []*key) (*Set, error) {
	ks = slices.Clone(ks)
	slices.SortFunc(ks, func(a, b *key) int {
		return cmp.Or(cmp.Compare(a.Alg, b.Alg), a.Created.Compare(b.Created), cmp.Compare(a.KID, b.KID))
	})
	s := &Set{version: version, keys: ks, active: make(map[string]*key, len(algs)), byKID: make(map[string]*key, len(ks))}
	next := make(map[string]bool, len(algs))
	pub := jwk.NewSet()
	for _, k := range ks {
		if s.byKID[k.KID] != nil {
			return nil, fmt.Errorf("duplicate kid %s", k.KID)
		}
		s.byKID[k.KID] = k
		switch {
		case k.State == StateActive && s.active[k.Alg] == nil:
			s.active[k.Alg] = k
		case k.State == StateNext && !next[k.Alg]:
			next[k.Alg] = true
		case k.State != StateRetired:
			return nil, fmt.Errorf("key %s: state %q is unknown or held by another %s key", k.KID, k.State, k.Alg)
		}
		if err := pub.AddKey(k.public); err != nil {
			return nil, fmt.Errorf("publish key %s: %w", k.KID, err)
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

// generate creates a new key of alg, with an RSA modulus of rsaBits bits.
func generate(alg string, rsaBits int) (*key, error) {
	var signer crypto.Signer
	var err error
	switch alg {
	case RS256:
		signer, err = rsa.GenerateKey(rand.Reader, rsaBits)
	case EdDSA:
		_, signer, err = ed25519.GenerateKey(rand.Reader)
	default:
		err = errors.New("unsupported algorithm")
	}
	if err != nil {
		return nil, fmt.Errorf("generate %s key: %w", alg, err)
	}
	return newKey(Info{Alg: alg}, signer)
}

// newKey derives the kid and the published JWK of signer, a key of
// info.Alg.
func newKey(info Info, signer crypto.Signer) (*key, error) {
	pub, err := jwk.PublicKeyOf(signer)
	if err != nil {
		return nil, fmt.Errorf("public JWK of %s key: %w", info.Alg, err)
	}
	if info.KID, err = thumbprint(pub); err != nil {
		return nil, err
	}
	err = errors.Join(
		pub.Set(jwk.KeyIDKey, info.KID),
		pub.Set(jwk.AlgorithmKey, jwa.SignatureAlgorithm(info.Alg)),
		pub.Set(jwk.KeyUsageKey, jwk.ForSignature),
	)
	if err != nil {
		return nil, fmt.Errorf("public JWK of %s key %s: %w", info.Alg, info.KID, err)
	}
	header, err := json.Marshal(joseHeader{Alg: info.Alg, KID: info.KID, Typ: accessTokenType})
	if err != nil {
		return nil, fmt.Errorf("header of %s key %s: %w", info.Alg, info.KID, err)
	}
	return &key{Info: info, signer: signer, public: pub, header: base64.RawURLEncoding.EncodeToString(header)}, nil
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
