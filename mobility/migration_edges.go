package mobility

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/sanmob/sanmob/compute"
	"github.com/sanmob/sanmob/inventory"
	"github.com/sanmob/sanmob/saga"
	"github.com/sanmob/sanmob/store"
)

// The edges of a migration: abort, the hypervisor manager's compute report
// (compute driver external), the waiting-compute phase and the event stream.

// Migration phases this file adds to those of a run's state.
const (
	// PhaseWaitingCompute: the migration's compute step waits for the
	// hypervisor manager to report the move (compute driver external).
	PhaseWaitingCompute = "waiting-compute"
)

// Compute report states (POST /v1/migrations/{id}/compute).
const (
	ComputeSwitched = "switched"
	ComputeFailed   = "failed"
)

// ComputeReport is the hypervisor manager's word on the move it was asked
// to make: switched (the VM runs on the destination) or failed, with an
// optional detail saying why.
type ComputeReport struct {
	State  string `json:"state"`
	Detail string `json:"detail,omitempty"`
}

// computeReporter is a compute driver whose manager moves VMs itself and
// reports it (compute/external).
type computeReporter = compute.Reporter

// computeWatcher is a computeReporter that says when Waiting may have
// changed for a VM.
type computeWatcher interface {
	Watch(fn func(vm string))
}

// migrationPhase is the phase the API shows for m: waiting-compute while the
// compute driver waits for the manager's report on the move m needs now —
// to the destination while m is running, back to the source while it rolls
// back a move that had switched; m.Phase otherwise. A move left pending by
// an abort (to the destination, while m rolls back) is not waited for.
// migrationView's callers apply it: a run's state alone cannot say it, since
// what waits is the driver's in-memory state.
func (s *Service) migrationPhase(m Migration) string {
	if _, ok := s.pendingCompute(m); ok {
		return PhaseWaitingCompute
	}
	return m.Phase
}

// pendingCompute returns the move m waits for, if any (see migrationPhase).
func (s *Service) pendingCompute(m Migration) (compute.PendingMove, bool) {
	var want string
	switch m.Phase {
	case phases[saga.StateRunning]:
		want = m.DestinationHost
	case phases[saga.StateUndoing]:
		want = m.SourceHost
	default:
		return compute.PendingMove{}, false
	}
	d, ok := s.cfg.Compute.(computeReporter)
	if !ok || m.VM == "" {
		return compute.PendingMove{}, false
	}
	req, ok := d.Pending(m.VM)
	if !ok || req.Host != want {
		return compute.PendingMove{}, false
	}
	return req, true
}

// migrationOut is the API's view of a migration run, phase included.
func (s *Service) migrationOut(r saga.Run) Migration {
	m := migrationView(r)
	m.Phase = s.migrationPhase(m)
	return m
}

// migrationRun returns the run of migration id: ErrNotFound when there is
// none (or the id is another kind's run).
func (s *Service) migrationRun(id string) (saga.Run, error) {
	r, err := s.sagas.Get(id)
	// An id the store cannot hold (a NUL in it) names no record either.
	if errors.Is(err, saga.ErrNotFound) || errors.Is(err, store.ErrInvalid) || err == nil && r.Kind != sagaMigration {
		return saga.Run{}, notFound("migration", id)
	}
	if err != nil {
		return saga.Run{}, inventory.StoreErr(err)
	}
	return r, nil
}

// terminalPhase reports whether no transition follows phase on its own.
func terminalPhase(phase string) bool {
	return phase == phases[saga.StateDone] || phase == phases[saga.StateUndone] || phase == phases[saga.StateFailed]
}

// AbortMigration stops a running migration and rolls it back: the step in
// progress is cancelled and the done ones are undone in reverse, as for a
// failure; the migration ends rolled-back with the error "aborted by
// request" (or failed, if an undo cannot finish). It returns the migration
// as the abort left it (rolling-back). Errors: ErrNotFound; ErrConflict for
// a migration that is not running (rolling back already, or ended); a
// transient error when the executor is not serving yet.
func (s *Service) AbortMigration(id string) (Migration, error) {
	if _, err := s.migrationRun(id); err != nil {
		return Migration{}, err
	}
	r, err := s.sagas.Abort(id)
	switch {
	case errors.Is(err, saga.ErrNotFound):
		return Migration{}, notFound("migration", id)
	case errors.Is(err, saga.ErrNotRunning):
		cur, gerr := s.migrationRun(id)
		phase := "ended"
		if gerr == nil {
			phase = s.migrationOut(cur).Phase
		}
		return Migration{}, fmt.Errorf("migration %s is %s: only a running migration can be aborted: %w", id, phase, ErrConflict)
	case err != nil:
		return Migration{}, err
	}
	s.log.WithField("migration", id).Warn("migration aborted by request; rolling back")
	return s.migrationOut(r), nil
}

// MaxComputeDetail bounds a compute report's detail: it becomes the
// migration's error, kept in its record and shown in every list.
const MaxComputeDetail = 4096

// ReportCompute delivers the hypervisor manager's report on the move that
// migration id waits for (compute driver external). Repeating the report
// that was taken is harmless. Errors: ErrInvalid (field state) for a state
// other than switched or failed; ErrNotFound; ErrConflict when the compute
// driver is not external, the migration has ended, or nothing of it waits
// for a report (or a different report was already taken).
func (s *Service) ReportCompute(id string, rep ComputeReport) (Migration, error) {
	if rep.State != ComputeSwitched && rep.State != ComputeFailed {
		return Migration{}, invalid("state", "must be %q or %q, got %q", ComputeSwitched, ComputeFailed, rep.State)
	}
	if len(rep.Detail) > MaxComputeDetail {
		return Migration{}, invalid("detail", "at most %d bytes, got %d", MaxComputeDetail, len(rep.Detail))
	}
	r, err := s.migrationRun(id)
	if err != nil {
		return Migration{}, err
	}
	d, ok := s.cfg.Compute.(computeReporter)
	if !ok {
		return Migration{}, fmt.Errorf("migration %s: the compute driver is not external: sanmob moves VMs itself and waits for no report: %w", id, ErrConflict)
	}
	m := s.migrationOut(r)
	if !r.State.Unfinished() {
		return Migration{}, fmt.Errorf("migration %s has ended (%s): nothing waits for a compute report: %w", id, m.Phase, ErrConflict)
	}
	if req, ok := d.Pending(m.VM); ok && m.Phase != PhaseWaitingCompute {
		// A move the migration no longer wants (left by an abort).
		return Migration{}, fmt.Errorf("migration %s is %s: the pending move of vm %s to %s is no longer wanted: %w", id, m.Phase, m.VM, req.Host, ErrConflict)
	}
	if err := d.Report(m.VM, rep.State, rep.Detail); err != nil {
		if errors.Is(err, compute.ErrInvalid) {
			return Migration{}, invalid("state", "%v", err)
		}
		if errors.Is(err, compute.ErrConflict) {
			return Migration{}, fmt.Errorf("migration %s is not waiting for compute (%s): %v: %w", id, m.Phase, err, ErrConflict)
		}
		return Migration{}, err
	}
	s.log.WithField("migration", id).WithField("state", rep.State).WithField("detail", rep.Detail).Info("compute move reported by the hypervisor manager")
	if r, err = s.migrationRun(id); err != nil {
		return Migration{}, err
	}
	return s.migrationOut(r), nil
}

// MigrationEvent is one transition of a migration, as the event stream
// (GET /v1/migrations/{id}/events) sends it.
//
//   - type "step": a step's state (pending|running|done|failed|undone)
//     or its error changed; Step names it.
//   - type "phase": the migration's phase changed (running,
//     waiting-compute, rolling-back, succeeded, rolled-back, failed);
//     Error is the migration's error when it has one.
//   - type "resync": the subscriber fell behind and was dropped (State
//     "resync"); it is the last event: read the migration again and
//     subscribe again.
type MigrationEvent struct {
	// Seq numbers the events of one subscription from 1 (the snapshot
	// is 0).
	Seq       uint64    `json:"seq"`
	Type      string    `json:"type"`
	Migration string    `json:"migration"`
	Step      string    `json:"step,omitempty"`
	State     string    `json:"state"`
	At        time.Time `json:"at"`
	Error     string    `json:"error,omitempty"`
}

// Event types.
const (
	EventStep   = "step"
	EventPhase  = "phase"
	EventResync = "resync"
)

// eventBuffer is how many events a subscriber may fall behind by before it
// is dropped (with a last resync event).
const eventBuffer = 64

// migrationEvents fans the transitions of migration runs out to the
// subscribers of each. It is fed by the saga's Observe (every synced write
// of a run) and by the compute driver's Watch (waiting-compute comes and
// goes without a write); each subscriber diffs what it last saw against
// the new run, so that it gets each transition once. Sending never blocks:
// a subscriber whose buffer is full (but for one slot) gets a resync event
// in that slot and is dropped.
type migrationEvents struct {
	s    *Service
	mu   sync.Mutex
	subs map[string]map[*migrationSub]struct{} // by run id
}

type migrationSub struct {
	id, vm string
	ch     chan MigrationEvent
	done   chan struct{} // closed when the subscription ends
	last   saga.Run
	phase  string
	seq    uint64
}

func newMigrationEvents(s *Service) *migrationEvents {
	ev := &migrationEvents{s: s, subs: map[string]map[*migrationSub]struct{}{}}
	if w, ok := s.cfg.Compute.(computeWatcher); ok {
		w.Watch(ev.computeChanged)
	}
	return ev
}

// observe is the saga Observe hook: r was just written.
func (ev *migrationEvents) observe(r saga.Run) {
	if ev == nil || r.Kind != sagaMigration {
		return
	}
	ev.mu.Lock()
	defer ev.mu.Unlock()
	for sub := range ev.subs[r.ID] {
		ev.advanceLocked(sub, r, r.UpdatedAt)
	}
}

// computeChanged is the compute driver's Watch hook: whether a move of vm
// waits for a report may have changed.
func (ev *migrationEvents) computeChanged(vm string) {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	now := ev.s.clk.Now()
	for _, subs := range ev.subs {
		for sub := range subs {
			if sub.vm == vm {
				ev.advanceLocked(sub, sub.last, now)
			}
		}
	}
}

// advanceLocked sends sub what changed between what it last saw and r.
func (ev *migrationEvents) advanceLocked(sub *migrationSub, r saga.Run, at time.Time) {
	var out []MigrationEvent
	for i, st := range r.Steps {
		var old saga.StepRecord
		if i < len(sub.last.Steps) {
			old = sub.last.Steps[i]
		}
		if stepStates[st.State] != stepStates[old.State] || st.LastError != old.LastError {
			out = append(out, MigrationEvent{Type: EventStep, Step: st.Name, State: stepStates[st.State], Error: st.LastError})
		}
	}
	sub.last = r
	sub.last.Steps = slices.Clone(r.Steps) // the caller's copy may change
	m := ev.s.migrationOut(r)
	if m.Phase != sub.phase {
		sub.phase = m.Phase
		out = append(out, MigrationEvent{Type: EventPhase, State: m.Phase, Error: m.Error})
	}
	for _, e := range out {
		e.Migration, e.At = sub.id, at
		if !ev.sendLocked(sub, e) {
			return
		}
	}
	if terminalPhase(sub.phase) {
		ev.removeLocked(sub)
	}
}

// sendLocked sends e without blocking; a full buffer drops the subscriber
// after a resync event in the slot kept for it.
func (ev *migrationEvents) sendLocked(sub *migrationSub, e MigrationEvent) bool {
	sub.seq++
	if len(sub.ch) >= cap(sub.ch)-1 {
		sub.ch <- MigrationEvent{Seq: sub.seq, Type: EventResync, Migration: sub.id, State: EventResync, At: e.At,
			Error: "the subscriber fell behind; read the migration and subscribe again"}
		ev.removeLocked(sub)
		return false
	}
	e.Seq = sub.seq
	sub.ch <- e
	return true
}

func (ev *migrationEvents) removeLocked(sub *migrationSub) {
	subs := ev.subs[sub.id]
	if _, ok := subs[sub]; !ok {
		return
	}
	delete(subs, sub)
	if len(subs) == 0 {
		delete(ev.subs, sub.id)
	}
	close(sub.ch)
	close(sub.done)
}

// subscribe registers a subscriber of run r's migration from the snapshot
// r; the caller holds ev.mu, so that no write is observed between the
// snapshot and the registration.
func (ev *migrationEvents) subscribeLocked(ctx context.Context, r saga.Run) (Migration, <-chan MigrationEvent) {
	m := ev.s.migrationOut(r)
	ch := make(chan MigrationEvent, eventBuffer)
	if terminalPhase(m.Phase) {
		close(ch)
		return m, ch
	}
	sub := &migrationSub{id: r.ID, vm: m.VM, ch: ch, done: make(chan struct{}), last: r, phase: m.Phase}
	sub.last.Steps = slices.Clone(r.Steps)
	if ev.subs[r.ID] == nil {
		ev.subs[r.ID] = map[*migrationSub]struct{}{}
	}
	ev.subs[r.ID][sub] = struct{}{}
	go func() {
		select {
		case <-ctx.Done():
			ev.mu.Lock()
			ev.removeLocked(sub)
			ev.mu.Unlock()
		case <-sub.done:
		}
	}()
	return m, ch
}

// MigrationEvents returns migration id as it is now, and a channel of its
// transitions from there: every step and phase change the saga writes (and
// waiting-compute as it comes and goes). The channel is closed after the
// event of a terminal phase (succeeded, rolled-back, failed) — at once when
// the migration has already ended — or when ctx ends, or after a resync
// event when the reader fell more than a buffer behind. ErrNotFound for an
// unknown migration.
func (s *Service) MigrationEvents(ctx context.Context, id string) (Migration, <-chan MigrationEvent, error) {
	ev := s.events
	ev.mu.Lock()
	defer ev.mu.Unlock()
	// Read under ev.mu: the saga writes a run's next record only after the
	// Observe of its last one has returned, so the snapshot is at most one
	// write behind what observe will diff it against.
	r, err := s.migrationRun(id)
	if err != nil {
		return Migration{}, nil, err
	}
	m, ch := ev.subscribeLocked(ctx, r)
	return m, ch, nil
}
