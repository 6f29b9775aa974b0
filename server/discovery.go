package server

import (
	"net/http"
	"sort"
)

// jwks serves the public JWK Set (RFC 7517 §5) with a strong entity tag, so
// that resource servers revalidate their cached copy cheaply.
func (s *Server) jwks(w http.ResponseWriter, r *http.Request) {
	body, etag := s.signer.JWKS()
	h := w.Header()
	h.Set("Cache-Control", s.jwksMaxAge)
	h.Set("ETag", etag)
	if r.Header.Get("If-None-Match") == etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Type", "application/jwk-set+json")
	w.Write(body)
}

// metadata is the authorization server metadata document (RFC 8414 §2).
type metadata struct {
	Issuer                         string   `json:"issuer"`
	TokenEndpoint                  string   `json:"token_endpoint"`
	JWKSURI                        string   `json:"jwks_uri"`
	RevocationEndpoint             string   `json:"revocation_endpoint"`
	IntrospectionEndpoint          string   `json:"introspection_endpoint"`
	UserinfoEndpoint               string   `json:"userinfo_endpoint"`
	GrantTypesSupported            []string `json:"grant_types_supported"`
	ResponseTypesSupported         []string `json:"response_types_supported"`
	AuthMethodsSupported           []string `json:"token_endpoint_auth_methods_supported"`
	RevocationAuthMethodsSupported []string `json:"revocation_endpoint_auth_methods_supported"`
	IntrospectionAuthMethods       []string `json:"introspection_endpoint_auth_methods_supported"`
	ScopesSupported                []string `json:"scopes_supported,omitempty"`
	AccessTokenAlgsSupported       []string `json:"access_token_signing_alg_values_supported"`
}

// Client authentication methods (RFC 8414 §2): public clients use "none";
// introspection is for confidential clients only.
var (
	allAuthMethods          = []string{"client_secret_basic", "client_secret_post", "none"}
	confidentialAuthMethods = []string{"client_secret_basic", "client_secret_post"}
)

// metadata serves the same document at the RFC 8414 and the OpenID Connect
// discovery locations. There is no authorization endpoint, so
// response_types_supported is empty, and no client authentication method
// signs anything, so token_endpoint_auth_signing_alg_values_supported is
// absent (RFC 8414 §2).
func (s *Server) metadata(w http.ResponseWriter, r *http.Request) {
	scopes, err := s.clients.Scopes(r.Context())
	if err != nil {
		s.writeError(w, r, unavailable(err))
		return
	}
	grants := make([]string, 0, len(s.grants))
	for g := range s.grants {
		grants = append(grants, g)
	}
	sort.Strings(grants)
	w.Header().Set("Cache-Control", "public, max-age=300")
	writeJSON(w, http.StatusOK, metadata{
		Issuer:                         s.issuer,
		TokenEndpoint:                  s.issuer + TokenPath,
		JWKSURI:                        s.issuer + JWKSPath,
		RevocationEndpoint:             s.issuer + RevokePath,
		IntrospectionEndpoint:          s.issuer + IntrospectPath,
		UserinfoEndpoint:               s.issuer + UserinfoPath,
		GrantTypesSupported:            grants,
		ResponseTypesSupported:         []string{},
		AuthMethodsSupported:           allAuthMethods,
		RevocationAuthMethodsSupported: allAuthMethods,
		IntrospectionAuthMethods:       confidentialAuthMethods,
		ScopesSupported:                scopes,
		AccessTokenAlgsSupported:       []string{RS256, EdDSA},
	})
}
