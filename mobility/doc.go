// Package mobility is sanmob's core: the durable inventory of sites, hosts,
// VMs with their NPIV vports and volumes, the observed state of every fabric
// and array, and the topology query that walks VM → vport → fabric → zone →
// target port → array → volume → LUN; volumes, snapshots and attach/detach
// (mask on the array, zone through the fabric Zoner, undone as a whole).
// Later it grows the migration planner and the saga executor.
//
// It talks to devices only through the fabric, array and compute driver
// interfaces, and to nobody over HTTP or gRPC: the server packages call it.
package mobility
