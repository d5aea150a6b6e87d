// Package array owns sanmob's view of storage arrays: pools, volumes,
// snapshots, LUN maps and FC target ports, and the Driver contract every array
// driver implements (optional abilities are separate interfaces found by type
// assertion).
//
// It knows nothing of fabrics or VMs.
package array
