package inventory

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/sanmob/sanmob/array"
	"github.com/sanmob/sanmob/devices"
	"github.com/sanmob/sanmob/fabric/wwn"
)

// pathTable is one VM's paths as traced through its fabrics and arrays,
// kept so that the next answer for the VM does not trace them again: tracing
// looks a VM's WWPNs and volumes up in fabric and array indexes of hundreds
// of thousands of entries, and on a large inventory each of those lookups
// is a cache miss.
//
// A table is valid while everything it was traced from is unchanged: the VM,
// host and volume records (the inventory never changes a record in place; a
// change puts a new one), and the path generation of each fabric and array
// read (equal across reads that agree on zones, logins, ports and masking).
// Its paths hold no pointers, so the GC does not scan them.
type pathTable struct {
	vm     *VM
	host   *Host
	vols   []*Volume // obs.vols when traced
	gens   []uint64  // path generations of obs.fabrics, then of obs.arrays
	ports  []portState
	paths  []tablePath // in answer order
	issues []string
}

// portState is what the fabric said of one of the VM's vports
// (index-aligned with VM.Vports).
type portState struct {
	hba      wwn.WWN
	loggedIn bool
}

// tablePath is one Path in compact form: the rest of it comes from the VM
// record and the fabric's zone DB.
type tablePath struct {
	target wwn.WWN
	zone   int32 // position in the fabric's zone DB
	lun    int32
	vport  uint16 // position in VM.Vports (two per fabric at most)
	vol    uint16 // position in VM.Volumes (16,384 at most: one per LUN id)
}

// gensOf lists the path generations of obs's devices; 0 for one never read.
func gensOf(obs *observed) []uint64 {
	g := make([]uint64, 0, len(obs.fabrics)+len(obs.arrays))
	for _, f := range obs.fabrics {
		g = append(g, f.o.Gen())
	}
	for _, a := range obs.arrays {
		g = append(g, a.o.Gen())
	}
	return g
}

// fits reports whether t was traced from the same state as obs.
func (t *pathTable) fits(vm *VM, host *Host, obs *observed) bool {
	if t.vm != vm || t.host != host || len(t.gens) != len(obs.fabrics)+len(obs.arrays) || !slices.Equal(t.vols, obs.vols) {
		return false
	}
	for i, f := range obs.fabrics {
		if t.gens[i] != f.o.Gen() {
			return false
		}
	}
	for i, a := range obs.arrays {
		if t.gens[len(obs.fabrics)+i] != a.o.Gen() {
			return false
		}
	}
	return true
}

// pathTableOf returns the VM's path table, tracing it afresh unless the one
// kept still fits; s.mu is held (read).
func (s *Inventory) pathTableOf(vm *VM, host *Host, obs *observed) *pathTable {
	s.tablesMu.Lock()
	t := s.tables[vm.ID]
	s.tablesMu.Unlock()
	if t != nil && t.fits(vm, host, obs) {
		return t
	}
	t = tracePaths(vm, host, obs)
	s.tablesMu.Lock()
	s.tables[vm.ID] = t
	s.tablesMu.Unlock()
	return t
}

// forgetPaths drops a deleted VM's table.
func (s *Inventory) forgetPaths(vmID string) {
	s.tablesMu.Lock()
	delete(s.tables, vmID)
	s.tablesMu.Unlock()
}

// paths expands the table into the answer's paths, reading zone names
// from obs (the same zone DB the table was traced from, since it fits).
func (t *pathTable) expand(vm *VM, obs *observed) []Path {
	out := make([]Path, len(t.paths))
	for i, tp := range t.paths {
		p, ps, rec := &vm.Vports[tp.vport], t.ports[tp.vport], obs.vols[tp.vol]
		out[i] = Path{
			Fabric: p.Fabric, Set: p.Set, Active: p.Active, LoggedIn: ps.loggedIn, VportWWPN: p.WWPN, HBAWWPN: ps.hba,
			Zone: obs.fabric(p.Fabric).DB.Zones[tp.zone].Name, TargetPortWWPN: tp.target,
			Array: rec.Array, Volume: vm.Volumes[tp.vol].ID, LUN: int(tp.lun),
		}
	}
	return out
}

// tracePaths walks VM → vport → fabric → zone → target port → array →
// volume → LUN over one set of observations and lists what is wrong or
// missing on the way.
func tracePaths(vm *VM, host *Host, obs *observed) *pathTable {
	t := &pathTable{vm: vm, host: host, vols: slices.Clone(obs.vols), gens: gensOf(obs), ports: make([]portState, len(vm.Vports))}
	// Every mapping of the VM's volumes, read once rather than per vport.
	type volMap struct {
		a  *devices.ArrayObs
		m  *array.Mapping
		vi int
	}
	var volMaps, masking []volMap
	for i, r := range vm.Volumes {
		rec := obs.vols[i]
		if rec == nil {
			continue
		}
		if a := obs.array(rec.Array); a != nil {
			_, _, info := a.Volume(r.ID)
			for _, mi := range a.MappingsOf(info) {
				volMaps = append(volMaps, volMap{a, &a.Mappings[mi], i})
			}
		}
	}
	reached := make([]bool, len(vm.Volumes)) // through the current vport
	t.paths = make([]tablePath, 0, 2*len(vm.Vports)*len(vm.Volumes))
	// Paths are ordered by volume id, fabric, set and target port. The
	// first three are ranked once here, so that the sort compares integers.
	volRank := ranks(len(vm.Volumes), func(i, j int) int { return strings.Compare(vm.Volumes[i].ID, vm.Volumes[j].ID) })
	vportRank := ranks(len(vm.Vports), func(i, j int) int {
		return cmp.Or(strings.Compare(vm.Vports[i].Fabric, vm.Vports[j].Fabric), strings.Compare(vm.Vports[i].Set, vm.Vports[j].Set))
	})
	keys := make([]pathKey, 0, cap(t.paths))
	for pi, p := range vm.Vports {
		fo := obs.fabric(p.Fabric)
		if fo == nil {
			t.issues = append(t.issues, fmt.Sprintf("fabric %s has not been read; vport %s unverified", p.Fabric, p.WWPN))
			continue
		}
		login, loggedIn, zones := fo.Port(p.WWPN)
		hba := login.PhysicalWWPN
		if !loggedIn && host != nil {
			for _, b := range host.HBAs {
				if b.Fabric == p.Fabric {
					hba = b.WWPN
					break
				}
			}
		}
		t.ports[pi] = portState{hba: hba, loggedIn: loggedIn}
		switch {
		case p.Active && !loggedIn:
			t.issues = append(t.issues, fmt.Sprintf("active vport %s (set %s) is not logged in to fabric %s", p.WWPN, p.Set, p.Fabric))
		case loggedIn && host != nil && !hostHasHBA(host, login.PhysicalWWPN):
			t.issues = append(t.issues, fmt.Sprintf("vport %s is logged in through %s, which is not an HBA of host %s", p.WWPN, login.PhysicalWWPN, host.ID))
		}
		clear(reached)
		// The mappings of the VM's volumes that present to this vport.
		masking = masking[:0]
		for _, c := range volMaps {
			if slices.Contains(c.m.Initiators, p.WWPN) {
				masking = append(masking, c)
			}
		}
		peer := func(zi int32, m wwn.WWN) {
			if m == p.WWPN {
				return
			}
			for _, vmp := range masking {
				a, mp, vi := vmp.a, vmp.m, vmp.vi
				if _, isPort := a.PortIdx[m]; !isPort || !presentsThrough(*mp, m) {
					continue
				}
				if lun := vm.Volumes[vi].LUN; lun != mp.LUN {
					t.issues = append(t.issues, fmt.Sprintf("volume %s is presented to %s as LUN %d, the inventory says LUN %d", mp.Volume, p.WWPN, mp.LUN, lun))
				}
				reached[vi] = true
				keys = append(keys, pathKey{uint32(volRank[vi])<<16 | uint32(vportRank[pi]), m.Uint64()})
				t.paths = append(t.paths, tablePath{target: m, zone: zi, lun: int32(mp.LUN), vport: uint16(pi), vol: uint16(vi)})
			}
		}
		for _, zi := range zones {
			z := &fo.DB.Zones[zi]
			for _, m := range z.Principals {
				peer(zi, m)
			}
			for _, m := range z.Members {
				peer(zi, m)
			}
		}
		for i, r := range vm.Volumes {
			if rec := obs.vols[i]; rec != nil && obs.array(rec.Array) != nil && !reached[i] {
				t.issues = append(t.issues, fmt.Sprintf("volume %s has no path through vport %s (set %s) on fabric %s: not zoned to a presenting port, or not masked", r.ID, p.WWPN, p.Set, p.Fabric))
			}
		}
	}
	sortPaths(t.paths, keys)
	return t
}
