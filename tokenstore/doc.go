// Package tokenstore holds what the backends of server.Tokens share: the
// rotation of a refresh-token family (RFC 9700 §4.14.2) and the activity
// check of an access token as pure functions, and the stored forms of times,
// scopes and the list of rotated secrets. The backends live in
// sub-packages: redisstore for Redis and sqlstore for the SQLite database of
// the userstore.
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
package tokenstore
