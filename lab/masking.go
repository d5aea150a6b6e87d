package lab

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/sanmob/sanmob/array"
	"github.com/sanmob/sanmob/fabric/wwn"
)

// Map presents a volume to a host group; see array.Driver. A lab host group
// is a masking view: its initiators and its target ports are the group's,
// shared by all its LUNs, so a Map that names other target ports moves the
// group's other LUNs to them too, as it does with the initiators.
func (a *Array) Map(ctx context.Context, spec array.MapSpec) error {
	applyThenFail, faultErr := a.w.fault(ctx, array.ErrUnavailable, OpMask, a.id)
	if faultErr != nil && !applyThenFail {
		return faultErr
	}
	inits, ports, err := checkMapSpec(spec)
	if err != nil {
		return fmt.Errorf("lab: array %s: %w", a.id, err)
	}
	now := a.lock()
	if err := a.mapVolume(spec, inits, ports); err != nil {
		a.mu.Unlock()
		return err
	}
	if err := a.unlockPersist(&op{Kind: opMap, Dev: a.id, At: now, Map: &spec}); err != nil {
		return err
	}
	return faultErr
}

// checkMapSpec checks what needs no state and returns the initiators and
// target ports without repeats.
func checkMapSpec(spec array.MapSpec) (inits, ports []wwn.WWN, err error) {
	if err := checkID("volume id", spec.Volume); err != nil {
		return nil, nil, err
	}
	if err := checkID("host group", spec.HostGroup); err != nil {
		return nil, nil, err
	}
	if spec.LUN < 0 || spec.LUN > array.MaxLUN {
		return nil, nil, fmt.Errorf("LUN id %d is outside 0-%d: %w", spec.LUN, array.MaxLUN, array.ErrInvalid)
	}
	inits, ports = distinct(spec.Initiators), distinct(spec.TargetPorts)
	switch {
	case len(inits) == 0:
		return nil, nil, fmt.Errorf("host group %s: no initiators: %w", spec.HostGroup, array.ErrInvalid)
	case len(ports) == 0:
		return nil, nil, fmt.Errorf("host group %s: no target ports: %w", spec.HostGroup, array.ErrInvalid)
	case slices.Contains(inits, wwn.WWN{}) || slices.Contains(ports, wwn.WWN{}):
		return nil, nil, fmt.Errorf("host group %s: a zero WWN: %w", spec.HostGroup, array.ErrInvalid)
	}
	return inits, ports, nil
}

// distinct returns ws without repeats, in their order, in a fresh slice.
func distinct(ws []wwn.WWN) []wwn.WWN {
	out := make([]wwn.WWN, 0, len(ws))
	for _, w := range ws {
		if !slices.Contains(out, w) {
			out = append(out, w)
		}
	}
	return out
}

// sameWWNs reports whether a and b, each without repeats, hold the same WWNs.
func sameWWNs(a, b []wwn.WWN) bool {
	if len(a) != len(b) {
		return false
	}
	for _, w := range a {
		if !slices.Contains(b, w) {
			return false
		}
	}
	return true
}

// mapVolume checks the map against the array, then applies it. The caller
// holds a.mu for writing.
func (a *Array) mapVolume(spec array.MapSpec, inits, ports []wwn.WWN) error {
	ix := a.index()
	vi, ok := ix.vols[spec.Volume]
	if !ok {
		return fmt.Errorf("lab: array %s has no volume %q: %w", a.id, spec.Volume, array.ErrNotFound)
	}
	for _, p := range ports {
		if !slices.ContainsFunc(a.ports, func(t array.TargetPort) bool { return t.WWPN == p }) {
			return fmt.Errorf("lab: array %s has no target port %s: %w", a.id, p, array.ErrNotFound)
		}
	}
	g, exists := ix.groups[spec.HostGroup]
	if !exists {
		g = -1
	}
	for _, p := range inits {
		if o, ok := ix.owner[p]; ok && o != g {
			return fmt.Errorf("lab: array %s: initiator %s belongs to host group %s, not %s: %w",
				a.id, p, a.groups[o].name, spec.HostGroup, array.ErrConflict)
		}
	}
	lun := int32(spec.LUN)
	if exists {
		if other, ok := ix.volAt[pair{g, lun}]; ok && other != vi {
			return fmt.Errorf("lab: array %s: host group %s presents volume %s as LUN %d: %w",
				a.id, spec.HostGroup, a.vols[other].id, lun, array.ErrConflict)
		}
		if k, ok := ix.mapAt[pair{g, vi}]; ok && a.luns[k].lun != lun {
			return fmt.Errorf("lab: array %s: host group %s presents volume %s as LUN %d, not %d: %w",
				a.id, spec.HostGroup, spec.Volume, a.luns[k].lun, lun, array.ErrConflict)
		}
	}

	if !exists {
		g = int32(len(a.groups))
		a.groups = append(a.groups, hostGroup{name: strings.Clone(spec.HostGroup)})
		ix.groups[a.groups[g].name] = g
		ix.maps = append(ix.maps, 0)
	}
	hg := &a.groups[g]
	if !exists || !sameWWNs(hg.wwpns[:hg.nInit], inits) || !sameWWNs(hg.wwpns[hg.nInit:], ports) {
		for _, p := range hg.wwpns[:hg.nInit] {
			delete(ix.owner, p)
		}
		hg.wwpns, hg.nInit = slices.Concat(inits, ports), len(inits)
		for _, p := range inits {
			ix.owner[p] = g
		}
	}
	if _, ok := ix.mapAt[pair{g, vi}]; !ok {
		ix.mapAt[pair{g, vi}] = int32(len(a.luns))
		ix.volAt[pair{g, lun}] = vi
		ix.maps[g]++
		a.luns = append(a.luns, lunMap{vol: vi, group: g, lun: lun, writable: true})
		a.vols[vi].maps++
	}
	return nil
}

// Unmap removes a volume's map from a host group and deletes the group
// when that was its last; see array.Driver.
func (a *Array) Unmap(ctx context.Context, volume, hostGroup string) error {
	applyThenFail, faultErr := a.w.fault(ctx, array.ErrUnavailable, OpMask, a.id)
	if faultErr != nil && !applyThenFail {
		return faultErr
	}
	if err := checkID("volume id", volume); err != nil {
		return fmt.Errorf("lab: array %s: %w", a.id, err)
	}
	if err := checkID("host group", hostGroup); err != nil {
		return fmt.Errorf("lab: array %s: %w", a.id, err)
	}
	now := a.lock()
	var o *op
	if a.unmap(volume, hostGroup) {
		o = &op{Kind: opUnmap, Dev: a.id, At: now, ID: volume, Group: hostGroup}
	}
	if err := a.unlockPersist(o); err != nil {
		return err
	}
	return faultErr
}

func (a *Array) unmap(volume, hostGroup string) (changed bool) {
	ix := a.index()
	g, ok := ix.groups[hostGroup]
	vi, ok2 := ix.vols[volume]
	if !ok || !ok2 {
		return false
	}
	k, ok := ix.mapAt[pair{g, vi}]
	if !ok {
		return false
	}
	// The last map takes the place of this one: O(1) on an array of any
	// size, at the cost of the maps' listing order.
	delete(ix.mapAt, pair{g, vi})
	delete(ix.volAt, pair{g, a.luns[k].lun})
	last := int32(len(a.luns) - 1)
	if k != last {
		m := a.luns[last]
		a.luns[k] = m
		ix.mapAt[pair{m.group, m.vol}] = k
	}
	a.luns = a.luns[:last]
	a.vols[vi].maps--
	ix.maps[g]--
	if ix.maps[g] == 0 {
		hg := &a.groups[g]
		for _, p := range hg.wwpns[:hg.nInit] {
			delete(ix.owner, p)
		}
		delete(ix.groups, hostGroup)
		hg.wwpns, hg.nInit = nil, 0
	}
	return true
}
