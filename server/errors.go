package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	o2errors "github.com/go-oauth2/oauth2/v4/errors"
)

// Error is an OAuth 2.0 error response (RFC 6749 §5.2). Code is one of
// go-oauth2's error values, so errors.Is(err, o2errors.ErrInvalidGrant) holds.
type Error struct {
	Code        error
	Description string
	Status      int
	// scheme, when set, is the authentication scheme of the challenge the
	// answer carries in WWW-Authenticate: "Basic" for an invalid_client
	// answer to a request that used Basic (RFC 6749 §5.2), "Bearer" for a
	// protected resource (RFC 6750 §3).
	scheme string
	// retry, when positive, is sent as Retry-After (RFC 9110 §10.2.3).
	retry time.Duration
	cause error
}

// errInvalidToken is the RFC 6750 §3.1 error of a bad bearer token; go-oauth2
// has no value for it.
var errInvalidToken = errors.New("invalid_token")

func (e *Error) Error() string {
	if e.cause != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Description, e.cause)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Description)
}

// Is makes errors.Is match the go-oauth2 error value of e.
func (e *Error) Is(target error) bool { return target == e.Code }

func (e *Error) Unwrap() error { return e.cause }

func invalidRequest(format string, args ...any) *Error {
	return &Error{Code: o2errors.ErrInvalidRequest, Description: fmt.Sprintf(format, args...), Status: http.StatusBadRequest}
}

func invalidClient(basic bool) *Error {
	e := &Error{Code: o2errors.ErrInvalidClient, Description: "client authentication failed", Status: http.StatusUnauthorized}
	if basic {
		e.scheme = "Basic"
	}
	return e
}

// invalidToken answers a request to a protected resource whose bearer token
// is missing (code nil: RFC 6750 §3.1 says to send no error code then) or
// bad, expired or revoked.
func invalidToken(code error, desc string) *Error {
	return &Error{Code: code, Description: desc, Status: http.StatusUnauthorized, scheme: "Bearer"}
}

func invalidGrant(desc string) *Error {
	return &Error{Code: o2errors.ErrInvalidGrant, Description: desc, Status: http.StatusBadRequest}
}

func invalidScope(format string, args ...any) *Error {
	return &Error{Code: o2errors.ErrInvalidScope, Description: fmt.Sprintf(format, args...), Status: http.StatusBadRequest}
}

func unauthorizedClient(grant string) *Error {
	return &Error{Code: o2errors.ErrUnauthorizedClient, Description: fmt.Sprintf("the client may not use the %s grant", grant), Status: http.StatusBadRequest}
}

func unsupportedGrantType() *Error {
	return &Error{Code: o2errors.ErrUnsupportedGrantType, Description: "grant_type is not supported by this server", Status: http.StatusBadRequest}
}

// unavailable reports a store that failed: the request was fine, the server
// could not answer it now, and it keeps nothing half done (it fails closed).
func unavailable(cause error) *Error {
	return &Error{Code: o2errors.ErrTemporarilyUnavailable, Description: "the server is temporarily unable to handle the request",
		Status: http.StatusServiceUnavailable, retry: unavailableRetry, cause: cause}
}

// throttled turns e into a 429 answer with the same body, to retry after d.
func throttled(e *Error, d time.Duration) *Error {
	e.Status, e.retry = http.StatusTooManyRequests, d
	return e
}

// unavailableUnlessNotFound is nil for ErrNotFound and a 503 for any other
// error.
func unavailableUnlessNotFound(err error) error {
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	return unavailable(err)
}

// unavailableIf is nil for nil and a 503 for an error.
func unavailableIf(err error) error {
	if err == nil {
		return nil
	}
	return unavailable(err)
}

// unavailableRetry is the Retry-After of a 503 answer.
const unavailableRetry = 5 * time.Second

// writeError writes err as an OAuth 2.0 error response. An error that is not
// an *Error becomes server_error with status 500; its cause is logged, never
// sent.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var e *Error
	if !errors.As(err, &e) {
		e = &Error{Code: o2errors.ErrServerError, Description: "internal error", Status: http.StatusInternalServerError, cause: err}
	}
	if e.Code != nil {
		info(r.Context()).errorCode = e.Code.Error()
	}
	if e.Status >= 500 {
		s.log.ErrorContext(r.Context(), "request failed", "path", r.URL.Path, "error", e.Code.Error(), "cause", e.cause)
	}
	h := w.Header()
	if e.scheme != "" {
		challenge := fmt.Sprintf("%s realm=%q", e.scheme, s.issuer)
		if e.scheme == "Bearer" && e.Code != nil {
			challenge += fmt.Sprintf(", error=%q, error_description=%q", e.Code.Error(), e.Description)
		}
		h.Set("WWW-Authenticate", challenge)
	}
	if e.Code == nil {
		w.WriteHeader(e.Status)
		return
	}
	if e.retry > 0 {
		// Whole seconds, rounded up: a client that waits that long is let in.
		h.Set("Retry-After", strconv.FormatInt(int64((e.retry+time.Second-1)/time.Second), 10))
	}
	writeJSON(w, e.Status, struct {
		Error       string `json:"error"`
		Description string `json:"error_description,omitempty"`
	}{e.Code.Error(), e.Description})
}

// writeJSON writes v as the JSON body of a response with the given status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		// Every value written here is a plain struct of strings and numbers.
		panic(fmt.Sprintf("server: cannot marshal %T: %v", v, err))
	}
	w.Header()["Content-Type"] = headerJSON
	w.WriteHeader(status)
	w.Write(body)
	w.Write(newline)
}

var newline = []byte{'\n'}

// Values of the headers that many responses carry, shared by them: a
// header map keeps a value's slice as it is given, and Header.Add copies a
// slice that is full, as these are.
var (
	headerJSON    = []string{"application/json"}
	headerNosniff = []string{"nosniff"}
	headerNoRef   = []string{"no-referrer"}
	headerNoStore = []string{"no-store"}
	headerNoCache = []string{"no-cache"}
)
