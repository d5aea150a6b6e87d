// Package client is a Go client of sanmobd's REST API (/v1). It imports
// no sanmob package, only the standard library, so other modules (a
// vendor's CSI driver, a hypervisor manager's plugin) can use it: its types
// copy the JSON shapes of the API, not sanmob's Go types.
//
//	c, err := client.New("https://sanmob.example:8443",
//		client.WithTokenFile("/etc/sanmob/token"), client.WithCAFile("/etc/sanmob/ca.pem"))
//	vms, err := c.ListVMs(ctx, client.VMFilter{Site: "east"})
//
// A Client is safe for concurrent use; make one and share it.
//
// # Authentication
//
// WithToken or WithTokenFile send a bearer token (sanmobd's roles: admin,
// operator, csi, viewer; a CSI driver gets a csi token). WithCAFile trusts
// the daemon's CA, WithClientCert presents a client certificate to a
// daemon that requires one (mutual TLS; the token is still sent), WithTLS
// takes a whole tls.Config. The token and client certificate files are
// read again when they change, so a rotated secret or a renewed
// certificate is used without restarting the program (the CA file is read
// once).
//
// # Errors
//
// An error the daemon answers (RFC 9457 problem+json) comes back as
// *Error, with its Status, the problem's Detail (for a 502 the device's
// own words), InvalidParams and Reasons, all in its Error() text.
// ClassOf sorts any error the client returns into a Class, which says what
// to do next:
//
//	ClassTemporary  503, 429, 504, a network error or timeout: retry later
//	ClassNotFound   404
//	ClassRefused    409, 422: the SAN as it is cannot do it; a person must act
//	ClassInvalid    400, 413, 415, or ErrInvalid (refused before sending)
//	ClassCanceled   the caller's context ended first
//	ClassFinal      anything else (502, 507, 401, 403, 500, …)
//
// IsTemporary, IsNotFound, IsConflict, IsUnprocessable and StatusOf answer
// single questions; (*Error).Temporary is IsTemporary for an answer.
//
// # Retries and backoff
//
// Calls that may be repeated without harm — reads, PutClaim, DeleteClaim,
// attach and detach, the volume calls, reconcile and the rest not named
// below — are retried on 503, 429, 504 and network errors (a connection refused or reset, the HTTP client's
// own Timeout). Calls that start something — migrations, evacuations,
// aborts, VM snapshots, new hosts and VMs, vport logins — are retried only
// on 429, which promises nothing was done.
//
// A call is tried at most 4 times in all (WithMaxAttempts; 1 turns retries
// off). The wait after the n-th failure is drawn between half and all of
// 200ms·2^(n-1), capped at 10s (WithBackoff sets both); a Retry-After
// longer than that wait replaces it (sanmobd sends Retry-After: 2 with its
// 503s). With the defaults a call that keeps meeting 503s from sanmobd
// gives up after about 6s with the last answer. The context bounds it all:
// cancelling it ends a wait at once with the context's error, and when its
// deadline comes before the next attempt could start, the call returns the
// last answer instead of waiting.
//
// Lists follow ?continue= to the end (WithPageSize sets the page size).
// The client follows no HTTP redirect (see New).
//
// # Zoning claims
//
// A zoning claim asks sanmob to zone initiators to targets on every fabric
// they share, for a driver that does its own masking: a vendor's CSI
// driver zones a node's HBAs to its array's target ports in
// ControllerPublishVolume (PutClaim) and lets go in
// ControllerUnpublishVolume (DeleteClaim). A claim is named by its owner,
// the CSI driver's name ("fc.vendor.example.com"), and a key, by
// convention "volume/node" (the CSI volume id and node id), so that a
// driver's claims never collide with another's and one volume on two nodes
// is two claims. The client escapes each "/"-separated segment of the key
// on its own; a key with an empty, "." or ".." segment, or an owner with
// a "/", fails with ErrInvalid before anything is sent.
//
// PutClaim returns once the zones are committed on the switches. Repeating
// it is a no-op (or replaces the claim when the spec changed), and
// DeleteClaim of a claim that is not there succeeds: both are safe to call
// again after any failure, which is what a CSI sidecar does. A claim
// succeeds when at least one initiator shares a fabric with a target;
// Claim.Unreached lists the WWPNs that reach nothing (worth an event: the
// volume has fewer paths than cabled).
//
// What a CSI driver answers for each class of a claim's error:
//
//	ClassTemporary  codes.Unavailable: a fabric is unread, busy or its commit
//	                failed transiently; the client has already retried, the
//	                sidecar retries later
//	ClassRefused    codes.FailedPrecondition: a WWPN is logged in on no fabric
//	                (422), or initiators and targets share no fabric, or the
//	                Policy differs from a fabric's (409). The same request
//	                fails until a person fixes the cabling or the zoning; the
//	                Error text names the WWPNs, put it in the status message
//	ClassNotFound   codes.NotFound (GetClaim)
//	ClassInvalid    codes.InvalidArgument (a bad WWPN, owner or key)
//	ClassCanceled   status.FromContextError(err)
//	others          codes.Internal, with the Error text
//
// See ExampleClassOf.
//
// # Streams
//
// MigrationEvents, AlertEvents and WatchHostQueueDepths return a *Stream:
// read its Events channel until it closes, then Err says why.
package client
