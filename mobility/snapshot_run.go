package mobility

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/sanmob/sanmob/array"
	"github.com/sanmob/sanmob/saga"
)

// sagaVMSnapshot is the saga kind of a VM's consistent snapshot: one
// consistency group per array its volumes live on, taken array by array,
// all or none — when one array refuses, the groups taken on the others are
// deleted again.
const sagaVMSnapshot = "vm-snapshot"

// vmSnapshotPlan is a VM snapshot run's data.
type vmSnapshotPlan struct {
	VM     string                          `json:"vm"`
	Name   string                          `json:"name"`
	Groups map[string][]array.SnapshotSpec `json:"groups"` // by array
}

// vmSnapshotSteps: one step per array, "snapshot ARRAY", whose Do takes the
// group (idempotent by snapshot id on the array) and whose Undo deletes its
// snapshots (deleting what is gone is fine).
func (s *Service) vmSnapshotSteps(r saga.Run) ([]saga.Step, error) {
	var p vmSnapshotPlan
	if err := json.Unmarshal(r.Data, &p); err != nil {
		return nil, fmt.Errorf("vm snapshot run %s: %w", r.ID, err)
	}
	var steps []saga.Step
	for _, aid := range sortedKeys(p.Groups) {
		specs := p.Groups[aid]
		steps = append(steps, saga.Step{
			Name: "snapshot " + aid,
			Do: func(ctx context.Context, _ *saga.Exec) error {
				_, err := s.snapshotGroup(ctx, aid, p.Name, specs)
				if err != nil {
					// What a refused or timed-out call may have left shows
					// at once, not at the next refresh.
					if a := s.arrays[aid]; a != nil {
						s.readArrayNow(ctx, a)
					}
				}
				return err
			},
			Undo: func(ctx context.Context, _ *saga.Exec) error {
				a := s.arrays[aid]
				if a == nil {
					return nil
				}
				defer s.readArrayNow(ctx, a)
				for _, sp := range specs {
					c, cancel := context.WithTimeout(ctx, s.cfg.DriverTimeout)
					err := a.Driver.DeleteSnapshot(c, sp.ID)
					cancel()
					if err != nil && !errors.Is(err, array.ErrNotFound) {
						return deviceErr("array", aid, err)
					}
				}
				return nil
			},
		})
	}
	return steps, nil
}

// settleRun waits for a run of (kind, key) still in progress and retries the
// undo of a failed one, before a new one may start; waited says there was
// such a run. A run whose undo still fails answers by the undo's class
// (failedClass), with what blocks it and how to retry (retry: who asks
// again, e.g. "asking again").
func (s *Service) settleRun(ctx context.Context, kind, key, retry string) (waited bool, err error) {
	run, active, err := s.sagas.Active(kind, key)
	if err != nil || !active {
		return false, err
	}
	if run.State == saga.StateFailed {
		if _, err := s.sagas.Retry(run.ID); err != nil {
			return true, fmt.Errorf("retrying the undo of operation %s: %w", run.ID, err)
		}
	}
	end, err := s.sagas.Wait(ctx, run.ID)
	switch {
	case err != nil && ctx.Err() != nil:
		return true, s.runErr(ctx, kind, key, run.ID, err)
	case end.State == saga.StateFailed:
		// Its undo still fails: nothing new may start on top of it.
		return true, fmt.Errorf("operation %s on %s failed (%s) and could not be undone: %s; %s retries its undo: %w",
			end.ID, key, end.LastError, end.Action, retry, failedClass(undoClass(end)))
	}
	return true, nil
}

// observeSnapshotRun raises OperationFailed while a VM snapshot's undo
// fails (snapshots may be left on an array), and resolves it when the run
// is over.
func (s *Service) observeSnapshotRun(r saga.Run) {
	var p vmSnapshotPlan
	if json.Unmarshal(r.Data, &p) != nil {
		return
	}
	s.raiseOperationFailed(r, map[string]string{"operation": r.Kind, "vm": p.VM, "snapshot": p.Name},
		fmt.Sprintf("snapshot %s of vm %s could not be undone", p.Name, p.VM))
}
