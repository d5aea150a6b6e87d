package mobility

import (
	"context"
	"errors"
	"fmt"

	"github.com/sanmob/sanmob/array"
	"github.com/sanmob/sanmob/compute"
	"github.com/sanmob/sanmob/internal/clockwait"
	"github.com/sanmob/sanmob/saga"
)

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
		m, ok := s.cfg.Compute.(compute.Mover)
		if !ok {
			return fmt.Errorf("the compute driver cannot move VMs: %w", ErrNotImplemented)
		}
		p, err := s.recordedPlan(ctx, x, forward)
		if err != nil {
			return err
		}
		if !forward && !p.PowerRead {
			return nil // the cutover never began: nothing changed hands
		}
		sm := p.Site
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
		if p.PowerWasOn {
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

// computeCtx bounds a compute call by the driver timeout, except for a
// driver whose manager moves the VM itself and reports it (external): that
// wait is bounded by the driver's own report timeout.
func (s *Service) computeCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ext := s.cfg.Compute.(computeReporter); ext {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, s.cfg.DriverTimeout)
}
