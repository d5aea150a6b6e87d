package mobility

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/sanmob/sanmob/array"
	"github.com/sanmob/sanmob/errclass"
	"github.com/sanmob/sanmob/internal/clockwait"
	"github.com/sanmob/sanmob/inventory"
	"github.com/sanmob/sanmob/store"
	"github.com/sanmob/sanmob/thin"
)

// kindEvacuation is the store kind of an evacuation's record.
const kindEvacuation = "evacuation"

// Evacuation phases.
const (
	EvacuationRunning         = "running"
	EvacuationSucceeded       = "succeeded"        // every VM moved
	EvacuationPartiallyFailed = "partially-failed" // some moved, some were skipped or their move did not succeed
	EvacuationFailed          = "failed"           // none moved
)

// The states of one VM of an evacuation. Pending: not started yet;
// running: its migration runs; skipped: never started (no feasible
// destination, not implemented, refused, or the VM left the host by other
// means); otherwise its migration's terminal phase (succeeded, rolled-back,
// failed).
const (
	MoveStatePending   = "pending"
	MoveStateRunning   = "running"
	MoveStateSkipped   = "skipped"
	MoveStateSucceeded = "succeeded"
)

// Evacuation limits and defaults.
const (
	DefaultEvacuationParallel = 4
	MaxEvacuationParallel     = 64
	// evacStartAttempts bounds how often a VM's start is retried while the
	// VM is busy (ErrConflict) or a device is (transient): a failed run
	// holds its VM until a person undoes it, which must not hang the
	// evacuation.
	evacStartAttempts = 30
	evacBackoffFirst  = 2 * time.Second
	evacBackoffMax    = time.Minute
)

// EvacuationSpec asks to move every VM off a host (POST /v1/evacuations).
type EvacuationSpec struct {
	// ID is the client's id (lowercase letters, digits, '-', ≤ 63
	// characters); empty makes one.
	ID               string   `json:"id,omitempty"`
	Host             string   `json:"host"`
	DestinationHosts []string `json:"destinationHosts"`
	// Mode is live (the default) or cold, for every move.
	Mode string `json:"mode,omitempty"`
	// MaxParallel is how many moves run at once: 1-64, 0 takes 4.
	MaxParallel int `json:"maxParallel,omitempty"`
}

// EvacuationMove is one VM of an evacuation: where it goes and how its
// move went.
type EvacuationMove struct {
	VM              string `json:"vm"`
	DestinationHost string `json:"destinationHost,omitempty"`
	// Migration is the id of the VM's migration once started.
	Migration string `json:"migration,omitempty"`
	// State: pending|running|skipped|succeeded|rolled-back|failed.
	State       string     `json:"state"`
	BytesToCopy int64      `json:"bytesToCopy"`
	Reasons     []string   `json:"reasons,omitempty"`
	Error       string     `json:"error,omitempty"`
	StartedAt   *time.Time `json:"startedAt,omitempty"`
	EndedAt     *time.Time `json:"endedAt,omitempty"`
}

// EvacuationProgress counts an evacuation's moves. BytesCopied sums the
// estimates of the moves that ended succeeded and what the running ones
// have copied, as their replication groups last reported (refreshed with
// the devices).
type EvacuationProgress struct {
	Done        int   `json:"done"`
	Total       int   `json:"total"`
	BytesCopied int64 `json:"bytesCopied"`
	BytesTotal  int64 `json:"bytesTotal"`
}

// Evacuation is API.md's evacuation object and its durable record (store
// kind "evacuation"). Migrations lists the host's VMs as found at the
// start, largest copy first: the order they start in.
type Evacuation struct {
	ID               string             `json:"id"`
	Host             string             `json:"host"`
	DestinationHosts []string           `json:"destinationHosts"`
	Mode             string             `json:"mode"`
	MaxParallel      int                `json:"maxParallel"`
	Phase            string             `json:"phase"`
	Migrations       []EvacuationMove   `json:"migrations"`
	Progress         EvacuationProgress `json:"progress"`
	CreatedAt        time.Time          `json:"createdAt"`
	UpdatedAt        time.Time          `json:"updatedAt"`
}

func terminalMove(state string) bool { return state != MoveStatePending && state != MoveStateRunning }

// settle recomputes the progress and, when every move has ended, the phase.
func (e *Evacuation) settle() {
	p := EvacuationProgress{Total: len(e.Migrations)}
	moved := 0
	for _, m := range e.Migrations {
		p.BytesTotal += m.BytesToCopy
		if terminalMove(m.State) {
			p.Done++
		}
		if m.State == MoveStateSucceeded {
			moved++
			p.BytesCopied += m.BytesToCopy
		}
	}
	e.Progress = p
	switch {
	case p.Done < p.Total:
		e.Phase = EvacuationRunning
	case moved == p.Total:
		e.Phase = EvacuationSucceeded
	case moved == 0:
		e.Phase = EvacuationFailed
	default:
		e.Phase = EvacuationPartiallyFailed
	}
}

// evacuations is the service's evacuation state in memory: which records
// have a runner, and the signals that wake the loop and the waiters.
type evacuations struct {
	create  sync.Mutex // one create at a time: the 409 check and the write are one step
	mu      sync.Mutex
	wake    chan struct{}   // a new evacuation to run; buffered 1
	changed chan struct{}   // closed and replaced on every write
	running map[string]bool // ids with a runner
}

func (v *evacuations) wakeCh() chan struct{} {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.wake == nil {
		v.wake = make(chan struct{}, 1)
	}
	return v.wake
}

func (v *evacuations) kick() {
	select {
	case v.wakeCh() <- struct{}{}:
	default:
	}
}

func (v *evacuations) changedCh() chan struct{} {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.changed == nil {
		v.changed = make(chan struct{})
	}
	return v.changed
}

func (v *evacuations) notify() {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.changed != nil {
		close(v.changed)
	}
	v.changed = make(chan struct{})
}

func (v *evacuations) claim(id string) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.running[id] {
		return false
	}
	if v.running == nil {
		v.running = map[string]bool{}
	}
	v.running[id] = true
	return true
}

func (v *evacuations) release(id string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	delete(v.running, id)
}

// Evacuation returns one evacuation by id.
func (s *Service) Evacuation(id string) (Evacuation, error) {
	var e Evacuation
	err := s.st.Get(kindEvacuation, id, &e)
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrInvalid) { // a NUL in the id names nothing
		return Evacuation{}, notFound("evacuation", id)
	}
	if err != nil {
		return Evacuation{}, inventory.StoreErr(err)
	}
	s.copiedInFlight(&e)
	return e, nil
}

// copiedInFlight adds to an evacuation's progress what its running moves
// have copied so far, as their replication groups last reported it (the
// initial copy's copied bytes, at most each move's estimate).
func (s *Service) copiedInFlight(e *Evacuation) {
	for _, m := range e.Migrations {
		if m.State != MoveStateRunning {
			continue
		}
		g, ok := s.repl.Group(replicationGroupOf(m.VM))
		if !ok {
			continue
		}
		var n int64
		for _, p := range g.Pairs {
			n += p.CopiedBytes
		}
		e.Progress.BytesCopied += min(n, m.BytesToCopy)
	}
}

// Evacuations lists the evacuations, oldest first.
func (s *Service) Evacuations() ([]Evacuation, error) {
	out := []Evacuation{}
	err := s.st.List(kindEvacuation, func(id string, raw []byte) error {
		var e Evacuation
		if err := json.Unmarshal(raw, &e); err != nil {
			return fmt.Errorf("evacuation %s: %w", id, err)
		}
		s.copiedInFlight(&e)
		out = append(out, e)
		return nil
	})
	if err != nil {
		return nil, inventory.StoreErr(err)
	}
	slices.SortStableFunc(out, func(a, b Evacuation) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// WaitEvacuation waits until the evacuation has ended (or ctx), and
// returns it.
func (s *Service) WaitEvacuation(ctx context.Context, id string) (Evacuation, error) {
	for {
		ch := s.evac.changedCh()
		e, err := s.Evacuation(id)
		if err != nil || e.Phase != EvacuationRunning {
			return e, err
		}
		select {
		case <-ctx.Done():
			return e, ctx.Err()
		case <-ch:
		}
	}
}

func (spec *EvacuationSpec) check() error {
	switch {
	case spec.ID != "" && inventory.ValidID(spec.ID) != nil:
		return inventory.ValidID(spec.ID)
	case spec.Host == "":
		return invalid("host", "required")
	case len(spec.DestinationHosts) == 0:
		return invalid("destinationHosts", "at least one host is required")
	case spec.Mode != "" && spec.Mode != ModeLive && spec.Mode != ModeCold:
		return invalid("mode", "must be %s or %s, not %q", ModeLive, ModeCold, spec.Mode)
	case spec.MaxParallel < 0 || spec.MaxParallel > MaxEvacuationParallel:
		return invalid("maxParallel", "must be 1-%d, not %d", MaxEvacuationParallel, spec.MaxParallel)
	}
	seen := map[string]bool{}
	for i, h := range spec.DestinationHosts {
		field := fmt.Sprintf("destinationHosts[%d]", i)
		switch {
		case h == "":
			return invalid(field, "empty host id")
		case h == spec.Host:
			return invalid(field, "%s is the host being evacuated", h)
		case seen[h]:
			return invalid(field, "%s is named twice", h)
		}
		seen[h] = true
	}
	return nil
}

// StartEvacuation moves every VM off a host: it lists the host's VMs,
// places each on one of the destination hosts (placeVMs over each VM's dry
// run plans), writes the evacuation's record, and returns it (phase
// running); the runner (RunEvacuations, which RunSagas runs) then starts the
// moves, at most MaxParallel at once, largest copy first, and records how
// each ends. A VM that no destination can take is recorded as skipped with
// every reason. Errors: a FieldError for a bad spec, ErrNotFound for an
// unknown host, ErrConflict when the host has an evacuation running, is a
// destination of one, or a destination is being evacuated, or the id is
// taken.
func (s *Service) StartEvacuation(spec EvacuationSpec) (Evacuation, error) {
	if err := spec.check(); err != nil {
		return Evacuation{}, err
	}
	if spec.Mode == "" {
		spec.Mode = ModeLive
	}
	if spec.MaxParallel == 0 {
		spec.MaxParallel = DefaultEvacuationParallel
	}
	if _, err := s.Host(spec.Host); err != nil {
		return Evacuation{}, inventory.Ref(err, "host", "host", spec.Host)
	}
	dests := make([]inventory.Host, 0, len(spec.DestinationHosts))
	for i, id := range spec.DestinationHosts {
		h, err := s.Host(id)
		if err != nil {
			return Evacuation{}, inventory.Ref(err, fmt.Sprintf("destinationHosts[%d]", i), "host", id)
		}
		dests = append(dests, h)
	}
	if spec.ID == "" {
		var b [4]byte
		_, _ = rand.Read(b[:])
		spec.ID = "evac-" + hex.EncodeToString(b[:])
	}
	s.evac.create.Lock()
	defer s.evac.create.Unlock()
	all, err := s.Evacuations()
	if err != nil {
		return Evacuation{}, err
	}
	for _, e := range all {
		if e.ID == spec.ID {
			return Evacuation{}, fmt.Errorf("evacuation %s exists already: %w", spec.ID, ErrConflict)
		}
		if e.Phase != EvacuationRunning {
			continue
		}
		switch {
		case e.Host == spec.Host:
			return Evacuation{}, fmt.Errorf("host %s: evacuation %s is running: %w", spec.Host, e.ID, ErrConflict)
		case slices.Contains(e.DestinationHosts, spec.Host):
			return Evacuation{}, fmt.Errorf("host %s is a destination of running evacuation %s, which is moving VMs onto it: %w", spec.Host, e.ID, ErrConflict)
		case slices.Contains(spec.DestinationHosts, e.Host):
			return Evacuation{}, fmt.Errorf("destination host %s is being evacuated (evacuation %s): %w", e.Host, e.ID, ErrConflict)
		}
	}
	moves, err := s.placeEvacuation(spec, dests)
	if err != nil {
		return Evacuation{}, err
	}
	now := s.clk.Now()
	e := Evacuation{ID: spec.ID, Host: spec.Host, DestinationHosts: slices.Clone(spec.DestinationHosts), Mode: spec.Mode,
		MaxParallel: spec.MaxParallel, Migrations: moves, CreatedAt: now, UpdatedAt: now}
	e.settle()
	if err := s.st.Create(kindEvacuation, e.ID, &e); err != nil {
		return Evacuation{}, inventory.StoreErr(err)
	}
	s.evac.notify()
	s.evac.kick()
	s.log.WithFields(logrus.Fields{"evacuation": e.ID, "host": e.Host, "vms": len(e.Migrations)}).Info("evacuation started")
	return e, nil
}

// placeEvacuation plans every VM on the host to every destination (dry
// runs) and places them: the moves in the order they start.
func (s *Service) placeEvacuation(spec EvacuationSpec, dests []inventory.Host) ([]EvacuationMove, error) {
	vms := s.VMs(inventory.VMFilter{Host: spec.Host})
	pools := map[string]array.Pool{}
	for _, id := range s.arrIDs {
		if o := s.arrays[id].Obs.Load(); o != nil {
			for _, p := range o.Pools {
				pools[id+"/"+p.ID] = p
			}
		}
	}
	free := map[string]map[string]int{}
	for _, h := range dests {
		free[h.ID] = freeSlots(h)
	}
	in := make([]placeVM, 0, len(vms))
	for _, vm := range vms {
		pv := placeVM{VM: vm.ID}
		for _, h := range dests {
			plan, err := s.PlanMove(MigrationSpec{VM: vm.ID, DestinationHost: h.ID, Mode: spec.Mode, DryRun: true})
			var nf *NotFeasibleError
			switch {
			case err == nil:
			case errors.As(err, &nf):
				for _, r := range nf.Reasons() {
					pv.Reasons = append(pv.Reasons, fmt.Sprintf("host %s: %s", h.ID, r))
				}
				continue
			case errors.Is(err, ErrConflict) && plan.VM != "" &&
				!slices.ContainsFunc(plan.Reasons, func(r string) bool { return r != ReasonMoving }):
				// Only busy: feasible once its other move ends; the start
				// waits for that.
			case errors.Is(err, ErrNotFound):
				pv.Reasons = append(pv.Reasons, err.Error())
				continue
			default:
				return nil, err
			}
			opt := placeOption{Host: h.ID, Bytes: plan.Estimate.BytesToCopy, Slots: slotsNeeded(vm, h)}
			for _, vid := range slices.Sorted(maps.Keys(plan.DestPools)) {
				v, err := s.Volume(vid)
				if err != nil {
					continue
				}
				opt.Volumes = append(opt.Volumes, placeVolume{Pool: plan.DestArray + "/" + plan.DestPools[vid], SizeBytes: v.SizeBytes, Thin: v.Thin})
			}
			pv.Options = append(pv.Options, opt)
			pv.Bytes = max(pv.Bytes, opt.Bytes)
		}
		in = append(in, pv)
	}
	out := []EvacuationMove{}
	for _, r := range placeVMs(in, free, pools) {
		m := EvacuationMove{VM: r.VM, DestinationHost: r.Host, BytesToCopy: r.Bytes, State: MoveStatePending, Reasons: r.Reasons}
		if r.Host == "" {
			m.State = MoveStateSkipped
		}
		out = append(out, m)
	}
	return out, nil
}

// freeSlots is, per fabric, the NPIV slots free on the host's HBAs.
func freeSlots(h inventory.Host) map[string]int {
	free := map[string]int{}
	for _, b := range h.HBAs {
		if b.MaxVports > 0 {
			free[b.Fabric] += max(b.MaxVports-b.VportsInUse, 0)
		} else if _, ok := free[b.Fabric]; !ok {
			free[b.Fabric] = 0
		}
	}
	return free
}

// slotsNeeded is, per fabric of the destination host, the vport slots the
// VM's idle set takes there: the planner's own matching (a fabric of the
// same name, else the free one with the most slots).
func slotsNeeded(vm inventory.VM, dst inventory.Host) map[string]int {
	need, free := vmPairs(vm), freeSlots(dst)
	out := map[string]int{}
	used := map[string]bool{}
	var rest []string
	for _, f := range slices.Sorted(maps.Keys(need)) {
		if _, ok := free[f]; ok {
			out[f] += need[f]
			used[f] = true
		} else {
			rest = append(rest, f)
		}
	}
	others := slices.DeleteFunc(slices.Sorted(maps.Keys(free)), func(f string) bool { return used[f] })
	slices.SortStableFunc(others, func(a, b string) int { return cmp.Compare(free[b], free[a]) })
	for i, f := range rest {
		if i < len(others) {
			out[others[i]] += need[f]
		}
	}
	return out
}

// placeVM is one VM to place: its feasible destinations, and why the others
// are not.
type placeVM struct {
	VM      string
	Bytes   int64         // the largest copy among its options: the order key
	Options []placeOption // in the order the destinations were named
	Reasons []string      // why a destination may not take it
}

// placeOption is a feasible move of a VM to one destination host.
type placeOption struct {
	Host    string
	Bytes   int64          // bytes the move copies
	Slots   map[string]int // vport slots it takes, by fabric of the destination
	Volumes []placeVolume  // the replicas it creates
}

// placeVolume is a replica a move creates, in a pool keyed "array/pool".
type placeVolume struct {
	Pool      string
	SizeBytes int64
	Thin      bool
}

// placement is where placeVMs puts a VM; Host is empty when nowhere.
type placement struct {
	VM      string
	Host    string
	Bytes   int64
	Reasons []string
}

// placeVMs places VMs on destination hosts, largest copy first
// (longest-processing-time-first keeps a shared link busy to the end). Each
// VM goes to the option that still fits — vport slots left on the
// destination (free, less what earlier placements took) and room in the
// destination pools (thin admission over the pool as observed plus earlier
// placements' replicas) — with the fewest VMs placed so far, then the most
// free slots left, then the order named. A pure function: free (host →
// fabric → slots) and pools are not changed.
func placeVMs(vms []placeVM, free map[string]map[string]int, pools map[string]array.Pool) []placement {
	order := slices.Clone(vms)
	slices.SortStableFunc(order, func(a, b placeVM) int {
		return cmp.Or(cmp.Compare(b.Bytes, a.Bytes), cmp.Compare(a.VM, b.VM))
	})
	left := map[string]map[string]int{}
	for h, m := range free {
		left[h] = maps.Clone(m)
	}
	pl := maps.Clone(pools)
	count := map[string]int{}
	out := make([]placement, 0, len(order))
	for _, v := range order {
		if len(v.Options) == 0 {
			reasons := v.Reasons
			if len(reasons) == 0 {
				reasons = []string{"no destination host can take it"}
			}
			out = append(out, placement{VM: v.VM, Bytes: v.Bytes, Reasons: reasons})
			continue
		}
		best, bestRoom := -1, 0
		var why []string
		for i, o := range v.Options {
			if r := fits(o, left[o.Host], pl); r != "" {
				why = append(why, fmt.Sprintf("host %s: %s, after this evacuation's earlier placements", o.Host, r))
				continue
			}
			room := 0
			for f, n := range left[o.Host] {
				room += n - o.Slots[f]
			}
			if best < 0 || count[o.Host] < count[v.Options[best].Host] ||
				count[o.Host] == count[v.Options[best].Host] && room > bestRoom {
				best, bestRoom = i, room
			}
		}
		if best < 0 {
			out = append(out, placement{VM: v.VM, Bytes: v.Bytes, Reasons: append(slices.Clone(v.Reasons), why...)})
			continue
		}
		o := v.Options[best]
		count[o.Host]++
		for f, n := range o.Slots {
			if left[o.Host] == nil {
				left[o.Host] = map[string]int{}
			}
			left[o.Host][f] -= n
		}
		for _, vol := range o.Volumes {
			if p, ok := pl[vol.Pool]; ok {
				p.ProvisionedBytes += vol.SizeBytes
				if !vol.Thin {
					p.UsedBytes += vol.SizeBytes
				}
				pl[vol.Pool] = p
			}
		}
		out = append(out, placement{VM: v.VM, Host: o.Host, Bytes: o.Bytes})
	}
	return out
}

// fits says why o does not fit in what is left, or "" when it does.
func fits(o placeOption, left map[string]int, pools map[string]array.Pool) string {
	for _, f := range slices.Sorted(maps.Keys(o.Slots)) {
		if n := o.Slots[f]; n > 0 && left[f] < n {
			return fmt.Sprintf("fabric %s has %d free vport slot(s), the VM needs %d", f, max(left[f], 0), n)
		}
	}
	taken := map[string]array.Pool{}
	for _, vol := range o.Volumes {
		p, ok := taken[vol.Pool]
		if !ok {
			if p, ok = pools[vol.Pool]; !ok {
				continue // unobserved: the planner admitted it; the run admits it again
			}
		}
		if err := thin.Admit(p, vol.SizeBytes, vol.Thin); err != nil {
			return fmt.Sprintf("pool %s has no room for a replica of %d bytes: %v", vol.Pool, vol.SizeBytes, err)
		}
		p.ProvisionedBytes += vol.SizeBytes
		if !vol.Thin {
			p.UsedBytes += vol.SizeBytes
		}
		taken[vol.Pool] = p
	}
	return ""
}

// RunEvacuations runs every evacuation whose record says running —
// resuming those a restart left — and each one started later, until ctx
// ends. RunSagas runs it beside the saga executor.
func (s *Service) RunEvacuations(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		all, err := s.Evacuations()
		if err != nil {
			s.log.WithError(err).Warn("listing evacuations")
		}
		for _, e := range all {
			if e.Phase != EvacuationRunning || !s.evac.claim(e.ID) {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer s.evac.release(e.ID)
				s.runEvacuation(ctx, e)
			}()
		}
		select {
		case <-ctx.Done():
			return
		case <-s.evac.wakeCh():
		}
	}
}

// evacRun is one evacuation being run: its record, written on every change.
type evacRun struct {
	s   *Service
	ctx context.Context
	mu  sync.Mutex
	e   Evacuation
}

// update changes move i under the lock and writes the record — unless ctx
// has ended: a stopped runner writes nothing more, as after a kill.
func (r *evacRun) update(i int, fn func(m *EvacuationMove)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ctx.Err() != nil {
		return
	}
	fn(&r.e.Migrations[i])
	r.save()
}

func (r *evacRun) save() {
	r.e.settle()
	r.e.UpdatedAt = r.s.clk.Now()
	if err := r.s.st.Put(kindEvacuation, r.e.ID, &r.e); err != nil {
		r.s.log.WithError(err).WithField("evacuation", r.e.ID).Warn("writing the evacuation's record")
	}
	r.s.evac.notify()
}

func (r *evacRun) move(i int) EvacuationMove {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.e.Migrations[i]
}

// runEvacuation runs e's moves to their end: those a restart left running
// are waited for first, then the pending ones start in order, at most
// MaxParallel at once.
func (s *Service) runEvacuation(ctx context.Context, e Evacuation) {
	r := &evacRun{s: s, ctx: ctx, e: e}
	r.adopt()
	sem := make(chan struct{}, max(e.MaxParallel, 1))
	var wg sync.WaitGroup
	var order []int
	for _, state := range []string{MoveStateRunning, MoveStatePending} {
		for i, m := range r.e.Migrations {
			if m.State == state {
				order = append(order, i)
			}
		}
	}
	for _, i := range order {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			r.runMove(i)
		}()
	}
	wg.Wait()
	if ctx.Err() != nil {
		return
	}
	r.mu.Lock()
	r.save() // the phase, even when there was nothing to run
	phase := r.e.Phase
	r.mu.Unlock()
	s.log.WithFields(logrus.Fields{"evacuation": e.ID, "phase": phase}).Info("evacuation ended")
}

// adopt finds, for each pending move, a migration started for it before
// a crash kept its id from the record: the VM's move from the host to the
// move's destination created since the evacuation began.
func (r *evacRun) adopt() {
	pending := slices.ContainsFunc(r.e.Migrations, func(m EvacuationMove) bool { return m.State == MoveStatePending })
	if !pending {
		return
	}
	ms, err := r.s.Migrations()
	if err != nil {
		r.s.log.WithError(err).Warn("evacuation: listing migrations")
		return
	}
	for i, m := range r.e.Migrations {
		if m.State != MoveStatePending {
			continue
		}
		for _, mg := range slices.Backward(ms) {
			if mg.VM == m.VM && mg.SourceHost == r.e.Host && mg.DestinationHost == m.DestinationHost && !mg.CreatedAt.Before(r.e.CreatedAt) {
				r.update(i, func(m *EvacuationMove) {
					m.State, m.Migration = MoveStateRunning, mg.ID
					t := mg.CreatedAt
					m.StartedAt = &t
				})
				break
			}
		}
	}
}

// runMove starts move i unless it runs already, and waits for its end.
func (r *evacRun) runMove(i int) {
	s := r.s
	m := r.move(i)
	if m.State == MoveStatePending {
		if !r.start(i) {
			return
		}
		m = r.move(i)
	}
	var end Migration
	for {
		// A run this process has not resumed yet (the executor starts
		// beside this runner) answers as it stands: ask again shortly.
		end, _ = s.WaitMigration(r.ctx, m.Migration)
		if r.ctx.Err() != nil {
			return
		}
		if end.Phase != "running" && end.Phase != "rolling-back" {
			break
		}
		if clockwait.Sleep(r.ctx, s.cfg.Clock, evacBackoffFirst) != nil {
			return
		}
	}
	r.update(i, func(m *EvacuationMove) {
		now := s.clk.Now()
		m.EndedAt = &now
		if end.Phase == "" {
			m.State, m.Error = MoveStateSkipped, fmt.Sprintf("migration %s is gone", m.Migration)
			return
		}
		m.State, m.Error = end.Phase, end.Error
	})
}

// start starts move i's migration, retrying with backoff while the VM or a
// device is busy. It reports whether a migration now runs.
func (r *evacRun) start(i int) bool {
	s := r.s
	m := r.move(i)
	skip := func(reasons []string, msg string) bool {
		r.update(i, func(m *EvacuationMove) {
			now := s.clk.Now()
			m.State, m.EndedAt, m.Error = MoveStateSkipped, &now, msg
			m.Reasons = append(m.Reasons, reasons...)
		})
		return false
	}
	wait := evacBackoffFirst
	for attempt := 1; ; attempt++ {
		vm, err := s.VM(m.VM)
		switch {
		case errors.Is(err, ErrNotFound):
			return skip(nil, fmt.Sprintf("vm %s no longer exists", m.VM))
		case err == nil && vm.Host != r.e.Host:
			return skip(nil, fmt.Sprintf("vm %s left host %s by other means: it runs on %s", m.VM, r.e.Host, vm.Host))
		}
		mg, err := s.StartMigration(MigrationSpec{VM: m.VM, DestinationHost: m.DestinationHost, Mode: r.e.Mode})
		var nf *NotFeasibleError
		switch {
		case err == nil:
			r.update(i, func(m *EvacuationMove) {
				t := mg.CreatedAt
				m.State, m.Migration, m.StartedAt = MoveStateRunning, mg.ID, &t
			})
			return r.ctx.Err() == nil
		case errors.As(err, &nf):
			return skip(nf.Reasons(), err.Error())
		case errors.Is(err, ErrNotImplemented):
			return skip([]string{err.Error()}, err.Error())
		case errors.Is(err, ErrConflict) || errors.Is(err, ErrUnavailable) || errclass.IsTransient(err):
			if attempt >= evacStartAttempts {
				return skip(nil, fmt.Sprintf("still refused after %d attempts: %v", attempt, err))
			}
			s.log.WithError(err).WithFields(logrus.Fields{"evacuation": r.e.ID, "vm": m.VM}).Info("evacuation: the move cannot start yet; retrying")
			if clockwait.Sleep(r.ctx, s.cfg.Clock, wait) != nil {
				return false
			}
			wait = min(2*wait, evacBackoffMax)
		default:
			return skip(nil, err.Error())
		}
	}
}
