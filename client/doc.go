// Package client is a Go client of sanmobd's REST API (/v1). It imports
// no sanmob package, so other modules can use it: its types copy the JSON
// shapes of the API, not sanmob's Go types.
//
//	c, err := client.New("https://sanmob.example:8443",
//		client.WithTokenFile("/etc/sanmob/token"), client.WithCAFile("/etc/sanmob/ca.pem"))
//	vms, err := c.ListVMs(ctx, client.VMFilter{Site: "east"})
//
// Errors the daemon answers (RFC 9457 problem+json) come back as *Error;
// IsNotFound, IsConflict and IsTemporary classify any error. Idempotent
// calls (reads, attach and detach, reconcile) are retried on 503, 429 and
// network errors with exponential backoff and jitter, honouring
// Retry-After, up to WithMaxAttempts; calls that start something
// (migrations, evacuations, aborts, snapshots) are retried only on 429,
// which promises nothing was done. Lists follow ?continue= to the end.
package client
