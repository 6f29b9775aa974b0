// Package storetest is the conformance suite of server.Tokens and
// server.Throttle that every token-store backend runs: a backend's test
// calls Run with a function that opens a fresh, empty store built with the
// grace period Grace, and RunThrottle with one that opens a fresh, empty
// store. BenchRotate, BenchLocked and BenchAllow are the backends' shared
// benchmarks.
//
// The suite takes its clock base from time.Now, truncated to the
// millisecond, and moves time only by passing later times; it never sleeps.
// The records it writes end within a day of the base, so a backend whose
// records expire by themselves keeps them for the whole run.
package storetest
