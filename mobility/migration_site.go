package mobility

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/sanmob/sanmob/array"
	"github.com/sanmob/sanmob/devices"
	"github.com/sanmob/sanmob/fabric/wwn"
	"github.com/sanmob/sanmob/inventory"
)

// A cross-site move copies the VM's volumes to an array at the destination
// site, replicates them there as one consistency group, re-zones the VM's
// vports on the destination fabrics to that array's target ports, presents
// the replicas to them under the same LUN ids, and only then hands storage
// and compute over together (the cutover). Afterwards the source is
// cleaned and the replication reversed, so that the old home is the new
// replica. Every step below is idempotent against the devices and has an
// undo; the run's record holds every choice (siteMove) before the first
// device call.

// Replication policies: what becomes of the group after a cross-site move.
const (
	PolicyReverse = "reverse" // the old source becomes the replica (SRM's reprotect)
	PolicyRemove  = "remove"  // replication stops and the source volumes are deleted
)

// Poll periods of the steps that wait for a device, on the service clock
// (the lab's virtual clock in lab mode).
const (
	syncPoll     = 5 * time.Second
	promotePoll  = time.Second
	syncLagLimit = 64 << 20 // bytes a group may lag and still count as in sync (async)
)

// moveVolume is one volume a cross-site move copies and re-presents.
type moveVolume struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	SizeBytes int64  `json:"sizeBytes"`
	Thin      bool   `json:"thin"`
	WWN       string `json:"wwn"`
	LUN       int    `json:"lun"`
	// The source map: where it is presented now, which clean-source
	// removes and its undo puts back.
	SrcArray       string    `json:"sourceArray"`
	SrcPool        string    `json:"sourcePool"`
	SrcHostGroup   string    `json:"sourceHostGroup"`
	SrcInitiators  []wwn.WWN `json:"sourceInitiators"`
	SrcTargetPorts []wwn.WWN `json:"sourceTargetPorts"`
	SrcWritable    bool      `json:"sourceWritable"`
	DestPool       string    `json:"destPool"`
	// ReplicaExisted: the destination array held the volume already (a
	// move back over a reversed group): neither created nor deleted here.
	ReplicaExisted bool `json:"replicaExisted,omitempty"`
	// SrcReplica is the volume's replica before the move (that of a
	// reversed group, for a move back), which activate's undo puts back.
	SrcReplica *inventory.VolumeReplica `json:"sourceReplica,omitempty"`
}

// siteMove is the part of a migration's plan that a cross-site move adds.
type siteMove struct {
	DestArray      string            `json:"destArray"`
	DestSite       string            `json:"destSite"`
	Group          string            `json:"group"`
	GroupExisted   bool              `json:"groupExisted,omitempty"`
	ReplMode       string            `json:"replicationMode"`
	Policy         string            `json:"policy"`
	Volumes        []moveVolume      `json:"volumes"`
	FabricMap      map[string]string `json:"fabricMap"` // the VM's fabric → the destination fabric
	DestHostGroup  string            `json:"destHostGroup"`
	DestInitiators []wwn.WWN         `json:"destInitiators"`
	DestTargets    []wwn.WWN         `json:"destTargets"`
	DestIntents    []intentRecord    `json:"destIntents"`
	// SrcHolds are the zone intents each Zoner user holds for the VM at
	// the source: clean-source releases them, its undo ensures them back.
	SrcHolds map[string][]intentRecord `json:"sourceHolds"`
	// Attachments are the VM's attachment records when the move was
	// planned; activate points them at the destination and its undo puts
	// these back.
	Attachments []attachRecord `json:"attachments,omitempty"`
}

// replicationGroupOf names a VM's consistency group: one per VM, whichever
// way it replicates.
func replicationGroupOf(vm string) string { return "vm-" + vm }

// fabricMapOf is the plan's match of the VM's fabrics with the destination
// host's, checked to cover every vport.
func fabricMapOf(plan MigrationPlan, vm *inventory.VM) (map[string]string, error) {
	for _, vp := range vm.Vports {
		if _, ok := plan.FabricMap[vp.Fabric]; !ok {
			return nil, fmt.Errorf("the plan puts the VM's vports of fabric %s on no fabric of host %s: %w", vp.Fabric, plan.DestinationHost, ErrConflict)
		}
	}
	return plan.FabricMap, nil
}

// moveEnds is the VM a plan moves and its destination host, as recorded.
func (s *Service) moveEnds(plan MigrationPlan) (*inventory.VM, *inventory.Host, error) {
	s.RLock()
	defer s.RUnlock()
	vm, _ := s.VMLocked(plan.VM)
	dst, _ := s.HostLocked(plan.DestinationHost)
	if vm == nil || dst == nil {
		return nil, nil, notFound("vm or host", plan.VM+" "+plan.DestinationHost)
	}
	return vm, dst, nil
}

// planSite fills a cross-site move's plan from the model and the devices
// as last observed.
func (s *Service) planSite(ctx context.Context, plan MigrationPlan, p *migrationPlan) error {
	rep, err := s.replicator(plan.DestArray)
	if err != nil {
		return err
	}
	dest := s.arrays[plan.DestArray]
	// The plan copies maps and replicas as the arrays hold them: read
	// them now, not as last refreshed (an attach or a rolled-back move a
	// moment ago would be missed: a source map left behind, a replica
	// taken for existing).
	s.readArrayNow(ctx, dest)
	do := dest.Obs.Load()
	if do == nil {
		return fmt.Errorf("array %s has not been read: %w", dest.ID, ErrUnavailable)
	}
	vm, dst, err := s.moveEnds(plan)
	if err != nil {
		return err
	}
	sm := &siteMove{DestArray: dest.ID, DestSite: dest.Site, Group: replicationGroupOf(vm.ID), Policy: cmp.Or(plan.Replication, PolicyReverse),
		SrcHolds: map[string][]intentRecord{}, ReplMode: array.ReplicaAsync}
	for _, l := range s.Links() {
		if (l.From == vm.Site && l.To == dest.Site || l.To == vm.Site && l.From == dest.Site) && l.RTTMs <= DefaultSyncRTTLimitMs {
			sm.ReplMode = array.ReplicaSync
		}
	}
	// Fabrics: the VM's, matched with the destination host's as planned.
	fm, err := fabricMapOf(plan, vm)
	if err != nil {
		return err
	}
	sm.FabricMap = fm
	if err := s.destPaths(vm, dst.Site, dest, do, sm); err != nil {
		return err
	}
	// The volumes, each with its source map.
	read := map[string]bool{dest.ID: true}
	for _, ref := range vm.Volumes {
		v, err := s.Volume(ref.ID)
		if err != nil {
			return err
		}
		src := s.arrays[v.Array]
		if src != nil && !read[src.ID] {
			s.readArrayNow(ctx, src)
			read[src.ID] = true
		}
		if src == nil || src.Obs.Load() == nil {
			return fmt.Errorf("volume %s's array %s has not been read: %w", v.ID, v.Array, ErrUnavailable)
		}
		if _, err := s.replicator(src.ID); err != nil {
			return err
		}
		mv := moveVolume{ID: v.ID, Name: v.Name, SizeBytes: v.SizeBytes, Thin: v.Thin, WWN: v.WWN, LUN: ref.LUN,
			SrcArray: v.Array, SrcPool: v.Pool, DestPool: plan.DestPools[v.ID], SrcReplica: v.Replica}
		sourceMap(&mv, src.Obs.Load(), sm.DestInitiators)
		sm.Volumes = append(sm.Volumes, mv)
	}
	if len(sm.Volumes) > 0 && sm.Volumes[0].SrcArray == dest.ID {
		return fmt.Errorf("vm %s's volumes are on array %s already: %w", vm.ID, dest.ID, ErrConflict)
	}
	// An existing group of these volumes toward the destination (a move
	// back over a reversed group) is used as it is.
	c, cancel := context.WithTimeout(ctx, s.cfg.DriverTimeout)
	defer cancel()
	groups, err := rep.ReplicationGroups(c)
	if err != nil {
		return deviceErr("array", dest.ID, err)
	}
	if i := slices.IndexFunc(groups, func(g array.ReplicationGroup) bool { return g.ID == sm.Group }); i >= 0 {
		g := groups[i]
		if len(sm.Volumes) == 0 || g.SourceArray != sm.Volumes[0].SrcArray || g.TargetArray != dest.ID {
			return fmt.Errorf("replication group %s replicates %s to %s, not this move's way: %w", g.ID, g.SourceArray, g.TargetArray, ErrConflict)
		}
		sm.GroupExisted = true
	}
	// A replica exists when the group that replicates to it does; a volume
	// of the id on the destination without one (a leftover, or an
	// observation older than a rollback's delete) is made again, which
	// the array answers as it is when it matches, or refuses.
	for i := range sm.Volumes {
		mv := &sm.Volumes[i]
		if sm.GroupExisted {
			mv.ReplicaExisted = true
			if dv, ok, _ := do.Volume(mv.ID); ok {
				mv.DestPool = dv.Pool // the replica's own pool, not the one a fresh copy would take
			}
		}
		if mv.DestPool == "" && !mv.ReplicaExisted {
			return fmt.Errorf("volume %s has no destination pool: %w", mv.ID, ErrConflict)
		}
	}
	s.sourceHolds(vm.ID, sm)
	p.Site = sm
	return nil
}

// destPaths fills in sm the VM's vports on the destination fabrics
// (sm.FabricMap), the target ports of array a it gets there, the zones
// between them and the host group that presents to them; every fabric the
// vports land on must reach the array — one left out would leave the VM
// with half its paths.
func (s *Service) destPaths(vm *inventory.VM, site string, a *devices.ArrayDev, o *devices.ArrayObs, sm *siteMove) error {
	n := node{id: vm.ID, kind: "vm", site: site, initiators: map[string][]wwn.WWN{}}
	for _, vp := range vm.Vports {
		f := sm.FabricMap[vp.Fabric]
		n.initiators[f] = append(n.initiators[f], vp.WWPN)
	}
	var groupPorts []wwn.WWN
	if _, _, maps := hostGroupOf(n, o); len(maps) > 0 {
		groupPorts = o.Mappings[maps[0]].TargetPorts
	}
	targets, err := s.targetsFor(n, a, o, groupPorts)
	if err != nil {
		return err
	}
	for _, f := range sortedKeys(n.initiators) {
		if len(targets[f]) > 0 {
			continue
		}
		if fd := s.fabrics[f]; fd == nil || fd.Obs.Load() == nil || fd.Status.Load() != nil && fd.Status.Load().Err != nil {
			return fmt.Errorf("fabric %s has not been read lately: cannot choose the destination's target ports there: %w", f, ErrUnavailable)
		}
		return fmt.Errorf("array %s has no target port logged in on fabric %s, where the VM's vports would land: %w", a.ID, f, ErrConflict)
	}
	for _, fid := range sortedKeys(n.initiators) {
		sm.DestInitiators = append(sm.DestInitiators, n.initiators[fid]...)
	}
	for _, fid := range sortedKeys(targets) {
		sm.DestTargets = append(sm.DestTargets, targets[fid]...)
	}
	sm.DestIntents = zoneIntents(n, targets, a.ID)
	sm.DestHostGroup, _, _ = hostGroupOf(n, o)
	return nil
}

// sourceMap fills in mv the map that presents it to the VM (one of its
// initiators) as the array was last read: what the move leaves or puts back.
func sourceMap(mv *moveVolume, o *devices.ArrayObs, initiators []wwn.WWN) {
	_, _, vi := o.Volume(mv.ID)
	for _, mi := range o.MappingsOf(vi) {
		m := o.Mappings[mi]
		if slices.ContainsFunc(m.Initiators, func(w wwn.WWN) bool { return slices.Contains(initiators, w) }) {
			mv.SrcHostGroup, mv.SrcInitiators, mv.SrcTargetPorts, mv.LUN, mv.SrcWritable = m.HostGroup, m.Initiators, m.TargetPorts, m.LUN, m.Writable
			return
		}
	}
}

// sourceHolds records in sm the VM's attachments and the zone intents each
// Zoner user holds for the VM now: the VM's own and its attachments'.
func (s *Service) sourceHolds(vm string, sm *siteMove) {
	users := []string{inventory.VMZoningUser(vm)}
	s.RLock()
	for _, r := range s.attachments {
		if r.Node == vm {
			sm.Attachments = append(sm.Attachments, *r)
			users = append(users, attachUser(r.Volume, r.Node))
		}
	}
	s.RUnlock()
	slices.SortFunc(sm.Attachments, func(a, b attachRecord) int { return cmp.Compare(a.Volume, b.Volume) })
	for _, u := range users {
		for _, in := range s.zoner.Holds(u) {
			sm.SrcHolds[u] = append(sm.SrcHolds[u], intentRecord{Fabric: in.Fabric, Initiator: in.Initiator, Target: in.Target,
				InitiatorLabel: in.InitiatorLabel, TargetLabel: in.TargetLabel})
		}
	}
}

// remapIdle puts a cross-site move's idle vports on the destination
// fabrics its plan matched, through the destination host's HBA there.
func (s *Service) remapIdle(p *migrationPlan) {
	s.RLock()
	dst, _ := s.HostLocked(p.DestHost)
	s.RUnlock()
	for i := range p.Idle {
		vp := &p.Idle[i]
		vp.Fabric = p.Site.FabricMap[vp.Fabric]
		if dst == nil {
			continue
		}
		if j := slices.IndexFunc(dst.HBAs, func(b inventory.HBA) bool { return b.Fabric == vp.Fabric }); j >= 0 {
			vp.HBA, vp.Max = dst.HBAs[j].WWPN, dst.HBAs[j].MaxVports
		}
	}
}
