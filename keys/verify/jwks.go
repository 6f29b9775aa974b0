package verify

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"
)

const (
	// metadataPath is where the issuer serves its metadata (RFC 8414 §3),
	// relative to the issuer as authserver serves it.
	metadataPath = "/.well-known/oauth-authorization-server"
	// maxDocumentBytes bounds the metadata and JWK Set documents read.
	maxDocumentBytes = 1 << 20
	// refreshWindow is how often, at most, the cache looks whether the
	// max-age of the JWK Set has run out; the set is fetched at most this
	// late (or the refresh interval, when that is shorter).
	refreshWindow = 10 * time.Second
	// minRSABits is the smallest RSA key accepted (RFC 7518 §3.3).
	minRSABits = 2048
)

// metadata reads the issuer's metadata and returns its jwks_uri.
func (v *Verifier) metadata(ctx context.Context) (string, error) {
	body, err := v.get(ctx, v.issuer+metadataPath)
	if err != nil {
		return "", fmt.Errorf("verify: metadata of %s: %w", v.issuer, err)
	}
	var md struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.Unmarshal(body, &md); err != nil {
		return "", fmt.Errorf("verify: metadata of %s: %w", v.issuer, err)
	}
	if md.Issuer != v.issuer {
		return "", fmt.Errorf("verify: metadata of %s names issuer %q (RFC 8414 §3.3)", v.issuer, md.Issuer)
	}
	if u, err := url.Parse(md.JWKSURI); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "", fmt.Errorf("verify: metadata of %s has no usable jwks_uri: %q", v.issuer, md.JWKSURI)
	}
	return md.JWKSURI, nil
}

// get returns the body of a 200 answer to a GET of u.
func (v *Verifier) get(ctx context.Context, u string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := v.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxDocumentBytes+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", u, err)
	}
	if len(body) > maxDocumentBytes {
		return nil, fmt.Errorf("GET %s: larger than %d bytes", u, maxDocumentBytes)
	}
	return body, nil
}

// watchKeys registers the JWK Set in a jwk.Cache that lives as long as ctx,
// and fetches it once. The cache fetches it again when the served max-age
// has run out, but not sooner than the refresh interval, and every fetch
// replaces the key ring. If the first fetch fails, watchKeys calls stop to
// end the cache's goroutines.
func (v *Verifier) watchKeys(ctx context.Context, stop context.CancelFunc) error {
	cache := jwk.NewCache(ctx, jwk.WithRefreshWindow(min(refreshWindow, v.interval)))
	err := cache.Register(v.jwksURI,
		jwk.WithHTTPClient(v.client),
		jwk.WithMinRefreshInterval(v.interval),
		jwk.WithPostFetcher(jwk.PostFetchFunc(func(_ string, set jwk.Set) (jwk.Set, error) {
			v.keys.Store(newKeyring(set))
			return set, nil
		})))
	if err == nil {
		_, err = cache.Refresh(ctx, v.jwksURI)
	}
	if err != nil {
		stop()
	}
	return err
}

// keyring maps the kid of every usable key of the JWK Set to its key.
type keyring map[string]publicKey

// publicKey is one verification key, converted once from its JWK.
type publicKey struct {
	alg string
	rsa *rsa.PublicKey    // for RS256
	ed  ed25519.PublicKey // for EdDSA
}

// newKeyring converts the usable keys of set: those with a kid, an alg of
// RS256 (RSA of at least 2048 bits) or EdDSA (Ed25519), and a use, if any,
// of "sig" (RFC 7517 §4.2). Other keys are skipped; of two keys with the
// same kid the first wins.
func newKeyring(set jwk.Set) *keyring {
	ring := make(keyring, set.Len())
	for i := range set.Len() {
		k, _ := set.Key(i)
		kid, alg := k.KeyID(), k.Algorithm().String()
		if _, dup := ring[kid]; dup || kid == "" || (k.KeyUsage() != "" && k.KeyUsage() != string(jwk.ForSignature)) {
			continue
		}
		raw, err := jwk.PublicRawKeyOf(k)
		if err != nil {
			continue
		}
		switch pub := raw.(type) {
		case *rsa.PublicKey:
			if alg == rs256 && pub.N.BitLen() >= minRSABits {
				ring[kid] = publicKey{alg: alg, rsa: pub}
			}
		case ed25519.PublicKey:
			if alg == eddsa && len(pub) == ed25519.PublicKeySize {
				ring[kid] = publicKey{alg: alg, ed: pub}
			}
		}
	}
	return &ring
}

// verify reports whether sig is k's signature of input (RFC 7515 §5.2).
func (k publicKey) verify(input, sig []byte) bool {
	if k.alg == rs256 {
		sum := sha256.Sum256(input)
		return rsa.VerifyPKCS1v15(k.rsa, crypto.SHA256, sum[:], sig) == nil
	}
	return ed25519.Verify(k.ed, input, sig)
}

// key returns the key kid names. An unknown kid makes it fetch the JWK Set
// again, unless a fetch for an unknown kid ran less than the refresh
// interval ago; concurrent callers wait for the same fetch.
func (v *Verifier) key(ctx context.Context, kid string) (publicKey, error) {
	if k, ok := (*v.keys.Load())[kid]; ok {
		return k, nil
	}
	v.refreshMu.Lock()
	defer v.refreshMu.Unlock()
	if k, ok := (*v.keys.Load())[kid]; ok {
		return k, nil
	}
	now := v.now()
	if !v.lastRefresh.IsZero() && now.Sub(v.lastRefresh) < v.interval {
		return publicKey{}, fmt.Errorf("%w: kid %q", ErrUnknownKey, kid)
	}
	v.lastRefresh = now
	// The fetch bypasses the jwk.Cache: in httprc v1.0.6 each Refresh of a
	// cache entry queues one more periodic fetch that never ends, so forced
	// refreshes would multiply the background fetches. The cache takes the
	// next background fetch's set as usual.
	//
	// The fetch is shared by every waiting caller: one caller's cancelled
	// request must not cut it short. The client's timeout bounds it.
	body, err := v.get(context.WithoutCancel(ctx), v.jwksURI)
	if err != nil {
		return publicKey{}, fmt.Errorf("%w: kid %q (fetching the JWK Set: %w)", ErrUnknownKey, kid, err)
	}
	set, err := jwk.Parse(body)
	if err != nil {
		return publicKey{}, fmt.Errorf("%w: kid %q (parsing the JWK Set: %w)", ErrUnknownKey, kid, err)
	}
	ring := newKeyring(set)
	v.keys.Store(ring)
	if k, ok := (*ring)[kid]; ok {
		return k, nil
	}
	return publicKey{}, fmt.Errorf("%w: kid %q", ErrUnknownKey, kid)
}
