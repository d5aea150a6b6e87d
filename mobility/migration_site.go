package mobility

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/sanmob/sanmob/array"
	"github.com/sanmob/sanmob/compute"
	"github.com/sanmob/sanmob/errclass"
	"github.com/sanmob/sanmob/fabric/wwn"
	"github.com/sanmob/sanmob/internal/clockwait"
	"github.com/sanmob/sanmob/inventory"
	"github.com/sanmob/sanmob/saga"
	"github.com/sanmob/sanmob/store"
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
	PowerWasOn  bool           `json:"powerWasOn"`
}

// fabricMapFor pairs each fabric the VM uses with one of the destination
// host's: the same fabric, else one with the same last letter (site-a →
// other-a: the A side stays the A side), else the remaining ones in order.
func fabricMapFor(vmFabrics []string, destFabrics []string) (map[string]string, error) {
	out := map[string]string{}
	taken := map[string]bool{}
	suffix := func(f string) string { return f[strings.LastIndexByte(f, '-')+1:] }
	for _, pass := range []func(src, dst string) bool{
		func(src, dst string) bool { return src == dst },
		func(src, dst string) bool { return suffix(src) == suffix(dst) },
		func(string, string) bool { return true },
	} {
		for _, f := range vmFabrics {
			if _, ok := out[f]; ok {
				continue
			}
			for _, d := range destFabrics {
				if !taken[d] && pass(f, d) {
					out[f], taken[d] = d, true
					break
				}
			}
		}
	}
	for _, f := range vmFabrics {
		if _, ok := out[f]; !ok {
			return nil, fmt.Errorf("the destination host has no fabric left for the VM's vports of fabric %s: %w", f, ErrConflict)
		}
	}
	return out, nil
}

// planSite fills a cross-site move's plan from the model and the devices
// as last observed.
func (s *Service) planSite(ctx context.Context, plan MigrationPlan, p *migrationPlan) error {
	dest := s.arrays[plan.DestArray]
	if dest == nil {
		return fmt.Errorf("destination array %q is not configured: %w", plan.DestArray, ErrConflict)
	}
	rep, ok := dest.Driver.(array.Replicator)
	if !ok {
		return fmt.Errorf("array %s cannot replicate: %w", dest.ID, ErrNotImplemented)
	}
	// The plan copies maps and replicas as the arrays hold them: read
	// them now, not as last refreshed (an attach or a rolled-back move a
	// moment ago would be missed: a source map left behind, a replica
	// taken for existing).
	s.readArrayNow(ctx, dest)
	do := dest.Obs.Load()
	if do == nil {
		return fmt.Errorf("array %s has not been read: %w", dest.ID, ErrUnavailable)
	}
	s.RLock()
	vm, _ := s.VMLocked(plan.VM)
	dst, _ := s.HostLocked(plan.DestinationHost)
	s.RUnlock()
	if vm == nil || dst == nil {
		return notFound("vm or host", plan.VM+" "+plan.DestinationHost)
	}
	sm := &siteMove{DestArray: dest.ID, DestSite: dest.Site, Group: "vm-" + vm.ID, Policy: cmp.Or(plan.Replication, PolicyReverse),
		SrcHolds: map[string][]intentRecord{}, ReplMode: array.ReplicaAsync}
	for _, l := range s.Links() {
		if (l.From == vm.Site && l.To == dest.Site || l.To == vm.Site && l.From == dest.Site) && l.RTTMs <= DefaultSyncRTTLimitMs {
			sm.ReplMode = array.ReplicaSync
		}
	}
	// Fabrics: the VM's, matched with the destination host's.
	var vmFabs, destFabs []string
	for _, vp := range vm.Vports {
		if !slices.Contains(vmFabs, vp.Fabric) {
			vmFabs = append(vmFabs, vp.Fabric)
		}
	}
	for _, b := range dst.HBAs {
		if b.Fabric != "" && !slices.Contains(destFabs, b.Fabric) {
			destFabs = append(destFabs, b.Fabric)
		}
	}
	slices.Sort(vmFabs)
	slices.Sort(destFabs)
	fm, err := fabricMapFor(vmFabs, destFabs)
	if err != nil {
		return err
	}
	sm.FabricMap = fm
	// The vports, each on its destination fabric.
	n := node{id: vm.ID, kind: "vm", site: dst.Site, initiators: map[string][]wwn.WWN{}}
	for _, vp := range vm.Vports {
		n.initiators[fm[vp.Fabric]] = append(n.initiators[fm[vp.Fabric]], vp.WWPN)
	}
	targets, err := s.targetsFor(n, dest, do)
	if err != nil {
		return err
	}
	// Every fabric the VM's vports land on must reach the destination
	// array: a fabric left out would leave the VM with half its paths.
	for _, f := range sortedKeys(n.initiators) {
		if len(targets[f]) > 0 {
			continue
		}
		if fd := s.fabrics[f]; fd == nil || fd.Obs.Load() == nil || fd.Status.Load() != nil && fd.Status.Load().Err != nil {
			return fmt.Errorf("fabric %s has not been read lately: cannot choose the destination's target ports there: %w", f, ErrUnavailable)
		}
		return fmt.Errorf("array %s has no target port logged in on fabric %s, where the VM's vports would land: %w", dest.ID, f, ErrConflict)
	}
	for _, fid := range sortedKeys(n.initiators) {
		sm.DestInitiators = append(sm.DestInitiators, n.initiators[fid]...)
		for _, ini := range n.initiators[fid] {
			for _, t := range targets[fid] {
				sm.DestIntents = append(sm.DestIntents, intentRecord{Fabric: fid, Initiator: ini, Target: t, InitiatorLabel: vm.ID, TargetLabel: dest.ID})
			}
		}
	}
	for _, fid := range sortedKeys(targets) {
		sm.DestTargets = append(sm.DestTargets, targets[fid]...)
	}
	sm.DestHostGroup, _, _ = hostGroupOf(n, do)
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
		if _, ok := src.Driver.(array.Replicator); !ok {
			return fmt.Errorf("array %s cannot replicate: %w", src.ID, ErrNotImplemented)
		}
		mv := moveVolume{ID: v.ID, Name: v.Name, SizeBytes: v.SizeBytes, Thin: v.Thin, WWN: v.WWN, LUN: ref.LUN,
			SrcArray: v.Array, SrcPool: v.Pool, DestPool: plan.DestPools[v.ID], SrcReplica: v.Replica}
		so := src.Obs.Load()
		_, _, vi := so.Volume(v.ID)
		for _, mi := range so.MappingsOf(vi) {
			m := so.Mappings[mi]
			if slices.ContainsFunc(m.Initiators, func(w wwn.WWN) bool { return slices.Contains(sm.DestInitiators, w) }) {
				mv.SrcHostGroup, mv.SrcInitiators, mv.SrcTargetPorts, mv.LUN, mv.SrcWritable = m.HostGroup, m.Initiators, m.TargetPorts, m.LUN, m.Writable
				break
			}
		}
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
	// Zone intents each user holds for the VM now, and its attachments.
	users := []string{inventory.VMZoningUser(vm.ID)}
	s.RLock()
	for _, r := range s.attachments {
		if r.Node == vm.ID {
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
	// The power state a rollback restores: unknown until the hypervisor
	// manager answers once.
	co := s.dev.Compute()
	if co == nil {
		return fmt.Errorf("the hypervisor manager has not been read: %w", ErrUnavailable)
	}
	sm.PowerWasOn = true
	for _, cv := range co.VMs {
		if cv.ID == vm.ID && cv.Power == compute.PowerOff {
			sm.PowerWasOn = false
		}
	}
	p.Site = sm
	return nil
}

// siteSteps is the plan of a cross-site move:
//
//	reserve → create-replicas → replicate → await-sync → zone-dest →
//	present → login-idle → cutover → activate → logout-old →
//	clean-source → settle-replication → verify
func (s *Service) siteSteps(p migrationPlan) []saga.Step {
	sm := p.Site
	return []saga.Step{
		{Name: "reserve", Local: true, Do: s.reserveDest(p, true), Undo: s.reserveDest(p, false)},
		{Name: "create-replicas", Do: s.createReplicas(sm), Undo: s.deleteReplicas(sm)},
		{Name: "replicate", Do: s.startReplication(sm), Undo: s.stopReplication(sm)},
		{Name: "await-sync", Do: s.awaitSync(sm)},
		{Name: "zone-dest", Do: s.zoneDest(p, true), Undo: s.zoneDest(p, false)},
		{Name: "present", Do: s.present(sm, true), Undo: s.present(sm, false)},
		{Name: "login-idle", Do: s.loginSet(p.Idle), Undo: s.logoutSet(p.Idle)},
		{Name: "cutover", Do: s.cutover(p, true), Undo: s.cutover(p, false)},
		{Name: "activate", Local: true, Do: s.activateSite(p, true), Undo: s.activateSite(p, false)},
		{Name: "logout-old", Do: s.logoutSet(p.Active), Undo: s.loginSet(p.Active)},
		{Name: "clean-source", Do: s.cleanSource(p, true), Undo: s.cleanSource(p, false)},
		{Name: "settle-replication", Do: s.settleReplication(sm)},
		{Name: "verify", Do: s.verifyMove(p)},
	}
}

type stepFn = func(context.Context, *saga.Exec) error

// reserveDest holds the replicas' sizes against the destination pools
// while the move runs, so that plans made meanwhile (an evacuation's next
// VM) see the room as taken before the array does.
func (s *Service) reserveDest(p migrationPlan, on bool) stepFn {
	return func(context.Context, *saga.Exec) error {
		s.holdPools(p.VM, p.Site, on)
		return nil
	}
}

// holdPools sets or drops a move's hold on its destination pools.
func (s *Service) holdPools(vm string, sm *siteMove, on bool) {
	s.poolMu.Lock()
	defer s.poolMu.Unlock()
	if !on {
		delete(s.poolHolds, vm)
		return
	}
	h := map[string]int64{}
	for _, v := range sm.Volumes {
		if !v.ReplicaExisted {
			h[sm.DestArray+"/"+v.DestPool] += v.SizeBytes
		}
	}
	s.poolHolds[vm] = h
}

// swapHold sets vm's hold to h (none when nil) and returns the one it
// replaced.
func (s *Service) swapHold(vm string, h map[string]int64) map[string]int64 {
	s.poolMu.Lock()
	defer s.poolMu.Unlock()
	prev := s.poolHolds[vm]
	if h == nil {
		delete(s.poolHolds, vm)
	} else {
		s.poolHolds[vm] = h
	}
	return prev
}

// heldBytes is what running moves hold of a pool.
func (s *Service) heldBytes(arrayID, pool string) int64 {
	s.poolMu.Lock()
	defer s.poolMu.Unlock()
	var n int64
	for _, h := range s.poolHolds {
		n += h[arrayID+"/"+pool]
	}
	return n
}

// replicator is the replication capability of a configured array.
func (s *Service) replicator(id string) (array.Replicator, error) {
	a := s.arrays[id]
	if a == nil {
		return nil, fmt.Errorf("array %s is not configured: %w", id, ErrConflict)
	}
	r, ok := a.Driver.(array.Replicator)
	if !ok {
		return nil, fmt.Errorf("array %s cannot replicate: %w", id, ErrNotImplemented)
	}
	return r, nil
}

func (s *Service) createReplicas(sm *siteMove) stepFn {
	return func(ctx context.Context, _ *saga.Exec) error {
		a := s.arrays[sm.DestArray]
		for _, v := range sm.Volumes {
			if v.ReplicaExisted {
				continue
			}
			c, cancel := context.WithTimeout(ctx, s.cfg.DriverTimeout)
			_, err := a.Driver.CreateVolume(c, array.VolumeSpec{ID: v.ID, Name: v.Name, Pool: v.DestPool, SizeBytes: v.SizeBytes, Thin: v.Thin, WWN: v.WWN})
			cancel()
			if err != nil {
				return fmt.Errorf("creating the replica of volume %s in pool %s: %w", v.ID, v.DestPool, deviceErr("array", a.ID, err))
			}
		}
		return nil
	}
}

func (s *Service) deleteReplicas(sm *siteMove) stepFn {
	return func(ctx context.Context, _ *saga.Exec) error {
		a := s.arrays[sm.DestArray]
		for _, v := range sm.Volumes {
			if v.ReplicaExisted {
				continue
			}
			c, cancel := context.WithTimeout(ctx, s.cfg.DriverTimeout)
			err := a.Driver.DeleteVolume(c, v.ID)
			cancel()
			if err != nil && !errors.Is(err, array.ErrNotFound) {
				return fmt.Errorf("deleting the replica of volume %s: %w", v.ID, deviceErr("array", a.ID, err))
			}
		}
		s.kickRefresh()
		return nil
	}
}

// linkOf names the inter-site link a move's copy runs over.
func (s *Service) linkOf(sm *siteMove) string {
	a, b := s.arrays[sm.Volumes[0].SrcArray].Site, sm.DestSite
	if b < a {
		a, b = b, a
	}
	return a + "-" + b
}

// takeCopySlot waits until the move's initial copy may run over its link
// (Config.CopiesPerLink at once).
func (s *Service) takeCopySlot(ctx context.Context, sm *siteMove) error {
	return s.copies.acquire(ctx, s.linkOf(sm), sm.Group, s.cfg.CopiesPerLink)
}

func (s *Service) startReplication(sm *siteMove) stepFn {
	return func(ctx context.Context, _ *saga.Exec) error {
		if sm.GroupExisted || len(sm.Volumes) == 0 {
			return nil
		}
		if err := s.takeCopySlot(ctx, sm); err != nil {
			return err
		}
		rep, err := s.replicator(sm.Volumes[0].SrcArray)
		if err != nil {
			return err
		}
		spec := array.ReplicationGroupSpec{ID: sm.Group, SourceArray: sm.Volumes[0].SrcArray, TargetArray: sm.DestArray, Mode: sm.ReplMode}
		for _, v := range sm.Volumes {
			spec.Pairs = append(spec.Pairs, array.ReplicaPairSpec{SourceVolume: v.ID, TargetVolume: v.ID})
		}
		c, cancel := context.WithTimeout(ctx, s.cfg.DriverTimeout)
		defer cancel()
		if _, err := rep.CreateReplicationGroup(c, spec); err != nil {
			return fmt.Errorf("starting replication group %s: %w", sm.Group, deviceErr("array", spec.SourceArray, err))
		}
		return nil
	}
}

func (s *Service) stopReplication(sm *siteMove) stepFn {
	return func(ctx context.Context, _ *saga.Exec) error {
		s.copies.release(sm.Group)
		if sm.GroupExisted || len(sm.Volumes) == 0 {
			return nil
		}
		rep, err := s.replicator(sm.Volumes[0].SrcArray)
		if err != nil {
			return err
		}
		c, cancel := context.WithTimeout(ctx, s.cfg.DriverTimeout)
		defer cancel()
		if err := rep.DeleteReplicationGroup(c, sm.Group); err != nil && !errors.Is(err, array.ErrNotFound) {
			return fmt.Errorf("removing replication group %s: %w", sm.Group, deviceErr("array", sm.Volumes[0].SrcArray, err))
		}
		return nil
	}
}

// group reads one replication group from the array that holds it.
func (s *Service) group(ctx context.Context, arrayID, id string) (array.ReplicationGroup, error) {
	rep, err := s.replicator(arrayID)
	if err != nil {
		return array.ReplicationGroup{}, err
	}
	c, cancel := context.WithTimeout(ctx, s.cfg.DriverTimeout)
	defer cancel()
	gs, err := rep.ReplicationGroups(c)
	if err != nil {
		return array.ReplicationGroup{}, deviceErr("array", arrayID, err)
	}
	for _, g := range gs {
		if g.ID == id {
			return g, nil
		}
	}
	return array.ReplicationGroup{}, fmt.Errorf("replication group %s on array %s: %w", id, arrayID, ErrNotFound)
}

// awaitSync waits until the group's targets hold everything but the
// writes in flight (lag under syncLagLimit, none when synchronous). A
// suspended group (link down) is waited out: the step ends only when the
// group syncs, the run is aborted, or the group is INVALID.
func (s *Service) awaitSync(sm *siteMove) stepFn {
	return func(ctx context.Context, _ *saga.Exec) error {
		if len(sm.Volumes) == 0 {
			return nil
		}
		if !sm.GroupExisted {
			// Resumed after a restart, the copy takes its slot again.
			if err := s.takeCopySlot(ctx, sm); err != nil {
				return err
			}
		}
		logged := ""
		for {
			g, err := s.group(ctx, sm.DestArray, sm.Group)
			if err != nil && errclass.Of(err) != errclass.Transient {
				return err
			}
			if err == nil {
				switch {
				case g.State == array.GroupInvalid:
					return fmt.Errorf("replication group %s cannot replicate: %s: %w", g.ID, g.Error, ErrConflict)
				case (g.State == array.GroupSynchronized || g.State == array.GroupFailedOver) && g.LagBytes <= syncLagLimit:
					s.copies.release(sm.Group)
					return nil
				case g.State != logged:
					logged = g.State
					s.log.WithFields(logrus.Fields{"group": g.ID, "state": g.State, "lagBytes": g.LagBytes, "error": g.Error}).Info("waiting for replication to sync")
				}
			}
			if err := clockwait.Sleep(ctx, s.cfg.Clock, syncPoll); err != nil {
				return err
			}
		}
	}
}

func (s *Service) zoneDest(p migrationPlan, on bool) stepFn {
	return func(ctx context.Context, _ *saga.Exec) error {
		user := inventory.VMZoningUser(p.VM)
		if on {
			return MarkDevice("fabric", s.zoner.Ensure(ctx, user, intentsOf(p.Site.DestIntents)))
		}
		return MarkDevice("fabric", s.zoner.Release(ctx, user, intentsOf(p.Site.DestIntents)))
	}
}

// present maps every replica to the VM's vports at the destination under
// its LUN id (read-only until the cutover promotes them), or unmaps them.
func (s *Service) present(sm *siteMove, on bool) stepFn {
	return func(ctx context.Context, _ *saga.Exec) error {
		a := s.arrays[sm.DestArray]
		for _, v := range sm.Volumes {
			c, cancel := context.WithTimeout(ctx, s.cfg.DriverTimeout)
			var err error
			if on {
				err = a.Driver.Map(c, array.MapSpec{Volume: v.ID, HostGroup: sm.DestHostGroup, Initiators: sm.DestInitiators, LUN: v.LUN, TargetPorts: sm.DestTargets})
			} else if err = a.Driver.Unmap(c, v.ID, sm.DestHostGroup); errors.Is(err, array.ErrNotFound) {
				err = nil
			}
			cancel()
			if err != nil {
				return fmt.Errorf("presenting volume %s at LUN %d on array %s: %w", v.ID, v.LUN, a.ID, deviceErr("array", a.ID, err))
			}
		}
		s.readArrayNow(ctx, a)
		return nil
	}
}

// cutover is the one moment storage and compute change hands. A volume is
// never writable at two sites: the array refuses a promote while the other
// side is writable. Live: the compute moves first — the VM runs on its
// source storage while its memory is copied, however long the hypervisor
// (or an external manager) takes — and then storage is handed over at once
// (demote the source, promote the destination once the last writes have
// arrived: nothing is left to ship under synchronous replication), so the
// VM's writes wait only for that hand-over after its switch. Cold: power
// off, hand over, move, power on. Back: power off, hand back, cold move
// back, power on when it was on; each part a no-op where it is already so.
func (s *Service) cutover(p migrationPlan, forward bool) stepFn {
	return func(ctx context.Context, x *saga.Exec) error {
		sm := p.Site
		m, ok := s.cfg.Compute.(compute.Mover)
		if !ok {
			return fmt.Errorf("the compute driver cannot move VMs: %w", ErrNotImplemented)
		}
		host, storage := p.DestHost, sm.DestArray
		if !forward {
			host, storage = p.SourceHost, sm.Volumes[0].SrcArray
		}
		cold := p.Mode == ModeCold
		move := func(mode compute.MoveMode) error {
			c, cancel := s.computeCtx(ctx)
			err := m.Move(c, p.VM, host, mode)
			cancel()
			if err != nil {
				return fmt.Errorf("moving vm %s to %s: %w", p.VM, host, MarkDevice("host", err))
			}
			s.kickRefresh()
			return nil
		}
		if forward && !cold {
			if err := move(compute.MoveLive); err != nil {
				return err
			}
			return s.handOver(ctx, sm, storage)
		}
		// Cold: off before storage moves. Back: a VM that moved runs on
		// storage that is about to become read-only.
		if err := s.power(ctx, m, p.VM, false); err != nil {
			return err
		}
		if err := s.handOver(ctx, sm, storage); err != nil {
			return err
		}
		if err := move(compute.MoveCold); err != nil {
			return err
		}
		if sm.PowerWasOn || forward {
			return s.power(ctx, m, p.VM, true)
		}
		return nil
	}
}

func (s *Service) power(ctx context.Context, m compute.Mover, vm string, on bool) error {
	c, cancel := context.WithTimeout(ctx, s.cfg.DriverTimeout)
	defer cancel()
	var err error
	if on {
		err = m.PowerOn(c, vm)
	} else {
		err = m.PowerOff(c, vm)
	}
	if err != nil {
		return fmt.Errorf("powering vm %s %s: %w", vm, map[bool]string{true: "on", false: "off"}[on], MarkDevice("host", err))
	}
	return nil
}

// handOver makes the group's side on array the writable one: demote the
// other side, then promote this one, waiting while its last writes ship.
//
// Back (array is the source's, the cutover's undo), the group ends as it
// was before the move: the source array its writable source, replicating
// to the destination. A destination promoted by the cutover may have
// taken writes the source misses, which the array refuses to drop (a
// promote of the source after a failover is a conflict): the group is
// reversed first — the destination promoted again if a demote left no
// side writable — so that those writes ship back, the source promoted
// once they have, and the group reversed again.
func (s *Service) handOver(ctx context.Context, sm *siteMove, arrayID string) error {
	if len(sm.Volumes) == 0 {
		return nil
	}
	rep, err := s.replicator(sm.DestArray)
	if err != nil {
		return err
	}
	back := arrayID != sm.DestArray
	g, err := s.group(ctx, sm.DestArray, sm.Group)
	if errors.Is(err, ErrNotFound) && back {
		return nil // never created, or gone: the source kept its writes
	}
	if err != nil {
		return err
	}
	if back && g.SourceArray == arrayID && g.State == array.GroupFailedOver {
		if g.Writable == array.SideNone {
			if err := s.promote(ctx, rep, sm, sm.DestArray); err != nil {
				return err
			}
		}
		c, cancel := context.WithTimeout(ctx, s.cfg.DriverTimeout)
		err := rep.ReverseReplicationGroup(c, sm.Group)
		cancel()
		if err != nil {
			return fmt.Errorf("reversing replication group %s toward %s: %w", sm.Group, arrayID, deviceErr("array", sm.DestArray, err))
		}
		if g, err = s.group(ctx, sm.DestArray, sm.Group); err != nil {
			return err
		}
	}
	side := array.SideSource
	if g.TargetArray == arrayID {
		side = array.SideTarget
	}
	if g.Writable != side {
		if g.Writable != array.SideNone {
			c, cancel := context.WithTimeout(ctx, s.cfg.DriverTimeout)
			err := rep.DemoteReplicationGroup(c, sm.Group)
			cancel()
			if err != nil {
				return fmt.Errorf("demoting replication group %s: %w", sm.Group, deviceErr("array", sm.DestArray, err))
			}
		}
		if err := s.promote(ctx, rep, sm, arrayID); err != nil {
			return err
		}
	}
	if back && side == array.SideTarget {
		c, cancel := context.WithTimeout(ctx, s.cfg.DriverTimeout)
		err := rep.ReverseReplicationGroup(c, sm.Group)
		cancel()
		if err != nil {
			return fmt.Errorf("reversing replication group %s back to %s: %w", sm.Group, arrayID, deviceErr("array", sm.DestArray, err))
		}
	}
	return nil
}

// promote makes the group's side on arrayID writable, asking again while
// the other side's last writes are on their way.
func (s *Service) promote(ctx context.Context, rep array.Replicator, sm *siteMove, arrayID string) error {
	for {
		c, cancel := context.WithTimeout(ctx, s.cfg.DriverTimeout)
		err := rep.PromoteReplicationGroup(c, sm.Group, arrayID)
		cancel()
		if err == nil {
			s.readArrayNow(ctx, s.arrays[arrayID])
			return nil
		}
		if !array.IsTransient(err) || ctx.Err() != nil {
			return fmt.Errorf("promoting replication group %s at array %s: %w", sm.Group, arrayID, deviceErr("array", sm.DestArray, err))
		}
		// The final sync: the demoted side's last writes are on their way.
		if err := clockwait.Sleep(ctx, s.cfg.Clock, promotePoll); err != nil {
			return err
		}
	}
}

// activateSite writes, in one transaction, the VM, its volumes, its
// attachments and its placed zoning as the move leaves them (forward) or
// found them (back). From here the model says the VM lives at the
// destination.
func (s *Service) activateSite(p migrationPlan, forward bool) stepFn {
	return func(context.Context, *saga.Exec) error {
		sm := p.Site
		s.Lock()
		defer s.Unlock()
		vm, ok := s.VMLocked(p.VM)
		if !ok {
			return notFound("vm", p.VM)
		}
		nv := *vm
		nv.Vports = slices.Clone(vm.Vports)
		nv.Host, nv.Site = p.SourceHost, vm.Site
		back := map[string]string{}
		for k, v := range sm.FabricMap {
			back[v] = k
		}
		active := p.Active
		if forward {
			nv.Host, nv.Site, active = p.DestHost, sm.DestSite, p.Idle
		} else if h, ok := s.HostLocked(p.SourceHost); ok {
			nv.Site = h.Site
		}
		for i := range nv.Vports {
			vp := &nv.Vports[i]
			if f, ok := sm.FabricMap[vp.Fabric]; ok && forward {
				vp.Fabric = f
			} else if f, ok := back[vp.Fabric]; ok && !forward {
				vp.Fabric = f
			}
			vp.Active = slices.ContainsFunc(active, func(m moveVport) bool { return m.WWPN == vp.WWPN })
		}
		nv.UpdatedAt = s.clk.Now()
		var vols []*inventory.Volume
		for _, mv := range sm.Volumes {
			v, ok := s.VolumeLocked(mv.ID)
			if !ok {
				continue
			}
			c := *v
			if forward {
				c.Array, c.Pool, c.Replica = sm.DestArray, mv.DestPool, &inventory.VolumeReplica{Array: mv.SrcArray, Pool: mv.SrcPool, Group: sm.Group}
				if sm.Policy == PolicyRemove {
					c.Replica = nil
				}
			} else {
				c.Array, c.Pool, c.Replica = mv.SrcArray, mv.SrcPool, mv.SrcReplica
			}
			vols = append(vols, &c)
		}
		var recs []attachRecord
		for _, r := range sm.Attachments {
			if forward {
				r = s.movedAttachment(r, sm)
			}
			recs = append(recs, r)
		}
		intents := intentsOf(sm.DestIntents)
		if !forward {
			intents = intentsOf(sm.SrcHolds[inventory.VMZoningUser(p.VM)])
		}
		err := s.st.Update(func(tx *store.Tx) error {
			if err := tx.Put(inventory.KindVM, nv.ID, &nv); err != nil {
				return err
			}
			for _, v := range vols {
				if err := tx.Put(inventory.KindVolume, v.ID, v); err != nil {
					return err
				}
			}
			for _, r := range recs {
				if err := tx.Put(kindAttachment, attachKey(r.Volume, r.Node), r); err != nil {
					return err
				}
			}
			return inventory.PutVMZoning(tx, inventory.VMZoning{VM: p.VM, Intents: intents})
		})
		if err != nil {
			return inventory.StoreErr(err)
		}
		s.SetVMLocked(&nv)
		for _, v := range vols {
			s.SetVolumeLocked(v)
		}
		for _, r := range recs {
			c := r
			s.attachments[attachKey(r.Volume, r.Node)] = &c
			// The attachment's user holds the zones its record names: the
			// destination's too from here (clean-source releases the
			// source's), only the source's again when undone (the undo of
			// clean-source has ensured them back by then).
			user := attachUser(r.Volume, r.Node)
			if !forward {
				s.zoner.Forget(user)
			}
			if err := s.zoner.Adopt(user, r.intents()); err != nil {
				s.log.WithError(err).WithField("user", user).Warn("attachment's zone intents refused")
			}
		}
		s.SetVMZonedLocked(p.VM)
		s.kickRefresh()
		s.log.WithFields(logrus.Fields{"vm": p.VM, "host": nv.Host, "site": nv.Site}).Info("vm placement recorded")
		return nil
	}
}

// movedAttachment is an attachment record as a cross-site move leaves it:
// presented by the destination array to the VM's vports there.
func (s *Service) movedAttachment(r attachRecord, sm *siteMove) attachRecord {
	r.Array, r.HostGroup, r.Initiators, r.TargetPorts = sm.DestArray, sm.DestHostGroup, sm.DestInitiators, sm.DestTargets
	r.Fabrics = slices.Sorted(maps.Values(sm.FabricMap))
	r.Intents = sm.DestIntents
	for _, v := range sm.Volumes {
		if v.ID == r.Volume {
			r.LUN = v.LUN
		}
	}
	if v, ok := s.VolumeLocked(r.Volume); ok {
		c := *v
		c.Array = sm.DestArray
		r.PublishContext = publishContext(&c, r.LUN, r.TargetPorts, r.Fabrics)
	}
	return r
}

// cleanSource removes what the VM had at the source: the source maps of
// its volumes and the zone intents every user held for it there (a zone
// another VM or host still needs stays). Back: both put again.
func (s *Service) cleanSource(p migrationPlan, forward bool) stepFn {
	return func(ctx context.Context, _ *saga.Exec) error {
		sm := p.Site
		if forward {
			for _, u := range slices.Sorted(maps.Keys(sm.SrcHolds)) {
				if err := s.zoner.Release(ctx, u, intentsOf(sm.SrcHolds[u])); err != nil {
					return MarkDevice("fabric", err)
				}
			}
		}
		for _, v := range sm.Volumes {
			if v.SrcHostGroup == "" {
				continue
			}
			a := s.arrays[v.SrcArray]
			c, cancel := context.WithTimeout(ctx, s.cfg.DriverTimeout)
			var err error
			if forward {
				if err = a.Driver.Unmap(c, v.ID, v.SrcHostGroup); errors.Is(err, array.ErrNotFound) {
					err = nil
				}
			} else {
				err = a.Driver.Map(c, array.MapSpec{Volume: v.ID, HostGroup: v.SrcHostGroup, Initiators: v.SrcInitiators, LUN: v.LUN, TargetPorts: v.SrcTargetPorts})
			}
			cancel()
			if err != nil {
				return fmt.Errorf("source map of volume %s: %w", v.ID, deviceErr("array", a.ID, err))
			}
			s.readArrayNow(ctx, a)
		}
		if !forward {
			for _, u := range slices.Sorted(maps.Keys(sm.SrcHolds)) {
				if err := s.zoner.Ensure(ctx, u, intentsOf(sm.SrcHolds[u])); err != nil {
					return MarkDevice("fabric", err)
				}
			}
		}
		return nil
	}
}

// settleReplication leaves the group as the policy says: reversed (the
// destination replicates back to the old home), or removed with the
// source volumes (their snapshots stay).
func (s *Service) settleReplication(sm *siteMove) stepFn {
	return func(ctx context.Context, _ *saga.Exec) error {
		if len(sm.Volumes) == 0 {
			return nil
		}
		rep, err := s.replicator(sm.DestArray)
		if err != nil {
			return err
		}
		c, cancel := context.WithTimeout(ctx, s.cfg.DriverTimeout)
		defer cancel()
		if sm.Policy == PolicyReverse {
			if err := rep.ReverseReplicationGroup(c, sm.Group); err != nil {
				return fmt.Errorf("reversing replication group %s: %w", sm.Group, deviceErr("array", sm.DestArray, err))
			}
			return nil
		}
		if err := rep.DeleteReplicationGroup(c, sm.Group); err != nil && !errors.Is(err, array.ErrNotFound) {
			return fmt.Errorf("removing replication group %s: %w", sm.Group, deviceErr("array", sm.DestArray, err))
		}
		for _, v := range sm.Volumes {
			if err := s.arrays[v.SrcArray].Driver.DeleteVolume(c, v.ID); err != nil && !errors.Is(err, array.ErrNotFound) {
				return fmt.Errorf("deleting source volume %s: %w", v.ID, deviceErr("array", v.SrcArray, err))
			}
		}
		return nil
	}
}

// verifyMove reads the devices and checks that they agree with the model:
// every volume presented writable at the destination under its LUN id and
// nowhere writable at the source, the VM's active vports logged in on the
// destination fabrics and none of its vports on the source's.
func (s *Service) verifyMove(p migrationPlan) stepFn {
	return func(ctx context.Context, _ *saga.Exec) error {
		sm := p.Site
		var problems []string
		for _, id := range []string{sm.DestArray, sm.Volumes[0].SrcArray} {
			c, cancel := context.WithTimeout(ctx, s.cfg.DriverTimeout)
			maps, err := s.arrays[id].Driver.Mappings(c)
			cancel()
			if err != nil {
				return deviceErr("array", id, err)
			}
			for _, v := range sm.Volumes {
				found := false
				for _, m := range maps {
					if m.Volume != v.ID || !slices.ContainsFunc(m.Initiators, func(w wwn.WWN) bool { return slices.Contains(sm.DestInitiators, w) }) {
						continue
					}
					if id == sm.DestArray {
						found = true
						if !m.Writable || m.LUN != v.LUN {
							problems = append(problems, fmt.Sprintf("volume %s at %s: LUN %d writable %t, want LUN %d writable", v.ID, id, m.LUN, m.Writable, v.LUN))
						}
					} else if m.Writable {
						problems = append(problems, fmt.Sprintf("volume %s is still presented writable at the source array %s", v.ID, id))
					}
				}
				if id == sm.DestArray && !found {
					problems = append(problems, fmt.Sprintf("volume %s is not presented at %s", v.ID, id))
				}
			}
		}
		for _, vp := range p.Idle {
			f := s.fabrics[vp.Fabric]
			s.readFabricNow(ctx, f)
			if !f.Obs.Load().LoggedIn(vp.WWPN) {
				problems = append(problems, fmt.Sprintf("vport %s is not logged in on %s", vp.WWPN, vp.Fabric))
			}
		}
		for _, vp := range p.Active {
			if f := s.fabrics[vp.Fabric]; f != nil && f.Obs.Load().LoggedIn(vp.WWPN) {
				problems = append(problems, fmt.Sprintf("vport %s is still logged in on %s", vp.WWPN, vp.Fabric))
			}
		}
		if len(problems) > 0 {
			// Transient first: a device read may lag its own change; the
			// executor retries, and undoes the move if it stays so.
			return errclass.Wrap(errclass.Transient, fmt.Errorf("the devices disagree with the move: %s", strings.Join(problems, "; ")))
		}
		return nil
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

// observeMigration follows a migration's run: a move that ended lets go of
// its pool holds; one that failed raises OperationFailed until it is over.
func (s *Service) observeMigration(r saga.Run) {
	var p migrationPlan
	if json.Unmarshal(r.Data, &p) != nil {
		return
	}
	if r.State.Terminal() {
		s.holdPools(p.VM, p.Site, false)
		if p.Site != nil {
			s.copies.release(p.Site.Group)
		}
	}
	s.raiseOperationFailed(r, map[string]string{"operation": "migration", "vm": p.VM, "host": p.SourceHost},
		fmt.Sprintf("migration of vm %s from %s to %s could not be rolled back", p.VM, p.SourceHost, p.DestHost))
}

// loadMigrations gives a fresh Zoner the references of the migrations not
// over yet (see stepIn): the destination zones a run ensured under the
// VM's user and, once activate pointed the records at the destination,
// the source zones clean-source has still to release. It also takes
// their pool holds back. The executor resumes the runs once it runs.
func (s *Service) loadMigrations() error {
	runs, err := s.sagas.List(sagaMigration)
	if err != nil {
		return inventory.StoreErr(err)
	}
	for _, r := range runs {
		if r.State.Terminal() && r.State != saga.StateFailed {
			continue
		}
		var p migrationPlan
		if err := json.Unmarshal(r.Data, &p); err != nil {
			return fmt.Errorf("migration run %s: %w", r.ID, err)
		}
		if p.Site == nil {
			s.observeMigration(r) // a failed same-fabric move alerts too
			continue
		}
		if r.State.Unfinished() && stepIn(r, "reserve", saga.StepDone, saga.StepUndoing) {
			s.holdPools(p.VM, p.Site, true)
		}
		// A zone-dest still doing in a run that undoes (an abort in the
		// middle of its commit) is undone next: its Release needs the
		// references for whatever the commit left on the switches.
		zoneHeld := []saga.StepState{saga.StepDone, saga.StepUndoing, saga.StepFailed}
		if r.State == saga.StateUndoing || r.State == saga.StateFailed {
			zoneHeld = append(zoneHeld, saga.StepDoing)
		}
		if stepIn(r, "zone-dest", zoneHeld...) {
			if err := s.zoner.Adopt(inventory.VMZoningUser(p.VM), intentsOf(p.Site.DestIntents)); err != nil {
				s.log.WithError(err).WithField("operation", r.ID).Warn("run's zone intents refused")
			}
		}
		if stepIn(r, "activate", saga.StepDone, saga.StepUndoing, saga.StepFailed) && stepIn(r, "clean-source", saga.StepPending, saga.StepDoing) {
			for u, ins := range p.Site.SrcHolds {
				if err := s.zoner.Adopt(u, intentsOf(ins)); err != nil {
					s.log.WithError(err).WithField("operation", r.ID).Warn("run's source zone intents refused")
				}
			}
		}
		s.observeMigration(r)
	}
	return nil
}

// computeCtx bounds a compute call by the driver timeout, except for a
// driver whose manager moves the VM itself and reports it (external): that
// wait is bounded by the driver's own report timeout.
func (s *Service) computeCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ext := s.cfg.Compute.(computeReporter); ext {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, s.cfg.DriverTimeout)
}
