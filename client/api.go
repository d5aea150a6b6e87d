package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
)

func get(path string, q url.Values) request {
	return request{method: http.MethodGet, path: path, query: q}
}

func filter(kv ...string) url.Values {
	q := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			q.Set(kv[i], kv[i+1])
		}
	}
	return q
}

// ListSites returns the sites.
func (c *Client) ListSites(ctx context.Context) ([]Site, error) {
	return list[Site](ctx, c, "/sites", nil)
}

// ListLinks returns the inter-site links.
func (c *Client) ListLinks(ctx context.Context) ([]Link, error) {
	return list[Link](ctx, c, "/links", nil)
}

// ListFabrics returns the fabrics.
func (c *Client) ListFabrics(ctx context.Context) ([]Fabric, error) {
	return list[Fabric](ctx, c, "/fabrics", nil)
}

// HostFilter narrows ListHosts.
type HostFilter struct{ Site string }

// ListHosts returns the hosts.
func (c *Client) ListHosts(ctx context.Context, f HostFilter) ([]Host, error) {
	return list[Host](ctx, c, "/hosts", filter("site", f.Site))
}

// GetHost returns one host.
func (c *Client) GetHost(ctx context.Context, id string) (*Host, error) {
	var h Host
	if err := c.do(ctx, get("/hosts/"+seg(id), nil), &h); err != nil {
		return nil, err
	}
	return &h, nil
}

// VMFilter narrows ListVMs.
type VMFilter struct{ Site, Host string }

// ListVMs returns the VMs.
func (c *Client) ListVMs(ctx context.Context, f VMFilter) ([]VM, error) {
	return list[VM](ctx, c, "/vms", filter("site", f.Site, "host", f.Host))
}

// GetVM returns one VM.
func (c *Client) GetVM(ctx context.Context, id string) (*VM, error) {
	var v VM
	if err := c.do(ctx, get("/vms/"+seg(id), nil), &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// Topology returns every path of a VM. With verify the daemon checks them
// against the devices (and names what differs in Issues).
func (c *Client) Topology(ctx context.Context, vm string, verify bool) (*Topology, error) {
	var q url.Values
	if verify {
		q = url.Values{"verify": {"true"}}
	}
	var t Topology
	if err := c.do(ctx, get("/vms/"+seg(vm)+"/topology", q), &t); err != nil {
		return nil, err
	}
	return &t, nil
}

// VolumeFilter narrows ListVolumes.
type VolumeFilter struct{ Array, Pool string }

// ListVolumes returns the volumes.
func (c *Client) ListVolumes(ctx context.Context, f VolumeFilter) ([]Volume, error) {
	return list[Volume](ctx, c, "/volumes", filter("array", f.Array, "pool", f.Pool))
}

// PoolFilter narrows ListPools.
type PoolFilter struct{ Array string }

// ListPools returns the thin pools.
func (c *Client) ListPools(ctx context.Context, f PoolFilter) ([]Pool, error) {
	return list[Pool](ctx, c, "/pools", filter("array", f.Array))
}

// ListAttachments returns the attachments (of one volume when volume is
// not empty).
func (c *Client) ListAttachments(ctx context.Context, volume string) ([]Attachment, error) {
	return list[Attachment](ctx, c, "/attachments", filter("volume", volume))
}

// CreateAttachment masks and zones volume to node (a host or a VM id). It
// is idempotent and retried like a read.
func (c *Client) CreateAttachment(ctx context.Context, volume, node string) (*Attachment, error) {
	var a Attachment
	body := map[string]string{"volume": volume, "node": node}
	if err := c.do(ctx, request{method: http.MethodPost, path: "/attachments", body: body}, &a); err != nil {
		return nil, err
	}
	return &a, nil
}

// DeleteAttachment undoes an attachment.
func (c *Client) DeleteAttachment(ctx context.Context, volume, node string) error {
	return c.do(ctx, request{method: http.MethodDelete, path: "/attachments/" + seg(volume) + "/" + seg(node)}, nil)
}

// ListSnapshots returns the snapshots (of one volume when volume is not
// empty).
func (c *Client) ListSnapshots(ctx context.Context, volume string) ([]Snapshot, error) {
	return list[Snapshot](ctx, c, "/snapshots", filter("volume", volume))
}

// Snapshot takes a consistent snapshot of all of a VM's volumes.
func (c *Client) Snapshot(ctx context.Context, vm, name string) ([]Snapshot, error) {
	var p page[Snapshot]
	body := map[string]string{"name": name}
	if err := c.do(ctx, request{method: http.MethodPost, path: "/vms/" + seg(vm) + "/snapshots", body: body, policy: onlyRefused}, &p); err != nil {
		return nil, err
	}
	return p.Items, nil
}

// ListMigrations returns the migrations.
func (c *Client) ListMigrations(ctx context.Context) ([]Migration, error) {
	return list[Migration](ctx, c, "/migrations", nil)
}

// GetMigration returns one migration.
func (c *Client) GetMigration(ctx context.Context, id string) (*Migration, error) {
	var m Migration
	if err := c.do(ctx, get("/migrations/"+seg(id), nil), &m); err != nil {
		return nil, err
	}
	return &m, nil
}

// PlanMigration asks for spec's plan without starting it (dryRun). A plan
// the daemon refuses is a 422 *Error with the Reasons.
func (c *Client) PlanMigration(ctx context.Context, spec MigrationSpec) (*Plan, error) {
	spec.DryRun = true
	var p Plan
	if err := c.do(ctx, request{method: http.MethodPost, path: "/migrations", body: spec}, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// CreateMigration starts a migration. With spec.DryRun it only plans:
// the Plan is returned and the Migration is nil.
func (c *Client) CreateMigration(ctx context.Context, spec MigrationSpec) (*Migration, *Plan, error) {
	if spec.DryRun {
		p, err := c.PlanMigration(ctx, spec)
		return nil, p, err
	}
	var m Migration
	if err := c.do(ctx, request{method: http.MethodPost, path: "/migrations", body: spec, policy: onlyRefused}, &m); err != nil {
		return nil, nil, err
	}
	return &m, nil, nil
}

// AbortMigration stops a migration and rolls it back.
func (c *Client) AbortMigration(ctx context.Context, id string) (*Migration, error) {
	var m Migration
	if err := c.do(ctx, request{method: http.MethodPost, path: "/migrations/" + seg(id) + "/abort", policy: onlyRefused}, &m); err != nil {
		return nil, err
	}
	return &m, nil
}

// MigrationEvents follows a migration's transitions. The first event is a
// "snapshot" with the migration as it is; the stream ends after the event
// of a terminal phase (at once for an ended migration). Closing the stream
// only stops following: the migration goes on.
func (c *Client) MigrationEvents(ctx context.Context, id string) (*Stream[MigrationEvent], error) {
	return stream(ctx, c, get("/migrations/"+seg(id)+"/events", nil), func(ev sseEvent) (MigrationEvent, bool, error) {
		var e MigrationEvent
		switch ev.Event {
		case "snapshot":
			var m Migration
			if err := json.Unmarshal([]byte(ev.Data), &m); err != nil {
				return e, false, fmt.Errorf("migration event %s: %w", ev.ID, err)
			}
			return MigrationEvent{Type: "snapshot", Migration: m.ID, State: m.Phase, At: m.UpdatedAt, Snapshot: &m}, true, nil
		case "step", "phase", "resync":
			if err := json.Unmarshal([]byte(ev.Data), &e); err != nil {
				return e, false, fmt.Errorf("migration event %s: %w", ev.ID, err)
			}
			if e.Type == "" {
				e.Type = ev.Event
			}
			return e, true, nil
		}
		return e, false, nil // unknown kinds are skipped, as new ones may come
	})
}

// Evacuate moves every VM off spec.Host.
func (c *Client) Evacuate(ctx context.Context, spec EvacuationSpec) (*Evacuation, error) {
	var e Evacuation
	if err := c.do(ctx, request{method: http.MethodPost, path: "/evacuations", body: spec, policy: onlyRefused}, &e); err != nil {
		return nil, err
	}
	return &e, nil
}

// GetEvacuation returns one evacuation.
func (c *Client) GetEvacuation(ctx context.Context, id string) (*Evacuation, error) {
	var e Evacuation
	if err := c.do(ctx, get("/evacuations/"+seg(id), nil), &e); err != nil {
		return nil, err
	}
	return &e, nil
}

// ListAlerts returns the active and recent alerts.
func (c *Client) ListAlerts(ctx context.Context) ([]Alert, error) {
	return list[Alert](ctx, c, "/alerts", nil)
}

// AlertEvents follows the alerts: a "snapshot" of the firing ones, then
// one "fired" or "resolved" event per change.
func (c *Client) AlertEvents(ctx context.Context) (*Stream[AlertEvent], error) {
	return stream(ctx, c, get("/alerts/stream", nil), func(ev sseEvent) (AlertEvent, bool, error) {
		var e AlertEvent
		if ev.Event == "message" {
			return e, false, nil
		}
		if err := json.Unmarshal([]byte(ev.Data), &e); err != nil {
			return e, false, fmt.Errorf("alert event %s: %w", ev.ID, err)
		}
		e.Type = ev.Event
		if e.Items == nil && ev.Event == "snapshot" {
			e.Items = []Alert{}
		}
		if ev.ID != "" && e.Seq == 0 {
			e.Seq, _ = strconv.ParseUint(ev.ID, 10, 64)
		}
		return e, true, nil
	})
}

// Reconcile compares a fabric's zoning with sanmob's model; with apply it
// repairs sanmob's own zones.
func (c *Client) Reconcile(ctx context.Context, fabric string, apply bool) (*ReconcileResult, error) {
	var q url.Values
	if apply {
		q = url.Values{"apply": {"true"}}
	}
	var r ReconcileResult
	if err := c.do(ctx, request{method: http.MethodPost, path: "/fabrics/" + seg(fabric) + "/reconcile", query: q}, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// HostQueueDepths returns a host's recommended queue depth per LUN.
func (c *Client) HostQueueDepths(ctx context.Context, host string) (*HostQueueDepths, error) {
	var h HostQueueDepths
	if err := c.do(ctx, get("/hosts/"+seg(host)+"/queue-depths", nil), &h); err != nil {
		return nil, err
	}
	return &h, nil
}

// WatchHostQueueDepths follows a host's recommendations: the current one,
// then each change.
func (c *Client) WatchHostQueueDepths(ctx context.Context, host string) (*Stream[HostQueueDepths], error) {
	r := get("/hosts/"+seg(host)+"/queue-depths", url.Values{"watch": {"true"}})
	return stream(ctx, c, r, func(ev sseEvent) (HostQueueDepths, bool, error) {
		var h HostQueueDepths
		if ev.Event != "snapshot" && ev.Event != "queue-depths" {
			return h, false, nil
		}
		if err := json.Unmarshal([]byte(ev.Data), &h); err != nil {
			return h, false, fmt.Errorf("queue-depths event %s: %w", ev.ID, err)
		}
		return h, true, nil
	})
}

// ListReplicationGroups returns the replication groups with their pairs.
func (c *Client) ListReplicationGroups(ctx context.Context) ([]ReplicationGroup, error) {
	return list[ReplicationGroup](ctx, c, "/replication/groups", nil)
}

// ListReplicationPairs returns the replicated volume pairs.
func (c *Client) ListReplicationPairs(ctx context.Context) ([]ReplicationPair, error) {
	return list[ReplicationPair](ctx, c, "/replication/pairs", nil)
}
