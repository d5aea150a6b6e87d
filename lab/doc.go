// Package lab is sanmob's embedded default world: a simulated data center,
// made deterministically from a seed, that the core reaches only through the
// real driver contracts — lab switches (fabric.Driver, fabric.PeerZoner,
// fabric.Vporter) with a name server that takes NPIV logins and a zone
// database changed by checksum-guarded, fabric-locked commits, lab arrays (array.Driver) with
// thin pools, volumes, snapshots and LUN masking, and replication between
// them (array.Replicator) over the inter-site links, and one hypervisor manager
// (compute.Driver) whose VMs own NPIV vport pairs — together with inter-site
// links, a virtual clock that runs faster than real time, and a fault table
// that makes chosen operations fail, time out after applying, or slow down.
//
// It owns the simulated devices' truth, which the /lab endpoints read and
// change behind sanmob's back (TruthZoneDB, DeleteZone, PlugPort, InjectFault,
// ...).
// It must not know the core: it never imports mobility, server or store, and
// nothing but cmd and tests imports it, so that sanmob works against it
// exactly as it would against real devices — no back doors.
package lab
