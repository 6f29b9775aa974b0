// Package sqlstore keeps refresh-token families, denied access tokens,
// per-user cut-offs and the throttle's failures and token buckets in the
// SQLite database of the userstore, whose migrations create its tables
// (userstore/migrations/sqlite/0002_tokens.sql and 0004_throttle.sql); it
// satisfies server.Tokens and server.Throttle.
//
// Each row records when its logical end plus the grace period has passed
// (purge_at): a family's is the earlier of its idle and absolute expiries
// (moved by each rotation, kept by revocation), a cut-off's its until (the
// latest asked for), a denied access token's its exp; a throttle key's
// failures' is the millisecond after the window of its latest failure or
// the end of its lockout, whichever is later, and its bucket's when it is
// full again. Purge deletes the rows past it; the command calls it
// periodically, so that nothing grows without bound. Until then the methods
// still see such rows, as the contract allows; the throttle's methods treat
// them as absent.
//
// Rotate reads, decides (tokenstore.Record.Rotate) and writes in one
// transaction, and so do Fail (tokenstore.Failures.Fail) and Allow
// (tokenstore.Bucket.Allow, which writes only when it takes a token). The database should begin transactions IMMEDIATE, as the
// userstore's does, so that concurrent rotations wait for each other instead
// of failing with SQLITE_BUSY.
package sqlstore
