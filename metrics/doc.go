// Package metrics holds authserver's Prometheus collectors. It registers
// them on a registry it is given, never on the global one, and implements
// the server's Observer.
package metrics
