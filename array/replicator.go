package array

import (
	"context"
	"time"
)

// Replication modes.
const (
	// ReplicaSync acknowledges a write only once both sides hold it: no
	// lag, one RTT added to every write (metro distances, ≤ 5 ms RTT).
	ReplicaSync = "sync"
	// ReplicaAsync ships writes in the background: the target lags by what
	// the link has not carried yet.
	ReplicaAsync = "async"
)

// Replication group states, the words Dell's csm-replication uses (DOMAIN.md
// "Replication and migration"): a group copying toward its target is
// SYNC_IN_PROGRESS, one whose target holds everything but the writes in
// flight SYNCHRONIZED, one stopped (link down, replication error, or a
// writable side demoted and its last writes not shipped yet) SUSPENDED, one
// whose target was promoted FAILEDOVER, one that cannot replicate INVALID.
const (
	GroupSyncInProgress = "SYNC_IN_PROGRESS"
	GroupSynchronized   = "SYNCHRONIZED"
	GroupSuspended      = "SUSPENDED"
	GroupFailedOver     = "FAILEDOVER"
	GroupInvalid        = "INVALID"
)

// Sides of a replication group: which one takes writes.
const (
	SideSource = "source"
	SideTarget = "target"
	SideNone   = "none" // both read-only: the moment between a demote and a promote
)

// ReplicaPairSpec replicates one volume of the group's source array to one
// volume of its target array.
type ReplicaPairSpec struct {
	SourceVolume string `json:"sourceVolume"`
	TargetVolume string `json:"targetVolume"`
}

// ReplicationGroupSpec is a consistency group to create: every pair ships
// its writes in one order, so that the target side is crash consistent as a
// whole.
type ReplicationGroupSpec struct {
	ID          string            `json:"id"`
	SourceArray string            `json:"sourceArray"`
	TargetArray string            `json:"targetArray"`
	Mode        string            `json:"mode"` // ReplicaSync or ReplicaAsync
	Pairs       []ReplicaPairSpec `json:"pairs"`
}

// ReplicaPair is one replicated volume as the array reports it.
type ReplicaPair struct {
	SourceVolume string `json:"sourceVolume"`
	TargetVolume string `json:"targetVolume"`
	// TotalBytes is what the initial copy must carry (the source's used
	// bytes when it started, and the writes since); CopiedBytes what it
	// has; LagBytes what the target still misses.
	TotalBytes  int64 `json:"totalBytes"`
	CopiedBytes int64 `json:"copiedBytes"`
	LagBytes    int64 `json:"lagBytes"`
}

// ReplicationGroup is a consistency group as the array reports it.
type ReplicationGroup struct {
	ID          string `json:"id"`
	SourceArray string `json:"sourceArray"`
	TargetArray string `json:"targetArray"`
	Mode        string `json:"mode"`
	State       string `json:"state"`
	// Writable is the side that takes writes: SideSource, SideTarget or
	// SideNone. Never both: that is the whole point.
	Writable string        `json:"writable"`
	Pairs    []ReplicaPair `json:"pairs"`
	// LagBytes is the sum of the pairs' lag; LastSyncAt the last time the
	// target held every acknowledged write (zero before the first time).
	LagBytes   int64     `json:"lagBytes"`
	LastSyncAt time.Time `json:"lastSyncAt,omitzero"`
	// Error says why a SUSPENDED or INVALID group does not replicate, in
	// the array's words.
	Error string `json:"error,omitempty"`
}

// Replicator is the optional capability of an array that replicates its
// volumes to another array (SRDF, SnapMirror, Remote Copy, …), found with
// a type assertion on its Driver. Groups may be asked of either array of a
// group. Every method honours ctx and is idempotent; errors carry the
// array's class as Driver's do.
type Replicator interface {
	// ReplicationGroups lists the groups this array is the source or the
	// target of.
	ReplicationGroups(ctx context.Context) ([]ReplicationGroup, error)
	// CreateReplicationGroup creates a consistency group and starts its
	// initial copy; the source side is writable, every target volume
	// read-only from then on. Each target volume must exist on the target
	// array, hold at least its source's size and be in no other group.
	// The same spec again returns the group as it is. Errors: ErrNotFound
	// (an array or volume), ErrConflict (the ID names another group, a
	// volume is replicated already), ErrInvalid (no pairs, a bad mode, a
	// target smaller than its source, no link between the arrays).
	CreateReplicationGroup(ctx context.Context, spec ReplicationGroupSpec) (ReplicationGroup, error)
	// DemoteReplicationGroup makes the writable side read-only (Writable
	// becomes SideNone); writes still in flight go on being shipped. A
	// group with no writable side is a no-op. ErrNotFound for no group.
	DemoteReplicationGroup(ctx context.Context, id string) error
	// PromoteReplicationGroup makes the side on array writable. It is a
	// no-op when that side is writable already. A promoted target makes the
	// group FAILEDOVER: nothing ships until Reverse. Errors: ErrConflict
	// when the other side is writable (demote it first: never writable at
	// two sites), or when the source is promoted back while the target
	// holds writes it took after a failover (reverse instead);
	// ErrUnavailable (transient) while the other side's last writes are
	// still on their way — ask again; ErrNotFound (no group, or array is
	// neither side).
	PromoteReplicationGroup(ctx context.Context, id, array string) error
	// ReverseReplicationGroup makes the writable side the source, and the
	// other side the target (read-only), and resumes replication in that
	// direction: after a promote of the target, the old source becomes the
	// replica. A group whose writable side is its source already is a
	// no-op. ErrConflict when no side is writable.
	ReverseReplicationGroup(ctx context.Context, id string) error
	// DeleteReplicationGroup stops replicating and removes the group; the
	// volumes stay, the writable side writable and the other read-only (so
	// never writable at two sites); with no writable side, the side that
	// holds every write (the target after a failover, else the source)
	// becomes writable. A missing group is not an error.
	DeleteReplicationGroup(ctx context.Context, id string) error
}
