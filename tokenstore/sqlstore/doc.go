// Package sqlstore keeps refresh-token families, denied access tokens and
// per-user cut-offs in the SQLite database of the userstore, whose
// migrations create its tables (userstore/migrations/sqlite/0002_tokens.sql);
// it satisfies server.Tokens.
//
// Each row records when its logical end plus the grace period has passed
// (purge_at): a family's is the earlier of its idle and absolute expiries
// (moved by each rotation, kept by revocation), a cut-off's its until (the
// latest asked for), a denied access token's its exp. Purge deletes the rows
// past it; the command calls it periodically, so that nothing grows without
// bound. Until then the methods still see such rows, as the contract allows.
//
// Rotate reads, decides (tokenstore.Record.Rotate) and writes in one
// transaction. The database should begin transactions IMMEDIATE, as the
// userstore's does, so that concurrent rotations wait for each other instead
// of failing with SQLITE_BUSY.
package sqlstore
