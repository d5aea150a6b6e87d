package inventory

import (
	"time"

	"github.com/sanmob/sanmob/fabric/wwn"
)

// Site is a data center.
type Site struct {
	ID string `json:"id"`
}

// Link joins two sites; replication and long-distance moves are planned over it.
type Link struct {
	From          string  `json:"from"`
	To            string  `json:"to"`
	RTTMs         float64 `json:"rttMs"`
	BandwidthMbps float64 `json:"bandwidthMbps"`
	DistanceKm    float64 `json:"distanceKm"`
}

// HBA is a host's physical FC port. VportsInUse is read off the fabric's name
// server (NPIV logins carried by this port), never stored.
type HBA struct {
	Name        string  `json:"name,omitempty"`
	WWPN        wwn.WWN `json:"wwpn"`
	WWNN        wwn.WWN `json:"wwnn"`
	Fabric      string  `json:"fabric"`
	MaxVports   int     `json:"maxVports"`
	VportsInUse int     `json:"vportsInUse"`
	LoggedIn    bool    `json:"loggedIn"`
}

// Host is a hypervisor host.
type Host struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Site      string    `json:"site"`
	HBAs      []HBA     `json:"hbas"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// Vport is one NPIV virtual port of a VM: a VM owns a pair per fabric (sets
// a and b). HBA, LoggedIn and LoggedInAt come from the name server when the
// record is served.
type Vport struct {
	Fabric     string     `json:"fabric"`
	WWPN       wwn.WWN    `json:"wwpn"`
	WWNN       wwn.WWN    `json:"wwnn"`
	Set        string     `json:"set"`
	Active     bool       `json:"active"`
	HBA        wwn.WWN    `json:"hba,omitzero"`
	LoggedIn   bool       `json:"loggedIn"`
	LoggedInAt *time.Time `json:"loggedInAt,omitempty"`
}

// VolumeRef is a volume a VM uses and the LUN id it sees it under.
type VolumeRef struct {
	ID  string `json:"id"`
	LUN int    `json:"lun"`
}

// VM is a virtual machine with its vports and volumes.
type VM struct {
	ID        string      `json:"id"`
	Name      string      `json:"name"`
	Host      string      `json:"host"`
	Site      string      `json:"site"`
	Vports    []Vport     `json:"vports"`
	Volumes   []VolumeRef `json:"volumes"`
	Shares    int         `json:"shares"`
	CreatedAt time.Time   `json:"createdAt"`
	UpdatedAt time.Time   `json:"updatedAt"`
}

// Volume is a volume on an array as sanmob knows it. Missing is set when the
// array no longer reports it: the record stays so that nothing that refers to
// it silently loses its meaning.
type Volume struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Array     string `json:"array"`
	Pool      string `json:"pool"`
	SizeBytes int64  `json:"sizeBytes"`
	UsedBytes int64  `json:"usedBytes"`
	WWN       string `json:"wwn"`
	Thin      bool   `json:"thin"`
	Missing   bool   `json:"missing,omitempty"`
	// MultiNode volumes may be attached to several nodes at once.
	MultiNode bool `json:"multiNode,omitempty"`
	// FromSnapshot is the snapshot the volume was created as a copy of.
	FromSnapshot string `json:"fromSnapshot,omitempty"`
	// LUN is the id the volume is presented under on every node, chosen at
	// its first attach and kept (a LUN that changes id looks like a copy to
	// ESXi); nil before.
	LUN       *int      `json:"lun,omitempty"`
	CreatedAt time.Time `json:"createdAt"`
	// Replica, set after a cross-site move, is the copy the volume's
	// replication group keeps of it: its old home, a read-only target.
	Replica *VolumeReplica `json:"replica,omitempty"`
}

// VolumeReplica is the other side of a volume's replication group.
type VolumeReplica struct {
	Array string `json:"array"`
	Pool  string `json:"pool,omitempty"`
	Group string `json:"group"`
}

// Store kinds. Observed device state (logins, zones, mappings, pool usage)
// is not stored: the devices are its source of truth and are re-read at
// start and on every refresh.
const (
	kindSite   = "site"
	kindLink   = "link"
	kindHost   = "host"
	KindVM     = "vm"
	KindVolume = "volume"
	kindMeta   = "meta"
)
