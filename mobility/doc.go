// Package mobility is sanmob's core: the durable inventory of sites, hosts,
// VMs with their NPIV vports and volumes, the observed state of every fabric
// and array, and the topology query that walks VM → vport → fabric → zone →
// target port → array → volume → LUN. Later it grows attach/detach, the
// migration planner and the saga executor.
//
// It talks to devices only through the fabric, array and compute driver
// interfaces, and to nobody over HTTP or gRPC: the server packages call it.
package mobility
