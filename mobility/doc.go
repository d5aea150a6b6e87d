// Package mobility is sanmob's orchestration: it changes the devices when
// something is asked of sanmob — volumes and snapshots, attach and detach,
// and (next) migrations and evacuations. Every change that touches more than
// one device, or one device more than once, is a saga run (package saga):
// an attach is mask → zone → log vports in → record, a detach unmask →
// unzone → forget, a VM's consistent snapshot one group per array. The run's
// record is on disk before the first device call; a transient error is
// retried, a final one undoes what was done, a crash resumes it at the next
// start, and an undo that still fails leaves the run failed with an action
// for a person and an OperationFailed alert.
//
// It embeds the inventory (package inventory: records, WWN allocation,
// topology) and reads the devices' observations (package devices); it asks
// thin before it creates or grows a volume. It talks to devices only through
// the fabric, array and compute driver interfaces, and to nobody over HTTP
// or gRPC: the server packages call it. It must not know a concrete driver.
package mobility
