// Package redisstore keeps refresh-token families, denied access tokens,
// per-user cut-offs and the throttle's failures and token buckets in Redis,
// a single server, a Sentinel group or a Cluster; it satisfies
// server.Tokens and server.Throttle.
//
// Keys, each after Options.Prefix (braces are Redis Cluster hash tags, so
// that a family and its user's cut-off share one hash slot and the rotation
// script touches one slot only):
//
//	fam:{<user id>}:<family id>  hash: client, scope (space-separated), auth,
//	                             exp, idle, rot (unix ms; 0 for never), cur,
//	                             used (the hashes of Family.Used, newest
//	                             first, concatenated), rev ("1" if revoked),
//	                             retry (the sealed successor of the last
//	                             rotation)
//	cut:{<user id>}              the cut-off, unix ms
//	jti:{<jti>}                  a denied access token
//	thr:{<throttle key>}         hash: n (failures in the chain), last (the
//	                             latest failure, unix ms), win (its window,
//	                             ms), until (the end of the lockout, unix
//	                             ms; 0 for none)
//	rate:{<throttle key>}        hash: taken (tokens missing from the
//	                             bucket, a float), at (when taken was
//	                             counted, unix ms)
//
// Every key expires at its logical end plus Options.Grace, set with
// PEXPIREAT from the times in the arguments: a family at the earlier of its
// idle and absolute expiries (moved by each rotation, kept by revocation), a
// cut-off at its until (the latest asked for), a denied access token at its
// exp. A throttle key's failures expire the millisecond after the window of
// its latest failure or at the end of its lockout, whichever is later, and
// its bucket when it is full again, each plus ClockSkew; the scripts decide
// by the stored times, so an expired key that Redis has not deleted yet
// counts as none. Nothing is kept without an expiry, so nothing grows
// without bound.
//
// Rotate is one Lua script (rotate.lua, run with EVALSHA: one round trip,
// two the first time after the server lost its script cache), CreateFamily,
// RevokeFamily and SetCutoff are scripts too, and AccessTokenActive is one
// pipeline. The throttle's Fail and Allow are one script each (fail.lua,
// allow.lua), Locked one HMGET decided in Go, Reset one DEL. A Redis error is returned wrapped, never as one of the server's
// sentinel errors, so that the server answers 503. The scripts need Redis
// 7.0 or later (PEXPIRETIME).
package redisstore
