package mobility

import "time"

// VolumeSpec asks for a new volume. Name is the idempotency key (CSI's
// volume name): creating a name that exists with the same attributes
// returns the existing volume.
type VolumeSpec struct {
	ID        string `json:"id,omitempty"` // made from Name when empty
	Name      string `json:"name"`
	SizeBytes int64  `json:"sizeBytes"`
	// Placement, each optional and narrowing the one before: the site, the
	// array, the pool. Without a pool the array's pool with the most
	// thin-aware free space is chosen.
	Site  string `json:"site,omitempty"`
	Array string `json:"array,omitempty"`
	Pool  string `json:"pool,omitempty"`
	Thin  *bool  `json:"thin,omitempty"` // default true
	// FromSnapshot makes the volume a copy of a snapshot, on the
	// snapshot's array; SizeBytes may be 0 for the source's size.
	FromSnapshot string `json:"fromSnapshot,omitempty"`
	// MultiNode volumes may be published to several nodes at once (shared
	// datastores, and every volume during a live migration).
	MultiNode bool `json:"multiNode,omitempty"`
}

// SnapshotSpec asks for a snapshot of a volume. Name is the idempotency key.
type SnapshotSpec struct {
	ID   string `json:"id,omitempty"` // made from Name when empty
	Name string `json:"name"`
}

// AttachmentSpec asks to present a volume to a node: a host id (its HBA
// WWPNs) or a VM id (both vport sets).
type AttachmentSpec struct {
	Volume string `json:"volume"`
	Node   string `json:"node"`
}

// Attachment is a volume presented to a node: masked on the array and
// zoned on every fabric its initiators sit on.
type Attachment struct {
	Volume    string    `json:"volume"`
	Node      string    `json:"node"`
	NodeKind  string    `json:"nodeKind"` // host | vm
	Array     string    `json:"array"`
	LUN       int       `json:"lun"`
	HostGroup string    `json:"hostGroup"`
	Fabrics   []string  `json:"fabrics"`
	CreatedAt time.Time `json:"createdAt"`
	// PublishContext is what CSI's ControllerPublishVolume returns (API.md):
	// lun, volumeWWN, targetWWPNs, fabrics.
	PublishContext map[string]string `json:"publishContext"`
	// State is attaching, attached, detaching or failed (an undo that still
	// failed: Action says what a person must do).
	State string `json:"state"`
	// LastError is the error of the operation's last step that failed, in
	// the device's words; empty when none did.
	LastError string `json:"lastError,omitempty"`
	// Action is what a person must do about a failed attachment.
	Action string `json:"action,omitempty"`
	// Operation is the id of the saga run attaching or detaching it.
	Operation string `json:"operation,omitempty"`
}

// Attachment states.
const (
	StateAttaching = "attaching"
	StateAttached  = "attached"
	StateDetaching = "detaching"
	StateFailed    = "failed"
)

// Capacity is what a placement can still take.
type Capacity struct {
	// AvailableBytes is the thin-aware free space of the best pool that
	// matches (Cinder: (total - reserved) * maxOvercommit - provisioned for
	// thin, free physical space for thick).
	AvailableBytes int64 `json:"availableBytes"`
	// MaximumVolumeBytes is the largest single volume it accepts.
	MaximumVolumeBytes int64 `json:"maximumVolumeBytes"`
}

// CapacitySpec narrows GetCapacity like VolumeSpec narrows placement.
type CapacitySpec struct {
	Site, Array, Pool string
	Thin              *bool
}
