package mobility

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/sanmob/sanmob/array"
	"github.com/sanmob/sanmob/fabric/wwn"
	"github.com/sanmob/sanmob/saga"
)

// A cross-fabric move stays at its site and on its array, but the
// destination host is cabled to other fabrics: the VM's vports must log in
// there, reach the array through its target ports on those fabrics, and be
// presented through them. Nothing is copied. The run reuses the cross-site
// record (siteMove) with the destination array being the source one:
//
//	zone-dest → present → login-idle → move → activate → logout-old →
//	clean-source → verify
//
// zone-dest zones the VM's vports on the destination fabrics to the
// array's target ports there (the VM's Zoner user); present adds those
// ports to the host group that masks the VM's volumes, so that they are
// presented on both sides' ports while the VM moves, under the same LUN
// ids; login-idle logs the idle set in through the destination host's
// HBAs; move asks the hypervisor; activate records the VM, its vports'
// new fabrics and its attachments' paths; logout-old logs the old set
// out; clean-source releases the source fabrics' zones and leaves the
// host group with the destination's ports only; verify reads the devices.

// planFabric fills a cross-fabric move's plan from the model and the
// array as read now. The VM's volumes must be on one array.
func (s *Service) planFabric(ctx context.Context, plan MigrationPlan, p *migrationPlan) error {
	vm, dst, err := s.moveEnds(plan)
	if err != nil {
		return err
	}
	fm, err := fabricMapOf(plan, vm)
	if err != nil {
		return err
	}
	sm := &siteMove{DestSite: dst.Site, FabricMap: fm, SrcHolds: map[string][]intentRecord{}}
	var arrayID string
	for _, ref := range vm.Volumes {
		v, err := s.Volume(ref.ID)
		if err != nil {
			return err
		}
		switch {
		case arrayID == "":
			arrayID = v.Array
		case v.Array != arrayID:
			return fmt.Errorf("vm %s has volumes on arrays %s and %s: a cross-fabric move re-presents one array's volumes, not several: %w", vm.ID, arrayID, v.Array, ErrConflict)
		}
	}
	if arrayID != "" {
		a := s.arrays[arrayID]
		if a == nil {
			return fmt.Errorf("vm %s's volumes are on array %s, which is not configured: %w", vm.ID, arrayID, ErrConflict)
		}
		s.readArrayNow(ctx, a)
		o := a.Obs.Load()
		if o == nil {
			return fmt.Errorf("array %s has not been read: %w", a.ID, ErrUnavailable)
		}
		sm.DestArray = a.ID
		if err := s.destPaths(vm, dst.Site, a, o, sm); err != nil {
			return err
		}
		for _, ref := range vm.Volumes {
			v, err := s.Volume(ref.ID)
			if err != nil {
				return err
			}
			mv := moveVolume{ID: v.ID, Name: v.Name, SizeBytes: v.SizeBytes, Thin: v.Thin, WWN: v.WWN, LUN: ref.LUN,
				SrcArray: v.Array, SrcPool: v.Pool, DestPool: v.Pool, ReplicaExisted: true, SrcReplica: v.Replica}
			sourceMap(&mv, o, sm.DestInitiators)
			sm.Volumes = append(sm.Volumes, mv)
		}
	}
	s.sourceHolds(vm.ID, sm)
	p.Site = sm
	return nil
}

// fabricSteps is the plan of a cross-fabric move (see above).
func (s *Service) fabricSteps(p migrationPlan) []saga.Step {
	return []saga.Step{
		{Name: "zone-dest", Do: s.zoneDest(p, true), Undo: s.zoneDest(p, false)},
		{Name: "present", Do: s.presentPorts(p.Site, true), Undo: s.presentPorts(p.Site, false)},
		{Name: "login-idle", Do: s.loginSet(p.Idle), Undo: s.logoutSet(p.Idle)},
		{Name: "move", Do: s.moveVM(p, p.DestHost), Undo: s.moveVM(p, p.SourceHost)},
		{Name: "activate", Local: true, Do: s.reshared(s.activateSite(p, true)), Undo: s.reshared(s.activateSite(p, false))},
		{Name: "logout-old", Do: s.logoutSet(p.Active), Undo: s.loginSet(p.Active)},
		{Name: "clean-source", Do: s.cleanSourcePorts(p, true), Undo: s.cleanSourcePorts(p, false)},
		{Name: "verify", Do: s.verifyMove(p)},
	}
}

// presentPorts presents each volume through the destination fabrics'
// target ports as well as the source's (on), or through the source's
// again (back). A host group's ports are shared by its volumes.
func (s *Service) presentPorts(sm *siteMove, on bool) stepFn {
	return func(ctx context.Context, _ *saga.Exec) error {
		ports := func(v moveVolume) []wwn.WWN {
			if on {
				return union(v.SrcTargetPorts, sm.DestTargets)
			}
			return v.SrcTargetPorts
		}
		return s.remapVolumes(ctx, sm, ports)
	}
}

// cleanSourcePorts releases the zones the VM's users held on the fabrics
// it left and presents the volumes through the destination's ports only
// (forward); back, the volumes are presented through both again and the
// zones ensured.
func (s *Service) cleanSourcePorts(p migrationPlan, forward bool) stepFn {
	return func(ctx context.Context, _ *saga.Exec) error {
		sm := p.Site
		if forward {
			if err := s.releaseLeft(ctx, sm); err != nil {
				return err
			}
			return s.remapVolumes(ctx, sm, func(moveVolume) []wwn.WWN { return sm.DestTargets })
		}
		if err := s.remapVolumes(ctx, sm, func(v moveVolume) []wwn.WWN { return union(v.SrcTargetPorts, sm.DestTargets) }); err != nil {
			return err
		}
		return s.ensureSource(ctx, sm)
	}
}

// remapVolumes maps each of the move's volumes to its host group again,
// through the target ports ports gives it, under its LUN id.
func (s *Service) remapVolumes(ctx context.Context, sm *siteMove, ports func(moveVolume) []wwn.WWN) error {
	if len(sm.Volumes) == 0 {
		return nil
	}
	a := s.arrays[sm.DestArray]
	for _, v := range sm.Volumes {
		tp := ports(v)
		group := cmp.Or(v.SrcHostGroup, sm.DestHostGroup)
		c, cancel := context.WithTimeout(ctx, s.cfg.DriverTimeout)
		var err error
		if len(tp) == 0 {
			// Presented to the VM by nothing before the move: so again.
			if err = a.Driver.Unmap(c, v.ID, group); errors.Is(err, array.ErrNotFound) {
				err = nil
			}
		} else {
			spec := array.MapSpec{Volume: v.ID, HostGroup: group, LUN: v.LUN, TargetPorts: tp, Initiators: v.SrcInitiators}
			if len(spec.Initiators) == 0 {
				spec.Initiators = sm.DestInitiators
			}
			err = a.Driver.Map(c, spec)
		}
		cancel()
		if err != nil {
			return fmt.Errorf("presenting volume %s at LUN %d through %d target ports of array %s: %w", v.ID, v.LUN, len(tp), a.ID, deviceErr("array", a.ID, err))
		}
	}
	s.readArrayNow(ctx, a)
	return nil
}

// releaseLeft releases, for every user that held zones of the VM when the
// move was planned, those the VM no longer needs: a pair it keeps (a
// fabric the destination host shares with the source) is held on.
func (s *Service) releaseLeft(ctx context.Context, sm *siteMove) error {
	type pairKey struct {
		fabric   string
		ini, tgt wwn.WWN
	}
	keep := map[pairKey]bool{}
	for _, in := range sm.DestIntents {
		keep[pairKey{in.Fabric, in.Initiator, in.Target}] = true
	}
	for _, u := range sortedKeys(sm.SrcHolds) {
		left := slices.DeleteFunc(slices.Clone(sm.SrcHolds[u]), func(in intentRecord) bool {
			return keep[pairKey{in.Fabric, in.Initiator, in.Target}]
		})
		if err := s.zoner.Release(ctx, u, intentsOf(left)); err != nil {
			return MarkDevice("fabric", err)
		}
	}
	return nil
}

// ensureSource ensures back, for every user that held zones of the VM when
// the move was planned, the zones it held: releaseLeft's undo.
func (s *Service) ensureSource(ctx context.Context, sm *siteMove) error {
	for _, u := range sortedKeys(sm.SrcHolds) {
		if err := s.zoner.Ensure(ctx, u, intentsOf(sm.SrcHolds[u])); err != nil {
			return MarkDevice("fabric", err)
		}
	}
	return nil
}

// union is a then the WWNs of b not in a.
func union(a, b []wwn.WWN) []wwn.WWN {
	out := slices.Clone(a)
	for _, w := range b {
		if !slices.Contains(out, w) {
			out = append(out, w)
		}
	}
	return out
}

// sameSet says whether a and b hold the same WWNs, whatever their order.
func sameSet(a, b []wwn.WWN) bool {
	return len(union(a, b)) == len(a) && len(union(b, a)) == len(b)
}
