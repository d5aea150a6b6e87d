package csi

import (
	"context"

	"github.com/sanmob/sanmob/inventory"
	"github.com/sanmob/sanmob/mobility"
)

// Mobility is the part of the core the CSI services call, declared here by
// its consumer; *mobility.Service satisfies it. Errors are the core's
// sentinels (mobility.ErrInvalid, ErrNotFound, ErrConflict, ErrUnavailable,
// ErrNotReady, array.ErrNoCapacity) or a device's error (mobility.FromDevice),
// wrapped; toStatus turns them into codes.
type Mobility interface {
	volumes
	snapshots
	attacher
	reader
}

type volumes interface {
	// CreateVolume is idempotent by spec.Name. ErrConflict: the name exists
	// with other attributes; ErrInvalid; ErrNotFound: a site, array or pool
	// of the placement; array.ErrNoCapacity; ErrUnavailable.
	CreateVolume(ctx context.Context, spec mobility.VolumeSpec) (inventory.Volume, error)
	// VolumeByName returns the volume created under a name; ErrNotFound.
	VolumeByName(name string) (inventory.Volume, error)
	// Volume returns one volume; ErrNotFound.
	Volume(id string) (inventory.Volume, error)
	// Volumes lists volumes in id order.
	Volumes(f inventory.VolumeFilter) []inventory.Volume
	// DeleteVolume: ErrNotFound when unknown, ErrConflict while attached.
	DeleteVolume(ctx context.Context, id string) error
	// ExpandVolume grows a volume; ErrInvalid to shrink, ErrNotFound,
	// array.ErrNoCapacity.
	ExpandVolume(ctx context.Context, id string, sizeBytes int64) (inventory.Volume, error)
}

type snapshots interface {
	// CreateSnapshot is idempotent by spec.Name; ErrConflict when the name
	// is another volume's snapshot, ErrNotFound for an unknown volume.
	CreateSnapshot(ctx context.Context, volumeID string, spec mobility.SnapshotSpec) (inventory.SnapshotView, error)
	// Snapshot returns one snapshot; ErrNotFound.
	Snapshot(id string) (inventory.SnapshotView, error)
	// Snapshots lists snapshots in id order, of one volume or ("") all.
	Snapshots(volume string) []inventory.SnapshotView
	// DeleteSnapshot: ErrNotFound when unknown.
	DeleteSnapshot(ctx context.Context, id string) error
}

type attacher interface {
	// Attach is idempotent. ErrNotFound: volume or node; ErrConflict:
	// attached to another node and not MultiNode; ErrUnavailable.
	Attach(ctx context.Context, spec mobility.AttachmentSpec) (mobility.Attachment, error)
	// Detach of what is not attached is fine; ErrNotFound for an unknown
	// volume or node.
	Detach(ctx context.Context, volume, node string) error
	// Attachments lists a volume's attachments ("" for all).
	Attachments(volume string) []mobility.Attachment
}

type reader interface {
	// Readiness says whether the inventory is loaded and every device has
	// answered, and if not, why.
	Readiness() (bool, []string)
	// Arrays lists the arrays; their sites are where volumes can live.
	Arrays() []inventory.Array
	// Capacity: ErrNotFound for a site, array or pool that does not exist.
	Capacity(spec mobility.CapacitySpec) (mobility.Capacity, error)
}

var _ Mobility = (*mobility.Service)(nil)
