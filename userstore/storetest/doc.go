// Package storetest is the conformance suite that every userstore backend
// runs: a backend's test calls Run with a function that opens a fresh, empty
// Store.
package storetest
