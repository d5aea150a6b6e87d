package compute

import (
	"context"

	"github.com/sanmob/sanmob/errclass"
	"github.com/sanmob/sanmob/fabric/wwn"
)

// Errors a Driver wraps, each carrying its class (errclass): ErrUnavailable
// is transient, ErrNotFound is not-found; anything else a driver returns is
// final.
var (
	ErrNotFound    = errclass.New(errclass.NotFound, "compute: not found")
	ErrUnavailable = errclass.New(errclass.Transient, "compute: unavailable")
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
}

// Driver is the hypervisor manager's read side.
type Driver interface {
	Hosts(ctx context.Context) ([]Host, error)
	VMs(ctx context.Context) ([]VM, error)
}
