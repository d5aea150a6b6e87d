package mobility

import (
	"crypto/sha256"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/sanmob/sanmob/array"
	"github.com/sanmob/sanmob/devices"
	"github.com/sanmob/sanmob/fabric"
	"github.com/sanmob/sanmob/fabric/wwn"
	"github.com/sanmob/sanmob/inventory"
)

const kindAttachment = "attachment"

// attachRecord is an attachment as stored: enough to undo it after a
// restart (the host group, the LUN, the zone intents it holds).
type attachRecord struct {
	Attachment
	Intents []intentRecord `json:"intents"`
	// Initiators and TargetPorts are the map the attach made, so that a
	// detach that fails for good can put it back as it was.
	Initiators  []wwn.WWN `json:"initiators,omitempty"`
	TargetPorts []wwn.WWN `json:"targetPorts,omitempty"`
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

// zoneIntents is what lets node n reach the array's targets: each of its
// initiators with each target on the initiator's fabric, fabrics in order.
func zoneIntents(n node, targets map[string][]wwn.WWN, arrayID string) []intentRecord {
	var out []intentRecord
	for _, fid := range sortedKeys(targets) {
		for _, ini := range n.initiators[fid] {
			for _, t := range targets[fid] {
				out = append(out, intentRecord{Fabric: fid, Initiator: ini, Target: t, InitiatorLabel: n.id, TargetLabel: arrayID})
			}
		}
	}
	return out
}

// targetsFor picks, on each fabric the node sits on, the array's target
// ports logged in there that prefer names (the ports the node's host group
// presents through already), else up to two of them — the same two for
// every volume of the node (its zones are then shared), spread across
// nodes by a hash.
func (s *Service) targetsFor(n node, a *devices.ArrayDev, o *devices.ArrayObs, prefer []wwn.WWN) (map[string][]wwn.WWN, error) {
	out := map[string][]wwn.WWN{}
	h := sha256.Sum256([]byte(n.id))
	var unread []string
	for fid := range n.initiators {
		f := s.fabrics[fid]
		if f == nil {
			continue
		}
		fo := f.Obs.Load()
		if fo == nil {
			unread = append(unread, fid) // not read since the start: who is logged in there is unknown
			continue
		}
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
		if kept := slices.DeleteFunc(slices.Clone(ports), func(p wwn.WWN) bool { return !slices.Contains(prefer, p) }); len(kept) > 0 {
			out[fid] = kept
			continue
		}
		k := int(h[0]) % len(ports)
		for i := range min(2, len(ports)) {
			out[fid] = append(out[fid], ports[(k+i)%len(ports)])
		}
	}
	if len(out) == 0 && len(unread) > 0 {
		// Not a refusal: the fabrics have not answered yet (a read failed
		// since the start). Retry once they have.
		slices.Sort(unread)
		return nil, fmt.Errorf("array %s: no fabric of %s %s with its target ports has been read yet (%s unread): %w",
			a.ID, n.kind, n.id, strings.Join(unread, ", "), ErrUnavailable)
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
	s.reserveLocked(hostGroup, lun, volume)
}

// reserveLocked is reserve with the inventory's lock held.
func (s *Service) reserveLocked(hostGroup string, lun int, volume string) {
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
			return fmt.Sprintf("volume %q is attached; detach it first", r.Volume), true
		}
	}
	if r, moving, _ := s.sagas.Active(sagaMigration, id); moving {
		return fmt.Sprintf("migration %s is under way (phase %s)", r.ID, phases[r.State]), true
	}
	return "", false
}

// kickRefresh asks the refresh loop to re-read the devices soon, so that
// the observed model catches up with a change sanmob just made.
func (s *Service) kickRefresh() { s.dev.Kick() }
