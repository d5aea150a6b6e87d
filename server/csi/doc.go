// Package csi is sanmob's Container Storage Interface endpoint (spec v1.13):
// the Identity and Controller gRPC services a CO's sidecars (external-
// provisioner, -attacher, -snapshotter, -resizer) call to create, publish,
// snapshot and grow volumes on the SAN.
//
// It owns the CSI contract: validating every request field, translating
// requests into calls on the core (the small Mobility interface declared
// here and satisfied by *mobility.Service), choosing the gRPC code of every
// error in one function (toStatus), logging each call with its secrets
// stripped (protosanitizer), and the endpoint itself: a 0600 unix socket or
// a TCP address, stopped gracefully when its context ends.
//
// It must not know HTTP, the store, or any device driver: placement,
// masking, zoning and thin admission are the core's business. A Node service
// is not here either: sanmob presents LUNs to hypervisor hosts and VMs over
// Fibre Channel, and the node side belongs to whatever runs there.
package csi
