// Package keys generates, stores and publishes the authorization server's
// signing keys and signs access tokens with them.
//
// The set holds one active key per algorithm: RS256 with an RSA key of 2048
// bits (RFC 7518 §3.3) and EdDSA with an Ed25519 key (RFC 8037 §3.1). The key
// id of each is its JWK thumbprint (RFC 7638 §3), so it follows from the key
// and never needs to be chosen. Tokens carry the protected header
// {alg, kid, typ: "at+jwt"} that RFC 9068 §2.1 requires of a JWT access
// token, and the public halves are published as a JWK Set (RFC 7517 §5).
//
// The keys live in one JSON file, readable by its owner only and replaced
// atomically, in this form:
//
//	{"version": 1, "keys": [{"kid": "…", "alg": "RS256", "state": "active",
//	  "created": "2025-01-02T03:04:05Z", "jwk": {private JWK}}]}
package keys
