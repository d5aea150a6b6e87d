package mobility

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/sirupsen/logrus"

	"github.com/sanmob/sanmob/alert"
	"github.com/sanmob/sanmob/array"
	"github.com/sanmob/sanmob/fabric"
	"github.com/sanmob/sanmob/inventory"
	"github.com/sanmob/sanmob/saga"
	"github.com/sanmob/sanmob/store"
)

// attachSteps is the plan of an attachment run:
//
//	attach: mask → zone → login (VMs only) → record
//	detach: unmask → unzone → forget
//
// Every step is idempotent against the device's own truth: the array's Map
// and Unmap are no-ops when already so, the Zoner's Ensure and Release
// compare with what the switch holds, a vport login asks the name server
// first. So a step retried after a transient error, or resumed after a
// crash, never does anything twice.
func (s *Service) attachSteps(r saga.Run) ([]saga.Step, error) {
	var p attachPlan
	if err := json.Unmarshal(r.Data, &p); err != nil {
		return nil, fmt.Errorf("attachment run %s: %w", r.ID, err)
	}
	switch p.Op {
	case opAttach:
		steps := []saga.Step{
			{Name: "mask", Do: s.stepMap, Undo: s.stepUnmapUnlessBefore},
			{Name: "zone", Do: s.stepZone, Undo: s.stepUnzone},
		}
		if p.NodeKind == "vm" { // a host's HBAs log in by themselves: no step, no synced write
			steps = append(steps, saga.Step{Name: "login", Do: s.stepLogin, Undo: s.stepLogout})
		}
		return append(steps, saga.Step{Name: "record", Do: s.stepRecord, Undo: s.stepForget, Local: true}), nil
	case opDetach:
		return []saga.Step{
			{Name: "unmask", Do: s.stepUnmap, Undo: s.stepMap},
			{Name: "unzone", Do: s.stepUnzone, Undo: s.stepZone},
			{Name: "forget", Do: s.stepForget, Local: true},
		}, nil
	}
	return nil, fmt.Errorf("attachment run %s: unknown op %q", r.ID, p.Op)
}

func loadPlan(x *saga.Exec) (attachPlan, error) {
	var p attachPlan
	err := x.Load(&p)
	return p, err
}

// stepMap masks the volume to the host group under the planned LUN id.
func (s *Service) stepMap(ctx context.Context, x *saga.Exec) error {
	p, err := loadPlan(x)
	if err != nil {
		return err
	}
	a := s.arrays[p.Array]
	if a == nil {
		return fmt.Errorf("array %s is not configured: %w", p.Array, ErrConflict)
	}
	c, cancel := context.WithTimeout(ctx, s.cfg.DriverTimeout)
	defer cancel()
	err = a.Driver.Map(c, array.MapSpec{Volume: p.Volume, HostGroup: p.HostGroup, Initiators: p.Initiators, LUN: p.LUN, TargetPorts: p.TargetPorts})
	if err != nil {
		return deviceErr("array", a.ID, err)
	}
	return nil
}

// stepUnmap removes the volume's map from the host group.
func (s *Service) stepUnmap(ctx context.Context, x *saga.Exec) error {
	p, err := loadPlan(x)
	if err != nil {
		return err
	}
	a := s.arrays[p.Array]
	if a == nil {
		return nil // an array no longer configured holds nothing sanmob can undo
	}
	c, cancel := context.WithTimeout(ctx, s.cfg.DriverTimeout)
	defer cancel()
	if err := a.Driver.Unmap(c, p.Volume, p.HostGroup); err != nil && !errors.Is(err, array.ErrNotFound) {
		return deviceErr("array", a.ID, err)
	}
	return nil
}

// stepUnmapUnlessBefore undoes an attach's mask, unless the volume was
// masked to the group before the attach (then the mask is not the attach's).
func (s *Service) stepUnmapUnlessBefore(ctx context.Context, x *saga.Exec) error {
	p, err := loadPlan(x)
	if err != nil || p.MappedBefore {
		return err
	}
	return s.stepUnmap(ctx, x)
}

func (p *attachPlan) intents() []fabric.Intent { return intentsOf(p.Intents) }

// intentsOf turns recorded intents into the Zoner's.
func intentsOf(rs []intentRecord) []fabric.Intent {
	ins := make([]fabric.Intent, len(rs))
	for i, r := range rs {
		ins[i] = r.intent()
	}
	return ins
}

// stepZone makes the attachment's zones exist (group commit).
func (s *Service) stepZone(ctx context.Context, x *saga.Exec) error {
	p, err := loadPlan(x)
	if err != nil {
		return err
	}
	return MarkDevice("fabric", s.zoner.Ensure(ctx, attachUser(p.Volume, p.Node), p.intents()))
}

// stepUnzone releases the attachment's zones; a zone other users need stays.
func (s *Service) stepUnzone(ctx context.Context, x *saga.Exec) error {
	p, err := loadPlan(x)
	if err != nil {
		return err
	}
	return MarkDevice("fabric", s.zoner.Release(ctx, attachUser(p.Volume, p.Node), p.intents()))
}

// stepLogin logs a VM's active vports in through its host's HBAs: the set
// that serves I/O must be on the fabric for the LUN to be reached. Hosts
// log in by themselves. Each vport is saved in the plan before its login,
// so that the undo knows what this run logged in, even after a crash.
func (s *Service) stepLogin(ctx context.Context, x *saga.Exec) error {
	p, err := loadPlan(x)
	if err != nil || p.NodeKind != "vm" {
		return err
	}
	defer s.nodeLocks.Lock(p.Node)()
	s.RLock()
	vm, _ := s.VMLocked(p.Node)
	s.RUnlock()
	if vm == nil {
		return notFound("vm", p.Node)
	}
	for _, vp := range vm.Vports {
		if !vp.Active || slices.Contains(p.LoggedIn, vp.WWPN) {
			continue
		}
		if f := s.fabrics[vp.Fabric]; f != nil && f.Obs.Load().LoggedIn(vp.WWPN) {
			continue // logged in before this run: not its to log out
		}
		p.LoggedIn = append(p.LoggedIn, vp.WWPN)
		if err := x.Save(p); err != nil {
			return err
		}
		if err := s.LoginVport(ctx, p.Node, vp.WWPN); err != nil {
			return fmt.Errorf("logging in vm %s's active vport %s on %s: %w", p.Node, vp.WWPN, vp.Fabric, err)
		}
	}
	return nil
}

// stepLogout logs out the vports the login step logged in, unless another
// attachment of the VM relies on them by now.
func (s *Service) stepLogout(ctx context.Context, x *saga.Exec) error {
	p, err := loadPlan(x)
	if err != nil || len(p.LoggedIn) == 0 {
		return err
	}
	defer s.nodeLocks.Lock(p.Node)()
	s.RLock()
	other := false
	for k, r := range s.attachments {
		if r.Node == p.Node && k != p.key() {
			other = true
		}
	}
	s.RUnlock()
	if other {
		return nil
	}
	for _, w := range slices.Backward(p.LoggedIn) {
		if err := s.LogoutVport(ctx, p.Node, w); err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
	}
	return nil
}

// stepRecord writes the attachment record, the VM's volume list and the
// volume's LUN id in one transaction: from here the attachment is attached.
func (s *Service) stepRecord(_ context.Context, x *saga.Exec) error {
	p, err := loadPlan(x)
	if err != nil {
		return err
	}
	rec := p.record()
	rec.State, rec.Operation = StateAttached, x.ID()
	s.Lock()
	defer s.Unlock()
	v, _ := s.VolumeLocked(p.Volume)
	vm := s.vmVolumesLocked(node{id: p.Node, kind: p.NodeKind}, p.Volume, p.LUN, true)
	var nv *inventory.Volume
	if v != nil && v.LUN == nil {
		c := *v
		c.LUN = &p.LUN
		nv = &c
	}
	err = s.st.Update(func(tx *store.Tx) error {
		if err := tx.Put(kindAttachment, p.key(), rec); err != nil {
			return err
		}
		if vm != nil {
			if err := tx.Put(inventory.KindVM, vm.ID, vm); err != nil {
				return err
			}
		}
		if nv != nil {
			return tx.Put(inventory.KindVolume, nv.ID, nv)
		}
		return nil
	})
	if err != nil {
		return inventory.StoreErr(err)
	}
	if nv != nil {
		s.SetVolumeLocked(nv)
	}
	if vm != nil {
		s.SetVMLocked(vm)
	}
	s.attachments[p.key()] = &rec
	s.kickRefresh()
	s.log.WithFields(logrus.Fields{"volume": p.Volume, "node": p.Node, "lun": p.LUN, "hostGroup": p.HostGroup, "operation": x.ID()}).Info("volume attached")
	return nil
}

// stepForget removes the attachment record and the volume from the VM's
// list: from here nothing of the attachment is left.
func (s *Service) stepForget(_ context.Context, x *saga.Exec) error {
	p, err := loadPlan(x)
	if err != nil {
		return err
	}
	s.Lock()
	defer s.Unlock()
	vm := s.vmVolumesLocked(node{id: p.Node, kind: p.NodeKind}, p.Volume, p.LUN, false)
	err = s.st.Update(func(tx *store.Tx) error {
		if err := tx.Delete(kindAttachment, p.key()); err != nil && !errors.Is(err, store.ErrNotFound) {
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
	if vm != nil {
		s.SetVMLocked(vm)
	}
	delete(s.attachments, p.key())
	if p.Op == opDetach {
		s.reserveLocked(p.Array+"/"+p.HostGroup, p.LUN, "")
		s.log.WithFields(logrus.Fields{"volume": p.Volume, "node": p.Node, "operation": x.ID()}).Info("volume detached")
	}
	s.kickRefresh()
	return nil
}

// observeRun keeps the attachments' view in step with their runs: an
// attach in progress is attaching, a detach detaching, an undo that failed
// is failed (and raises OperationFailed); an attach undone leaves nothing,
// a detach undone leaves the attachment attached with the error that
// stopped it. Called after every transition the executor writes.
func (s *Service) observeRun(r saga.Run) {
	s.events.observe(r) // the migrations' event stream (migration_edges.go)
	if r.Kind == sagaMigration {
		s.observeMigration(r)
		return
	}
	if r.Kind == sagaVMSnapshot {
		s.observeSnapshotRun(r)
		return
	}
	if r.Kind == sagaClaim {
		s.observeClaimRun(r)
		return
	}
	if r.Kind != sagaAttachment {
		return
	}
	var p attachPlan
	if err := json.Unmarshal(r.Data, &p); err != nil {
		return
	}
	key := p.key()
	s.Lock()
	defer s.Unlock()
	rec := s.attachments[key]
	view := func(state string) {
		if rec == nil {
			c := p.record()
			rec = &c
			s.attachments[key] = rec
		}
		c := *rec
		c.State, c.LastError, c.Action, c.Operation = state, r.LastError, r.Action, r.ID
		s.attachments[key] = &c
	}
	switch {
	case r.State == saga.StateFailed:
		view(StateFailed)
	case p.Op == opAttach && r.State.Unfinished():
		if rec == nil || rec.State != StateAttached {
			s.reserveLocked(p.Array+"/"+p.HostGroup, p.LUN, p.Volume)
			view(StateAttaching)
		}
	case p.Op == opAttach && r.State == saga.StateUndone:
		if rec == nil || rec.State != StateAttached {
			delete(s.attachments, key)
			if !p.MappedBefore {
				s.reserveLocked(p.Array+"/"+p.HostGroup, p.LUN, "")
			}
		}
	case p.Op == opDetach && r.State.Unfinished():
		view(StateDetaching)
	case p.Op == opDetach && r.State == saga.StateUndone:
		view(StateAttached)
	case r.State == saga.StateDone && rec != nil && rec.State == StateAttached:
		c := *rec
		c.LastError, c.Action, c.Operation = "", "", r.ID
		s.attachments[key] = &c
	}
	s.raiseFailed(r, p)
}

// raiseFailed fires OperationFailed for an attachment run.
func (s *Service) raiseFailed(r saga.Run, p attachPlan) {
	s.raiseOperationFailed(r, map[string]string{"operation": r.Kind + "/" + p.Op, "volume": p.Volume, "node": p.Node, "array": p.Array},
		fmt.Sprintf("%s of volume %s to %s could not be undone", p.Op, p.Volume, p.Node))
}

// raiseOperationFailed fires OperationFailed (labels: the run's objects)
// while a run is failed — something may be on a device that a person must
// look at — and resolves it when the run is over (undone or done). A retry
// of the undo (undoing) is not the end of the incident: it changes nothing.
func (s *Service) raiseOperationFailed(r saga.Run, labels map[string]string, summary string) {
	if r.State == saga.StateUndoing {
		return
	}
	labels["alertname"], labels["severity"] = alert.OperationFailed, alert.Critical
	firing := r.State == saga.StateFailed
	ann := map[string]string{"summary": summary, "error": r.LastError, "action": r.Action, "run": r.ID}
	if s.alerts.Set(labels, ann, firing) && firing {
		s.log.WithFields(logrus.Fields{"kind": r.Kind, "key": r.Key, "operation": r.ID}).
			Error(summary + ": " + r.Action)
	}
}

// loadAttachments reads the attachment records and the attachment runs
// that are not over, gives the Zoner back the intents each holds, and
// rebuilds the view and the LUN reservations. The executor resumes the runs
// once it runs.
func (s *Service) loadAttachments() error {
	recs := map[string]*attachRecord{}
	if err := inventory.LoadKind(s.st, kindAttachment, func(r *attachRecord) {
		if r.State == "" {
			r.State = StateAttached // written before attachments had states
		}
		recs[attachKey(r.Volume, r.Node)] = r
	}); err != nil {
		return err
	}
	runs, err := s.sagas.List(sagaAttachment)
	if err != nil {
		return inventory.StoreErr(err)
	}
	for _, r := range recs {
		if err := s.zoner.Adopt(attachUser(r.Volume, r.Node), r.intents()); err != nil {
			s.log.WithError(err).WithField("volume", r.Volume).WithField("node", r.Node).Warn("attachment's zone intents refused")
		}
	}
	s.Lock()
	s.attachments = recs
	for _, r := range recs {
		s.reserveLocked(r.Array+"/"+r.HostGroup, r.LUN, r.Volume)
	}
	s.Unlock()
	for _, r := range runs { // oldest first: the last run of a key speaks last
		if r.State == saga.StateUndone {
			s.observeUndoneDetach(r)
			continue
		}
		if r.State.Terminal() && r.State != saga.StateFailed {
			continue
		}
		var p attachPlan
		if err := json.Unmarshal(r.Data, &p); err != nil {
			return fmt.Errorf("attachment run %s: %w", r.ID, err)
		}
		// The zones a run may have committed are the user's: a drift check
		// or a reconcile must not take them for orphans.
		switch {
		case p.Op == opAttach && stepIn(r, "zone", saga.StepDone, saga.StepUndoing, saga.StepFailed):
			if err := s.zoner.Adopt(attachUser(p.Volume, p.Node), p.intents()); err != nil {
				s.log.WithError(err).WithField("operation", r.ID).Warn("run's zone intents refused")
			}
		case p.Op == opDetach && stepIn(r, "unzone", saga.StepDone, saga.StepUndoing, saga.StepFailed):
			// Released already (or being put back by an Ensure, which must
			// then commit): the record's adopted intents are not held.
			s.zoner.Forget(attachUser(p.Volume, p.Node))
		}
		s.observeRun(r)
	}
	snaps, err := s.sagas.List(sagaVMSnapshot)
	if err != nil {
		return inventory.StoreErr(err)
	}
	for _, r := range snaps {
		if r.State == saga.StateFailed {
			s.observeSnapshotRun(r)
		}
	}
	return nil
}

// observeUndoneDetach gives an attachment the error of a detach that was
// undone (it stays attached), as observeRun did before the restart.
func (s *Service) observeUndoneDetach(r saga.Run) {
	var p attachPlan
	if json.Unmarshal(r.Data, &p) != nil || p.Op != opDetach {
		return
	}
	s.Lock()
	defer s.Unlock()
	if rec, ok := s.attachments[p.key()]; ok && rec.State == StateAttached {
		c := *rec
		c.LastError, c.Operation = r.LastError, r.ID
		s.attachments[p.key()] = &c
	}
}

func (r *attachRecord) intents() []fabric.Intent { return intentsOf(r.Intents) }

// stepIn reports whether a run's step of that name is in one of states.
// At a restart it tells which zones a run holds, as far as a fresh Zoner
// must know: an attach's zone step done, or being undone (the undo's
// Release needs the references), holds them; one that was doing does not —
// its Ensure runs again when the run resumes and commits what is missing,
// where an adopted intent would make it a no-op over zones never committed.
// A detach's unzone step done or being undone has let them go.
func stepIn(r saga.Run, name string, states ...saga.StepState) bool {
	for _, st := range r.Steps {
		if st.Name == name {
			return slices.Contains(states, st.State)
		}
	}
	return false
}
