package array

import (
	"context"
	"time"

	"github.com/sanmob/sanmob/errclass"
	"github.com/sanmob/sanmob/fabric/wwn"
)

// Errors a Driver wraps, each carrying its class (errclass): ErrUnavailable
// is transient (retry or poll), ErrNotFound is not-found, everything else is
// final.
var (
	ErrNotFound    = errclass.New(errclass.NotFound, "array: not found")
	ErrInvalid     = errclass.New(errclass.Final, "array: invalid")
	ErrConflict    = errclass.New(errclass.Final, "array: conflict")
	ErrNoCapacity  = errclass.New(errclass.Final, "array: no capacity")
	ErrUnavailable = errclass.New(errclass.Transient, "array: unavailable")
)

// Classify is THE place that decides the class of an error an array Driver
// returned: transient (retry or poll, then re-read the array), not-found, or
// final (undo). The class is that of the outermost classed error in err's
// chain — a sentinel above, or one a driver marked with errclass.Wrap; a
// context deadline or cancellation is transient; an error nobody classified
// is final.
func Classify(err error) errclass.Class { return errclass.Of(err) }

// IsTransient reports whether err may clear by itself: Classify(err) is
// transient.
func IsTransient(err error) bool { return err != nil && Classify(err) == errclass.Transient }

// Info identifies an array.
type Info struct {
	Name   string `json:"name"`
	Vendor string `json:"vendor"`
	Model  string `json:"model"`
	Serial string `json:"serial"`
}

// TargetPort is one FC front-end port. The array does not know which fabric
// the port is cabled to; sanmob learns that from the fabrics' name servers.
type TargetPort struct {
	Name       string  `json:"name"`
	WWPN       wwn.WWN `json:"wwpn"`
	WWNN       wwn.WWN `json:"wwnn"`
	QueueLimit int     `json:"queueLimit"` // commands the port queues across all initiators
}

// Pool is a thin (or thick) capacity pool.
type Pool struct {
	ID               string  `json:"id"`
	Name             string  `json:"name"`
	PhysicalBytes    int64   `json:"physicalBytes"`
	UsedBytes        int64   `json:"usedBytes"`
	ProvisionedBytes int64   `json:"provisionedBytes"`
	MaxOvercommit    float64 `json:"maxOvercommit"`   // refuse provisioning beyond this ratio
	ReservedPercent  int     `json:"reservedPercent"` // held back from allocation
	// Media is what the pool is made of, "flash" or "disk" ("" unknown):
	// it picks the default latency threshold of its queue depths.
	Media string `json:"media,omitempty"`
}

// Volume is a LUN's backing volume.
type Volume struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Pool      string    `json:"pool"`
	SizeBytes int64     `json:"sizeBytes"`
	UsedBytes int64     `json:"usedBytes"`
	WWN       string    `json:"wwn"` // naa.6 + 32 hex digits, the SCSI device identifier
	Thin      bool      `json:"thin"`
	CreatedAt time.Time `json:"createdAt"`
	// WriteBytesPerSec is the rate hosts write to the volume, as the array
	// measures it (0: not measured); a migration's sync tail depends on it.
	WriteBytesPerSec float64 `json:"writeBytesPerSec,omitempty"`
}

// Snapshot is a point-in-time copy of a volume; snapshots taken together for
// crash consistency share a Group.
type Snapshot struct {
	ID        string    `json:"id"`
	Volume    string    `json:"volume"`
	Name      string    `json:"name"`
	Group     string    `json:"group,omitempty"`
	UsedBytes int64     `json:"usedBytes"`
	CreatedAt time.Time `json:"createdAt"`
}

// Mapping presents a volume under a LUN id to a set of initiators through a
// set of target ports (a host group / igroup / masking view).
type Mapping struct {
	Volume      string    `json:"volume"`
	LUN         int       `json:"lun"`
	HostGroup   string    `json:"hostGroup"`
	Initiators  []wwn.WWN `json:"initiators"`
	TargetPorts []wwn.WWN `json:"targetPorts"`
	Writable    bool      `json:"writable"`
}

// Driver is the device contract of an array. Every method honours ctx and
// wraps ErrUnavailable for transient failures; other errors are final.
type Driver interface {
	Info(ctx context.Context) (Info, error)
	TargetPorts(ctx context.Context) ([]TargetPort, error)
	Pools(ctx context.Context) ([]Pool, error)
	Volumes(ctx context.Context) ([]Volume, error)
	Snapshots(ctx context.Context) ([]Snapshot, error)
	Mappings(ctx context.Context) ([]Mapping, error)

	// CreateVolume creates spec.ID in spec.Pool, thin or thick. Idempotent:
	// a volume of that ID with the same pool, size, thinness and WWN (the
	// one asked for, or none asked and the array's own) is returned as it
	// is. Errors: ErrConflict (the ID exists with other attributes),
	// ErrNotFound (no such pool), ErrNoCapacity (a thick volume larger than
	// the pool's free physical space, or a thin one past the pool's
	// MaxOvercommit), ErrInvalid (size <= 0, a bad ID).
	CreateVolume(ctx context.Context, spec VolumeSpec) (Volume, error)
	// DeleteVolume deletes a volume; one that does not exist is not an
	// error. ErrConflict while it is mapped. Its snapshots stay.
	DeleteVolume(ctx context.Context, id string) error
	// ExpandVolume grows a volume to sizeBytes (the same size is a no-op).
	// ErrInvalid to shrink, ErrNotFound, ErrNoCapacity as CreateVolume.
	ExpandVolume(ctx context.Context, id string, sizeBytes int64) (Volume, error)
	// CreateSnapshots takes point-in-time snapshots of the specs' volumes
	// at one instant (a consistency group when several; Group names it),
	// all or none. Idempotent by snapshot ID (same volume: returned as is;
	// another volume: ErrConflict). ErrNotFound for a missing volume.
	CreateSnapshots(ctx context.Context, group string, specs []SnapshotSpec) ([]Snapshot, error)
	// DeleteSnapshot deletes a snapshot; one that does not exist is fine.
	DeleteSnapshot(ctx context.Context, id string) error
	// Map presents a volume to a host group — created with the initiators
	// when absent, its initiators replaced by spec.Initiators otherwise —
	// under spec.LUN through spec.TargetPorts. Idempotent: the same map
	// again is a no-op. Errors: ErrConflict (the LUN id is used in that host
	// group by another volume, or the volume is mapped there under another
	// LUN id, or an initiator belongs to another host group), ErrNotFound
	// (volume or target port), ErrInvalid (LUN outside 0-16383, no
	// initiators, no target ports).
	Map(ctx context.Context, spec MapSpec) error
	// Unmap removes a volume's map from a host group; a host group left
	// with no volumes is deleted. A map that does not exist is fine.
	Unmap(ctx context.Context, volume, hostGroup string) error
}

// VolumeSpec is a volume to create.
type VolumeSpec struct {
	ID        string
	Name      string
	Pool      string
	SizeBytes int64
	Thin      bool
	// FromSnapshot, when set, makes the volume a copy of that snapshot of
	// this array; SizeBytes must be at least its source volume's size
	// (ErrInvalid), and an unknown snapshot is ErrNotFound.
	FromSnapshot string
	// WWN, when set, is the SCSI identity (naa.6 + 32 hex digits) the
	// volume presents instead of one the array makes: a replica the hosts
	// must take for its source once promoted (active/passive replication
	// presents the source's NAA id). A malformed one is ErrInvalid; one
	// another volume of the array presents already, ErrConflict.
	WWN string
}

// SnapshotSpec is one snapshot to take.
type SnapshotSpec struct {
	ID     string
	Volume string
	Name   string
}

// MapSpec presents a volume to a host group.
type MapSpec struct {
	Volume      string
	HostGroup   string
	Initiators  []wwn.WWN
	LUN         int
	TargetPorts []wwn.WWN
}

// MaxLUN is the highest LUN id (SAM: 14-bit flat addressing).
const MaxLUN = 16383
