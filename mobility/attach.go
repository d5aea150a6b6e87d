package mobility

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/sirupsen/logrus"

	"github.com/sanmob/sanmob/array"
	"github.com/sanmob/sanmob/devices"
	"github.com/sanmob/sanmob/fabric"
	"github.com/sanmob/sanmob/fabric/wwn"
	"github.com/sanmob/sanmob/inventory"
	"github.com/sanmob/sanmob/store"
)

const kindAttachment = "attachment"

// attachRecord is an attachment as stored: enough to undo it after a
// restart (the host group, the LUN, the zone intents it holds).
type attachRecord struct {
	Attachment
	Intents []intentRecord `json:"intents"`
}

type intentRecord struct {
	Fabric         string  `json:"fabric"`
	Initiator      wwn.WWN `json:"initiator"`
	Target         wwn.WWN `json:"target"`
	InitiatorLabel string  `json:"initiatorLabel"`
	TargetLabel    string  `json:"targetLabel"`
}

func (r intentRecord) intent() fabric.Intent {
	return fabric.Intent{Fabric: r.Fabric, Initiator: r.Initiator, Target: r.Target, InitiatorLabel: r.InitiatorLabel, TargetLabel: r.TargetLabel}
}

func attachKey(volume, node string) string  { return volume + "/" + node }
func attachUser(volume, node string) string { return "attach:" + volume + "/" + node }

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

// candidate is a pool a volume may go to, with its thin-aware room.
type candidate struct {
	array *devices.ArrayDev
	pool  array.Pool
	room  int64 // for the requested kind (thin: overcommit headroom; thick: free physical)
}

// poolRoom is Cinder's capacity rule (DOMAIN.md): thin volumes may take
// (total − reserved) · maxOvercommit − provisioned; thick ones the free
// physical space left after the reserve.
func poolRoom(p array.Pool, thin bool) int64 {
	reserved := int64(math.Floor(float64(p.PhysicalBytes) * float64(p.ReservedPercent) / 100))
	if !thin {
		return max(0, p.PhysicalBytes-reserved-p.UsedBytes)
	}
	oc := p.MaxOvercommit
	if oc <= 0 {
		oc = 1
	}
	return max(0, int64(float64(p.PhysicalBytes-reserved)*oc)-p.ProvisionedBytes)
}

// candidates lists the pools placement allows, most room first.
func (s *Service) candidates(site, arrayID, poolID string, thin bool) ([]candidate, error) {
	if site != "" {
		if !s.KnownSite(site) {
			return nil, notFound("site", site)
		}
	}
	if arrayID != "" {
		a, ok := s.arrays[arrayID]
		if !ok {
			return nil, notFound("array", arrayID)
		}
		if site != "" && a.Site != site {
			return nil, invalid("array", "array %s is at site %s, not %s", arrayID, a.Site, site)
		}
	}
	var out []candidate
	poolSeen := false
	for _, id := range s.arrIDs {
		a := s.arrays[id]
		if (arrayID != "" && id != arrayID) || (site != "" && a.Site != site) {
			continue
		}
		o := a.Obs.Load()
		if o == nil {
			continue
		}
		for _, p := range o.Pools {
			if poolID != "" && p.ID != poolID {
				continue
			}
			poolSeen = true
			out = append(out, candidate{array: a, pool: p, room: poolRoom(p, thin)})
		}
	}
	if poolID != "" && !poolSeen {
		return nil, notFound("pool", poolID)
	}
	slices.SortStableFunc(out, func(a, b candidate) int { return cmp.Compare(b.room, a.room) })
	return out, nil
}

// CreateVolume creates a volume where spec places it, after thin admission.
// Idempotent by name: the same name with the same size and placement
// returns the existing volume; with other attributes, ErrConflict. Errors:
// ErrInvalid (name, size), ErrNotFound (site, array, pool), array.ErrNoCapacity
// (no pool can take it), ErrUnavailable (the array did not answer).
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
	if spec.FromSnapshot != "" {
		var err error
		if src, err = s.Snapshot(spec.FromSnapshot); err != nil {
			return inventory.Volume{}, err
		}
		if spec.Array != "" && spec.Array != src.Array {
			return inventory.Volume{}, invalid("array", "a copy of snapshot %s is made on its array %s, not %s", src.ID, src.Array, spec.Array)
		}
		spec.Array = src.Array
		if spec.SizeBytes == 0 {
			if sv, err := s.Volume(src.Volume); err == nil {
				spec.SizeBytes = sv.SizeBytes
			}
		}
	}
	if spec.SizeBytes <= 0 {
		return inventory.Volume{}, invalid("sizeBytes", "must be positive")
	}
	thin := spec.Thin == nil || *spec.Thin
	defer s.nameLocks.Lock("volume/" + spec.Name)()

	if v, err := s.VolumeByName(spec.Name); err == nil {
		if v.SizeBytes != spec.SizeBytes || v.Thin != thin || v.MultiNode != spec.MultiNode || v.FromSnapshot != spec.FromSnapshot ||
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
	cands, err := s.candidates(spec.Site, spec.Array, spec.Pool, thin)
	if err != nil {
		return inventory.Volume{}, err
	}
	var last error
	for _, c := range cands {
		if c.room < spec.SizeBytes {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, s.cfg.DriverTimeout)
		dv, err := c.array.Driver.CreateVolume(cctx, array.VolumeSpec{ID: spec.ID, Name: spec.Name, Pool: c.pool.ID, SizeBytes: spec.SizeBytes, Thin: thin, FromSnapshot: spec.FromSnapshot})
		cancel()
		if errors.Is(err, array.ErrNoCapacity) {
			last = err // the observation was stale; try the next pool
			continue
		}
		if err != nil {
			return inventory.Volume{}, deviceErr("array", c.array.ID, err)
		}
		v := inventory.VolumeFromDevice(c.array.ID, dv, s.clk.Now())
		v.MultiNode, v.FromSnapshot = spec.MultiNode, spec.FromSnapshot
		if err := s.putVolume(v); err != nil {
			return inventory.Volume{}, err
		}
		s.readArrayNow(ctx, c.array)
		s.log.WithFields(logrus.Fields{"volume": v.ID, "name": v.Name, "pool": v.Pool, "array": v.Array, "bytes": v.SizeBytes, "thin": thin}).Info("volume created")
		return s.VolumeView(v), nil
	}
	if last == nil {
		last = array.ErrNoCapacity
	}
	return inventory.Volume{}, fmt.Errorf("no pool%s can take %d bytes %s: %w", placementText(spec.Site, spec.Array, spec.Pool), spec.SizeBytes, map[bool]string{true: "thin", false: "thick"}[thin], last)
}

func placementText(site, arr, pool string) string {
	var parts []string
	for _, p := range [][2]string{{"site", site}, {"array", arr}, {"pool", pool}} {
		if p[1] != "" {
			parts = append(parts, p[0]+" "+p[1])
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, ", ") + ")"
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
		return fmt.Errorf("volume %s is attached to %s; detach it first: %w", id, att[0].Node, ErrConflict)
	}
	if a := s.arrays[v.Array]; a != nil && !v.Missing {
		c, cancel := context.WithTimeout(ctx, s.cfg.DriverTimeout)
		err := a.Driver.DeleteVolume(c, id)
		cancel()
		if err != nil {
			return deviceErr("array", a.ID, err)
		}
	}
	s.Lock()
	s.Unlock()
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

// ExpandVolume grows a volume (thin admission again); the same size is a
// no-op. ErrInvalid to shrink, ErrNotFound, array.ErrNoCapacity.
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
	a := s.arrays[v.Array]
	if a == nil {
		return inventory.Volume{}, fmt.Errorf("volume %s is on unknown array %s: %w", id, v.Array, ErrConflict)
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
	var out []inventory.SnapshotView
	for _, aid := range sortedKeys(byArray) {
		snaps, err := s.snapshotGroup(ctx, aid, spec.Name, byArray[aid])
		if err != nil {
			return out, err
		}
		out = append(out, snaps...)
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

// --- attach and detach ---------------------------------------------------------

// node is what a volume is attached to: its initiators by fabric.
type node struct {
	id, kind   string
	site       string
	initiators map[string][]wwn.WWN // by fabric
}

func (s *Service) nodeOf(id string) (node, error) {
	s.RLock()
	defer s.RUnlock()
	n := node{id: id, initiators: map[string][]wwn.WWN{}}
	if h, ok := s.HostLocked(id); ok {
		n.kind, n.site = "host", h.Site
		for _, b := range h.HBAs {
			if b.Fabric != "" {
				n.initiators[b.Fabric] = append(n.initiators[b.Fabric], b.WWPN)
			}
		}
	} else if vm, ok := s.VMLocked(id); ok {
		n.kind, n.site = "vm", vm.Site
		for _, p := range vm.Vports { // both sets: the idle one must be ready to take over
			n.initiators[p.Fabric] = append(n.initiators[p.Fabric], p.WWPN)
		}
	} else {
		return node{}, notFound("node (host or vm)", id)
	}
	if len(n.initiators) == 0 {
		return node{}, fmt.Errorf("%s %s has no initiator on any fabric: %w", n.kind, id, ErrConflict)
	}
	return n, nil
}

// hostGroupOf finds the array host group of a node: the one that already
// holds any of its initiators (an array puts an initiator in one host group
// only), with the initiators it has and the positions of its mappings in
// o; else a new one of its own, so that a VM's vports never see a host's
// LUNs. Every mapping of a group lists the group's initiators, so the
// initiator index finds them all without scanning the array's mappings.
func hostGroupOf(n node, o *devices.ArrayObs) (name string, had []wwn.WWN, maps []int32) {
	for _, fid := range sortedKeys(n.initiators) {
		for _, w := range n.initiators[fid] {
			if ms := o.MapsByInit.Get(w); len(ms) > 0 {
				m := &o.Mappings[ms[0]]
				return m.HostGroup, m.Initiators, ms
			}
		}
	}
	return "sm-" + n.kind + "-" + n.id, nil, nil
}

// targetsFor picks, on each fabric the node sits on, up to two of the
// array's target ports logged in there — the same two for every volume of
// the node (its zones are then shared), spread across nodes by a hash.
func (s *Service) targetsFor(n node, a *devices.ArrayDev, o *devices.ArrayObs) (map[string][]wwn.WWN, error) {
	out := map[string][]wwn.WWN{}
	h := sha256.Sum256([]byte(n.id))
	for fid := range n.initiators {
		f := s.fabrics[fid]
		if f == nil {
			continue
		}
		fo := f.Obs.Load()
		var ports []wwn.WWN
		for _, p := range o.Ports {
			if fo.LoggedIn(p.WWPN) {
				ports = append(ports, p.WWPN)
			}
		}
		if len(ports) == 0 {
			continue
		}
		slices.SortFunc(ports, wwn.WWN.Compare)
		k := int(h[0]) % len(ports)
		for i := range min(2, len(ports)) {
			out[fid] = append(out[fid], ports[(k+i)%len(ports)])
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("array %s has no target port on any fabric of %s %s: %w", a.ID, n.kind, n.id, ErrConflict)
	}
	return out, nil
}

// lunFor chooses the LUN id: the volume's own where the host group has it
// free, else the lowest free one there. The host group's ids in use are
// those of its mappings as last read (maps, positions in o) plus those
// sanmob mapped since (reserved). Call with the host group's lock held.
func (s *Service) lunFor(v *inventory.Volume, arrayID string, o *devices.ArrayObs, hostGroup string, maps []int32) int {
	used := map[int]bool{}
	for _, mi := range maps {
		m := &o.Mappings[mi]
		if m.Volume == v.ID {
			return m.LUN // mapped there already
		}
		used[m.LUN] = true
	}
	s.RLock()
	for lun, vol := range s.reserved[arrayID+"/"+hostGroup] {
		if vol == v.ID {
			s.RUnlock()
			return lun
		}
		used[lun] = true
	}
	s.RUnlock()
	if v.LUN != nil && !used[*v.LUN] {
		return *v.LUN
	}
	for l := 0; l <= array.MaxLUN; l++ {
		if !used[l] {
			return l
		}
	}
	return -1
}

// reserve records (or, with volume "", forgets) a LUN id sanmob mapped in a
// host group (key "array/hostgroup") for as long as the attachment lives,
// so that a LUN choice never waits for the array to be read again.
func (s *Service) reserve(hostGroup string, lun int, volume string) {
	s.Lock()
	defer s.Unlock()
	if volume == "" {
		delete(s.reserved[hostGroup], lun)
		if len(s.reserved[hostGroup]) == 0 {
			delete(s.reserved, hostGroup)
		}
		return
	}
	if s.reserved[hostGroup] == nil {
		s.reserved[hostGroup] = map[int]string{}
	}
	s.reserved[hostGroup][lun] = volume
}

// Attach presents a volume to a node: masks it on its array (host group of
// the node's initiators, the volume's stable LUN id), then zones every
// fabric the initiators sit on through the Zoner; if zoning fails the
// masking is undone. Idempotent. Concurrent calls for one volume are
// serialized. The LUN id is the volume's own wherever the node has it
// free, else the node's lowest free one (the attachment says which).
// Errors: ErrNotFound (volume, node), ErrConflict (attached to another node
// and not MultiNode; another site; no target port on the node's fabrics),
// ErrUnavailable.
func (s *Service) Attach(ctx context.Context, spec AttachmentSpec) (Attachment, error) {
	if spec.Volume == "" {
		return Attachment{}, invalid("volume", "required")
	}
	if spec.Node == "" {
		return Attachment{}, invalid("node", "required")
	}
	defer s.volLocks.Lock(spec.Volume)()
	s.RLock()
	v, ok := s.VolumeLocked(spec.Volume)
	s.RUnlock()
	if !ok {
		return Attachment{}, notFound("volume", spec.Volume)
	}
	n, err := s.nodeOf(spec.Node)
	if err != nil {
		return Attachment{}, err
	}
	existing := s.Attachments(spec.Volume)
	for _, at := range existing {
		if at.Node != spec.Node && !v.MultiNode {
			return Attachment{}, fmt.Errorf("volume %s is attached to %s and is not multi-node: %w", v.ID, at.Node, ErrConflict)
		}
	}
	a := s.arrays[v.Array]
	if a == nil || v.Missing {
		return Attachment{}, fmt.Errorf("volume %s is not on a known array: %w", v.ID, ErrConflict)
	}
	if a.Site != n.site {
		return Attachment{}, fmt.Errorf("volume %s is at site %s, %s %s at site %s; storage is presented within a site: %w", v.ID, a.Site, n.kind, n.id, n.site, ErrConflict)
	}
	o := a.Obs.Load() // one observation for every choice below
	if o == nil {
		return Attachment{}, fmt.Errorf("array %s has not been read: %w", a.ID, ErrUnavailable)
	}
	targets, err := s.targetsFor(n, a, o)
	if err != nil {
		return Attachment{}, err
	}
	hg, had, hgMaps := hostGroupOf(n, o)
	unlockHG := s.hgLocks.Lock(a.ID + "/" + hg)
	lun := s.lunFor(v, a.ID, o, hg, hgMaps)
	if lun < 0 {
		unlockHG()
		return Attachment{}, fmt.Errorf("host group %s has no free LUN id: %w", hg, ErrConflict)
	}
	var inits, tports []wwn.WWN
	var intents []intentRecord
	var fabs []string
	for _, fid := range sortedKeys(targets) {
		fabs = append(fabs, fid)
		tports = append(tports, targets[fid]...)
		for _, ini := range n.initiators[fid] {
			for _, t := range targets[fid] {
				intents = append(intents, intentRecord{Fabric: fid, Initiator: ini, Target: t, InitiatorLabel: n.id, TargetLabel: a.ID})
			}
		}
	}
	for _, fid := range sortedKeys(n.initiators) {
		inits = append(inits, n.initiators[fid]...)
	}
	for _, w := range had { // the group keeps whom it had
		if !slices.Contains(inits, w) {
			inits = append(inits, w)
		}
	}
	mapped := slices.ContainsFunc(hgMaps, func(mi int32) bool { return o.Mappings[mi].Volume == v.ID }) ||
		len(existing) > 0 && slices.ContainsFunc(existing, func(x Attachment) bool { return x.Node == n.id })
	c, cancel := context.WithTimeout(ctx, s.cfg.DriverTimeout)
	err = a.Driver.Map(c, array.MapSpec{Volume: v.ID, HostGroup: hg, Initiators: inits, LUN: lun, TargetPorts: tports})
	cancel()
	if err == nil {
		s.reserve(a.ID+"/"+hg, lun, v.ID)
	}
	unlockHG()
	if err != nil {
		return Attachment{}, deviceErr("array", a.ID, err)
	}
	user := attachUser(v.ID, n.id)
	ins := make([]fabric.Intent, len(intents))
	for i, r := range intents {
		ins[i] = r.intent()
	}
	unmask := func(err error) error {
		if mapped { // it was masked before this call: leave it so
			return err
		}
		uc, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.DriverTimeout)
		defer cancel()
		if uerr := a.Driver.Unmap(uc, v.ID, hg); uerr != nil {
			return fmt.Errorf("%w; and undoing the masking failed, volume %s stays mapped to host group %s: %v", err, v.ID, hg, uerr)
		}
		s.reserve(a.ID+"/"+hg, lun, "")
		return err
	}
	if err := s.zoner.Ensure(ctx, user, ins); err != nil {
		return Attachment{}, unmask(MarkDevice("fabric", err))
	}
	if err := s.loginActive(ctx, n); err != nil {
		// Without its active vports logged in the VM cannot reach the LUN:
		// the attach did not happen, and what it set up goes.
		if s.zoner.Release(context.WithoutCancel(ctx), user, ins) != nil {
			err = fmt.Errorf("%w; and releasing its zones failed: they remain until reconciled", err)
		}
		return Attachment{}, unmask(err)
	}
	at := Attachment{Volume: v.ID, Node: n.id, NodeKind: n.kind, Array: a.ID, LUN: lun, HostGroup: hg, Fabrics: fabs, CreatedAt: s.clk.Now()}
	at.PublishContext = publishContext(v, lun, tports, fabs)
	rec := attachRecord{Attachment: at, Intents: intents}
	// The records change together under s.mu, as the inventory's other
	// writes do, so that a VM patched meanwhile is not overwritten.
	s.Lock()
	defer s.Unlock()
	vm := s.vmVolumesLocked(n, v.ID, lun, true)
	err = s.st.Update(func(tx *store.Tx) error {
		if err := tx.Put(kindAttachment, attachKey(v.ID, n.id), rec); err != nil {
			return err
		}
		if vm != nil {
			if err := tx.Put(inventory.KindVM, vm.ID, vm); err != nil {
				return err
			}
		}
		if v.LUN == nil {
			nv := *v
			nv.LUN = &lun
			return tx.Put(inventory.KindVolume, v.ID, &nv)
		}
		return nil
	})
	if err != nil {
		return Attachment{}, inventory.StoreErr(err)
	}
	if v.LUN == nil {
		nv := *v
		nv.LUN = &lun
		s.SetVolumeLocked(&nv)
	}
	s.attachments[attachKey(v.ID, n.id)] = &rec
	if vm != nil {
		s.SetVMLocked(vm)
	}
	s.kickRefresh()
	s.log.WithFields(logrus.Fields{"volume": v.ID, "node": n.id, "lun": lun, "hostGroup": hg, "fabrics": strings.Join(fabs, ",")}).Info("volume attached")
	return at, nil
}

func publishContext(v *inventory.Volume, lun int, targets []wwn.WWN, fabrics []string) map[string]string {
	ts := make([]string, len(targets))
	for i, t := range targets {
		ts[i] = t.String()
	}
	return map[string]string{
		"lun":         strconv.Itoa(lun),
		"volumeWWN":   v.WWN,
		"targetWWPNs": strings.Join(ts, ","),
		"fabrics":     strings.Join(fabrics, ","),
	}
}

// Detach undoes Attach: the map is removed, then the zones only this
// attachment needed (the Zoner keeps those other attachments hold).
// Detaching what is not attached is fine; ErrNotFound for an unknown
// volume or node.
func (s *Service) Detach(ctx context.Context, volume, nodeID string) error {
	defer s.volLocks.Lock(volume)()
	s.RLock()
	_, vok := s.VolumeLocked(volume)
	rec, attached := s.attachments[attachKey(volume, nodeID)]
	_, hok := s.HostLocked(nodeID)
	_, mok := s.VMLocked(nodeID)
	s.RUnlock()
	switch {
	case attached:
	case !vok:
		return notFound("volume", volume)
	case !hok && !mok:
		return notFound("node (host or vm)", nodeID)
	default:
		return nil
	}
	if a := s.arrays[rec.Array]; a != nil {
		c, cancel := context.WithTimeout(ctx, s.cfg.DriverTimeout)
		err := a.Driver.Unmap(c, volume, rec.HostGroup)
		cancel()
		if err != nil {
			return deviceErr("array", a.ID, err)
		}
		s.reserve(rec.Array+"/"+rec.HostGroup, rec.LUN, "")
	}
	if err := s.zoner.ReleaseAll(ctx, attachUser(volume, nodeID)); err != nil {
		return MarkDevice("fabric", err)
	}
	s.Lock()
	defer s.Unlock()
	vm := s.vmVolumesLocked(node{id: nodeID, kind: rec.NodeKind}, volume, rec.LUN, false)
	err := s.st.Update(func(tx *store.Tx) error {
		if err := tx.Delete(kindAttachment, attachKey(volume, nodeID)); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if vm != nil {
			return tx.Put(inventory.KindVM, vm.ID, vm)
		}
		return nil
	})
	if err != nil {
		return inventory.StoreErr(err)
	}
	delete(s.attachments, attachKey(volume, nodeID))
	if vm != nil {
		s.SetVMLocked(vm)
	}
	s.kickRefresh()
	s.log.WithFields(logrus.Fields{"volume": volume, "node": nodeID}).Info("volume detached")
	return nil
}

// loginActive logs in a VM node's active vports that are not logged in
// (through its host's HBA on each fabric): the set that serves I/O must be
// on the fabric for the LUN to be reached. Hosts log in by themselves.
func (s *Service) loginActive(ctx context.Context, n node) error {
	if n.kind != "vm" {
		return nil
	}
	s.RLock()
	vm, _ := s.VMLocked(n.id)
	var active []inventory.Vport
	if vm != nil {
		for _, p := range vm.Vports {
			if p.Active {
				active = append(active, p)
			}
		}
	}
	s.RUnlock()
	var done []inventory.Vport
	for _, p := range active {
		if f := s.fabrics[p.Fabric]; f != nil && f.Obs.Load().LoggedIn(p.WWPN) {
			continue
		}
		if err := s.LoginVport(ctx, n.id, p.WWPN); err != nil {
			err = fmt.Errorf("logging in vm %s's active vport %s on %s: %w", n.id, p.WWPN, p.Fabric, err)
			for _, d := range done { // all the set, or none of it
				if lerr := s.LogoutVport(context.WithoutCancel(ctx), n.id, d.WWPN); lerr != nil {
					err = fmt.Errorf("%w; and logging %s out again failed: %v", err, d.WWPN, lerr)
				}
			}
			return err
		}
		done = append(done, p)
	}
	return nil
}

// vmVolumes returns the VM record n with the volume added to (or removed
// from) its volume list, so that its topology walks to the new LUN; nil
// when n is not a VM or nothing changes. The record is a copy: records are
// replaced, never changed in place. s.mu is held.
func (s *Service) vmVolumesLocked(n node, volume string, lun int, add bool) *inventory.VM {
	if n.kind != "vm" {
		return nil
	}
	vm, ok := s.VMLocked(n.id)
	if !ok {
		return nil
	}
	i := slices.IndexFunc(vm.Volumes, func(r inventory.VolumeRef) bool { return r.ID == volume })
	if add == (i >= 0) {
		return nil
	}
	nv := *vm
	if add {
		nv.Volumes = append(slices.Clip(vm.Volumes), inventory.VolumeRef{ID: volume, LUN: lun})
	} else {
		nv.Volumes = slices.Delete(slices.Clone(vm.Volumes), i, i+1)
	}
	nv.UpdatedAt = s.clk.Now()
	return &nv
}

// Attachments lists the attachments of a volume ("" for all), by volume
// then node.
func (s *Service) Attachments(volume string) []Attachment {
	s.RLock()
	defer s.RUnlock()
	out := []Attachment{}
	for _, r := range s.attachments {
		if volume == "" || r.Volume == volume {
			out = append(out, r.Attachment)
		}
	}
	slices.SortFunc(out, func(a, b Attachment) int {
		return strings.Compare(attachKey(a.Volume, a.Node), attachKey(b.Volume, b.Node))
	})
	return out
}

// nodeAttached reports an attachment of the node, if any; s.mu is held.
func (s *Service) nodeAttachedLocked(id string) (string, bool) {
	for _, r := range s.attachments {
		if r.Node == id {
			return r.Volume, true
		}
	}
	return "", false
}

// loadAttachments reads the attachment records and gives the Zoner back
// the intents each holds.
func (s *Service) loadAttachments() error {
	recs := map[string]*attachRecord{}
	if err := inventory.LoadKind(s.st, kindAttachment, func(r *attachRecord) { recs[attachKey(r.Volume, r.Node)] = r }); err != nil {
		return err
	}
	for _, r := range recs {
		ins := make([]fabric.Intent, len(r.Intents))
		for i, ir := range r.Intents {
			ins[i] = ir.intent()
		}
		if err := s.zoner.Adopt(attachUser(r.Volume, r.Node), ins); err != nil {
			s.log.WithError(err).WithField("volume", r.Volume).WithField("node", r.Node).Warn("attachment's zone intents refused")
		}
	}
	s.Lock()
	s.attachments = recs
	for _, r := range recs {
		k := r.Array + "/" + r.HostGroup
		if s.reserved[k] == nil {
			s.reserved[k] = map[int]string{}
		}
		s.reserved[k][r.LUN] = r.Volume
	}
	s.Unlock()
	return nil
}

// kickRefresh asks the refresh loop to re-read the devices soon, so that
// the observed model catches up with a change sanmob just made.
func (s *Service) kickRefresh() { s.dev.Kick() }

// Capacity reports what the placement spec narrows to can still take.
func (s *Service) Capacity(spec CapacitySpec) (Capacity, error) {
	thin := spec.Thin == nil || *spec.Thin
	cands, err := s.candidates(spec.Site, spec.Array, spec.Pool, thin)
	if err != nil {
		return Capacity{}, err
	}
	var c Capacity
	for _, x := range cands {
		c.AvailableBytes += x.room
		c.MaximumVolumeBytes = max(c.MaximumVolumeBytes, x.room)
	}
	return c, nil
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}
