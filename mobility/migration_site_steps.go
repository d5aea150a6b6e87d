package mobility

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/sirupsen/logrus"

	"github.com/sanmob/sanmob/array"
	"github.com/sanmob/sanmob/errclass"
	"github.com/sanmob/sanmob/fabric/wwn"
	"github.com/sanmob/sanmob/internal/clockwait"
	"github.com/sanmob/sanmob/inventory"
	"github.com/sanmob/sanmob/saga"
	"github.com/sanmob/sanmob/store"
)

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
		{Name: "activate", Local: true, Do: s.reshared(s.activateSite(p, true)), Undo: s.reshared(s.activateSite(p, false))},
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
			if !ok || p.Kind == KindCrossFabric {
				continue // a cross-fabric move leaves its volumes where they are
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
			if err := s.releaseLeft(ctx, sm); err != nil {
				return err
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
			return s.ensureSource(ctx, sm)
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
		arrays := []string{}
		for _, v := range sm.Volumes {
			for _, id := range []string{sm.DestArray, v.SrcArray} {
				if !slices.Contains(arrays, id) {
					arrays = append(arrays, id)
				}
			}
		}
		for _, id := range arrays {
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
						if p.Kind == KindCrossFabric && !sameSet(m.TargetPorts, sm.DestTargets) {
							problems = append(problems, fmt.Sprintf("volume %s at %s is presented through target ports %v, want the destination fabrics' %v", v.ID, id, m.TargetPorts, sm.DestTargets))
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
