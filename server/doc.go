// Package server implements authserver's HTTP endpoints and OAuth 2.0 rules:
// the token endpoint (RFC 6749 §3.2, §5) with the password, refresh token
// and client credentials grants, revocation (RFC 7009), introspection
// (RFC 7662), userinfo (RFC 6750), the JWK Set (RFC 7517), the authorization
// server metadata (RFC 8414), health and readiness, brute-force throttling
// and the request log.
//
// The package declares the small interfaces it consumes (Users, Clients,
// Signer, Tokens, Throttle, Observer) and imports none of its sibling
// packages; the command wires the
// concrete stores in. It builds on go-oauth2's vocabulary (grant types and
// error codes) but parses requests, authenticates clients and writes
// responses itself, because go-oauth2 v4's server reads the query string
// through FormValue, does not URL-decode Basic credentials, checks the
// resource owner's password before it authenticates the client, and answers
// 401 for errors RFC 6749 §5.2 assigns 400.
package server
