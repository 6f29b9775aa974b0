// Package redisstore keeps refresh-token families, denied access tokens and
// per-user cut-offs in Redis, a single server, a Sentinel group or a
// Cluster; it satisfies server.Tokens.
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
//
// Every key expires at its logical end plus Options.Grace, set with
// PEXPIREAT from the times in the arguments: a family at the earlier of its
// idle and absolute expiries (moved by each rotation, kept by revocation), a
// cut-off at its until (the latest asked for), a denied access token at its
// exp. Nothing is kept without an expiry, so nothing grows without bound.
//
// Rotate is one Lua script (rotate.lua, run with EVALSHA: one round trip,
// two the first time after the server lost its script cache), CreateFamily,
// RevokeFamily and SetCutoff are scripts too, and AccessTokenActive is one
// pipeline. A Redis error is returned wrapped, never as one of the server's
// sentinel errors, so that the server answers 503. The scripts need Redis
// 7.0 or later (PEXPIRETIME).
package redisstore
