package client

import (
	"context"
	"net/http"
	"net/url"
	"time"
)

// ListArrays returns the arrays with their target ports.
func (c *Client) ListArrays(ctx context.Context) ([]Array, error) {
	return list[Array](ctx, c, "/arrays", nil)
}

// ListLogins returns a fabric's name server as sanmob last observed it.
func (c *Client) ListLogins(ctx context.Context, fabric string) ([]Login, error) {
	return list[Login](ctx, c, "/fabrics/"+seg(fabric)+"/logins", nil)
}

// ListZones returns a fabric's zones with their owner and users.
func (c *Client) ListZones(ctx context.Context, fabric string) ([]Zone, error) {
	return list[Zone](ctx, c, "/fabrics/"+seg(fabric)+"/zones", nil)
}

// ListEvacuations returns the evacuations, oldest first.
func (c *Client) ListEvacuations(ctx context.Context) ([]Evacuation, error) {
	return list[Evacuation](ctx, c, "/evacuations", nil)
}

// PoolHistory returns a pool's used and provisioned bytes over time (from
// since when it is not zero).
func (c *Client) PoolHistory(ctx context.Context, pool string, since time.Time) ([]PoolPoint, error) {
	var q url.Values
	if !since.IsZero() {
		q = url.Values{"since": {since.UTC().Format(time.RFC3339)}}
	}
	return list[PoolPoint](ctx, c, "/pools/"+seg(pool)+"/history", q)
}

// DarkStorage returns the dark-storage report, every page of it.
func (c *Client) DarkStorage(ctx context.Context) (*DarkStorage, error) {
	var out *DarkStorage
	q := url.Values{}
	for {
		var p struct {
			DarkStorage
			Continue string `json:"continue"`
		}
		if err := c.do(ctx, get("/reports/dark-storage", q), &p); err != nil {
			return nil, err
		}
		if out == nil {
			ds := p.DarkStorage
			ds.Items = append([]DarkVolume{}, p.Items...)
			out = &ds
		} else {
			out.Items = append(out.Items, p.Items...)
		}
		if p.Continue == "" || p.Continue == q.Get("continue") {
			return out, nil
		}
		q.Set("continue", p.Continue)
	}
}

// CreateVolume creates a volume after thin admission. It is idempotent by
// name.
func (c *Client) CreateVolume(ctx context.Context, spec VolumeSpec) (*Volume, error) {
	var v Volume
	if err := c.do(ctx, request{method: http.MethodPost, path: "/volumes", body: spec}, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// GetVolume returns one volume.
func (c *Client) GetVolume(ctx context.Context, id string) (*Volume, error) {
	var v Volume
	if err := c.do(ctx, get("/volumes/"+seg(id), nil), &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// GrowVolume grows a volume to sizeBytes.
func (c *Client) GrowVolume(ctx context.Context, id string, sizeBytes int64) (*Volume, error) {
	var v Volume
	body := map[string]int64{"sizeBytes": sizeBytes}
	if err := c.do(ctx, request{method: http.MethodPatch, path: "/volumes/" + seg(id), body: body}, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// DeleteVolume deletes a volume that is attached nowhere.
func (c *Client) DeleteVolume(ctx context.Context, id string) error {
	return c.do(ctx, request{method: http.MethodDelete, path: "/volumes/" + seg(id)}, nil)
}

// SnapshotVolume snapshots one volume. It is idempotent by name.
func (c *Client) SnapshotVolume(ctx context.Context, volume, name string) (*Snapshot, error) {
	var s Snapshot
	body := map[string]string{"name": name}
	if err := c.do(ctx, request{method: http.MethodPost, path: "/volumes/" + seg(volume) + "/snapshots", body: body}, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// CreateHost adds a host.
func (c *Client) CreateHost(ctx context.Context, spec HostSpec) (*Host, error) {
	var h Host
	if err := c.do(ctx, request{method: http.MethodPost, path: "/hosts", body: spec, policy: onlyRefused}, &h); err != nil {
		return nil, err
	}
	return &h, nil
}

// CreateVM adds a VM; its vports are generated.
func (c *Client) CreateVM(ctx context.Context, spec VMSpec) (*VM, error) {
	var v VM
	if err := c.do(ctx, request{method: http.MethodPost, path: "/vms", body: spec, policy: onlyRefused}, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// SetShares sets a VM's I/O shares.
func (c *Client) SetShares(ctx context.Context, vm string, shares int) (*VM, error) {
	var v VM
	body := map[string]int{"shares": shares}
	if err := c.do(ctx, request{method: http.MethodPatch, path: "/vms/" + seg(vm), body: body}, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// LoginVport logs a VM's vport in through its host's HBA; it is refused
// (409) when the WWPN is logged in anywhere.
func (c *Client) LoginVport(ctx context.Context, vm, wwpn string) error {
	return c.do(ctx, request{method: http.MethodPost, path: "/vms/" + seg(vm) + "/vports/" + seg(wwpn) + "/login", policy: onlyRefused}, nil)
}

// LogoutVport logs a VM's vport out of its fabric.
func (c *Client) LogoutVport(ctx context.Context, vm, wwpn string) error {
	return c.do(ctx, request{method: http.MethodPost, path: "/vms/" + seg(vm) + "/vports/" + seg(wwpn) + "/logout", policy: onlyRefused}, nil)
}

// The lab's routes (sanmobd --lab only; admin).

// InjectFault makes the next operations of a lab device fail or slow down.
func (c *Client) InjectFault(ctx context.Context, f LabFault) (*LabFault, error) {
	var out LabFault
	if err := c.do(ctx, request{method: http.MethodPost, path: "/lab/faults", body: f, policy: onlyRefused}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ListFaults returns the active injected faults.
func (c *Client) ListFaults(ctx context.Context) ([]LabFault, error) {
	return list[LabFault](ctx, c, "/lab/faults", nil)
}

// ClearFaults clears every injected fault.
func (c *Client) ClearFaults(ctx context.Context) error {
	return c.do(ctx, request{method: http.MethodDelete, path: "/lab/faults"}, nil)
}

// LabDeleteZone removes a zone on a lab switch behind sanmob's back.
func (c *Client) LabDeleteZone(ctx context.Context, fabric, zone string) error {
	return c.do(ctx, request{method: http.MethodDelete, path: "/lab/fabrics/" + seg(fabric) + "/zones/" + seg(zone)}, nil)
}

// LabMappings returns a lab array's own LUN maps.
func (c *Client) LabMappings(ctx context.Context, array string) ([]Mapping, error) {
	return list[Mapping](ctx, c, "/lab/arrays/"+seg(array)+"/mappings", nil)
}

// LabClock returns the lab's virtual clock.
func (c *Client) LabClock(ctx context.Context) (*LabClock, error) {
	var lc LabClock
	if err := c.do(ctx, get("/lab/clock", nil), &lc); err != nil {
		return nil, err
	}
	return &lc, nil
}
