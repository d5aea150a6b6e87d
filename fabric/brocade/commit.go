package brocade

import (
	"context"
	"fmt"
	"net/http"
	"slices"

	"github.com/sanmob/sanmob/fabric"
)

// Commit applies txn as one FOS zoning transaction:
//
//  1. the switch's checksum must still be txn.Checksum, or ErrConflict
//     before anything is sent;
//  2. edits: deleted and replaced zones leave every configuration holding
//     them and the defined configuration; the Put zones are created and
//     join the effective configuration (txn.Cfg when there is none), the
//     replaced ones also rejoining the other configurations they were in;
//  3. one enable carrying txn.Checksum saves and activates all of it — so
//     that the switch refuses it whole if someone committed meanwhile. With
//     no effective configuration and nothing put, a save instead.
//
// Once the first edit is sent, any failure aborts the transaction before
// Commit returns. The enable is never resent after a timeout or a lost
// connection: it may have been applied, and the caller reads back.
func (d *Driver) Commit(ctx context.Context, txn fabric.Txn) (string, error) {
	if err := checkTxn(txn); err != nil {
		return "", err
	}
	d.zoneMu.Lock()
	defer d.zoneMu.Unlock()
	if err := d.settle(ctx); err != nil {
		return "", err
	}
	eff, err := d.effective(ctx)
	if err != nil {
		return "", err
	}
	if eff.Checksum != txn.Checksum {
		return "", fmt.Errorf("%w: brocade: the zone DB's checksum is %s, the transaction was planned against %s",
			fabric.ErrConflict, eff.Checksum, txn.Checksum)
	}
	def, err := d.defined(ctx)
	if err != nil {
		return "", err
	}
	p, err := makePlan(def, eff.CfgName, txn)
	if err != nil {
		return "", err
	}
	edits := p.edits()
	if len(edits) == 0 {
		return eff.Checksum, nil
	}
	if err := d.apply(ctx, p.cfg, edits, txn.Checksum); err != nil {
		// The caller's context may be what failed; the abort must still
		// run, or the fabric lock stays held until it times out.
		if aerr := d.abort(context.WithoutCancel(ctx)); aerr != nil {
			d.log.WithError(aerr).Warn("brocade: abort after a failed commit failed; it is retried before the next zone operation")
		}
		return "", err
	}
	sum, err := d.ZoneDBChecksum(ctx)
	if err != nil {
		return "", fmt.Errorf("%w: brocade: committed, but reading the new checksum failed: %w", fabric.ErrUnavailable, err)
	}
	return sum, nil
}

// apply sends the edits and the enable of cfg ("" saves instead). Call with
// zoneMu held.
func (d *Driver) apply(ctx context.Context, cfg string, edits []edit, checksum string) error {
	d.open = true
	for _, e := range edits {
		if err := d.do(ctx, e.method, resDefined, definedBody(e.body), nil); err != nil {
			return err
		}
	}
	end := effectivePatch{CfgName: cfg, Checksum: checksum}
	if cfg == "" {
		end.CfgAction = 1
	}
	if err := d.do(ctx, http.MethodPatch, resEffective, effectiveBody(end), nil); err != nil {
		return err
	}
	d.open = false
	return nil
}

// checkTxn refuses what the switch would, before the fabric is locked.
func checkTxn(txn fabric.Txn) error {
	if txn.Checksum == "" {
		return fmt.Errorf("%w: brocade: the transaction has no checksum; plan it against a zone DB read", fabric.ErrInvalid)
	}
	put := make(map[string]bool, len(txn.Put))
	for _, z := range txn.Put {
		if err := fabric.CheckZoneName(z.Name); err != nil {
			return fmt.Errorf("brocade: %w", err)
		}
		if put[z.Name] {
			return fmt.Errorf("%w: brocade: zone %s is put twice", fabric.ErrInvalid, z.Name)
		}
		put[z.Name] = true
		if len(z.Members) == 0 {
			return fmt.Errorf("%w: brocade: zone %s has no members", fabric.ErrInvalid, z.Name)
		}
		all := slices.Concat(z.Members, z.Principals)
		for i, w := range all {
			if w.IsZero() {
				return fmt.Errorf("%w: brocade: zone %s has a zero WWN", fabric.ErrInvalid, z.Name)
			}
			if slices.Contains(all[:i], w) {
				return fmt.Errorf("%w: brocade: zone %s lists %s twice", fabric.ErrInvalid, z.Name, w)
			}
		}
	}
	for _, n := range txn.Delete {
		if put[n] {
			return fmt.Errorf("%w: brocade: zone %s is both put and deleted", fabric.ErrInvalid, n)
		}
	}
	return nil
}

// plan is a transaction's edits, in the order FOS accepts them: a zone
// leaves its configurations before it is deleted, exists before it joins.
type plan struct {
	cfg    string      // the configuration to enable; "" to save only
	unlink []cfgEntry  // zones leaving configurations
	drop   []zoneEntry // zones deleted
	create []zoneEntry
	link   []cfgEntry // zones joining configurations
}

type edit struct {
	method string
	body   definedConfiguration
}

func (p plan) edits() []edit {
	var es []edit
	if len(p.unlink) > 0 {
		es = append(es, edit{http.MethodDelete, definedConfiguration{Cfgs: p.unlink}})
	}
	if len(p.drop) > 0 {
		es = append(es, edit{http.MethodDelete, definedConfiguration{Zones: p.drop}})
	}
	if len(p.create) > 0 {
		es = append(es, edit{http.MethodPost, definedConfiguration{Zones: p.create}})
	}
	if len(p.link) > 0 {
		es = append(es, edit{http.MethodPost, definedConfiguration{Cfgs: p.link}})
	}
	return es
}

// makePlan plans txn against the defined configuration and the effective
// configuration's name. Delete names that are not defined are skipped.
func makePlan(def definedConfiguration, effective string, txn fabric.Txn) (plan, error) {
	defined := make(map[string]bool, len(def.Zones))
	for _, z := range def.Zones {
		defined[z.Name] = true
	}
	p := plan{cfg: effective}
	if p.cfg == "" && len(txn.Put) > 0 {
		if err := fabric.CheckZoneName(txn.Cfg); err != nil {
			return plan{}, fmt.Errorf("brocade: Txn.Cfg, the configuration to create: %w", err)
		}
		p.cfg = txn.Cfg
	}
	gone := map[string]bool{}     // zones deleted
	replaced := map[string]bool{} // of those, the ones put again
	for _, n := range txn.Delete {
		if defined[n] && !gone[n] {
			gone[n] = true
			p.drop = append(p.drop, zoneEntry{Name: n})
		}
	}
	put := make(list[string], 0, len(txn.Put))
	for _, z := range txn.Put {
		put = append(put, z.Name)
		p.create = append(p.create, toZoneEntry(z))
		if defined[z.Name] {
			gone[z.Name], replaced[z.Name] = true, true
			p.drop = append(p.drop, zoneEntry{Name: z.Name})
		}
	}
	remaining := 0 // zones of the effective configuration that stay
	for _, c := range def.Cfgs {
		if c.Members == nil {
			continue
		}
		var out, back list[string]
		for _, z := range c.Members.Zones {
			switch {
			case !gone[z]:
				if c.Name == effective {
					remaining++
				}
				continue
			case replaced[z] && c.Name != p.cfg:
				back = append(back, z)
			}
			out = append(out, z)
		}
		if len(out) > 0 {
			p.unlink = append(p.unlink, cfgEntry{Name: c.Name, Members: &memberZone{Zones: out}})
		}
		if len(back) > 0 {
			p.link = append(p.link, cfgEntry{Name: c.Name, Members: &memberZone{Zones: back}})
		}
	}
	if effective != "" && remaining+len(put) == 0 {
		return plan{}, fmt.Errorf("%w: brocade: the transaction would leave the effective configuration %s without zones: "+
			"FOS cannot enable an empty configuration, and disabling it would fall back to default-zone access", fabric.ErrInvalid, effective)
	}
	if len(put) > 0 {
		p.link = append(p.link, cfgEntry{Name: p.cfg, Members: &memberZone{Zones: put}})
	}
	return p, nil
}
