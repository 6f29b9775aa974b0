package server

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-oauth2/oauth2/v4"
)

// maxBodyBytes bounds every request body; larger ones are refused before
// they are parsed.
const maxBodyBytes = 64 << 10

// grantFunc runs one grant type for an authenticated client that may use it.
type grantFunc func(ctx context.Context, c *Client, form url.Values) (*tokenResponse, error)

// tokenResponse is a successful access token response (RFC 6749 §5.1).
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token,omitempty"`
	Scope        string `json:"scope,omitempty"`
}

// token is the token endpoint (RFC 6749 §3.2). It runs in a fixed order:
// parse the body, authenticate the client, check the grant type, run the
// grant. No resource owner credential is looked at before the client has
// authenticated.
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	resp, err := s.tokenRequest(w, r)
	if err != nil {
		s.writeError(w, r, err)
	} else {
		writeJSON(w, http.StatusOK, resp)
	}
	ri := info(r.Context())
	grant, client, result := ri.grantType, ri.clientID, ri.errorCode
	if _, ok := s.grants[grant]; !ok {
		grant = "other"
	}
	if client == "" {
		client = "unknown"
	}
	if result == "" {
		result = "ok"
	}
	s.observer.TokenRequest(grant, client, result, time.Since(start))
}

func (s *Server) tokenRequest(w http.ResponseWriter, r *http.Request) (*tokenResponse, error) {
	form, c, err := s.clientRequest(w, r)
	if err != nil {
		return nil, err
	}
	gt := form.Get("grant_type")
	if gt == "" {
		return nil, invalidRequest("grant_type is missing")
	}
	grant, ok := s.grants[gt]
	if !ok {
		return nil, unsupportedGrantType()
	}
	if !c.Allows(gt) {
		return nil, unauthorizedClient(gt)
	}
	return grant(r.Context(), c, form)
}

// clientRequest parses the form of a request to the token, revocation or
// introspection endpoint and authenticates its client.
func (s *Server) clientRequest(w http.ResponseWriter, r *http.Request) (url.Values, *Client, error) {
	form, err := parseForm(w, r)
	if err != nil {
		return nil, nil, err
	}
	info(r.Context()).grantType = form.Get("grant_type")
	c, err := s.authenticateClient(r, form, r.URL.Path == TokenPath)
	if err != nil {
		return nil, nil, err
	}
	info(r.Context()).clientID = c.ID
	return form, c, nil
}

// parseForm reads the parameters of a token request from its body only:
// go-oauth2's FormValue also reads the query string, where RFC 6749 §3.2
// requires the form-encoded body. Parameters without a value count as
// omitted (RFC 6749 §3.1) and none may repeat.
func parseForm(w http.ResponseWriter, r *http.Request) (url.Values, error) {
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, invalidRequest("the body must be application/x-www-form-urlencoded")
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return nil, invalidRequest("the body must be encoded in UTF-8")
	}
	if r.ContentLength > maxBodyBytes {
		return nil, invalidRequest("the body is larger than %d KiB", maxBodyBytes>>10)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return nil, invalidRequest("the body is larger than %d KiB", maxBodyBytes>>10)
		}
		return nil, invalidRequest("the body could not be read")
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, invalidRequest("the body is not valid form encoding")
	}
	for name, values := range form {
		if err := checkParam(name, values); err != nil {
			return nil, err
		}
		if values[0] == "" {
			delete(form, name)
		}
	}
	return form, nil
}

// checkParam refuses a repeated parameter (RFC 6749 §3.2) and names or values
// that are not valid UTF-8 or hold control characters.
func checkParam(name string, values []string) error {
	if !printable(name) {
		return invalidRequest("a parameter name holds invalid characters")
	}
	if len(values) > 1 {
		return invalidRequest("parameter %s is repeated", name)
	}
	if !printable(values[0]) {
		return invalidRequest("parameter %s holds invalid characters", name)
	}
	return nil
}

func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

// dummyClient makes an unknown client id cost the same secret comparison as
// a known one.
var dummyClient = Client{SecretHash: HashSecret(rand.Text())}

// authenticateClient authenticates the client with client_secret_basic or
// client_secret_post (RFC 6749 §2.3.1), or identifies a public client by
// client_id (RFC 6749 §3.2.1), and never with two methods at once. A client
// locked out by failed authentications is refused before its secret is
// checked, and limitIP applies the rate limit of the client's address.
//
// A client that authenticated here with no failures on record less than
// knownFor ago is checked against the record remembered then, without the
// lockout check; when that fails, against the store's record, so that a
// secret rotated elsewhere is accepted at once.
func (s *Server) authenticateClient(r *http.Request, form url.Values, limitIP bool) (*Client, error) {
	id, secret, basic, err := clientCredentials(r, form)
	if err != nil {
		return nil, err
	}
	now := s.now()
	c, known := s.knownClients.get(id, now)
	failures, err := s.gate(r, id, basic, limitIP, !known)
	if err != nil {
		return nil, err
	}
	if known && c.VerifySecret(secret, now) {
		return &c, nil
	}
	s.knownClients.forget(id)
	ctx := r.Context()
	c, err = s.clients.Client(ctx, id)
	if errors.Is(err, ErrNotFound) {
		dummyClient.VerifySecret(secret, now)
		return nil, s.failed(ctx, clientKey(id), s.throttling.Client, invalidClient(basic))
	}
	if err != nil {
		return nil, unavailable(err)
	}
	if !c.VerifySecret(secret, now) {
		return nil, s.failed(ctx, clientKey(id), s.throttling.Client, invalidClient(basic))
	}
	if err := s.succeeded(ctx, clientKey(id), failures); err != nil {
		return nil, err
	}
	s.knownClients.put(id, c, now.Add(knownFor))
	return &c, nil
}

// clientCredentials returns the client id and secret of a request and
// whether they came in an Authorization header. go-oauth2 v4 takes the Basic
// credentials as they are; RFC 6749 §2.3.1 form-URL-encodes both before
// Base64, so they are decoded here.
func clientCredentials(r *http.Request, form url.Values) (id, secret string, basic bool, err error) {
	auth := r.Header.Get("Authorization")
	if auth == "" {
		id = form.Get("client_id")
		if id == "" {
			return "", "", false, invalidClient(false)
		}
		return id, form.Get("client_secret"), false, nil
	}
	if form.Has("client_secret") {
		return "", "", true, invalidRequest("the client authenticated with more than one method")
	}
	scheme, encoded, _ := strings.Cut(auth, " ")
	if !strings.EqualFold(scheme, "Basic") {
		return "", "", true, invalidClient(true)
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(encoded))
	if err != nil {
		return "", "", true, invalidClient(true)
	}
	rawID, rawSecret, ok := strings.Cut(string(raw), ":")
	if !ok {
		return "", "", true, invalidClient(true)
	}
	id, err1 := url.QueryUnescape(rawID)
	secret, err2 := url.QueryUnescape(rawSecret)
	if err1 != nil || err2 != nil || id == "" || !printable(id) {
		return "", "", true, invalidClient(true)
	}
	if fid := form.Get("client_id"); fid != "" && fid != id {
		return "", "", true, invalidRequest("client_id differs from the authenticated client")
	}
	return id, secret, true, nil
}

// passwordGrant is the resource owner password credentials grant
// (RFC 6749 §4.3.2). Unknown user, wrong password and inactive user get the
// same answer. A client allowed the refresh grant also gets a refresh token,
// the first of a new family, recorded before anything is returned.
func (s *Server) passwordGrant(ctx context.Context, c *Client, form url.Values) (*tokenResponse, error) {
	username, password := form.Get("username"), form.Get("password")
	switch {
	case username == "" || password == "":
		return nil, invalidRequest("username and password are required")
	case len(username) > MaxUsernameBytes:
		return nil, invalidRequest("username is longer than %d bytes", MaxUsernameBytes)
	case len(password) > MaxPasswordBytes:
		return nil, invalidRequest("password is longer than %d bytes", MaxPasswordBytes)
	}
	scope, err := grantScope(c.Scopes, form.Get("scope"))
	if err != nil {
		return nil, err
	}
	// The account's lockout comes before any hashing; during it even the
	// right password is refused, with the same body as a wrong one.
	key := AccountKey(username)
	locked, failures, err := s.throttle.Locked(ctx, key, s.now())
	if err != nil {
		return nil, unavailable(err)
	}
	if locked > 0 {
		s.log.WarnContext(ctx, "login throttled", "event", "login_throttled", "client_id", c.ID, "account", key)
		return nil, throttled(badCredentials(), locked)
	}
	u, err := s.users.Authenticate(ctx, username, password)
	if errors.Is(err, ErrInvalidCredentials) {
		return nil, s.failed(ctx, key, s.throttling.Login, badCredentials())
	}
	if err != nil {
		return nil, unavailable(err)
	}
	if err := s.succeeded(ctx, key, failures); err != nil {
		return nil, err
	}
	now := s.now()
	grant := grant{subject: u.ID, roles: u.Roles, scope: scope, authTime: now}
	var refresh string
	if c.Allows(oauth2.Refreshing.String()) {
		if refresh, grant.family, err = s.newFamily(ctx, c, &u, scope, now); err != nil {
			return nil, unavailable(err)
		}
	}
	resp, err := s.issue(c, grant, now)
	if err != nil {
		return nil, err
	}
	resp.RefreshToken = refresh
	return resp, nil
}

// badCredentials is the one answer to an unknown user, a wrong password, an
// inactive user and a locked-out account.
func badCredentials() *Error { return invalidGrant("the username or password is incorrect") }

// Limits checked before any password is hashed: no user has a longer email
// (RFC 5321 §4.5.3.1) or password.
const (
	MaxUsernameBytes = 320
	MaxPasswordBytes = 1024
)

// clientCredentialsGrant is the client credentials grant (RFC 6749 §4.4),
// for confidential clients only: the token's subject is the client, whose
// id can never be a user id, and there is no refresh token (§4.4.3).
func (s *Server) clientCredentialsGrant(ctx context.Context, c *Client, form url.Values) (*tokenResponse, error) {
	if c.Public {
		return nil, unauthorizedClient(oauth2.ClientCredentials.String())
	}
	scope, err := grantScope(c.Scopes, form.Get("scope"))
	if err != nil {
		return nil, err
	}
	return s.issue(c, grant{subject: c.ID, scope: scope}, s.now())
}

// unixOrZero returns the unix time of t, or 0 for the zero time.
func unixOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

// grantScope returns the scope to grant for a requested one: the client's
// allowed scope when none is requested (RFC 6749 §3.3), otherwise the
// requested scope tokens, each of which must be allowed.
func grantScope(allowed []string, requested string) ([]string, error) {
	if requested == "" {
		return allowed, nil
	}
	var scope []string
	for _, tok := range strings.Split(requested, " ") {
		if !ScopeToken(tok) {
			return nil, invalidScope("the scope is malformed")
		}
		if slices.Contains(scope, tok) {
			continue
		}
		if !slices.Contains(allowed, tok) {
			return nil, invalidScope("scope %q is not allowed here", tok)
		}
		scope = append(scope, tok)
	}
	return scope, nil
}

// ScopeToken reports whether tok is a scope-token of RFC 6749 §3.3:
// 1*( %x21 / %x23-5B / %x5D-7E ).
func ScopeToken(tok string) bool {
	if tok == "" {
		return false
	}
	for i := 0; i < len(tok); i++ {
		if b := tok[i]; b < 0x21 || b > 0x7e || b == 0x22 || b == 0x5c {
			return false
		}
	}
	return true
}

// accessClaims are the claims of a JWT access token (RFC 9068 §2.2). sid
// names the refresh-token family the token was born in, so that revoking the
// family reaches it.
type accessClaims struct {
	Issuer    string   `json:"iss"`
	Subject   string   `json:"sub"`
	Audience  string   `json:"aud"`
	Expiry    int64    `json:"exp"`
	IssuedAt  int64    `json:"iat"`
	NotBefore int64    `json:"nbf"`
	ID        string   `json:"jti"`
	ClientID  string   `json:"client_id"`
	Scope     string   `json:"scope,omitempty"`
	Roles     []string `json:"roles,omitempty"`
	AuthTime  int64    `json:"auth_time,omitempty"`
	FamilyID  string   `json:"sid,omitempty"`
}

// grant is what a grant decided: for whom, what scope, in which family.
type grant struct {
	// subject is a user id, or a client id for a token without a user.
	subject string
	roles   []string
	scope   []string
	family  string
	// authTime is when the user authenticated; zero without a user.
	authTime time.Time
}

// issue signs an access token for g on behalf of c, with the client's
// algorithm and audience.
func (s *Server) issue(c *Client, g grant, now time.Time) (*tokenResponse, error) {
	aud := c.Audience
	if aud == "" {
		aud = s.issuer
	}
	sc := strings.Join(g.scope, " ")
	claims, err := json.Marshal(accessClaims{
		Issuer:    s.issuer,
		Subject:   g.subject,
		Audience:  aud,
		Expiry:    now.Add(s.accessTTL).Unix(),
		IssuedAt:  now.Unix(),
		NotBefore: now.Unix(),
		ID:        rand.Text(),
		ClientID:  c.ID,
		Scope:     sc,
		Roles:     g.roles,
		AuthTime:  unixOrZero(g.authTime),
		FamilyID:  g.family,
	})
	if err != nil {
		return nil, err
	}
	at, err := s.signer.Sign(c.Alg, claims)
	if err != nil {
		return nil, err
	}
	return &tokenResponse{AccessToken: at, TokenType: "Bearer", ExpiresIn: int64(s.accessTTL / time.Second), Scope: sc}, nil
}
