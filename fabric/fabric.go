package fabric

import (
	"context"
	"time"

	"github.com/sanmob/sanmob/errclass"
	"github.com/sanmob/sanmob/fabric/wwn"
)

// Errors a Driver wraps, each carrying its class (errclass): ErrUnavailable
// is transient (busy, 503, timeout, lost connection: the operation may still
// be in progress and is retried or polled), ErrNotFound is not-found, and
// everything else is final.
var (
	ErrNotFound    = errclass.New(errclass.NotFound, "fabric: not found")
	ErrInvalid     = errclass.New(errclass.Final, "fabric: invalid")
	ErrConflict    = errclass.New(errclass.Final, "fabric: conflict")
	ErrUnavailable = errclass.New(errclass.Transient, "fabric: unavailable")
	// ErrFull: the change does not fit (the zone database's size limit, an
	// HBA's or a switch port's NPIV slots). Final; it also wraps ErrInvalid
	// where a device reports it as a refused request.
	ErrFull = errclass.New(errclass.Final, "fabric: no room")
)

// Classify is THE place that decides the class of an error a fabric Driver
// (or the Zoner, or a Vporter) returned: transient (retry or poll, then
// re-read the zone DB), not-found, or final (undo). The class is that of the
// outermost classed error in err's chain — a sentinel above, or one a driver
// marked with errclass.Wrap; a context deadline or cancellation is
// transient; an error nobody classified is final.
func Classify(err error) errclass.Class { return errclass.Of(err) }

// IsTransient reports whether err may clear by itself (retry, poll) rather
// than having definitely failed (undo): Classify(err) is transient.
func IsTransient(err error) bool { return err != nil && Classify(err) == errclass.Transient }

// LoginKind says what logged in to the name server.
type LoginKind string

// Kinds of name-server entries.
const (
	Initiator LoginKind = "initiator"
	Target    LoginKind = "target"
)

// Login is one name-server entry: a port logged in to the fabric with FLOGI
// (a physical N_Port) or FDISC (an NPIV virtual port on a physical one).
type Login struct {
	WWPN         wwn.WWN   `json:"wwpn"`
	WWNN         wwn.WWN   `json:"wwnn"`
	Kind         LoginKind `json:"kind"`
	NPIV         bool      `json:"npiv"`
	PhysicalWWPN wwn.WWN   `json:"physicalWWPN,omitzero"` // for NPIV logins: the N_Port that carries it
	SwitchPort   string    `json:"switchPort"`            // "domain,index" as FOS prints it
	PortID       string    `json:"portId"`                // 24-bit FC address, 0xDDAAPP
	LoggedInAt   time.Time `json:"loggedInAt,omitzero"`
}

// Zone is one defined zone. A peer zone (Brocade zone type 1) lets its
// principals talk to its members but not the members to each other; in a
// standard zone every member talks to every other and Principals is empty.
type Zone struct {
	Name       string    `json:"name"`
	Members    []wwn.WWN `json:"members"`
	Principals []wwn.WWN `json:"principals,omitempty"`
}

// Peer reports whether z is a peer zone.
func (z Zone) Peer() bool { return len(z.Principals) > 0 }

// Has reports whether w is a member or principal of z.
func (z Zone) Has(w wwn.WWN) bool {
	for _, m := range z.Members {
		if m == w {
			return true
		}
	}
	for _, m := range z.Principals {
		if m == w {
			return true
		}
	}
	return false
}

// ZoneDB is a fabric's zone database as the switch holds it: the defined
// zones, the name of the effective configuration and the zones in it, and the
// checksum that guards a transaction against concurrent edits.
type ZoneDB struct {
	Checksum     string   `json:"checksum"`
	EffectiveCfg string   `json:"effectiveCfg"`
	Zones        []Zone   `json:"zones"`
	Effective    []string `json:"effective"` // zone names in the effective configuration
	SizeBytes    int      `json:"sizeBytes"`
	MaxBytes     int      `json:"maxBytes"`
}

// Info describes a fabric as its principal switch reports it.
type Info struct {
	Name     string `json:"name"`
	Vendor   string `json:"vendor"`
	Firmware string `json:"firmware"`
}

// Driver is the device contract of a fabric. Every method honours ctx and
// wraps ErrUnavailable for transient failures (busy, timeout, unreachable);
// other errors are final.
type Driver interface {
	// Info identifies the fabric's principal switch.
	Info(ctx context.Context) (Info, error)
	// Logins returns the name server: every port logged in to the fabric.
	Logins(ctx context.Context) ([]Login, error)
	// ZoneDB returns the defined and effective zoning with its checksum.
	ZoneDB(ctx context.Context) (ZoneDB, error)
	// Commit applies txn as one fabric-wide transaction: the zones of Put
	// are defined (replacing zones of the same name) and made members of the
	// effective configuration, the zones of Delete are removed from both,
	// the defined configuration is saved and the effective one enabled — all
	// of it, or none of it. It returns the zone DB's checksum afterwards.
	//
	// Errors, each wrapped:
	//   - ErrConflict: txn.Checksum is stale (someone else changed the zone
	//     DB); nothing was applied. Re-read, re-plan, retry.
	//   - ErrFull: the result would exceed the zone DB's size limit; nothing
	//     was applied.
	//   - ErrInvalid: the switch refused the content (a name outside its
	//     rules, an empty zone); nothing was applied.
	//   - ErrUnavailable (IsTransient): busy, the fabric lock held by another
	//     client, a timeout, a lost connection. The transaction may or may not
	//     have been applied: read the zone DB back to learn which.
	//   - anything else: final; the driver aborted the transaction.
	Commit(ctx context.Context, txn Txn) (checksum string, err error)
	// Abort cancels any zoning transaction this client left open on the
	// switch (FOS: cfg-action 4) — after a lost connection, say, so that the
	// fabric lock is not held until it times out. No open transaction is not
	// an error.
	Abort(ctx context.Context) error
}

// Txn is one zoning transaction, planned against the zone DB whose checksum
// it carries (optimistic concurrency: the switch refuses a stale checksum).
// A zone is not named in both Put and Delete.
type Txn struct {
	Checksum string
	// Cfg names the configuration to create and enable when the fabric has
	// no effective configuration; otherwise the effective one is edited.
	Cfg    string
	Put    []Zone
	Delete []string // absent names are not an error
}

// PeerZoner is an optional ability of a Driver: whether the switch accepts
// peer zones (Zone.Principals; Brocade zone type 1, FOS >= 7.4). A Driver
// without it is taken to support single-initiator zones only.
type PeerZoner interface {
	PeerZones() bool
}

// Vporter is what performs NPIV logins (FDISC) through a host's physical
// HBA port: in a data center the host's HBA driver, told by the hypervisor
// manager; in the lab, the lab's switch on the host's behalf. A switch's
// management API cannot log a port in by itself.
type Vporter interface {
	// LoginVport logs wwpn in through the physical port. Errors: ErrConflict
	// when wwpn is already logged in anywhere (Brocade's default: the first
	// login wins and the second is rejected — sanmob must never cause one);
	// ErrNotFound when the physical port is not logged in to this fabric;
	// ErrFull when the physical port has no NPIV slot left.
	LoginVport(ctx context.Context, physical, wwpn, wwnn wwn.WWN) error
	// LogoutVport logs wwpn out; a WWPN not logged in is not an error.
	LogoutVport(ctx context.Context, wwpn wwn.WWN) error
}

// ChecksumReader is an optional ability of a Driver: the zone DB's checksum
// alone, which a switch answers far more cheaply than the whole database
// (FOS REST: effective-configuration/checksum). sanmob skips re-reading a
// zone DB whose checksum has not changed.
type ChecksumReader interface {
	ZoneDBChecksum(ctx context.Context) (string, error)
}
