package compute

import (
	"context"
	"time"

	"github.com/sanmob/sanmob/errclass"
	"github.com/sanmob/sanmob/fabric/wwn"
)

// Errors a Driver (or a Mover) wraps, each carrying its class (errclass):
// ErrUnavailable is transient, ErrNotFound is not-found, ErrInvalid and
// ErrConflict are final; anything else a driver returns is final.
var (
	ErrNotFound    = errclass.New(errclass.NotFound, "compute: not found")
	ErrUnavailable = errclass.New(errclass.Transient, "compute: unavailable")
	// ErrInvalid: the request can never succeed as asked (an unknown move
	// mode, say).
	ErrInvalid = errclass.New(errclass.Final, "compute: invalid")
	// ErrConflict: the request contradicts the VM's state (a cold move of a
	// VM that is powered on, a live move of one that is off).
	ErrConflict = errclass.New(errclass.Final, "compute: conflict")
)

// Classify is THE place that decides the class of an error a compute Driver
// (or a Mover) returned: transient (retry or poll, then re-read the
// hypervisor manager), not-found, or final. The class is that of the
// outermost classed error in err's chain — a sentinel above, or one a driver
// marked with errclass.Wrap; a context deadline or cancellation is
// transient; an error nobody classified is final.
func Classify(err error) errclass.Class { return errclass.Of(err) }

// HBA is one physical FC port of a host.
type HBA struct {
	Name        string  `json:"name"` // e.g. host3 in /sys/class/fc_host
	WWPN        wwn.WWN `json:"wwpn"`
	WWNN        wwn.WWN `json:"wwnn"`
	MaxVports   int     `json:"maxVports"`
	VportsInUse int     `json:"vportsInUse"`
}

// Host is a hypervisor host.
type Host struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Site string `json:"site"`
	HBAs []HBA  `json:"hbas"`
}

// Vport is an NPIV virtual port of a VM. A VM owns a pair per fabric (sets a
// and b) so that one can log in at a destination while the other still serves
// the source; Active says which set carries I/O now.
type Vport struct {
	WWPN   wwn.WWN `json:"wwpn"`
	WWNN   wwn.WWN `json:"wwnn"`
	Fabric string  `json:"fabric"`       // the fabric (virtual SAN) the vport belongs to
	HBA    wwn.WWN `json:"hba,omitzero"` // the physical port it is instantiated on; zero while it is not
	Set    string  `json:"set"`          // "a" or "b"
	Active bool    `json:"active"`
}

// VM is a virtual machine as the hypervisor manager knows it.
type VM struct {
	ID     string  `json:"id"`
	Name   string  `json:"name"`
	Host   string  `json:"host"`
	Vports []Vport `json:"vports"`
	Shares int     `json:"shares"` // I/O shares (SIOC-style), 1000 = normal
	// Power is PowerOn or PowerOff; empty when the driver does not say.
	Power string `json:"power,omitempty"`
	// MemoryBytes is the VM's configured memory, what a live move copies;
	// 0 when the driver does not say.
	MemoryBytes int64 `json:"memoryBytes,omitempty"`
}

// Power states of a VM.
const (
	PowerOn  = "on"
	PowerOff = "off"
)

// MoveMode is how a Mover moves a VM.
type MoveMode string

// Move modes.
const (
	// MoveLive moves a running VM: its memory is copied to the destination
	// while it runs, then a brief switchover stops it at the source and
	// resumes it at the destination.
	MoveLive MoveMode = "live"
	// MoveCold moves a VM that is powered off: only its registration moves.
	MoveCold MoveMode = "cold"
)

// Valid reports whether m is MoveLive or MoveCold.
func (m MoveMode) Valid() bool { return m == MoveLive || m == MoveCold }

// Driver is the hypervisor manager's read side.
type Driver interface {
	Hosts(ctx context.Context) ([]Host, error)
	VMs(ctx context.Context) ([]VM, error)
}

// Mover is a compute Driver that can also move VMs between hosts and power
// them: an optional capability, found with a type assertion. Every method
// honours ctx; a ctx that ends while a move runs abandons it (the VM stays
// where VMs() says) and returns ctx's error, which Classify calls transient.
type Mover interface {
	Driver
	// Move moves vm to host: MoveLive keeps it running (its memory is
	// copied, then a brief switchover), MoveCold needs it powered off. A
	// VM already on host is a no-op, so a retry after a transient error is
	// safe. Errors: ErrNotFound (no such vm or host); ErrUnavailable
	// (transient: busy, or the outcome is unknown — the move may have
	// applied or still be in progress; read VMs() to learn where it runs);
	// ErrInvalid (an unknown mode) and ErrConflict (a cold move of a VM that
	// is on, a live move of one that is off, or host refuses it), both
	// final; any other error is final too: the VM did not move.
	Move(ctx context.Context, vm, host string, mode MoveMode) error
	// PowerOff powers vm off; a VM already off is a no-op. Errors:
	// ErrNotFound, ErrUnavailable (transient, outcome unknown: read VMs()),
	// anything else final.
	PowerOff(ctx context.Context, vm string) error
	// PowerOn powers vm on where it is; a VM already on is a no-op. Errors
	// as PowerOff.
	PowerOn(ctx context.Context, vm string) error
}

// PendingMove is a move a Reporter's hypervisor manager has been asked to
// make and not yet reported.
type PendingMove struct {
	VM       string    `json:"vm"`
	Op       string    `json:"op"` // "move"
	Host     string    `json:"host"`
	Mode     MoveMode  `json:"mode"`
	Since    time.Time `json:"since"`
	Deadline time.Time `json:"deadline"`
}

// Reporter is a Mover whose hypervisor manager moves VMs itself and
// reports it (compute/external): Pending says which move of the VM waits
// for the report, Report delivers it (state switched or failed).
type Reporter interface {
	Pending(vm string) (PendingMove, bool)
	Report(vm, state, detail string) error
}
