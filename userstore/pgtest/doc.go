// Package pgtest gives a test a PostgreSQL database of its own: a new, empty
// database with a random name on the server of DATABASE_URL, or else on
// postgres@127.0.0.1:5432, dropped when the test ends. It creates and drops
// only the databases it names, never any other.
package pgtest
