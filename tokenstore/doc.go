// Package tokenstore holds what the backends of server.Tokens and
// server.Throttle share: the rotation of a refresh-token family (RFC 9700
// §4.14.2), the activity check of an access token, the failure back-off
// (Failures, Lockout) and the token bucket (Bucket) as pure functions, and
// the stored forms of times, scopes and the list of rotated secrets. The
// backends live in sub-packages: redisstore for Redis and sqlstore for the
// SQLite database of the userstore.
//
// Every backend keeps times as unix milliseconds and decides in
// milliseconds: a family has expired when the time in milliseconds reaches
// the earlier of its idle and absolute expiries (End), as an exp claim does
// (RFC 7519 §4.1.4); a cut-off makes inactive what was issued or
// authenticated in or before its millisecond. Rotate returns the family as
// stored after the call whenever it exists, whatever the error; the caller
// may rely on it only when the error is nil or server.ErrReused. A replay of
// the previous secret within the retry window is answered only when the last
// rotation stored a retry, else it is a reuse. CreateFamily refuses an ID
// already taken with server.ErrExists. AccessTokenActive also treats a token
// of a family whose authentication time is at or before the cut-off as
// inactive, revoked or not yet.
//
// The throttle decides in whole milliseconds too: a Backoff's durations and
// a lockout are truncated to the millisecond; a key is locked while now, in
// milliseconds, is before the end of its lockout; failures form a chain
// while each is at most Window (to the millisecond) after the latest, and a
// failure more than that after it starts a new chain; Locked counts the
// failures of the chain only while the next failure would still continue
// it. A failure never shortens a running lockout, even one that outlives
// its chain. A bucket refills continuously at its rate, and Allow looks at
// it at whole milliseconds: a refused request's retry is the first
// millisecond at which a token is there. A record expires by itself at the
// first millisecond at which it no longer matters (Failures.Expires,
// Bucket.Expires), and every backend treats an expired record as absent,
// whether or not it has deleted it yet. Fail and Allow refuse a Backoff or
// a bucket they cannot serve (CheckBackoff, CheckBucket) with an error.
package tokenstore
