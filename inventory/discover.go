package inventory

import (
	"encoding/json"
	"fmt"
	"runtime"
	"slices"
	"sort"
	"sync"

	"github.com/sanmob/sanmob/array"

	"github.com/sirupsen/logrus"

	"github.com/sanmob/sanmob/fabric/wwn"
	"github.com/sanmob/sanmob/store"
)

// LoadKind decodes every record of a kind. Decoding is most of a cold
// start on a large inventory, so records travel in chunks to one decoder per
// core and are handed to add from a single goroutine.
func LoadKind[T any](st *store.Store, kind string, add func(*T)) error {
	const chunk = 512
	workers := max(1, runtime.GOMAXPROCS(0))
	raws := make(chan [][]byte, 2*workers)
	out := make(chan []T, 2*workers)
	var decodeErr error
	var errOnce sync.Once
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for batch := range raws {
				vs := make([]T, len(batch))
				for i, raw := range batch {
					if fd, ok := any(&vs[i]).(fastDecoder); ok {
						if fd.decodeFast(raw) {
							continue
						}
						var zero T
						vs[i] = zero // what the fast decoder filled before it gave up
					}
					if err := json.Unmarshal(raw, &vs[i]); err != nil {
						errOnce.Do(func() { decodeErr = fmt.Errorf("mobility: decode %s record: %w", kind, err) })
						vs = nil
						break
					}
				}
				out <- vs
			}
		})
	}
	done := make(chan struct{})
	go func() {
		for vs := range out {
			for i := range vs {
				add(&vs[i])
			}
		}
		close(done)
	}()
	batch := make([][]byte, 0, chunk)
	err := st.List(kind, func(_ string, raw []byte) error {
		batch = append(batch, append([]byte(nil), raw...))
		if len(batch) == chunk {
			raws <- batch
			batch = make([][]byte, 0, chunk)
		}
		return nil
	})
	if len(batch) > 0 {
		raws <- batch
	}
	close(raws)
	wg.Wait()
	close(out)
	<-done
	if err != nil {
		return fmt.Errorf("mobility: load %s: %w", kind, err)
	}
	return decodeErr
}

// discover builds the inventory from the devices on the first start: hosts
// and VMs from the hypervisor manager, each HBA's fabric from the name
// servers, each VM's volumes and LUN ids from the arrays' masking, volumes
// from the arrays. It needs every device to have answered; it writes
// everything in synced batches and marks the store discovered last, so a
// crash in the middle simply discovers again.
func (s *Inventory) discover() error {
	if ok, why := s.devicesAnswered(); !ok {
		return fmt.Errorf("waiting for devices: %v", why)
	}
	co := s.dev.Compute()
	// Stamp the records with the oldest observation they were built from, so
	// that the model counts as sure of them (see Topology) until they change.
	now := co.At
	for _, id := range s.fabIDs {
		if at := s.fabrics[id].Obs.Load().At; at.Before(now) {
			now = at
		}
	}
	for _, id := range s.arrIDs {
		if at := s.arrays[id].Obs.Load().At; at.Before(now) {
			now = at
		}
	}

	hbaFabric := map[wwn.WWN]string{}
	for _, id := range s.fabIDs {
		o := s.fabrics[id].Obs.Load()
		for _, l := range o.Logins {
			if !l.NPIV {
				hbaFabric[l.WWPN] = id
			}
		}
	}
	hosts := make(map[string]*Host, len(co.Hosts))
	for _, ch := range co.Hosts {
		h := &Host{ID: ch.ID, Name: ch.Name, Site: ch.Site, CreatedAt: now, UpdatedAt: now}
		for _, b := range ch.HBAs {
			h.HBAs = append(h.HBAs, HBA{Name: b.Name, WWPN: b.WWPN, WWNN: b.WWNN, Fabric: hbaFabric[b.WWPN], MaxVports: b.MaxVports})
		}
		hosts[h.ID] = h
	}
	volumes := map[string]*Volume{}
	for _, aid := range s.arrIDs {
		o := s.arrays[aid].Obs.Load()
		for _, v := range o.Volumes {
			if prev, dup := volumes[v.ID]; dup {
				s.log.WithFields(logrus.Fields{"volume": v.ID, "array": aid, "first": prev.Array}).Warn("volume id reported by two arrays; keeping the first")
				continue
			}
			volumes[v.ID] = VolumeFromDevice(aid, v, now)
		}
	}
	vms := make(map[string]*VM, len(co.VMs))
	for _, cv := range co.VMs {
		h := hosts[cv.Host]
		vm := &VM{ID: cv.ID, Name: cv.Name, Host: cv.Host, Shares: cv.Shares, CreatedAt: now, UpdatedAt: now}
		if h != nil {
			vm.Site = h.Site
		}
		for _, p := range cv.Vports {
			vm.Vports = append(vm.Vports, Vport{Fabric: p.Fabric, WWPN: p.WWPN, WWNN: p.WWNN, Set: p.Set, Active: p.Active})
		}
		vm.Volumes = s.maskedVolumes(vm)
		vms[vm.ID] = vm
	}

	b := s.st.Batch()
	put := func(kind, id string, v any) error {
		if err := b.Put(kind, id, v); err != nil {
			b.Cancel()
			return fmt.Errorf("mobility: save discovered %s %s: %w", kind, id, err)
		}
		return nil
	}
	for _, h := range hosts {
		if err := put(kindHost, h.ID, h); err != nil {
			return err
		}
	}
	for _, v := range vms {
		if err := put(KindVM, v.ID, v); err != nil {
			return err
		}
	}
	for _, v := range volumes {
		if err := put(KindVolume, v.ID, v); err != nil {
			return err
		}
	}
	owners := ownersOf(hosts, vms)
	adopted := s.adoptable(owners)
	if err := saveAdopted(b, adopted); err != nil {
		b.Cancel()
		return err
	}
	if err := b.Flush(); err != nil {
		return fmt.Errorf("mobility: save discovered inventory: %w", err)
	}
	zoningIDs := map[string]bool{}
	for id := range adoptedIDs(adopted) {
		zoningIDs[id] = true
	}
	// Records an interrupted earlier discovery left behind, of objects the
	// devices no longer report, must not be loaded as inventory later.
	for kind, keep := range map[string]func(string) bool{
		kindHost:   func(id string) bool { return hosts[id] != nil },
		KindVM:     func(id string) bool { return vms[id] != nil },
		KindVolume: func(id string) bool { return volumes[id] != nil },
		kindZoning: func(id string) bool { return zoningIDs[id] },
	} {
		if err := s.deleteOthers(kind, keep); err != nil {
			return err
		}
	}
	if err := s.st.Put(kindMeta, "discovered", struct{ At any }{now}); err != nil {
		return fmt.Errorf("mobility: mark discovered: %w", err)
	}
	s.mu.Lock()
	s.hosts, s.vms, s.volumes = hosts, vms, volumes
	s.wwpnOwner = owners
	s.adoptLoaded(adopted)
	s.mu.Unlock()
	s.discovered.Store(true)
	s.log.WithFields(logrus.Fields{"hosts": len(hosts), "vms": len(vms), "volumes": len(volumes)}).Info("inventory discovered from the devices")
	return nil
}

// deleteOthers removes the records of kind that keep refuses, a few hundred
// per transaction.
func (s *Inventory) deleteOthers(kind string, keep func(string) bool) error {
	var stale []string
	if err := s.st.List(kind, func(id string, _ []byte) error {
		if !keep(id) {
			stale = append(stale, id)
		}
		return nil
	}); err != nil {
		return fmt.Errorf("mobility: list %s records: %w", kind, err)
	}
	for chunk := range slices.Chunk(stale, 500) {
		err := s.st.Update(func(tx *store.Tx) error {
			for _, id := range chunk {
				if err := tx.Delete(kind, id); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("mobility: remove stale %s records: %w", kind, err)
		}
	}
	if len(stale) > 0 {
		s.log.WithFields(logrus.Fields{"kind": kind, "records": len(stale)}).Warn("removed records an interrupted discovery left behind")
	}
	return nil
}

func (s *Inventory) devicesAnswered() (bool, []string) {
	var why []string
	for _, id := range s.fabIDs {
		if s.fabrics[id].Obs.Load() == nil {
			why = append(why, "fabric "+id)
		}
	}
	for _, id := range s.arrIDs {
		if s.arrays[id].Obs.Load() == nil {
			why = append(why, "array "+id)
		}
	}
	if s.dev.Compute() == nil {
		why = append(why, "compute")
	}
	return len(why) == 0, why
}

// maskedVolumes finds the volumes the arrays present to any of the VM's
// vports, with the LUN id they are presented under.
func (s *Inventory) maskedVolumes(vm *VM) []VolumeRef {
	seen := map[string]bool{}
	var refs []VolumeRef
	for _, aid := range s.arrIDs {
		o := s.arrays[aid].Obs.Load()
		for _, p := range vm.Vports {
			for _, mi := range o.MapsByInit.Get(p.WWPN) {
				m := o.Mappings[mi]
				if !seen[m.Volume] {
					seen[m.Volume] = true
					refs = append(refs, VolumeRef{ID: m.Volume, LUN: m.LUN})
				}
			}
		}
	}
	sort.Slice(refs, func(i, j int) bool {
		return refs[i].LUN < refs[j].LUN || refs[i].LUN == refs[j].LUN && refs[i].ID < refs[j].ID
	})
	return refs
}

// reconcileVolumes brings the volume records in line with what the arrays
// report: new volumes are added, changed ones updated, vanished ones flagged
// missing (never deleted behind a VM's back). Arrays that did not answer are
// left alone.
func (s *Inventory) reconcileVolumes() error {
	now := s.clk.Now()
	type change struct {
		was *Volume // the record the change replaces; nil for a new volume
		v   *Volume
	}
	var changes []change
	s.mu.RLock()
	for _, aid := range s.arrIDs {
		o := s.arrays[aid].Obs.Load()
		if o == nil {
			continue
		}
		for _, dv := range o.Volumes {
			cur, ok := s.volumes[dv.ID]
			if ok && (cur.Array != aid || matchesDevice(cur, dv)) {
				continue
			}
			if at, gone := s.deletedAt[dv.ID]; !ok && gone && !o.At.After(at) {
				continue // deleted through the API after this observation was read
			}
			nv := VolumeFromDevice(aid, dv, now)
			if ok {
				nv.CreatedAt, nv.MultiNode, nv.LUN, nv.FromSnapshot, nv.Replica = cur.CreatedAt, cur.MultiNode, cur.LUN, cur.FromSnapshot, cur.Replica
			}
			changes = append(changes, change{cur, nv})
		}
	}
	for _, v := range s.volumes {
		a := s.arrays[v.Array]
		if a == nil || v.Missing {
			continue
		}
		if o := a.Obs.Load(); o != nil {
			if _, ok, _ := o.Volume(v.ID); !ok {
				nv := *v
				nv.Missing = true
				changes = append(changes, change{v, &nv})
			}
		}
	}
	s.mu.RUnlock()
	if len(changes) == 0 {
		return nil
	}
	b := s.st.Batch()
	for _, c := range changes {
		if err := b.Put(KindVolume, c.v.ID, c.v); err != nil {
			b.Cancel()
			return err
		}
	}
	if err := b.Flush(); err != nil {
		return err
	}
	s.mu.Lock()
	for _, c := range changes {
		// A record replaced meanwhile (by the API) wins; the next refresh
		// compares again.
		if s.volumes[c.v.ID] == c.was {
			s.volumes[c.v.ID] = c.v
		}
	}
	s.mu.Unlock()
	return nil
}

// matchesDevice reports whether a volume record already says what the array
// reports; used bytes are observed, not stored, and do not count.
func matchesDevice(v *Volume, dv array.Volume) bool {
	return !v.Missing && v.Name == dv.Name && v.Pool == dv.Pool && v.SizeBytes == dv.SizeBytes && v.WWN == dv.WWN && v.Thin == dv.Thin
}
