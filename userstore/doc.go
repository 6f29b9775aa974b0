// Package userstore stores resource owners, OAuth 2.0 clients and the sealed
// signing key set in SQL, and hashes passwords with Argon2id.
//
// A Store satisfies server.Users and server.Clients. Email addresses are
// unique case-insensitively: the key is strings.ToLower of the address,
// computed in Go so that every backend agrees. Times are kept as unix
// microseconds in UTC. Slices that a Store returns (roles, grants, scopes and
// the results of Users, Clients and Scopes) are nil when empty, never empty
// non-nil slices.
//
// Passwords are stored as PHC strings ($argon2id$v=19$m=…,t=…,p=…$salt$key).
// Verify accepts any Argon2id or Argon2i PHC string, such as those written by
// Python's argon2-cffi, and bcrypt hashes brought in by Import, and
// Authenticate upgrades a hash to the Store's parameters on the next
// successful login, in a bounded number of hashing slots (LimitHashing).
//
// A Store runs on SQLite (Open) or PostgreSQL (OpenPostgres) with the same
// queries, written with ? placeholders, and the same versioned migrations in
// each dialect, embedded under migrations/.
package userstore
