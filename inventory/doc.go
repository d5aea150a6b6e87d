// Package inventory owns sanmob's records of the world: sites and links,
// hosts with their HBAs, VMs with their NPIV vport pairs and the volumes they
// use, and the volume records; the allocation of virtual WWPNs that never
// collide with one in use; discovery of the inventory from the devices on
// the very first start, and the zoning it adopts; and the topology query —
// VM → vport → fabric → zone → target port → array → volume → LUN — with its
// per-VM path tables and its allocation-free JSON.
//
// It reads device observations from package devices and hands a Zoner the
// intents it adopted; it must not know attach, detach or migrations (package
// mobility changes devices and calls the *Locked methods to keep the records
// in step), nor HTTP.
package inventory
