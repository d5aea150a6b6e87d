package mobility

import (
	"encoding/json"
	"fmt"

	"github.com/sanmob/sanmob/inventory"
	"github.com/sanmob/sanmob/saga"
)

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
// VM's user, and the source zones clean-source has still to release (or
// has ensured back while undoing) under the users that held them. It also
// takes their pool holds back. The executor resumes the runs once it runs.
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
		// Source zones are the users' until clean-source released them.
		// Not only once activate is recorded done: activate is a local
		// step, so a crash after its transaction and before the next
		// step's record leaves the records pointing at the destination
		// while the run still says cutover. Before activate the records
		// hold the same intents, and Adopt adds nothing twice.
		if !stepIn(r, "clean-source", saga.StepDone) {
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
