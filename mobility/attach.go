package mobility

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
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
