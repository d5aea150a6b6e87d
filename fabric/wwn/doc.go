// Package wwn is the Fibre Channel World Wide Name value type: it parses every
// notation people paste (colon, dash, bare hex, 0x-prefixed, any case), reports
// the NAA format, prints one canonical form (lowercase, colon separated) and
// generates NAA-5 names for virtual ports without collisions.
//
// It is a leaf: it knows nothing of fabrics, arrays or VMs, so every other
// package can depend on it.
package wwn
