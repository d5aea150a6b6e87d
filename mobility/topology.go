package mobility

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sanmob/sanmob/array"
	"github.com/sanmob/sanmob/fabric/wwn"
)

// Path is one way a VM reaches one of its volumes: a vport on a fabric,
// through a zone, to an array target port that presents the volume under a
// LUN id.
type Path struct {
	Fabric         string  `json:"fabric"`
	Set            string  `json:"set"`
	Active         bool    `json:"active"`
	LoggedIn       bool    `json:"loggedIn"`
	VportWWPN      wwn.WWN `json:"vportWWPN"`
	HBAWWPN        wwn.WWN `json:"hbaWWPN,omitzero"`
	Zone           string  `json:"zone"`
	TargetPortWWPN wwn.WWN `json:"targetPortWWPN"`
	Array          string  `json:"array"`
	Volume         string  `json:"volume"`
	LUN            int     `json:"lun"`
}

// TopologyVolume is one of the VM's volumes with its device facts.
type TopologyVolume struct {
	ID        string           `json:"id"`
	Array     string           `json:"array"`
	Pool      string           `json:"pool"`
	LUN       int              `json:"lun"`
	WWN       string           `json:"wwn"`
	SizeBytes int64            `json:"sizeBytes"`
	UsedBytes int64            `json:"usedBytes"`
	Snapshots []array.Snapshot `json:"snapshots"`
	Replica   *Replica         `json:"replica,omitempty"`
}

// Replica is a volume's replication partner (filled by the replication
// package once it exists).
type Replica struct {
	Array    string `json:"array"`
	Volume   string `json:"volume"`
	State    string `json:"state"`
	LagBytes int64  `json:"lagBytes"`
}

// Topology answers "which host, which HBA, which zone, which array port,
// which LUN" for a VM. Issues lists every place where the model and the
// devices disagree or a path is incomplete; Source says whether the answer
// came from the observed model or from a fresh read of the devices.
type Topology struct {
	VM         string           `json:"vm"`
	Host       string           `json:"host"`
	Site       string           `json:"site"`
	Paths      []Path           `json:"paths"`
	Volumes    []TopologyVolume `json:"volumes"`
	Issues     []string         `json:"issues"`
	Source     string           `json:"source"` // model | devices
	ObservedAt time.Time        `json:"observedAt"`
}

// Topology walks VM → vport → fabric → zone → target port → array → volume →
// LUN. It answers from the observed model unless verify is set or the model
// is unsure about this VM (its record changed after the devices were last
// read, or one of its devices' last read failed); then it reads those
// devices afresh first.
func (s *Service) Topology(ctx context.Context, vmID string, verify bool) (Topology, error) {
	s.mu.RLock()
	vm, ok := s.vms[vmID]
	if !ok {
		s.mu.RUnlock()
		return Topology{}, notFound("vm", vmID)
	}
	fabs, arrs := s.devicesOf(vm)
	unsure := verify
	for f := range fabs {
		o, st := s.fabrics[f].obs.Load(), s.fabrics[f].status.Load()
		if o == nil || vm.UpdatedAt.After(o.at) || st != nil && st.err != nil {
			unsure = true
		}
	}
	for a := range arrs {
		o, st := s.arrays[a].obs.Load(), s.arrays[a].status.Load()
		if o == nil || vm.UpdatedAt.After(o.at) || st != nil && st.err != nil {
			unsure = true
		}
	}
	s.mu.RUnlock()

	var issues []string
	fobs := make(map[string]*fabricObs, len(fabs))
	aobs := make(map[string]*arrayObs, len(arrs))
	source := "model"
	if unsure {
		source = "devices"
		issues = s.readFresh(ctx, fabs, arrs, fobs, aobs)
	}
	for f := range fabs {
		if fobs[f] == nil {
			fobs[f] = s.fabrics[f].obs.Load()
		}
	}
	for a := range arrs {
		if aobs[a] == nil {
			aobs[a] = s.arrays[a].obs.Load()
		}
	}

	s.mu.RLock()
	defer s.mu.RUnlock()
	vm, ok = s.vms[vmID]
	if !ok {
		return Topology{}, notFound("vm", vmID)
	}
	t := s.walk(vm, fobs, aobs)
	t.Issues = append(issues, t.Issues...)
	t.Source = source
	if co := s.computeObs.Load(); co != nil {
		if i, ok := co.vmIdx[vm.ID]; !ok {
			t.Issues = append(t.Issues, "the hypervisor manager does not know this VM")
		} else if h := co.vms[i].Host; h != vm.Host {
			t.Issues = append(t.Issues, fmt.Sprintf("the hypervisor manager reports the VM on host %q, the inventory on %q", h, vm.Host))
		}
	}
	return t, nil
}

// devicesOf lists the fabrics and arrays a VM's topology touches: those of
// its vports and its volumes, plus every array at a site of its fabrics
// (a zone may lead to any of them).
func (s *Service) devicesOf(vm *VM) (map[string]bool, map[string]bool) {
	fabs, arrs := map[string]bool{}, map[string]bool{}
	sites := map[string]bool{}
	for _, p := range vm.Vports {
		if f := s.fabrics[p.Fabric]; f != nil {
			fabs[p.Fabric] = true
			sites[f.Site] = true
		}
	}
	for _, r := range vm.Volumes {
		if v := s.volumes[r.ID]; v != nil && s.arrays[v.Array] != nil {
			arrs[v.Array] = true
		}
	}
	for _, id := range s.arrIDs {
		if sites[s.arrays[id].Site] {
			arrs[id] = true
		}
	}
	return fabs, arrs
}

// readFresh reads the named devices now, in parallel, and stores what it
// read as their newest observation. Devices that fail are reported as issues
// and answered from the model.
func (s *Service) readFresh(ctx context.Context, fabs, arrs map[string]bool, fobs map[string]*fabricObs, aobs map[string]*arrayObs) []string {
	var mu sync.Mutex
	var issues []string
	var wg sync.WaitGroup
	for id := range fabs {
		f := s.fabrics[id]
		wg.Go(func() {
			c, cancel := context.WithTimeout(ctx, s.cfg.DriverTimeout)
			defer cancel()
			o, err := readFabric(c, f.Driver, s.clk.Now())
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				issues = append(issues, fmt.Sprintf("fabric %s could not be read (%v); answered from the model", id, err))
				return
			}
			fobs[id] = o
			storeNewer(&f.obs, o, fabricObsAt)
		})
	}
	for id := range arrs {
		a := s.arrays[id]
		wg.Go(func() {
			c, cancel := context.WithTimeout(ctx, s.cfg.DriverTimeout)
			defer cancel()
			o, err := readArray(c, a.Driver, s.clk.Now())
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				issues = append(issues, fmt.Sprintf("array %s could not be read (%v); answered from the model", id, err))
				return
			}
			aobs[id] = o
			storeNewer(&a.obs, o, arrayObsAt)
		})
	}
	wg.Wait()
	sort.Strings(issues)
	return issues
}

// storeNewer replaces an observation unless a newer one got there first.
func storeNewer[T any](p *atomic.Pointer[T], o *T, at func(*T) time.Time) {
	for {
		cur := p.Load()
		if cur != nil && at(cur).After(at(o)) {
			return
		}
		if p.CompareAndSwap(cur, o) {
			return
		}
	}
}

func fabricObsAt(o *fabricObs) time.Time { return o.at }
func arrayObsAt(o *arrayObs) time.Time   { return o.at }

// walk builds the topology from one set of observations; s.mu is held.
func (s *Service) walk(vm *VM, fobs map[string]*fabricObs, aobs map[string]*arrayObs) Topology {
	t := Topology{VM: vm.ID, Host: vm.Host, Site: vm.Site, Paths: []Path{}, Volumes: []TopologyVolume{}, Issues: []string{}}
	var oldest time.Time
	note := func(at time.Time) {
		if oldest.IsZero() || at.Before(oldest) {
			oldest = at
		}
	}
	for _, o := range fobs {
		if o != nil {
			note(o.at)
		}
	}
	for _, o := range aobs {
		if o != nil {
			note(o.at)
		}
	}
	t.ObservedAt = oldest

	// the VM's volumes, by array
	lunOf := map[string]int{}
	volArray := map[string]string{}
	for _, r := range vm.Volumes {
		lunOf[r.ID] = r.LUN
		tv := TopologyVolume{ID: r.ID, LUN: r.LUN, Snapshots: []array.Snapshot{}}
		rec := s.volumes[r.ID]
		if rec == nil {
			t.Issues = append(t.Issues, fmt.Sprintf("volume %s is not in the inventory", r.ID))
			t.Volumes = append(t.Volumes, tv)
			continue
		}
		tv.Array, tv.Pool, tv.WWN, tv.SizeBytes = rec.Array, rec.Pool, rec.WWN, rec.SizeBytes
		volArray[r.ID] = rec.Array
		if o := aobs[rec.Array]; o != nil {
			if dv, ok := o.volume(r.ID); ok {
				tv.UsedBytes, tv.Pool, tv.SizeBytes = dv.UsedBytes, dv.Pool, dv.SizeBytes
				tv.Snapshots = append(tv.Snapshots, o.snapsByVol[r.ID]...)
			} else {
				t.Issues = append(t.Issues, fmt.Sprintf("array %s no longer reports volume %s", rec.Array, r.ID))
			}
		}
		t.Volumes = append(t.Volumes, tv)
	}

	host := s.hosts[vm.Host]
	for _, p := range vm.Vports {
		fo := fobs[p.Fabric]
		if fo == nil {
			t.Issues = append(t.Issues, fmt.Sprintf("fabric %s has not been read; vport %s unverified", p.Fabric, p.WWPN))
			continue
		}
		login, loggedIn := fo.login(p.WWPN)
		hba := login.PhysicalWWPN
		if !loggedIn && host != nil {
			for _, b := range host.HBAs {
				if b.Fabric == p.Fabric {
					hba = b.WWPN
					break
				}
			}
		}
		switch {
		case p.Active && !loggedIn:
			t.Issues = append(t.Issues, fmt.Sprintf("active vport %s (set %s) is not logged in to fabric %s", p.WWPN, p.Set, p.Fabric))
		case loggedIn && host != nil && !hostHasHBA(host, login.PhysicalWWPN):
			t.Issues = append(t.Issues, fmt.Sprintf("vport %s is logged in through %s, which is not an HBA of host %s", p.WWPN, login.PhysicalWWPN, host.ID))
		}
		reached := map[string]bool{} // volumes reachable through this vport
		for _, zi := range fo.zonesByMember[p.WWPN] {
			z := fo.db.Zones[zi]
			for _, m := range append(append([]wwn.WWN(nil), z.Principals...), z.Members...) {
				if m == p.WWPN {
					continue
				}
				for aid, ao := range aobs {
					if ao == nil {
						continue
					}
					if _, isPort := ao.portIdx[m]; !isPort {
						continue
					}
					for _, mi := range ao.mapsByInit[p.WWPN] {
						mp := ao.mappings[mi]
						if volArray[mp.Volume] != aid || !presentsThrough(mp, m) {
							continue
						}
						if lun, mine := lunOf[mp.Volume]; mine && lun != mp.LUN {
							t.Issues = append(t.Issues, fmt.Sprintf("volume %s is presented to %s as LUN %d, the inventory says LUN %d", mp.Volume, p.WWPN, mp.LUN, lun))
						}
						reached[mp.Volume] = true
						t.Paths = append(t.Paths, Path{
							Fabric: p.Fabric, Set: p.Set, Active: p.Active, LoggedIn: loggedIn, VportWWPN: p.WWPN, HBAWWPN: hba,
							Zone: z.Name, TargetPortWWPN: m, Array: aid, Volume: mp.Volume, LUN: mp.LUN,
						})
					}
				}
			}
		}
		for _, r := range vm.Volumes {
			if volArray[r.ID] != "" && aobs[volArray[r.ID]] != nil && !reached[r.ID] {
				t.Issues = append(t.Issues, fmt.Sprintf("volume %s has no path through vport %s (set %s) on fabric %s: not zoned to a presenting port, or not masked", r.ID, p.WWPN, p.Set, p.Fabric))
			}
		}
	}
	sort.Slice(t.Paths, func(i, j int) bool {
		a, b := t.Paths[i], t.Paths[j]
		if a.Volume != b.Volume {
			return a.Volume < b.Volume
		}
		if a.Fabric != b.Fabric {
			return a.Fabric < b.Fabric
		}
		if a.Set != b.Set {
			return a.Set < b.Set
		}
		return a.TargetPortWWPN.Uint64() < b.TargetPortWWPN.Uint64()
	})
	return t
}

func hostHasHBA(h *Host, w wwn.WWN) bool {
	for _, b := range h.HBAs {
		if b.WWPN == w {
			return true
		}
	}
	return false
}

// presentsThrough reports whether a mapping is visible through a target
// port; a mapping that names no ports is visible through all of them.
func presentsThrough(m array.Mapping, port wwn.WWN) bool {
	if len(m.TargetPorts) == 0 {
		return true
	}
	for _, p := range m.TargetPorts {
		if p == port {
			return true
		}
	}
	return false
}
