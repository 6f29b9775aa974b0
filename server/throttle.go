package server

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	o2errors "github.com/go-oauth2/oauth2/v4/errors"
)

// Throttling is the brute-force policy (RFC 6749 §2.3.1, §10.10; RFC 9700
// §4.16): failed passwords lock the account out, failed client
// authentications the client, with an exponential back-off; and the token
// endpoint admits a bounded rate of requests per client address.
type Throttling struct {
	Login  Backoff
	Client Backoff
	// IPRate is the sustained rate, per second, of token requests of one
	// client address, and IPBurst how many may come at once; 0 turns the
	// limit off.
	IPRate  float64
	IPBurst int
}

// Keys of the throttle records: hashes, so that the store never holds an
// email address. AccountKey is exported for the command's unlock.
func AccountKey(username string) string { return "acct:" + digest(strings.ToLower(username)) }
func clientKey(id string) string        { return "client:" + digest(id) }
func ipKey(ip netip.Addr) string        { return "ip:" + ip.String() }

func digest(s string) string {
	sum := sha256.Sum256([]byte(s))
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}

// tooManyRequests answers a client address over its rate.
func tooManyRequests(d time.Duration) *Error {
	return throttled(&Error{Code: o2errors.ErrTemporarilyUnavailable, Description: "too many requests from this address"}, d)
}

// gate admits a request before its client is authenticated: the client
// address must be within its rate (when limitIP), and the presented client
// must not be locked out (when checkLock). Both are asked of the throttle at
// once. It returns how many failures the client has on record.
func (s *Server) gate(r *http.Request, clientID string, basic, limitIP, checkLock bool) (failures int, err error) {
	limitIP = limitIP && s.throttling.IPRate > 0
	if !limitIP && !checkLock {
		return 0, nil
	}
	return s.askThrottle(r, clientID, basic, limitIP, checkLock)
}

// askThrottle is gate's question to the throttle, when there is one.
func (s *Server) askThrottle(r *http.Request, clientID string, basic, limitIP, checkLock bool) (failures int, err error) {
	ctx, now := r.Context(), s.now()
	var wg sync.WaitGroup
	var allowed = true
	var retry, locked time.Duration
	var ipErr, lockErr error
	if limitIP {
		wg.Go(func() {
			allowed, retry, ipErr = s.throttle.Allow(ctx, ipKey(s.clientIP(r)), now, s.throttling.IPRate, s.throttling.IPBurst)
		})
	}
	if checkLock {
		locked, failures, lockErr = s.throttle.Locked(ctx, clientKey(clientID), now)
	}
	wg.Wait()
	switch {
	case ipErr != nil || lockErr != nil:
		return 0, unavailable(errors.Join(ipErr, lockErr))
	case !allowed:
		return 0, tooManyRequests(retry)
	case locked > 0:
		s.log.WarnContext(ctx, "client authentication throttled", "event", "client_throttled", "client_id", clientID)
		return 0, throttled(invalidClient(basic), locked)
	}
	return failures, nil
}

// knownFor is how long a replica trusts what it learned of a client that
// authenticated with no failures on record (its record, and that it still
// has no failures: it skips both the lookup and the lockout check), and of
// a user it looked up (see knownUser). A client deleted, or locked out by
// failures at another replica, is refused here at most this much later; a
// failure here is seen at once.
const knownFor = time.Second

// failed records a failed authentication of key and returns refused, or a
// 503 when the throttle cannot record it.
func (s *Server) failed(ctx context.Context, key string, b Backoff, refused *Error) error {
	if _, err := s.throttle.Fail(ctx, key, s.now(), b); err != nil {
		return unavailable(err)
	}
	return refused
}

// succeeded forgets the failures of key, if it has any.
func (s *Server) succeeded(ctx context.Context, key string, failures int) error {
	if failures == 0 {
		return nil
	}
	if err := s.throttle.Reset(ctx, key); err != nil {
		return unavailable(err)
	}
	return nil
}
