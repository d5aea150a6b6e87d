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
				return err
			},
			Undo: func(ctx context.Context, _ *saga.Exec) error {
				a := s.arrays[aid]
				if a == nil {
					return nil
				}
				for _, sp := range specs {
					c, cancel := context.WithTimeout(ctx, s.cfg.DriverTimeout)
					err := a.Driver.DeleteSnapshot(c, sp.ID)
					cancel()
					if err != nil && !errors.Is(err, array.ErrNotFound) {
						return deviceErr("array", aid, err)
					}
				}
				s.readArrayNow(ctx, a)
				return nil
			},
		})
	}
	return steps, nil
}
