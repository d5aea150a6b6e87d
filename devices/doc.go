// Package devices owns sanmob's view of the devices: the configured fabrics,
// arrays and the hypervisor manager with their drivers (built from a factory
// map by driver name), the last observation of each — one consistent,
// immutable read with its time and its path generation — and the status of
// the last attempt to read it. The refresh loop that re-reads them lives here
// too; what the layers above do after a refresh they register as hooks.
//
// It must not know the inventory (hosts, VMs, volumes as records) nor any
// policy: it reads devices and says what they said.
package devices
