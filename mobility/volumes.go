package mobility

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/sirupsen/logrus"

	"github.com/sanmob/sanmob/array"
	"github.com/sanmob/sanmob/devices"
	"github.com/sanmob/sanmob/fabric"
	"github.com/sanmob/sanmob/inventory"
	"github.com/sanmob/sanmob/store"
	"github.com/sanmob/sanmob/thin"
)

// idFromName makes a stable id from a client's name (CSI names are free
// text): a retry of the same name reaches the same id on the array, whose
// own idempotency then holds even across a crash.
func idFromName(prefix, name string) string {
	h := sha256.Sum256([]byte(name))
	return prefix + "-" + hex.EncodeToString(h[:10])
}

func validName(field, name string) error {
	switch {
	case name == "":
		return invalid(field, "required")
	case len(name) > 128:
		return invalid(field, "at most 128 bytes")
	case strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return invalid(field, "must not contain control characters")
	}
	return nil
}

// --- volumes -----------------------------------------------------------------

// placer is thin's placement over the arrays as last observed.
func (s *Service) placer() thin.Placer {
	return thin.Placer{Arrays: func(yield func(thin.Array) bool) {
		for _, id := range s.arrIDs {
			a := s.arrays[id]
			if !yield(thin.Array{ID: id, Site: a.Site, Obs: a.Obs.Load()}) {
				return
			}
		}
	}}
}

// checkPlacement refuses a placement that names what does not exist, or an
// array outside the site named: ErrNotFound (site, array), ErrInvalid.
// An unknown pool is found out by the candidates (thin.Placer).
func (s *Service) checkPlacement(site, arrayID string) error {
	if site != "" && !s.KnownSite(site) {
		return notFound("site", site)
	}
	if arrayID != "" {
		a, ok := s.arrays[arrayID]
		if !ok {
			return notFound("array", arrayID)
		}
		if site != "" && a.Site != site {
			return invalid("array", "array %s is at site %s, not %s", arrayID, a.Site, site)
		}
	}
	return nil
}

// candidates lists the pools f allows, most room first (thin.Placer);
// ErrNotFound for an unknown site, array or pool.
func (s *Service) candidates(f thin.Filter) ([]thin.Candidate, error) {
	if err := s.checkPlacement(f.Site, f.Array); err != nil {
		return nil, err
	}
	cands := s.placer().Candidates(f)
	if f.Pool != "" && len(cands) == 0 {
		// A pool that exists but outside the site or array named is the
		// request's contradiction, not a missing pool.
		if anywhere := s.placer().Candidates(thin.Filter{Pool: f.Pool, Thin: f.Thin}); len(anywhere) > 0 {
			c := anywhere[0]
			return nil, invalid("pool", "pool %s is on array %s at site %s, not where the request places it%s", f.Pool, c.Array, c.Site, f)
		}
		return nil, &inventory.RefError{Field: "pool", Kind: "pool", ID: f.Pool}
	}
	return cands, nil
}

// CreateVolume creates a volume where spec places it, in a pool thin admits
// it to (most room first); a copy of a snapshot goes to the snapshot's pool
// unless spec names another. Idempotent by name: the same name with the same
// size and placement returns the existing volume; with other attributes,
// ErrConflict. Errors: ErrInvalid (name; a size not positive, or more than
// any pool could ever hold), ErrNotFound (site, array, pool),
// array.ErrNoCapacity (no pool has the room: a *thin.Refusal with the
// numbers, or the arrays' own refusals), ErrUnavailable (the array did not
// answer).
func (s *Service) CreateVolume(ctx context.Context, spec VolumeSpec) (inventory.Volume, error) {
	if spec.Name == "" {
		spec.Name = spec.ID
	}
	if err := validName("name", spec.Name); err != nil {
		return inventory.Volume{}, err
	}
	if spec.ID == "" {
		spec.ID = idFromName("vol", spec.Name)
	} else if err := inventory.ValidID(spec.ID); err != nil {
		return inventory.Volume{}, err
	}
	var src inventory.SnapshotView
	srcPool := ""
	if spec.FromSnapshot != "" {
		var err error
		if src, err = s.Snapshot(spec.FromSnapshot); err != nil {
			return inventory.Volume{}, err
		}
		if spec.Array != "" && spec.Array != src.Array {
			return inventory.Volume{}, invalid("array", "a copy of snapshot %s is made on its array %s, not %s", src.ID, src.Array, spec.Array)
		}
		spec.Array = src.Array
		if sv, err := s.Volume(src.Volume); err == nil {
			srcPool = sv.Pool
			if spec.SizeBytes == 0 {
				spec.SizeBytes = sv.SizeBytes
			}
		}
	}
	if spec.SizeBytes <= 0 {
		return inventory.Volume{}, invalid("sizeBytes", "must be positive")
	}
	isThin := spec.Thin == nil || *spec.Thin
	defer s.nameLocks.Lock("volume/" + spec.Name)()

	if v, err := s.VolumeByName(spec.Name); err == nil {
		if v.SizeBytes != spec.SizeBytes || v.Thin != isThin || v.MultiNode != spec.MultiNode || v.FromSnapshot != spec.FromSnapshot ||
			(spec.Pool != "" && v.Pool != spec.Pool) || (spec.Array != "" && v.Array != spec.Array) ||
			(spec.Site != "" && s.arrays[v.Array] != nil && s.arrays[v.Array].Site != spec.Site) {
			return inventory.Volume{}, fmt.Errorf("volume %q exists with other attributes (%d bytes, thin %v, pool %s): %w", spec.Name, v.SizeBytes, v.Thin, v.Pool, ErrConflict)
		}
		return v, nil
	}
	s.RLock()
	_, taken := s.VolumeLocked(spec.ID)
	s.RUnlock()
	if taken {
		return inventory.Volume{}, fmt.Errorf("volume id %q is taken by another volume: %w", spec.ID, ErrConflict)
	}
	f := thin.Filter{Site: spec.Site, Array: spec.Array, Pool: spec.Pool, Thin: isThin}
	if f.Pool == "" {
		f.Pool = srcPool // "" when the snapshot's volume is gone: any pool of its array
	}
	if _, err := s.candidates(f); err != nil {
		return inventory.Volume{}, err
	}
	if err := checkSize(spec.SizeBytes); err != nil {
		return inventory.Volume{}, err // before admission, which would call it no capacity
	}
	cands, err := s.placer().Place(f, spec.SizeBytes)
	if err != nil {
		return inventory.Volume{}, err
	}
	if cands, err = s.notPastFull(cands, spec.SizeBytes, isThin); err != nil {
		return inventory.Volume{}, err
	}
	var last error
	for _, c := range cands {
		a := s.arrays[c.Array]
		cctx, cancel := context.WithTimeout(ctx, s.cfg.DriverTimeout)
		dv, err := a.Driver.CreateVolume(cctx, array.VolumeSpec{ID: spec.ID, Name: spec.Name, Pool: c.Pool.ID, SizeBytes: spec.SizeBytes, Thin: isThin, FromSnapshot: spec.FromSnapshot})
		cancel()
		if errors.Is(err, array.ErrNoCapacity) {
			last = err // the observation was stale; try the next pool
			continue
		}
		if err != nil {
			return inventory.Volume{}, deviceErr("array", a.ID, err)
		}
		v := inventory.VolumeFromDevice(a.ID, dv, s.clk.Now())
		v.MultiNode, v.FromSnapshot = spec.MultiNode, spec.FromSnapshot
		if err := s.putVolume(v); err != nil {
			return inventory.Volume{}, err
		}
		s.readArrayNow(ctx, a)
		s.log.WithFields(logrus.Fields{"volume": v.ID, "name": v.Name, "pool": v.Pool, "array": v.Array, "bytes": v.SizeBytes, "thin": isThin}).Info("volume created")
		return s.VolumeView(v), nil
	}
	return inventory.Volume{}, fmt.Errorf("no pool%s can take %d bytes %s: the arrays refused: %w", f, spec.SizeBytes, kindText(isThin), last)
}

func kindText(isThin bool) string {
	if isThin {
		return "thin"
	}
	return "thick"
}

// deviceErr keeps a driver's sentinel (for the edges to map) and says which
// device failed.
func deviceErr(kind, id string, err error) error {
	if array.IsTransient(err) || fabric.IsTransient(err) {
		return fmt.Errorf("%s %s: %w: %w", kind, id, ErrUnavailable, err)
	}
	return fmt.Errorf("%s %s: %w", kind, id, MarkDevice(kind, err))
}

func (s *Service) putVolume(v *inventory.Volume) error {
	if err := s.st.Put(inventory.KindVolume, v.ID, v); err != nil {
		return inventory.StoreErr(err)
	}
	s.Lock()
	s.SetVolumeLocked(v)
	s.Unlock()
	return nil
}

func (s *Service) readArrayNow(ctx context.Context, a *devices.ArrayDev) {
	_, _ = s.dev.ReadArray(ctx, a)
}

// VolumeByName returns the volume created under a name; ErrNotFound.
func (s *Service) VolumeByName(name string) (inventory.Volume, error) {
	s.RLock()
	defer s.RUnlock()
	if v, ok := s.VolumeLocked(idFromName("vol", name)); ok && v.Name == name {
		return s.VolumeView(v), nil
	}
	if v, ok := s.VolumeLocked(name); ok && v.Name == name {
		return s.VolumeView(v), nil
	}
	return inventory.Volume{}, notFound("volume named", name)
}

// DeleteVolume deletes a volume and its record. ErrNotFound when unknown,
// ErrConflict while it is attached to any node.
func (s *Service) DeleteVolume(ctx context.Context, id string) error {
	defer s.volLocks.Lock(id)()
	s.RLock()
	v, ok := s.VolumeLocked(id)
	s.RUnlock()
	if !ok {
		return notFound("volume", id)
	}
	if att := s.Attachments(id); len(att) > 0 {
		if att[0].State == StateFailed {
			return fmt.Errorf("volume %s has a failed attachment to %s (%s); DELETE /v1/attachments/%s/%s retries its undo, then delete the volume: %w",
				id, att[0].Node, att[0].Action, id, att[0].Node, ErrConflict)
		}
		return fmt.Errorf("volume %s is attached to %s (%s); detach it first: %w", id, att[0].Node, att[0].State, ErrConflict)
	}
	if a := s.arrays[v.Array]; a != nil && !v.Missing {
		c, cancel := context.WithTimeout(ctx, s.cfg.DriverTimeout)
		err := a.Driver.DeleteVolume(c, id)
		cancel()
		if err != nil {
			return deviceErr("array", a.ID, err)
		}
	}
	if err := s.st.Delete(inventory.KindVolume, id); err != nil && !errors.Is(err, store.ErrNotFound) {
		return inventory.StoreErr(err)
	}
	s.Lock()
	s.DeleteVolumeLocked(id)
	s.Unlock()
	if a := s.arrays[v.Array]; a != nil {
		s.readArrayNow(ctx, a)
	}
	s.log.WithField("volume", id).Info("volume deleted")
	return nil
}

// MaxVolumeBytes is the largest volume size sanmob takes: 2^53 bytes
// (8 PiB). It is above what any array offers for one volume (the largest
// allow a few PiB) and is the largest integer every JSON client holds
// exactly (an IEEE double), so a size past it is a client's mistake — a 400
// before thin admission, not a 507 saying no pool has the room — and sums
// of sizes in thin admission stay far from overflowing an int64.
const MaxVolumeBytes int64 = 1 << 53

// checkSize refuses a volume size that is not positive or larger than
// MaxVolumeBytes: ErrInvalid naming sizeBytes.
func checkSize(n int64) error {
	switch {
	case n <= 0:
		return invalid("sizeBytes", "must be positive")
	case n > MaxVolumeBytes:
		return invalid("sizeBytes", "%d is larger than any volume sanmob manages (at most %d bytes, 8 PiB)", n, MaxVolumeBytes)
	}
	return nil
}

// ExpandVolume grows a volume; the same size is a no-op. Thin admits the
// growth on the volume's pool as last observed before the array is asked
// (an array whose pool is not observed decides alone). Errors: ErrInvalid
// to shrink, or past what the pool could ever hold; ErrNotFound;
// array.ErrNoCapacity (a *thin.Refusal with the numbers, or the array's).
func (s *Service) ExpandVolume(ctx context.Context, id string, sizeBytes int64) (inventory.Volume, error) {
	defer s.volLocks.Lock(id)()
	s.RLock()
	v, ok := s.VolumeLocked(id)
	s.RUnlock()
	switch {
	case !ok:
		return inventory.Volume{}, notFound("volume", id)
	case sizeBytes < v.SizeBytes:
		return inventory.Volume{}, invalid("sizeBytes", "%d is smaller than the volume's %d bytes; volumes only grow", sizeBytes, v.SizeBytes)
	case sizeBytes == v.SizeBytes:
		return s.Volume(id)
	}
	if err := checkSize(sizeBytes); err != nil {
		return inventory.Volume{}, err // before admission, which would call it no capacity
	}
	a := s.arrays[v.Array]
	if a == nil {
		return inventory.Volume{}, fmt.Errorf("volume %s is on unknown array %s: %w", id, v.Array, ErrConflict)
	}
	if p, ok := observedPool(a, v.Pool); ok {
		err := thin.AdmitGrowth(p, v.SizeBytes, sizeBytes, v.Thin)
		if err == nil {
			err = thin.AdmitFull(p, sizeBytes-v.SizeBytes, v.Thin, s.thin.Thresholds().FullPercent)
		}
		if err != nil {
			return inventory.Volume{}, fmt.Errorf("volume %s from %d to %d bytes: %w", id, v.SizeBytes, sizeBytes, err)
		}
	}
	c, cancel := context.WithTimeout(ctx, s.cfg.DriverTimeout)
	dv, err := a.Driver.ExpandVolume(c, id, sizeBytes)
	cancel()
	if err != nil {
		return inventory.Volume{}, deviceErr("array", a.ID, err)
	}
	nv := *v
	nv.SizeBytes = dv.SizeBytes
	if err := s.putVolume(&nv); err != nil {
		return inventory.Volume{}, err
	}
	s.readArrayNow(ctx, a)
	return s.Volume(id)
}

// observedPool is a pool of a as last observed.
func observedPool(a *devices.ArrayDev, id string) (array.Pool, bool) {
	if o := a.Obs.Load(); o != nil {
		for _, p := range o.Pools {
			if p.ID == id {
				return p, true
			}
		}
	}
	return array.Pool{}, false
}

// --- snapshots ---------------------------------------------------------------

// CreateSnapshot snapshots one volume. Idempotent by name: the same name of
// the same volume returns the snapshot; of another volume, ErrConflict.
// ErrNotFound for an unknown volume.
func (s *Service) CreateSnapshot(ctx context.Context, volumeID string, spec SnapshotSpec) (inventory.SnapshotView, error) {
	if err := validName("name", spec.Name); err != nil {
		return inventory.SnapshotView{}, err
	}
	if spec.ID == "" {
		spec.ID = idFromName("snap", spec.Name)
	}
	s.RLock()
	v, ok := s.VolumeLocked(volumeID)
	s.RUnlock()
	if !ok {
		return inventory.SnapshotView{}, notFound("volume", volumeID)
	}
	if sn, err := s.Snapshot(spec.ID); err == nil {
		if sn.Volume != volumeID {
			return inventory.SnapshotView{}, fmt.Errorf("snapshot %q is of volume %s, not %s: %w", spec.Name, sn.Volume, volumeID, ErrConflict)
		}
		return sn, nil
	}
	out, err := s.snapshotGroup(ctx, v.Array, "", []array.SnapshotSpec{{ID: spec.ID, Volume: volumeID, Name: spec.Name}})
	if err != nil {
		return inventory.SnapshotView{}, err
	}
	return out[0], nil
}

func (s *Service) snapshotGroup(ctx context.Context, arrayID, group string, specs []array.SnapshotSpec) ([]inventory.SnapshotView, error) {
	a := s.arrays[arrayID]
	if a == nil {
		return nil, fmt.Errorf("unknown array %s: %w", arrayID, ErrConflict)
	}
	c, cancel := context.WithTimeout(ctx, s.cfg.DriverTimeout)
	snaps, err := a.Driver.CreateSnapshots(c, group, specs)
	cancel()
	if err != nil {
		return nil, deviceErr("array", arrayID, err)
	}
	s.readArrayNow(ctx, a)
	out := make([]inventory.SnapshotView, len(snaps))
	for i, sn := range snaps {
		out[i] = inventory.SnapshotView{Snapshot: sn, Array: arrayID}
	}
	return out, nil
}

// SnapshotVM takes a consistent snapshot of all of a VM's volumes (one
// group per array), named spec.Name plus the volume id.
func (s *Service) SnapshotVM(ctx context.Context, vmID string, spec SnapshotSpec) ([]inventory.SnapshotView, error) {
	if err := validName("name", spec.Name); err != nil {
		return nil, err
	}
	s.RLock()
	vm, ok := s.VMLocked(vmID)
	var byArray map[string][]array.SnapshotSpec
	if ok {
		byArray = map[string][]array.SnapshotSpec{}
		for _, ref := range vm.Volumes {
			v, ok := s.VolumeLocked(ref.ID)
			if !ok {
				continue
			}
			name := spec.Name + "-" + v.ID
			byArray[v.Array] = append(byArray[v.Array], array.SnapshotSpec{ID: idFromName("snap", name), Volume: v.ID, Name: name})
		}
	}
	s.RUnlock()
	if !ok {
		return nil, notFound("vm", vmID)
	}
	if len(byArray) == 0 {
		return nil, fmt.Errorf("vm %s has no volumes to snapshot: %w", vmID, ErrConflict)
	}
	p := vmSnapshotPlan{VM: vmID, Name: spec.Name, Groups: byArray}
	key := vmID + "/" + spec.Name
	if _, err := s.settleRun(ctx, sagaVMSnapshot, key, "asking again"); err != nil {
		return nil, err
	}
	run, err := s.sagas.Submit(sagaVMSnapshot, key, p)
	if err != nil {
		return nil, fmt.Errorf("snapshot of vm %s: %w", vmID, err)
	}
	if _, err := s.sagas.Wait(ctx, run.ID); err != nil {
		return nil, s.runErr(ctx, "snapshot", key, run.ID, err)
	}
	var out []inventory.SnapshotView
	for _, aid := range sortedKeys(byArray) {
		for _, sp := range byArray[aid] {
			sn, err := s.Snapshot(sp.ID)
			if err != nil {
				return out, err
			}
			out = append(out, sn)
		}
	}
	return out, nil
}

// Snapshot returns one snapshot by id; ErrNotFound.
func (s *Service) Snapshot(id string) (inventory.SnapshotView, error) {
	for _, aid := range s.arrIDs {
		o := s.arrays[aid].Obs.Load()
		if o == nil {
			continue
		}
		for _, sn := range o.Snaps {
			if sn.ID == id {
				return inventory.SnapshotView{Snapshot: sn, Array: aid}, nil
			}
		}
	}
	return inventory.SnapshotView{}, notFound("snapshot", id)
}

// DeleteSnapshot deletes a snapshot; ErrNotFound when unknown.
func (s *Service) DeleteSnapshot(ctx context.Context, id string) error {
	sn, err := s.Snapshot(id)
	if err != nil {
		return err
	}
	a := s.arrays[sn.Array]
	c, cancel := context.WithTimeout(ctx, s.cfg.DriverTimeout)
	err = a.Driver.DeleteSnapshot(c, id)
	cancel()
	if err != nil {
		return deviceErr("array", a.ID, err)
	}
	s.readArrayNow(ctx, a)
	return nil
}

// Capacity reports what the placement spec narrows to can still take.
func (s *Service) Capacity(spec CapacitySpec) (Capacity, error) {
	cands, err := s.candidates(thin.Filter{Site: spec.Site, Array: spec.Array, Pool: spec.Pool, Thin: spec.Thin == nil || *spec.Thin})
	if err != nil {
		return Capacity{}, err
	}
	var c Capacity
	for _, x := range cands {
		c.AvailableBytes += x.Room
		c.MaximumVolumeBytes = max(c.MaximumVolumeBytes, x.Room)
	}
	return c, nil
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}
