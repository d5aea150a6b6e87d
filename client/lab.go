package client

import (
	"context"
	"net/http"
)

// Ports cabled into the lab's switches, and the lab switches' own name
// servers and zone databases (sanmobd --lab only; admin). A plug or a pull
// is retried only on 429: after a 503 it may have been applied, and a
// second try would answer 409 or 404 for what the first did.

// LabPort is a port to cable into a lab switch: its names and whether it
// is a storage target port (an array's) or an initiator.
type LabPort struct {
	WWPN   string `json:"wwpn"`
	WWNN   string `json:"wwnn"`
	Target bool   `json:"target"`
}

// LabZoneDB is a lab switch's own zone database.
type LabZoneDB struct {
	Checksum string `json:"checksum"`
	// Effective is the name of the effective configuration; EffectiveZones
	// are the zones it enables.
	Effective      string    `json:"effective"`
	Zones          []LabZone `json:"zones"`
	EffectiveZones []string  `json:"effectiveZones"`
	SizeBytes      int       `json:"sizeBytes"`
	MaxBytes       int       `json:"maxBytes"`
}

// LabZone is one zone of a LabZoneDB; a peer zone has Principals.
type LabZone struct {
	Name       string   `json:"name"`
	Members    []string `json:"members"`
	Principals []string `json:"principals,omitempty"`
}

// LabPlugPort cables a port into a lab switch, as an administrator
// connecting a device sanmob does not manage would (another vendor's
// array): a physical login on a free switch port of fabric. It answers the
// port's name-server entry. The daemon refuses a WWPN logged in anywhere
// in the lab (409, IsConflict), a bad WWN (400) and an unknown fabric (404).
func (c *Client) LabPlugPort(ctx context.Context, fabric string, p LabPort) (*Login, error) {
	var l Login
	if err := c.do(ctx, request{method: http.MethodPost, path: "/lab/fabrics/" + seg(fabric) + "/logins", body: p, policy: onlyRefused}, &l); err != nil {
		return nil, err
	}
	return &l, nil
}

// LabUnplugPort pulls a port LabPlugPort cabled into fabric. The daemon
// answers 404 (IsNotFound) when it is not logged in there and 409
// (IsConflict) for a port the lab was built with: only plugged ports can
// be pulled.
func (c *Client) LabUnplugPort(ctx context.Context, fabric, wwpn string) error {
	return c.do(ctx, request{method: http.MethodDelete, path: "/lab/fabrics/" + seg(fabric) + "/logins/" + seg(wwpn), policy: onlyRefused}, nil)
}

// LabLogins returns a lab switch's own name server, every page of it.
func (c *Client) LabLogins(ctx context.Context, fabric string) ([]Login, error) {
	return list[Login](ctx, c, "/lab/fabrics/"+seg(fabric)+"/logins", nil)
}

// LabZoneDB returns a lab switch's own zone database.
func (c *Client) LabZoneDB(ctx context.Context, fabric string) (*LabZoneDB, error) {
	var db LabZoneDB
	if err := c.do(ctx, get("/lab/fabrics/"+seg(fabric)+"/zonedb", nil), &db); err != nil {
		return nil, err
	}
	return &db, nil
}
