// Package keys generates, rotates, stores and publishes the authorization
// server's signing keys, and signs and verifies access tokens with them.
//
// The set holds one active key per algorithm: RS256 with an RSA key of 2048
// bits (RFC 7518 §3.3) and EdDSA with an Ed25519 key (RFC 8037 §3.1). The key
// id of each is its JWK thumbprint (RFC 7638 §3), so it follows from the key
// and never needs to be chosen. Tokens carry the protected header
// {alg, kid, typ: "at+jwt"} that RFC 9068 §2.1 requires of a JWT access
// token, and the public halves are published as a JWK Set (RFC 7517 §5).
//
// Each key moves through next → active → retired → removed (Policy): a new
// key is published before it signs, and a retired one stays published until
// the tokens it signed have expired. A Manager performs the transitions that
// are due by compare-and-swap on the one stored key set (Store), so that of
// many replicas exactly one performs each, and picks up the others'. Private
// keys are stored only sealed with AES-256-GCM under the key-encryption key,
// with the kid as additional data. Sign and Verify work over a header
// encoded once per key, with crypto/ed25519 and crypto/rsa; jwx builds the
// JWKs, their thumbprints and the JWK Set.
package keys
