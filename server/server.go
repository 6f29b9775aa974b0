package server

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/go-oauth2/oauth2/v4"
)

// Config is everything the server needs, filled and validated by the command.
type Config struct {
	// Issuer is the iss claim and the base of every advertised endpoint URL.
	Issuer string
	// AccessTokenTTL is the lifetime of an access token.
	AccessTokenTTL time.Duration
	// JWKSMaxAge is the Cache-Control max-age of the JWK Set.
	JWKSMaxAge time.Duration
	// RefreshIdle ends a refresh-token family not used for this long.
	RefreshIdle time.Duration
	// RefreshLifetime ends a family this long after the user's login.
	RefreshLifetime time.Duration
	// RefreshRetryWindow is how long the previous refresh token of a family
	// may be replayed for the same successor; zero turns it off.
	RefreshRetryWindow time.Duration

	Users   Users
	Clients Clients
	Signer  Signer
	Tokens  Tokens
	// Throttle keeps the brute-force counters of Throttling.
	Throttle   Throttle
	Throttling Throttling
	// Observer counts what the server does; nil counts nothing.
	Observer Observer
	// Checks are the readiness checks of /readyz.
	Checks []Check
	// CORSOrigins are the origins (scheme://host[:port]) whose browser
	// clients may call the endpoints; none by default.
	CORSOrigins []string
	// TrustedProxies are the networks whose X-Forwarded-For is believed.
	TrustedProxies []netip.Prefix

	// Logger receives failures; nil discards them.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Server serves the endpoints of the authorization server.
type Server struct {
	issuer      string
	accessTTL   time.Duration
	jwksMaxAge  string
	refreshIdle time.Duration
	refreshLife time.Duration
	retryWindow time.Duration
	users       Users
	clients     Clients
	signer      Signer
	tokens      Tokens
	throttle    Throttle
	throttling  Throttling
	observer    Observer
	log         *slog.Logger
	now         func() time.Time
	grants      map[string]grantFunc
	checks      []Check
	cors        map[string]bool
	proxies     []netip.Prefix
	// What this replica remembers: clients that authenticated with no
	// failures on record (see authenticateClient), users (see knownUser),
	// and verified access tokens (see verifyAccessToken).
	knownClients memo[Client]
	knownUsers   memo[User]
	verified     memo[accessClaims]
}

// New returns a server for cfg.
func New(cfg Config) (*Server, error) {
	switch {
	case cfg.Issuer == "":
		return nil, errors.New("server: issuer is required")
	case cfg.AccessTokenTTL <= 0:
		return nil, errors.New("server: access token lifetime must be positive")
	case cfg.RefreshIdle <= 0 || cfg.RefreshLifetime <= 0 || cfg.RefreshRetryWindow < 0:
		return nil, errors.New("server: refresh lifetimes must be positive and the retry window not negative")
	case cfg.Users == nil || cfg.Clients == nil || cfg.Signer == nil || cfg.Tokens == nil || cfg.Throttle == nil:
		return nil, errors.New("server: users, clients, signer, tokens and throttle are required")
	case cfg.Throttling.Login.Limit < 1 || cfg.Throttling.Client.Limit < 1 || cfg.Throttling.IPRate < 0:
		return nil, errors.New("server: throttling limits must be positive")
	}
	s := &Server{
		issuer:      cfg.Issuer,
		accessTTL:   cfg.AccessTokenTTL,
		jwksMaxAge:  "public, max-age=" + strconv.Itoa(int(cfg.JWKSMaxAge/time.Second)),
		refreshIdle: cfg.RefreshIdle,
		refreshLife: cfg.RefreshLifetime,
		retryWindow: cfg.RefreshRetryWindow,
		users:       cfg.Users,
		clients:     cfg.Clients,
		signer:      cfg.Signer,
		tokens:      cfg.Tokens,
		throttle:    cfg.Throttle,
		throttling:  cfg.Throttling,
		observer:    cfg.Observer,
		log:         cfg.Logger,
		now:         cfg.Now,
		checks:      cfg.Checks,
		cors:        map[string]bool{},
		proxies:     cfg.TrustedProxies,
	}
	for _, o := range cfg.CORSOrigins {
		s.cors[o] = true
	}
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.observer == nil {
		s.observer = nopObserver{}
	}
	s.tokens = observedTokens{Tokens: cfg.Tokens, observer: s.observer}
	s.grants = map[string]grantFunc{
		oauth2.PasswordCredentials.String(): s.passwordGrant,
		oauth2.Refreshing.String():          s.refreshGrant,
		oauth2.ClientCredentials.String():   s.clientCredentialsGrant,
	}
	return s, nil
}

// Paths of the endpoints.
const (
	TokenPath      = "/oauth2/token"
	RevokePath     = "/oauth2/revoke"
	IntrospectPath = "/oauth2/introspect"
	UserinfoPath   = "/userinfo"
	JWKSPath       = "/.well-known/jwks.json"
	MetadataPath   = "/.well-known/oauth-authorization-server"
	OpenIDPath     = "/.well-known/openid-configuration"
	HealthPath     = "/healthz"
	ReadyPath      = "/readyz"
)

// Handler returns the HTTP handler of all endpoints.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	for _, r := range []struct {
		path, name string
		h          http.HandlerFunc
	}{
		{TokenPath, HandlerToken, s.post(s.token)},
		{RevokePath, HandlerRevoke, s.post(s.revoke)},
		{IntrospectPath, HandlerIntrospect, s.post(s.introspect)},
		{UserinfoPath, HandlerUserinfo, s.get(s.userinfo)},
		{JWKSPath, HandlerJWKS, s.get(s.jwks)},
		{MetadataPath, HandlerMetadata, s.get(s.metadata)},
		{OpenIDPath, HandlerMetadata, s.get(s.metadata)},
		{HealthPath, HandlerHealthz, s.get(s.health)},
		{ReadyPath, HandlerReadyz, s.get(s.ready)},
		{"/", HandlerOther, http.NotFound},
	} {
		mux.Handle(r.path, s.observe(r.name, r.h))
	}
	return secureHeaders(s.corsHeaders(mux))
}

// secureHeaders sets the headers every response carries.
func secureHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h["X-Content-Type-Options"] = headerNosniff
		h["Referrer-Policy"] = headerNoRef
		next.ServeHTTP(w, r)
	})
}

// post admits POST only and marks every answer uncacheable: the endpoints
// behind it carry tokens and credentials (RFC 6749 §5.1, RFC 7662 §2.2).
func (s *Server) post(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		header := w.Header()
		header["Cache-Control"] = headerNoStore
		header["Pragma"] = headerNoCache
		if r.Method != http.MethodPost {
			s.methodNotAllowed(w, r, http.MethodPost)
			return
		}
		h(w, r)
	}
}

// corsHeaders lets browser clients of the allowed origins call the
// endpoints (CORS): it answers their preflight requests and marks their
// responses; requests from any other origin get no CORS header, so browsers
// refuse them. Credentials travel in the request (Basic, Bearer, form), never
// in cookies, so Access-Control-Allow-Credentials is never sent.
func (s *Server) corsHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin == "" || !s.cors[origin] {
			next.ServeHTTP(w, r)
			return
		}
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", origin)
		h.Add("Vary", "Origin")
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			h.Set("Access-Control-Allow-Methods", "GET, POST")
			h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, X-Request-Id")
			h.Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		h.Set("Access-Control-Expose-Headers", "Retry-After, WWW-Authenticate, X-Request-Id")
		next.ServeHTTP(w, r)
	})
}

// clientIP returns the address of the client of r: the peer address, or,
// when the peer is a trusted proxy, the last address in X-Forwarded-For that
// is not a trusted proxy.
func (s *Server) clientIP(r *http.Request) netip.Addr {
	peer, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	ip := peer.Addr().Unmap()
	if !s.trusted(ip) {
		return ip
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		hop, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return ip
		}
		if ip = hop.Unmap(); !s.trusted(ip) {
			return ip
		}
	}
	return ip
}

func (s *Server) trusted(ip netip.Addr) bool {
	for _, p := range s.proxies {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// get admits GET and HEAD only, answering anything else with 405 and a JSON
// body.
func (s *Server) get(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			s.methodNotAllowed(w, r, "GET, HEAD")
			return
		}
		h(w, r)
	}
}

// methodNotAllowed answers 405 with the Allow header (RFC 9110 §15.5.6).
func (s *Server) methodNotAllowed(w http.ResponseWriter, r *http.Request, allow string) {
	w.Header().Set("Allow", allow)
	e := invalidRequest("method %s is not allowed; use %s", r.Method, allow)
	e.Status = http.StatusMethodNotAllowed
	s.writeError(w, r, e)
}
