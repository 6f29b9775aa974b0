// Package verify checks authserver's JWT access tokens (RFC 9068) in a
// resource server, offline, against the issuer's published JWK Set.
//
// New reads the issuer's metadata (RFC 8414) once, then keeps the JWK Set
// it names in a jwx jwk.Cache, which fetches it again whenever the served
// Cache-Control max-age runs out. Each key is converted once, on arrival, to
// the raw public key of its algorithm, so that Verify does no network call
// and no JWK parsing: it decodes the token, picks the key the token's kid
// names, checks the signature with crypto/rsa or crypto/ed25519 and the
// claims with encoding/json. A kid the cached set does not know makes it
// fetch the set again, at most once per Options.RefreshInterval, so that a
// key the issuer has just started to sign with is picked up at once while a
// flood of forged kids costs the issuer nothing.
//
// Middleware, RequireScope and RequireRole protect HTTP handlers with bearer
// tokens and answer as RFC 6750 §3 prescribes.
//
//	v, err := verify.New(ctx, "https://auth.example.com", verify.Options{Audience: "https://api.example.com"})
//	…
//	mux.Handle("GET /orders", v.Middleware(verify.RequireScope("orders:read", orders)))
//
// Verification is offline: a token revoked at the issuer stays valid here
// until its exp. An API that must see revocations at once asks the issuer's
// introspection endpoint (RFC 7662) instead.
package verify
