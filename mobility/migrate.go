package mobility

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/sanmob/sanmob/array"
	"github.com/sanmob/sanmob/devices"
	"github.com/sanmob/sanmob/errclass"
	"github.com/sanmob/sanmob/inventory"
)

// ErrNotFeasible: a planned move may not run; the error is a
// *NotFeasibleError that lists every reason. Final: nothing changes by
// asking again until the world does.
var ErrNotFeasible = errclass.New(errclass.Final, "not feasible")

// MigrationSpec asks to move a VM to another host (POST /v1/migrations).
type MigrationSpec struct {
	VM              string `json:"vm"`
	DestinationHost string `json:"destinationHost"`
	// Mode is live (the default) or cold.
	Mode string `json:"mode,omitempty"`
	// DryRun plans the move and returns the plan without starting it.
	DryRun bool `json:"dryRun,omitempty"`
	// DestinationArray, for a cross-site move, is the array the volumes
	// are copied to; empty picks the one with the most room at the
	// destination host's site.
	DestinationArray string `json:"destinationArray,omitempty"`
	// Replication, for a cross-site move, is what becomes of the VM's
	// replication group once it has moved: reverse (the default: the old
	// home becomes the replica) or remove (replication stops and the
	// source volumes are deleted; their snapshots stay).
	Replication string `json:"replication,omitempty"`
}

// MigrationPlan is a planned move: where from and to, and the plan.
type MigrationPlan struct {
	VM              string `json:"vm"`
	SourceHost      string `json:"sourceHost"`
	DestinationHost string `json:"destinationHost"`
	Mode            string `json:"mode"`
	// Replication is the policy for the replication group after a
	// cross-site move (reverse or remove).
	Replication string `json:"replication,omitempty"`
	Plan
}

// NotFeasibleError is a plan that may not run, with its reasons.
type NotFeasibleError struct{ Plan MigrationPlan }

func (e *NotFeasibleError) Error() string {
	return fmt.Sprintf("moving vm %s to host %s is not feasible: %s", e.Plan.VM, e.Plan.DestinationHost, strings.Join(e.Plan.Reasons, "; "))
}

// Unwrap makes errors.Is(err, ErrNotFeasible) true.
func (e *NotFeasibleError) Unwrap() error { return ErrNotFeasible }

// Reasons lists why the move may not run.
func (e *NotFeasibleError) Reasons() []string { return e.Plan.Reasons }

// PlanMove plans moving a VM (PlanMigration over the inventory and the
// devices as last observed): its kind, every reason it may not run, and its
// estimate. Errors: a FieldError for a bad spec, ErrNotFound for an
// unknown VM, host or array, a *NotFeasibleError (ErrNotFeasible) that
// carries the plan when the move may not run, ErrConflict when the VM is
// already moving.
func (s *Service) PlanMove(spec MigrationSpec) (MigrationPlan, error) {
	switch {
	case spec.VM == "":
		return MigrationPlan{}, invalid("vm", "required")
	case spec.DestinationHost == "":
		return MigrationPlan{}, invalid("destinationHost", "required")
	case spec.Mode != "" && spec.Mode != ModeLive && spec.Mode != ModeCold:
		return MigrationPlan{}, invalid("mode", "must be %s or %s, not %q", ModeLive, ModeCold, spec.Mode)
	case spec.Replication != "" && spec.Replication != PolicyReverse && spec.Replication != PolicyRemove:
		return MigrationPlan{}, invalid("replication", "must be %s or %s, not %q", PolicyReverse, PolicyRemove, spec.Replication)
	}
	if spec.Mode == "" {
		spec.Mode = ModeLive
	}
	vm, err := s.VM(spec.VM)
	if err != nil {
		return MigrationPlan{}, inventory.Ref(err, "vm", "vm", spec.VM)
	}
	src, err := s.Host(vm.Host)
	if err != nil {
		return MigrationPlan{}, fmt.Errorf("vm %s's host: %w", vm.ID, err)
	}
	dst, err := s.Host(spec.DestinationHost)
	if err != nil {
		return MigrationPlan{}, inventory.Ref(err, "destinationHost", "host", spec.DestinationHost)
	}
	if spec.DestinationArray != "" {
		if _, ok := s.arrays[spec.DestinationArray]; !ok {
			return MigrationPlan{}, &inventory.RefError{Field: "destinationArray", Kind: "array", ID: spec.DestinationArray}
		}
	}
	in := PlanInput{VM: vm, SourceHost: src, DestHost: dst, Links: s.Links(), Mode: spec.Mode,
		DestArray: spec.DestinationArray, Arrays: map[string]PlanArray{}}
	if cv, ok := s.dev.Compute().VM(vm.ID); ok { // unknown until the hypervisor manager answers once
		in.MemoryBytes = cv.MemoryBytes
	}
	for _, r := range vm.Volumes {
		v, err := s.Volume(r.ID)
		if errors.Is(err, ErrNotFound) {
			continue // the planner names what it misses
		}
		if err != nil {
			return MigrationPlan{}, err
		}
		in.Volumes = append(in.Volumes, v)
		// A replica at the destination's site (the old home, after a
		// cross-site move reversed its group) holds all but its lag: the
		// move back copies only that, to that array.
		if rp := v.Replica; rp != nil && s.arrays[rp.Array] != nil && s.arrays[rp.Array].Site == dst.Site &&
			(spec.DestinationArray == "" || spec.DestinationArray == rp.Array) {
			if g, ok := s.repl.Group(rp.Group); ok && g.TargetArray == rp.Array && g.State != array.GroupInvalid {
				var lag int64
				for _, p := range g.Pairs {
					if p.Source.Volume == v.ID {
						lag = p.LagBytes
					}
				}
				if in.ReplicaBytes == nil {
					in.ReplicaBytes = map[string]int64{}
				}
				in.ReplicaBytes[v.ID] = max(v.UsedBytes-lag, 1)
				in.DestArray = rp.Array
			}
		}
		if a := s.arrays[v.Array]; a != nil {
			if dv, ok, _ := a.Obs.Load().Volume(v.ID); ok && dv.WriteBytesPerSec > 0 {
				if in.WriteRateBps == nil {
					in.WriteRateBps = map[string]float64{}
				}
				in.WriteRateBps[v.ID] = dv.WriteBytesPerSec
			}
		}
	}
	for _, id := range s.arrIDs {
		a := s.arrays[id]
		pa := PlanArray{Site: a.Site}
		if o := a.Obs.Load(); o != nil {
			pa.Pools = slices.Clone(o.Pools)
			for i := range pa.Pools { // what running moves are about to provision
				pa.Pools[i].ProvisionedBytes += s.heldBytes(id, pa.Pools[i].ID)
			}
			pa.Fabrics = s.portFabrics(o)
		}
		in.Arrays[id] = pa
	}
	if _, moving, err := s.sagas.Active(sagaMigration, vm.ID); err != nil {
		return MigrationPlan{}, inventory.StoreErr(err)
	} else if moving {
		in.Moving = true
	}
	p := MigrationPlan{VM: vm.ID, SourceHost: src.ID, DestinationHost: dst.ID, Mode: spec.Mode, Plan: PlanMigration(in)}
	switch {
	case p.Kind == KindCrossSite:
		p.Replication = cmp.Or(spec.Replication, PolicyReverse)
	case spec.Replication != "":
		p.Estimate.Notes = append(p.Estimate.Notes, fmt.Sprintf("replication %q ignored: only a cross-site move replicates", spec.Replication))
	}
	switch {
	case p.Conflict:
		return p, fmt.Errorf("vm %s: %s: %w", vm.ID, ReasonMoving, ErrConflict)
	case !p.Feasible:
		return p, &NotFeasibleError{Plan: p}
	}
	return p, nil
}

// portFabrics is the fabrics of a site where one of the array's target
// ports is logged in, as last read; nil when a fabric there has not been
// read (the planner then cannot tell).
func (s *Service) portFabrics(o *devices.ArrayObs) []string {
	var out []string
	for _, fid := range s.fabIDs {
		fo := s.fabrics[fid].Obs.Load()
		if fo == nil {
			return nil
		}
		if slices.ContainsFunc(o.Ports, func(p array.TargetPort) bool { return fo.LoggedIn(p.WWPN) }) {
			out = append(out, fid)
		}
	}
	return out
}
