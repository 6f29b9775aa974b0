package verify

import (
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Errors of Verify. Every error it returns wraps exactly one of them, so
// that errors.Is tells the cases apart.
var (
	// ErrMalformed: the token is not a compact JWS (RFC 7515 §7.1) with a
	// JSON header and payload, or its header is not that of a JWT access
	// token: typ other than at+jwt (RFC 9068 §2.1), no kid, or crit.
	ErrMalformed = errors.New("verify: malformed access token")
	// ErrUnknownKey: no key of the issuer's JWK Set has the token's kid,
	// even after the set was fetched again.
	ErrUnknownKey = errors.New("verify: unknown signing key")
	// ErrSignature: the algorithm is not accepted, is not the algorithm of
	// the key the kid names, or the signature does not verify (RFC 9068 §4).
	ErrSignature = errors.New("verify: invalid signature")
	// ErrExpired: the token's exp has passed, beyond the leeway.
	ErrExpired = errors.New("verify: access token expired")
	// ErrClaims: a claim fails RFC 9068 §4: wrong iss or aud, not yet
	// valid, issued in the future, or a required claim missing.
	ErrClaims = errors.New("verify: access token claims rejected")
)

// The algorithms the package verifies: RSASSA-PKCS1-v1_5 with SHA-256
// (RFC 7518 §3.3) and Ed25519 (RFC 8037 §3.1), the two authserver signs with.
const (
	rs256 = "RS256"
	eddsa = "EdDSA"
)

// Options configure a Verifier. Only Audience is required; zero values mean
// the defaults.
type Options struct {
	// Audience identifies the resource server: a token is accepted only if
	// its aud claim contains it (RFC 9068 §4).
	Audience string
	// Algorithms are the accepted values of the alg header; default RS256
	// and EdDSA. Nothing else is supported: "none" and the HMAC algorithms
	// would let anyone who knows the public key forge tokens (RFC 8725 §2.1).
	Algorithms []string
	// Leeway is the clock skew allowed for exp, nbf and iat; default 30s.
	Leeway time.Duration
	// HTTPClient fetches the metadata and the JWK Set; default a client
	// with a 10s timeout.
	HTTPClient *http.Client
	// RefreshInterval is the least time between two fetches of the JWK Set
	// that unknown kids trigger, and the least time the cache keeps the set
	// however small its max-age; default 1 minute.
	RefreshInterval time.Duration
	// Now is the clock of the claim checks and of the refresh limit;
	// default time.Now.
	Now func() time.Time
}

// Verifier verifies the access tokens of one issuer for one audience. It is
// safe for concurrent use.
type Verifier struct {
	issuer   string
	audience string
	algs     []string
	leeway   time.Duration
	interval time.Duration
	now      func() time.Time
	client   *http.Client
	jwksURI  string

	// keys is the current key ring, replaced whole on every fetch.
	keys atomic.Pointer[keyring]

	// refreshMu serialises the fetches triggered by unknown kids, so that a
	// burst of them waits for one fetch and then finds lastRefresh recent.
	refreshMu   sync.Mutex
	lastRefresh time.Time
}

// New returns a verifier of the access tokens that issuer issues for
// o.Audience. It reads the issuer's metadata (RFC 8414 §3), which must name
// the same issuer (RFC 8414 §3.3) and a jwks_uri, and fetches the JWK Set
// once. ctx bounds those fetches and the life of the cache that refreshes
// the set: cancel it when the verifier is no longer used.
func New(ctx context.Context, issuer string, o Options) (*Verifier, error) {
	v, err := newVerifier(issuer, o)
	if err != nil {
		return nil, err
	}
	if v.jwksURI, err = v.metadata(ctx); err != nil {
		return nil, err
	}
	ctx, stop := context.WithCancel(ctx)
	if err := v.watchKeys(ctx, stop); err != nil {
		return nil, fmt.Errorf("verify: JWK Set of %s: %w", issuer, err)
	}
	return v, nil
}

// newVerifier checks issuer and o and fills in the defaults.
func newVerifier(issuer string, o Options) (*Verifier, error) {
	u, err := url.Parse(issuer)
	switch {
	case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "":
		// RFC 8414 §2: an https URL without query or fragment; http is
		// allowed for development.
		return nil, fmt.Errorf("verify: issuer %q is not an http(s) URL without query or fragment", issuer)
	case o.Audience == "":
		return nil, errors.New("verify: an audience is required (RFC 9068 §4)")
	case o.Leeway < 0 || o.RefreshInterval < 0:
		return nil, errors.New("verify: leeway and refresh interval must not be negative")
	}
	v := &Verifier{
		issuer:   issuer,
		audience: o.Audience,
		algs:     []string{rs256, eddsa},
		leeway:   cmp.Or(o.Leeway, 30*time.Second),
		interval: cmp.Or(o.RefreshInterval, time.Minute),
		now:      o.Now,
		client:   o.HTTPClient,
	}
	if len(o.Algorithms) > 0 {
		for _, alg := range o.Algorithms {
			if alg != rs256 && alg != eddsa {
				return nil, fmt.Errorf("verify: algorithm %q is not supported; only %s and %s are", alg, rs256, eddsa)
			}
		}
		v.algs = slices.Clone(o.Algorithms)
	}
	if v.now == nil {
		v.now = time.Now
	}
	if v.client == nil {
		v.client = &http.Client{Timeout: 10 * time.Second}
	}
	return v, nil
}

// header is the JOSE header of an access token (RFC 7515 §4, RFC 9068 §2.1).
type header struct {
	Alg  string          `json:"alg"`
	Kid  string          `json:"kid"`
	Typ  string          `json:"typ"`
	Crit json.RawMessage `json:"crit"`
}

// Verify checks token as RFC 9068 §4 requires of a JWT access token and
// returns its claims. The header must have typ at+jwt, an accepted alg equal
// to the alg of the key its kid names, and no crit; the signature must
// verify with that key; iss must be the issuer, aud must contain the
// audience, exp must not have passed, nbf and iat must not lie ahead (each
// within the leeway), and sub, client_id, jti, exp and iat must be present.
func (v *Verifier) Verify(ctx context.Context, token string) (*Claims, error) {
	jws, err := parse(token)
	if err != nil {
		return nil, err
	}
	var h header
	if err := json.Unmarshal(jws.header, &h); err != nil {
		return nil, fmt.Errorf("%w: header: %w", ErrMalformed, err)
	}
	switch {
	case !strings.EqualFold(h.Typ, "at+jwt") && !strings.EqualFold(h.Typ, "application/at+jwt"):
		return nil, fmt.Errorf("%w: typ %q is not at+jwt (RFC 9068 §4)", ErrMalformed, h.Typ)
	case h.Crit != nil:
		return nil, fmt.Errorf("%w: crit names extensions this verifier does not know (RFC 7515 §4.1.11)", ErrMalformed)
	case h.Kid == "":
		return nil, fmt.Errorf("%w: no kid", ErrMalformed)
	case !slices.Contains(v.algs, h.Alg):
		return nil, fmt.Errorf("%w: alg %q is not accepted (RFC 8725 §3.1)", ErrSignature, h.Alg)
	}
	k, err := v.key(ctx, h.Kid)
	if err != nil {
		return nil, err
	}
	if k.alg != h.Alg {
		return nil, fmt.Errorf("%w: alg %q is not the alg %q of key %q", ErrSignature, h.Alg, k.alg, h.Kid)
	}
	if !k.verify(jws.input, jws.sig) {
		return nil, fmt.Errorf("%w: key %q", ErrSignature, h.Kid)
	}
	var c claims
	if err := json.Unmarshal(jws.payload, &c); err != nil {
		return nil, fmt.Errorf("%w: payload: %w", ErrMalformed, err)
	}
	if err := v.check(&c); err != nil {
		return nil, err
	}
	return c.export(), nil
}

// compact is a compact JWS (RFC 7515 §7.1), decoded.
type compact struct {
	input   []byte // the signing input: the header and payload as sent
	header  []byte
	payload []byte
	sig     []byte
}

// b64 decodes the parts of a compact JWS: base64url without padding
// (RFC 7515 §2), with no stray bits.
var b64 = base64.RawURLEncoding.Strict()

// parse decodes the three parts of a compact JWS into one buffer. The
// decoder refuses any byte outside the base64url alphabet except line
// breaks, which it skips; they are refused here, because they would let
// many spellings of one token verify.
func parse(token string) (compact, error) {
	if strings.Count(token, ".") != 2 || strings.ContainsAny(token, "\r\n") {
		return compact{}, fmt.Errorf("%w: not a compact JWS", ErrMalformed)
	}
	b := []byte(token)
	i := bytes.IndexByte(b, '.')
	j := i + 1 + bytes.IndexByte(b[i+1:], '.')
	buf := make([]byte, b64.DecodedLen(len(b)))
	parts := [3][]byte{b[:i], b[i+1 : j], b[j+1:]}
	for n, src := range parts {
		m, err := b64.Decode(buf, src)
		if err != nil {
			return compact{}, fmt.Errorf("%w: %s: %w", ErrMalformed, partNames[n], err)
		}
		parts[n], buf = buf[:m:m], buf[m:]
	}
	return compact{input: b[:j], header: parts[0], payload: parts[1], sig: parts[2]}, nil
}

// partNames name the parts of a compact JWS in errors.
var partNames = [3]string{"header", "payload", "signature"}

// check applies the claim rules of RFC 9068 §4 and the presence rules of
// RFC 9068 §2.2. Whether the token is meant for this resource comes first,
// so that ErrExpired means that a fresh token of the same kind would pass.
func (v *Verifier) check(c *claims) error {
	now := v.now()
	switch {
	case c.Issuer != v.issuer:
		return fmt.Errorf("%w: iss %q is not %q", ErrClaims, c.Issuer, v.issuer)
	case !slices.Contains(c.Audience, v.audience):
		return fmt.Errorf("%w: aud %q does not contain %q", ErrClaims, c.Audience, v.audience)
	case c.Subject == "" || c.ClientID == "" || c.ID == "" || c.Expiry.IsZero() || c.IssuedAt.IsZero():
		return fmt.Errorf("%w: sub, client_id, jti, exp and iat are required (RFC 9068 §2.2)", ErrClaims)
	case !now.Before(c.Expiry.Add(v.leeway)):
		return fmt.Errorf("%w: exp %s", ErrExpired, c.Expiry.Format(time.RFC3339))
	case c.NotBefore.After(now.Add(v.leeway)):
		return fmt.Errorf("%w: nbf %s lies ahead", ErrClaims, c.NotBefore.Format(time.RFC3339))
	case c.IssuedAt.After(now.Add(v.leeway)):
		return fmt.Errorf("%w: iat %s lies ahead", ErrClaims, c.IssuedAt.Format(time.RFC3339))
	}
	return nil
}
