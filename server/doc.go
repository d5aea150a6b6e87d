// Package server is sanmob's REST API: routes on gorilla/mux, bearer-token
// auth with four roles, RFC 9457 problem+json errors, request logs and
// Prometheus metrics, Server-Sent Events, and an OpenAPI document generated
// from the same route table that serves requests.
//
// It calls the core (mobility) and never a device driver or the store
// directly; lab-only endpoints go through the small Lab interface that
// cmd/sanmobd wires when it runs the embedded lab.
package server
