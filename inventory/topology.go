package inventory

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/sanmob/sanmob/array"
	"github.com/sanmob/sanmob/devices"
	"github.com/sanmob/sanmob/fabric"
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
	ID        string `json:"id"`
	Array     string `json:"array"`
	Pool      string `json:"pool"`
	LUN       int    `json:"lun"`
	WWN       string `json:"wwn"`
	SizeBytes int64  `json:"sizeBytes"`
	UsedBytes int64  `json:"usedBytes"`
	// Snapshots, each with the array it lives on: those taken before a
	// cross-site move stay on the old array (the replica's) until removed;
	// new ones are taken where the volume is active.
	Snapshots []SnapshotView `json:"snapshots"`
	Replica   *Replica       `json:"replica,omitempty"`
}

// ReplicaStateFunc tells the state and lag of a volume's replication
// group as last read (the replication package answers it).
type ReplicaStateFunc func(group string) (state string, lagBytes int64, ok bool)

// SetReplicaState gives the topology its source of replica states.
func (s *Inventory) SetReplicaState(f ReplicaStateFunc) { s.replicaState.Store(&f) }

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
func (s *Inventory) Topology(ctx context.Context, vmID string, verify bool) (Topology, error) {
	return s.topology(ctx, vmID, verify, true)
}

// ModelTopology is the VM's topology from the observed model alone: it
// never reads a device, even when the model is unsure. For background
// readers (the queue-depth loop) that must not spend what the devices
// answer — nor the faults a lab user armed for their own request.
func (s *Inventory) ModelTopology(vmID string) (Topology, error) {
	return s.topology(context.Background(), vmID, false, false)
}

func (s *Inventory) topology(ctx context.Context, vmID string, verify, mayRead bool) (Topology, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	vm, ok := s.vms[vmID]
	if !ok {
		return Topology{}, notFound("vm", vmID)
	}
	obs := s.devicesOf(vm)
	unsure := verify
	for _, f := range obs.fabrics {
		o, st := s.fabrics[f.id].Obs.Load(), s.fabrics[f.id].Status.Load()
		if o == nil || vm.UpdatedAt.After(o.At) || st != nil && st.Err != nil {
			unsure = true
		}
	}
	for _, a := range obs.arrays {
		o, st := s.arrays[a.id].Obs.Load(), s.arrays[a.id].Status.Load()
		if o == nil || vm.UpdatedAt.After(o.At) || st != nil && st.Err != nil {
			unsure = true
		}
	}

	var issues []string
	source := "model"
	if unsure && mayRead {
		// No lock is held across device I/O; the VM may change meanwhile,
		// so it is looked up again afterwards.
		source = "devices"
		s.mu.RUnlock()
		issues = s.readFresh(ctx, &obs)
		s.mu.RLock()
		if vm, ok = s.vms[vmID]; !ok {
			return Topology{}, notFound("vm", vmID)
		}
		obs.vols = obs.vols[:0]
		for _, r := range vm.Volumes {
			obs.vols = append(obs.vols, s.volumes[r.ID])
		}
	}
	for i := range obs.fabrics {
		if f := &obs.fabrics[i]; f.o == nil {
			f.o = s.fabrics[f.id].Obs.Load()
		}
	}
	for i := range obs.arrays {
		if a := &obs.arrays[i]; a.o == nil {
			a.o = s.arrays[a.id].Obs.Load()
		}
	}
	t := s.walk(vm, &obs)
	t.Issues = append(append([]string{}, issues...), t.Issues...) // [] rather than null when there are none
	if verify {
		t.Issues = append(t.Issues, s.missingOnFabricsLocked(vm, &obs)...)
	}
	t.Source = source
	if h, known, differs := s.hypervisorHost(vm); differs {
		if !known {
			t.Issues = append(t.Issues, "the hypervisor manager does not know this VM")
		} else {
			t.Issues = append(t.Issues, fmt.Sprintf("the hypervisor manager reports the VM on host %q, the inventory on %q", h, vm.Host))
		}
	}
	return t, nil
}

// computeDiff lists, for one read of the hypervisor manager, the VMs whose
// host it reports differently from the inventory ("" when it does not know
// the VM). It is built once per read, so that answering "does the
// hypervisor agree?" for a VM whose record has not changed since costs a
// lookup in a small map instead of one in the hypervisor's whole list.
type computeDiff struct {
	co     *devices.ComputeObs
	hostOf map[string]string
}

// diffCompute rebuilds the difference after a read of the devices.
func (s *Inventory) diffCompute() {
	co := s.dev.Compute()
	if co == nil {
		return
	}
	d := &computeDiff{co: co, hostOf: map[string]string{}}
	s.mu.RLock()
	for id, vm := range s.vms {
		if i, ok := co.VMIdx[id]; !ok {
			d.hostOf[id] = ""
		} else if h := co.VMs[i].Host; h != vm.Host {
			d.hostOf[id] = h
		}
	}
	s.mu.RUnlock()
	s.computeDiff.Store(d)
}

// hypervisorHost says whether the hypervisor manager's host for vm differs
// from the inventory's, and what it is; s.mu is held.
func (s *Inventory) hypervisorHost(vm *VM) (host string, known, differs bool) {
	co := s.dev.Compute()
	if co == nil {
		return "", false, false
	}
	if d := s.computeDiff.Load(); d != nil && d.co == co && !vm.UpdatedAt.After(co.At) {
		h, bad := d.hostOf[vm.ID]
		return h, h != "", bad
	}
	i, ok := co.VMIdx[vm.ID]
	if !ok {
		return "", false, true
	}
	h := co.VMs[i].Host
	return h, true, h != vm.Host
}

// observed is the device state one topology answer is built from: the
// fabrics of the VM's vports and the arrays of its volumes (a path can lead
// nowhere else). A VM has a handful of each, so slices beat maps here.
type observed struct {
	fabrics []fabricRef
	arrays  []arrayRef
	vols    []*Volume // the VM's volume records, index-aligned with VM.Volumes; nil when unknown
}

type fabricRef struct {
	id string
	o  *devices.FabricObs
}

type arrayRef struct {
	id string
	o  *devices.ArrayObs
}

func (v *observed) fabric(id string) *devices.FabricObs {
	for _, f := range v.fabrics {
		if f.id == id {
			return f.o
		}
	}
	return nil
}

func (v *observed) array(id string) *devices.ArrayObs {
	for _, a := range v.arrays {
		if a.id == id {
			return a.o
		}
	}
	return nil
}

// devicesOf lists the devices a VM's topology touches; s.mu is held.
func (s *Inventory) devicesOf(vm *VM) observed {
	var v observed
	for _, p := range vm.Vports {
		if s.fabrics[p.Fabric] != nil && !slices.ContainsFunc(v.fabrics, func(f fabricRef) bool { return f.id == p.Fabric }) {
			v.fabrics = append(v.fabrics, fabricRef{id: p.Fabric})
		}
	}
	v.vols = make([]*Volume, len(vm.Volumes))
	for i, r := range vm.Volumes {
		rec := s.volumes[r.ID]
		v.vols[i] = rec
		if rec != nil && s.arrays[rec.Array] != nil &&
			!slices.ContainsFunc(v.arrays, func(a arrayRef) bool { return a.id == rec.Array }) {
			v.arrays = append(v.arrays, arrayRef{id: rec.Array})
		}
	}
	return v
}

// readFresh reads the devices of obs now, in parallel, fills obs with what
// it read and keeps it as their newest observation. Devices that fail are
// reported as issues and answered from the model.
func (s *Inventory) readFresh(ctx context.Context, obs *observed) []string {
	var mu sync.Mutex
	var issues []string
	var wg sync.WaitGroup
	for i := range obs.fabrics {
		ref := &obs.fabrics[i]
		f := s.fabrics[ref.id]
		wg.Go(func() {
			o, err := s.dev.ReadFabric(ctx, f)
			if err != nil {
				mu.Lock()
				issues = append(issues, fmt.Sprintf("fabric %s could not be read (%v); answered from the model", ref.id, err))
				mu.Unlock()
				return
			}
			ref.o = o
		})
	}
	for i := range obs.arrays {
		ref := &obs.arrays[i]
		a := s.arrays[ref.id]
		wg.Go(func() {
			o, err := s.dev.ReadArray(ctx, a)
			if err != nil {
				mu.Lock()
				issues = append(issues, fmt.Sprintf("array %s could not be read (%v); answered from the model", ref.id, err))
				mu.Unlock()
				return
			}
			ref.o = o
		})
	}
	wg.Wait()
	sort.Strings(issues)
	return issues
}

// walk builds the topology from one set of observations; s.mu is held.
func (s *Inventory) walk(vm *VM, obs *observed) Topology {
	t := Topology{VM: vm.ID, Host: vm.Host, Site: vm.Site, Paths: []Path{}, Volumes: []TopologyVolume{}, Issues: []string{}}
	var oldest time.Time
	note := func(at time.Time) {
		if oldest.IsZero() || at.Before(oldest) {
			oldest = at
		}
	}
	for _, f := range obs.fabrics {
		if f.o != nil {
			note(f.o.At)
		}
	}
	for _, a := range obs.arrays {
		if a.o != nil {
			note(a.o.At)
		}
	}
	t.ObservedAt = oldest

	t.Volumes = make([]TopologyVolume, 0, len(vm.Volumes))
	for i, r := range vm.Volumes {
		tv := TopologyVolume{ID: r.ID, LUN: r.LUN, Snapshots: []SnapshotView{}}
		rec := obs.vols[i]
		if rec == nil {
			t.Issues = append(t.Issues, fmt.Sprintf("volume %s is not in the inventory", r.ID))
			t.Volumes = append(t.Volumes, tv)
			continue
		}
		tv.Array, tv.Pool, tv.WWN, tv.SizeBytes = rec.Array, rec.Pool, rec.WWN, rec.SizeBytes
		if a := obs.array(rec.Array); a != nil {
			if dv, ok, info := a.Volume(r.ID); ok {
				tv.UsedBytes, tv.Pool, tv.SizeBytes = dv.UsedBytes, dv.Pool, dv.SizeBytes
				tv.Snapshots = snapshotsAt(tv.Snapshots, rec.Array, a.SnapshotsOf(info))
			} else {
				t.Issues = append(t.Issues, fmt.Sprintf("array %s no longer reports volume %s", rec.Array, r.ID))
			}
		}
		if rp := rec.Replica; rp != nil {
			tv.Replica = &Replica{Array: rp.Array, Volume: r.ID, State: "UNKNOWN"}
			if f := s.replicaState.Load(); f != nil {
				if st, lag, ok := (*f)(rp.Group); ok {
					tv.Replica.State, tv.Replica.LagBytes = st, lag
				}
			}
			if a := s.arrays[rp.Array]; a != nil {
				if o := a.Obs.Load(); o != nil {
					if _, ok, info := o.Volume(r.ID); ok {
						tv.Snapshots = snapshotsAt(tv.Snapshots, rp.Array, o.SnapshotsOf(info))
					}
				}
			}
		}
		t.Volumes = append(t.Volumes, tv)
	}
	pt := s.pathTableOf(vm, s.hosts[vm.Host], obs)
	t.Issues = append(t.Issues, pt.issues...)
	t.Paths = pt.expand(vm, obs)
	return t
}

type pathKey struct {
	rank   uint32 // volume rank << 16 | vport rank
	target uint64
}

func (a pathKey) less(b pathKey) bool {
	return a.rank < b.rank || a.rank == b.rank && a.target < b.target
}

// sortPaths sorts paths by keys (index-aligned): an insertion sort, since a
// VM has a few dozen paths at most and they arrive nearly in order.
func sortPaths[P any](paths []P, keys []pathKey) {
	for i := 1; i < len(paths); i++ {
		for j := i; j > 0 && keys[j].less(keys[j-1]); j-- {
			keys[j], keys[j-1] = keys[j-1], keys[j]
			paths[j], paths[j-1] = paths[j-1], paths[j]
		}
	}
}

// ranks returns each of n items' position in the order compare defines.
func ranks(n int, compare func(i, j int) int) []int {
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, compare)
	rank := make([]int, n)
	for r, i := range order {
		rank[i] = r
	}
	return rank
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

func snapshotsAt(out []SnapshotView, arrayID string, snaps []array.Snapshot) []SnapshotView {
	for _, sn := range snaps {
		out = append(out, SnapshotView{Snapshot: sn, Array: arrayID})
	}
	return out
}

// missingOnFabricsLocked names, from the fabrics just read, each zone
// sanmob holds for the VM (its own zoning and its attachments') that the
// fabric's zone DB no longer has: paths that are down because a zone was
// removed behind sanmob's back (a vport not logged in is named by the walk
// itself). The caller holds s.mu.
func (s *Inventory) missingOnFabricsLocked(vm *VM, obs *observed) []string {
	if s.zoner == nil {
		return nil
	}
	mine := func(users []string) bool {
		for _, u := range users {
			if u == VMZoningUser(vm.ID) || strings.HasPrefix(u, "attach:") && strings.HasSuffix(u, "/"+vm.ID) {
				return true
			}
		}
		return false
	}
	var out []string
	for _, f := range obs.fabrics {
		if f.o == nil {
			continue
		}
		have := map[string]bool{} // by content: a switch keeps the name a zone was committed with
		for _, z := range f.o.DB.Zones {
			if fabric.Owned(z.Name) {
				have[fabric.ContentKey(z)] = true
			}
		}
		for _, hz := range s.zoner.Held(f.id) {
			if mine(hz.Users) && !have[fabric.ContentKey(hz.Zone)] {
				out = append(out, fmt.Sprintf("zone %s on fabric %s is missing from the switch's zone DB: the paths it carried are down (POST /v1/fabrics/%s/reconcile?apply=true puts it back)", hz.Zone.Name, f.id, f.id))
			}
		}
	}
	return out
}
