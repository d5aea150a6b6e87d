package mobility

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/sanmob/sanmob/compute"
	"github.com/sanmob/sanmob/fabric/wwn"
	"github.com/sanmob/sanmob/inventory"
	"github.com/sanmob/sanmob/saga"
)

// sagaMigration is the saga kind of a VM's move, keyed by the VM: at most
// one move of a VM at a time.
const sagaMigration = "migration"

// moveVport is one NPIV vport a migration logs in or out, and through which
// physical HBA port.
type moveVport struct {
	Fabric string  `json:"fabric"`
	WWPN   wwn.WWN `json:"wwpn"`
	WWNN   wwn.WWN `json:"wwnn"`
	HBA    wwn.WWN `json:"hba"`
	Max    int     `json:"maxVports"`
}

// migrationPlan is a migration run's data: every choice made before the
// first device call.
type migrationPlan struct {
	VM         string      `json:"vm"`
	SourceHost string      `json:"sourceHost"`
	DestHost   string      `json:"destinationHost"`
	Mode       string      `json:"mode"`
	Kind       string      `json:"kind"`
	Estimate   Estimate    `json:"estimate"`
	Idle       []moveVport `json:"idle"`      // the idle set, logged in through the destination's HBAs
	Active     []moveVport `json:"active"`    // the active set, logged out of the source's HBAs at the end
	CreatedAt  time.Time   `json:"createdAt"` //
	// PowerWasOn is the power the VM has before the move first touches it
	// (read then and saved, PowerRead): a cold move powers it on at the
	// destination, and a rollback at the source, only if it was on — the
	// planner's observation can be minutes old, and a VM can be powered on
	// or off while its volumes copy.
	PowerWasOn bool `json:"powerWasOn,omitempty"`
	PowerRead  bool `json:"powerRead,omitempty"`
	// Site is what a cross-site move adds: replicas, replication, the
	// destination's zones and maps (migration_site.go).
	Site *siteMove `json:"site,omitempty"`
}

// MigrationStep is one step of a migration as the API shows it.
type MigrationStep struct {
	Name      string     `json:"name"`
	State     string     `json:"state"` // pending|running|done|failed|undone
	StartedAt *time.Time `json:"startedAt,omitempty"`
	EndedAt   *time.Time `json:"endedAt,omitempty"`
	Error     string     `json:"error,omitempty"`
}

// Migration is API.md's migration object.
type Migration struct {
	ID              string          `json:"id"`
	VM              string          `json:"vm"`
	SourceHost      string          `json:"sourceHost"`
	DestinationHost string          `json:"destinationHost"`
	Mode            string          `json:"mode"`
	Kind            string          `json:"kind"`
	Phase           string          `json:"phase"` // running|rolling-back|succeeded|rolled-back|failed
	Steps           []MigrationStep `json:"steps"`
	Estimate        Estimate        `json:"estimate"`
	// Replication is a cross-site move's policy for its replication group
	// (reverse or remove), and Group the group's id.
	Replication string    `json:"replication,omitempty"`
	Group       string    `json:"replicationGroup,omitempty"`
	Error       string    `json:"error,omitempty"`
	Action      string    `json:"action,omitempty"`
	CreatedAt   time.Time `json:"createdAt"`
	UpdatedAt   time.Time `json:"updatedAt"`
}

// ErrNotImplemented: a kind of move this build cannot run yet.
var ErrNotImplemented = errors.New("not implemented")

// StartMigration plans a move and, when it may run, starts it as a saga
// run and returns it at once (phase running). Same-fabric: the VM's idle
// vport set logs in through the destination host's HBAs, the hypervisor
// moves the VM, the idle set becomes the active one and the old active set
// logs out; zones and masking name the VM's WWPNs, so they do not change.
// Cross-fabric (migration_fabric.go) re-zones and re-presents on the
// destination's fabrics; cross-site (migration_site.go) copies the volumes
// too. Errors: those of PlanMove; ErrConflict when the VM is already
// moving; ErrNotImplemented (wrapped) for a compute driver that cannot
// move VMs.
func (s *Service) StartMigration(spec MigrationSpec) (Migration, error) {
	if spec.VM != "" && !spec.DryRun {
		// A failed move holds its VM until its rollback is done: a new
		// request retries that rollback first, as DELETE or POST of an
		// attachment retries a failed one.
		if r, ok, err := s.sagas.Active(sagaMigration, spec.VM); err == nil && ok && r.State == saga.StateFailed {
			if _, err := s.sagas.Retry(r.ID); err == nil {
				return Migration{}, fmt.Errorf("vm %s: migration %s failed and could not be rolled back; its rollback is being retried now — ask again once it has rolled back: %w", spec.VM, r.ID, ErrConflict)
			}
		}
	}
	// Starts plan one at a time, and a cross-site one holds its destination
	// pools before the next plans: the reserve step takes the hold only
	// once the executor runs it, too late for moves started together (an
	// evacuation's), which would otherwise admit the same room twice.
	s.startMu.Lock()
	locked := true
	unlock := func() {
		if locked {
			locked = false
			s.startMu.Unlock()
		}
	}
	defer unlock()
	plan, err := s.PlanMove(spec)
	if err != nil {
		return Migration{}, err
	}
	if plan.Kind != KindCrossSite {
		unlock() // it holds no pool
	}
	if _, ok := s.cfg.Compute.(compute.Mover); !ok {
		return Migration{}, fmt.Errorf("the compute driver cannot move VMs: %w", ErrNotImplemented)
	}
	p, err := s.migrationPlan(plan)
	if err != nil {
		return Migration{}, err
	}
	if plan.Kind != KindSameFabric {
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.DriverTimeout)
		if plan.Kind == KindCrossSite {
			err = s.planSite(ctx, plan, &p)
		} else {
			err = s.planFabric(ctx, plan, &p)
		}
		cancel()
		if err != nil {
			return Migration{}, err
		}
		s.remapIdle(&p)
	}
	var prevHold map[string]int64
	if plan.Kind == KindCrossSite {
		prevHold = s.swapHold(p.VM, nil)
		s.holdPools(p.VM, p.Site, true)
	}
	run, err := s.sagas.Submit(sagaMigration, p.VM, p)
	if err != nil && plan.Kind == KindCrossSite {
		s.swapHold(p.VM, prevHold) // not started: what was held stays so
	}
	if errors.Is(err, saga.ErrBusy) {
		return Migration{}, fmt.Errorf("vm %s: %s: %w", p.VM, ReasonMoving, ErrConflict)
	}
	if err != nil {
		return Migration{}, err
	}
	return s.migrationOut(run), nil
}

// migrationPlan picks the vports and HBAs of a same-fabric move.
func (s *Service) migrationPlan(plan MigrationPlan) (migrationPlan, error) {
	s.RLock()
	defer s.RUnlock()
	vm, ok := s.VMLocked(plan.VM)
	if !ok {
		return migrationPlan{}, notFound("vm", plan.VM)
	}
	src, _ := s.HostLocked(plan.SourceHost)
	dst, ok := s.HostLocked(plan.DestinationHost)
	if !ok || src == nil {
		return migrationPlan{}, notFound("host", plan.DestinationHost)
	}
	hbaOn := func(h *inventory.Host, fabric string) (inventory.HBA, bool) {
		i := slices.IndexFunc(h.HBAs, func(b inventory.HBA) bool { return b.Fabric == fabric })
		if i < 0 {
			return inventory.HBA{}, false
		}
		return h.HBAs[i], true
	}
	p := migrationPlan{VM: vm.ID, SourceHost: src.ID, DestHost: dst.ID, Mode: plan.Mode, Kind: plan.Kind,
		Estimate: plan.Estimate, CreatedAt: s.clk.Now()}
	for _, vp := range vm.Vports {
		h, at := dst, &p.Idle
		if vp.Active {
			h, at = src, &p.Active
		}
		b, ok := hbaOn(h, vp.Fabric)
		if !ok && h == dst && plan.Kind != KindSameFabric {
			b, ok = inventory.HBA{}, true // on the destination's fabrics: remapIdle picks the HBA
		}
		if !ok {
			return migrationPlan{}, fmt.Errorf("host %s has no HBA on fabric %s: %w", h.ID, vp.Fabric, ErrConflict)
		}
		*at = append(*at, moveVport{Fabric: vp.Fabric, WWPN: vp.WWPN, WWNN: vp.WWNN, HBA: b.WWPN, Max: b.MaxVports})
	}
	if len(p.Idle) == 0 {
		return migrationPlan{}, fmt.Errorf("vm %s has no idle vport set to log in at the destination: %w", vm.ID, ErrConflict)
	}
	return p, nil
}

// migrationSteps is the plan of a same-fabric move:
//
//	login-idle → move → activate → logout-old
//
// login-idle logs the idle set in through the destination's HBAs (a WWPN
// logged in elsewhere is refused before any FDISC: never twice); move asks
// the hypervisor (live, or power off → cold move → power on); activate makes
// the record say where the VM runs and which set is active (Local: store
// only); logout-old logs the old active set out of the source's HBAs. Each
// is idempotent against the devices, and undone in reverse on a final error.
func (s *Service) migrationSteps(r saga.Run) ([]saga.Step, error) {
	var p migrationPlan
	if err := json.Unmarshal(r.Data, &p); err != nil {
		return nil, fmt.Errorf("migration run %s: %w", r.ID, err)
	}
	if p.Site != nil && p.Kind == KindCrossFabric {
		return s.fabricSteps(p), nil
	}
	if p.Site != nil {
		return s.siteSteps(p), nil
	}
	return []saga.Step{
		{Name: "login-idle", Do: s.loginSet(p.Idle), Undo: s.logoutSet(p.Idle)},
		{Name: "move", Do: s.moveVM(p, p.DestHost), Undo: s.moveVM(p, p.SourceHost)},
		{Name: "activate", Local: true, Do: s.reshared(s.activate(p, true)), Undo: s.reshared(s.activate(p, false))},
		{Name: "logout-old", Do: s.logoutSet(p.Active), Undo: s.loginSet(p.Active)},
	}, nil
}

func (s *Service) loginSet(set []moveVport) func(context.Context, *saga.Exec) error {
	return func(ctx context.Context, _ *saga.Exec) error {
		for _, vp := range set {
			if err := s.loginThrough(ctx, vp.Fabric, vp.HBA, vp.WWPN, vp.WWNN, vp.Max); err != nil {
				return fmt.Errorf("logging vport %s in on %s through %s: %w", vp.WWPN, vp.Fabric, vp.HBA, err)
			}
		}
		return nil
	}
}

func (s *Service) logoutSet(set []moveVport) func(context.Context, *saga.Exec) error {
	return func(ctx context.Context, _ *saga.Exec) error {
		for _, vp := range set {
			if err := s.logoutOf(ctx, vp.Fabric, vp.WWPN); err != nil {
				return fmt.Errorf("logging vport %s out of %s: %w", vp.WWPN, vp.Fabric, err)
			}
		}
		return nil
	}
}

// moveVM moves the VM to host: live, or cold (power off, move, power on).
// Each call is a no-op where the VM already is so.
func (s *Service) moveVM(p migrationPlan, host string) func(context.Context, *saga.Exec) error {
	return func(ctx context.Context, x *saga.Exec) error {
		m, ok := s.cfg.Compute.(compute.Mover)
		if !ok {
			return fmt.Errorf("the compute driver cannot move VMs: %w", ErrNotImplemented)
		}
		var err error
		if p.Mode == ModeCold {
			// A live move keeps the VM running both ways; a cold one
			// powers it on after, so it must know whether it was on.
			forward := host == p.DestHost
			if p, err = s.recordedPlan(ctx, x, forward); err != nil {
				return err
			}
			if !forward && !p.PowerRead {
				return nil // the move never touched the VM
			}
		}
		c, cancel := s.computeCtx(ctx)
		defer cancel()
		if p.Mode == ModeCold {
			if err = m.PowerOff(c, p.VM); err == nil {
				if err = m.Move(c, p.VM, host, compute.MoveCold); err == nil && p.PowerWasOn {
					err = m.PowerOn(c, p.VM)
				}
			}
		} else {
			err = m.Move(c, p.VM, host, compute.MoveLive)
		}
		if err != nil {
			return fmt.Errorf("moving vm %s to %s: %w", p.VM, host, MarkDevice("host", err))
		}
		s.kickRefresh() // the hypervisor's view changed: read it again soon
		return nil
	}
}

// recordedPlan is the run's plan as last saved (a step's closure holds the
// plan as the run began). forward, before the move first touches the VM,
// it reads the VM's power and saves it in the run first: a later attempt,
// which may find the VM powered off by this one, keeps what was saved.
func (s *Service) recordedPlan(ctx context.Context, x *saga.Exec, forward bool) (migrationPlan, error) {
	var p migrationPlan
	if err := x.Load(&p); err != nil {
		return p, err
	}
	if !forward || p.PowerRead {
		return p, nil
	}
	o, err := s.dev.ReadCompute(ctx)
	if err != nil {
		return p, fmt.Errorf("reading vm %s's power before moving it: %w", p.VM, MarkDevice("host", err))
	}
	cv, ok := o.VM(p.VM)
	if !ok {
		return p, notFound("vm", p.VM+" at the hypervisor manager")
	}
	p.PowerWasOn, p.PowerRead = cv.Power != compute.PowerOff, true
	return p, x.Save(p)
}

// activate writes the VM record as the move leaves it (forward) or found
// it (undo): the host it runs on and which vport set is active.
func (s *Service) activate(p migrationPlan, forward bool) func(context.Context, *saga.Exec) error {
	return func(context.Context, *saga.Exec) error {
		host, active := p.SourceHost, p.Active
		if forward {
			host, active = p.DestHost, p.Idle
		}
		return s.setPlacement(p.VM, host, active)
	}
}

// setPlacement replaces the VM record with one that runs on host with the
// active set of vports active; a no-op when it already does.
func (s *Service) setPlacement(vmID, host string, active []moveVport) error {
	s.Lock()
	defer s.Unlock()
	vm, ok := s.VMLocked(vmID)
	if !ok {
		return notFound("vm", vmID)
	}
	nv := *vm
	nv.Host = host
	nv.Vports = slices.Clone(vm.Vports)
	for i := range nv.Vports {
		nv.Vports[i].Active = slices.ContainsFunc(active, func(m moveVport) bool { return m.WWPN == nv.Vports[i].WWPN })
	}
	if nv.Host == vm.Host && slices.EqualFunc(nv.Vports, vm.Vports, func(a, b inventory.Vport) bool { return a.Active == b.Active }) {
		return nil
	}
	nv.UpdatedAt = s.clk.Now()
	if err := s.st.Put(inventory.KindVM, nv.ID, &nv); err != nil {
		return inventory.StoreErr(err)
	}
	s.SetVMLocked(&nv)
	s.log.WithFields(logrus.Fields{"vm": vmID, "host": host}).Info("vm placement recorded")
	return nil
}

// Migration returns one migration by id.
func (s *Service) Migration(id string) (Migration, error) {
	r, err := s.migrationRun(id)
	if err != nil {
		return Migration{}, err
	}
	return s.migrationOut(r), nil
}

// Migrations lists the migrations, oldest first.
func (s *Service) Migrations() ([]Migration, error) {
	runs, err := s.sagas.List(sagaMigration)
	if err != nil {
		return nil, inventory.StoreErr(err)
	}
	out := make([]Migration, 0, len(runs))
	for _, r := range runs {
		out = append(out, s.migrationOut(r))
	}
	return out, nil
}

var phases = map[saga.State]string{saga.StateRunning: "running", saga.StateUndoing: "rolling-back",
	saga.StateDone: "succeeded", saga.StateUndone: "rolled-back", saga.StateFailed: "failed"}

var stepStates = map[saga.StepState]string{saga.StepPending: "pending", saga.StepDoing: "running",
	saga.StepDone: "done", saga.StepUndoing: "running", saga.StepUndone: "undone", saga.StepFailed: "failed"}

func migrationView(r saga.Run) Migration {
	var p migrationPlan
	_ = json.Unmarshal(r.Data, &p)
	m := Migration{ID: r.ID, VM: p.VM, SourceHost: p.SourceHost, DestinationHost: p.DestHost, Mode: p.Mode, Kind: p.Kind,
		Phase: phases[r.State], Estimate: p.Estimate, Error: r.LastError, Action: r.Action, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
	if p.Site != nil {
		m.Replication, m.Group = p.Site.Policy, p.Site.Group
	}
	for _, st := range r.Steps {
		ms := MigrationStep{Name: st.Name, State: stepStates[st.State], Error: st.LastError}
		if !st.StartedAt.IsZero() {
			t := st.StartedAt
			ms.StartedAt = &t
		}
		if !st.EndedAt.IsZero() {
			t := st.EndedAt
			ms.EndedAt = &t
		}
		m.Steps = append(m.Steps, ms)
	}
	return m
}

// WaitMigration waits for a migration to end (or ctx), and returns it.
func (s *Service) WaitMigration(ctx context.Context, id string) (Migration, error) {
	r, err := s.sagas.Wait(ctx, id)
	if ctx.Err() != nil {
		return Migration{}, err
	}
	return s.migrationOut(r), nil
}

// RetryMigration retries the rollback of a failed migration (its undo, from
// the step that failed down), after a person fixed what blocked it, and
// returns it (phase rolling-back). ErrNotFound for no such migration,
// ErrConflict when it has not failed.
func (s *Service) RetryMigration(id string) (Migration, error) {
	if _, err := s.migrationRun(id); err != nil {
		return Migration{}, err
	}
	r, err := s.sagas.Retry(id)
	switch {
	case errors.Is(err, saga.ErrNotFailed):
		return Migration{}, fmt.Errorf("migration %s: only a failed migration's rollback can be retried: %w", id, ErrConflict)
	case err != nil:
		return Migration{}, fmt.Errorf("migration %s: %w", id, err)
	}
	return s.migrationOut(r), nil
}
