package saga

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/sanmob/sanmob/errclass"
)

// runner moves one run in one goroutine. Only it writes the run's record.
type runner struct {
	e       *Executor
	ctx     context.Context
	log     *logrus.Entry
	resumed bool
	steps   []Step
	// fwd is the context of forward calls (Do): ctx's child, cancelled
	// with the cause ErrAborted by Abort. Undo calls use ctx itself.
	fwd   context.Context
	abort context.CancelCauseFunc

	// mu guards run and orders its writes (Exec.Save may come from a
	// goroutine of the step's).
	mu  sync.Mutex
	run Run

	// orig is the error that made the run undo, undoErr the undo error
	// that made it fail; halted is set when the runner stopped before a
	// terminal state: the executor stopped (ErrStopped) or a write failed.
	orig, undoErr error
	halted        error
}

func (rn *runner) exec() {
	if rn.resumed {
		rn.mu.Lock()
		rn.run.Resumed++
		ok, state := rn.persistLocked(), rn.run.State
		rn.mu.Unlock()
		if !ok {
			return
		}
		rn.log.WithField("state", state).Info("run resumed")
	}
	// A copy: Abort may change the run while the plan reads it.
	rn.mu.Lock()
	snap := rn.run.clone()
	rn.mu.Unlock()
	steps, err := rn.e.plan(snap)
	if err == nil && !slices.EqualFunc(steps, snap.Steps, func(s Step, r StepRecord) bool { return s.Name == r.Name }) {
		err = fmt.Errorf("%w: kind %q now plans steps %v, the record has %v",
			ErrPlan, snap.Kind, stepNames(steps), recordNames(snap.Steps))
	}
	if err != nil {
		rn.planFailed(err)
		return
	}
	rn.steps = steps
	if rn.state() == StateRunning && !rn.forward() {
		return
	}
	if rn.state() == StateUndoing {
		rn.undo()
	}
}

// state reads the run's state; Abort may change it from another goroutine.
func (rn *runner) state() State {
	rn.mu.Lock()
	defer rn.mu.Unlock()
	return rn.run.State
}

// planFailed fails the run loudly without touching any device: without the
// recorded steps' code nothing can be done or undone safely.
func (rn *runner) planFailed(err error) {
	rn.log.WithError(err).Error("run cannot be planned; failing it without touching devices")
	rn.mu.Lock()
	defer rn.mu.Unlock()
	rn.orig = err
	rn.run.State = StateFailed
	rn.run.LastError = err.Error()
	rn.run.ErrorClass = errclass.Final.String()
	rn.run.FailedStep = ""
	rn.run.Action = fmt.Sprintf("the %s plan of this build no longer matches the recorded steps %v: "+
		"run a build whose plan has the same steps, check the devices for what the done steps made, then retry the run to undo it",
		rn.run.Kind, recordNames(rn.run.Steps))
	rn.persistLocked()
}

// forward runs the steps from the first not done; it returns false if the
// runner halted, and leaves the run done or undoing otherwise.
func (rn *runner) forward() bool {
	for i, s := range rn.steps {
		rn.mu.Lock()
		if rn.run.State != StateRunning {
			rn.mu.Unlock()
			return true // aborted between steps: Abort wrote it undoing
		}
		sr := &rn.run.Steps[i]
		if sr.State == StepDone {
			rn.mu.Unlock()
			continue
		}
		switch {
		case i == 0 && !rn.resumed && sr.State == StepDoing:
			// Submit's record already says so: no write before the call.
		default:
			// The write that marks this step doing also carries the
			// previous step's done: one synced write per transition
			// boundary; none before a step that touches no device.
			sr.State = StepDoing
			sr.Attempts++
			if sr.StartedAt.IsZero() {
				sr.StartedAt = rn.now()
			}
			if !s.Local && !rn.persistLocked() {
				rn.mu.Unlock()
				return false
			}
		}
		rn.mu.Unlock()
		log := rn.log.WithField("step", s.Name)
		log.Debug("step doing")
		err, halted := rn.attempt(i, s.Do, false)
		if halted {
			return false
		}
		rn.mu.Lock()
		if rn.run.State != StateRunning {
			// Aborted while the step ran: whatever it returned, it stays
			// doing (it may have applied) and the undo calls its Undo.
			rn.mu.Unlock()
			log.WithError(err).Info("step cut short by an abort")
			return true
		}
		sr = &rn.run.Steps[i]
		if err == nil {
			sr.State = StepDone
			sr.EndedAt = rn.now()
			rn.mu.Unlock()
			log.Debug("step done")
			continue
		}
		class := rn.e.cfg.Classify(err)
		log.WithError(err).WithField("class", class).Warn("step failed; undoing the run")
		// The step stays doing: it may have partly applied, and undo
		// calls its Undo first.
		rn.orig = err
		rn.run.State = StateUndoing
		rn.run.LastError = err.Error()
		rn.run.ErrorClass = class.String()
		rn.run.FailedStep = s.Name
		ok := rn.persistLocked()
		rn.mu.Unlock()
		return ok
	}
	rn.mu.Lock()
	defer rn.mu.Unlock()
	if rn.run.State != StateRunning {
		return true // aborted after the last step's call
	}
	rn.run.State = StateDone
	if rn.persistLocked() {
		rn.log.Info("run done")
	}
	return false
}

// undo undoes, in reverse, every step that may have left something: done,
// doing (it failed or was cut short), undoing and failed ones.
func (rn *runner) undo() {
	for i := len(rn.steps) - 1; i >= 0; i-- {
		s := rn.steps[i]
		rn.mu.Lock()
		sr := &rn.run.Steps[i]
		if sr.State == StepPending || sr.State == StepUndone {
			rn.mu.Unlock()
			continue
		}
		if s.Undo == nil {
			sr.State = StepUndone
			sr.EndedAt = rn.now()
			rn.mu.Unlock()
			continue
		}
		sr.State = StepUndoing
		sr.UndoAttempts++
		ok := rn.persistLocked()
		rn.mu.Unlock()
		if !ok {
			return
		}
		log := rn.log.WithField("step", s.Name)
		err, halted := rn.attempt(i, s.Undo, true)
		if halted {
			return
		}
		rn.mu.Lock()
		sr = &rn.run.Steps[i]
		if err == nil {
			sr.State = StepUndone
			sr.EndedAt = rn.now()
			rn.mu.Unlock()
			log.Debug("step undone")
			continue
		}
		rn.undoErr = err
		sr.State = StepFailed
		sr.EndedAt = rn.now()
		rn.run.State = StateFailed
		rn.run.Action = fmt.Sprintf("undo of step %q still fails after %s (%v): "+
			"check what the step left on the device and fix what blocks its undo, or remove it by hand, "+
			"then retry run %s (its undo treats 'not found' as done)", s.Name, attempts(sr.UndoAttempts), err, rn.run.ID)
		if rn.orig == nil {
			rn.orig = &storedError{msg: rn.run.LastError, class: parseClass(rn.run.ErrorClass)}
		}
		if rn.persistLocked() {
			log.WithError(err).WithField("action", rn.run.Action).Error("undo failed; the run needs a person")
		}
		rn.mu.Unlock()
		return
	}
	rn.mu.Lock()
	defer rn.mu.Unlock()
	rn.run.State = StateUndone
	if rn.orig == nil {
		rn.orig = &storedError{msg: rn.run.LastError, class: parseClass(rn.run.ErrorClass)}
	}
	if rn.persistLocked() {
		rn.log.WithField("error", rn.run.LastError).Info("run undone")
	}
}

// attempt calls fn (Do, or Undo if undo) of step i until it succeeds, fails
// with an error that is not transient, or runs out of attempts; a NotFound
// from Undo is success. halted means the runner must stop without writing.
// The caller has counted and recorded the first call; attempt counts and
// records each further one before its backoff.
func (rn *runner) attempt(i int, fn func(context.Context, *Exec) error, undo bool) (err error, halted bool) {
	bo := rn.e.cfg.Backoff
	delay := bo.Initial
	name := rn.steps[i].Name
	for n := 1; ; n++ {
		x := &Exec{rn: rn, step: name, attempt: n, undo: undo}
		err = rn.call(fn, x)
		rn.mu.Lock()
		halted := rn.halted != nil
		rn.mu.Unlock()
		if halted || rn.ctx.Err() != nil {
			// The executor is stopping (or lost its store): whatever the
			// step did, the next start calls it again and it re-reads.
			return err, true
		}
		class := rn.e.cfg.Classify(err)
		if err == nil || (undo && class == errclass.NotFound) {
			return nil, false
		}
		rn.mu.Lock()
		if !undo && rn.run.State != StateRunning {
			rn.mu.Unlock()
			return err, false // aborted: no retry, forward's caller undoes
		}
		sr := &rn.run.Steps[i]
		sr.LastError = err.Error()
		sr.ErrorClass = class.String()
		limit := bo.Attempts
		if undo {
			limit = bo.UndoAttempts
		}
		if class != errclass.Transient || n >= limit {
			rn.mu.Unlock()
			return err, false
		}
		// Record the error and the attempt to come (level-triggered: the
		// record always says what happened last and what is next).
		if undo {
			sr.UndoAttempts++
		} else {
			sr.Attempts++
		}
		ok := rn.persistLocked()
		rn.mu.Unlock()
		if !ok {
			return err, true
		}
		rn.log.WithFields(logrus.Fields{"step": name, "attempt": n, "undo": undo, "retry_in": delay}).
			WithError(err).Info("step error is transient; retrying")
		t := rn.e.cfg.Clock.NewTimer(delay)
		aborted := rn.fwd.Done()
		if undo {
			aborted = nil
		}
		select {
		case <-t.C():
		case <-rn.ctx.Done():
			t.Stop()
			return err, true
		case <-aborted:
			t.Stop()
			return err, false
		}
		delay = min(2*delay, bo.Max)
	}
}

// call runs one Do or Undo with the step timeout, turning a panic into a
// final error.
func (rn *runner) call(fn func(context.Context, *Exec) error, x *Exec) (err error) {
	base := rn.ctx
	if !x.undo {
		base = rn.fwd
		defer func() {
			// An abort cut the call short: say so, as for a timeout.
			if err != nil && rn.fwd.Err() != nil && rn.ctx.Err() == nil && !errors.Is(err, ErrAborted) {
				err = fmt.Errorf("%w: %w", context.Cause(rn.fwd), err)
			}
		}()
	}
	ctx := base
	if d := rn.e.cfg.StepTimeout; d > 0 {
		var cancel context.CancelCauseFunc
		ctx, cancel = context.WithCancelCause(base)
		t := rn.e.cfg.Clock.NewTimer(d)
		done := make(chan struct{})
		go func() {
			select {
			case <-t.C():
				cancel(fmt.Errorf("%w after %v", ErrStepTimeout, d))
			case <-done:
			}
		}()
		defer func() {
			close(done)
			t.Stop()
			if err != nil && ctx.Err() != nil && base.Err() == nil {
				err = fmt.Errorf("%w: %w", context.Cause(ctx), err)
			}
			cancel(nil)
		}()
	}
	defer func() {
		if p := recover(); p != nil {
			err = errclass.Wrap(errclass.Final, fmt.Errorf("%w: %s: %v", ErrPanic, x.step, p))
		}
	}()
	return fn(ctx, x)
}

// persistLocked writes the run, synced, unless the executor is stopping;
// rn.mu is held. A failed write halts the runner: the record keeps its last
// state and the next start resumes from it.
func (rn *runner) persistLocked() bool {
	if rn.halted != nil {
		return false
	}
	if rn.ctx.Err() != nil {
		rn.halted = ErrStopped
		return false
	}
	rn.run.UpdatedAt = rn.now()
	if err := rn.e.cfg.Store.Put(RecordKind, rn.run.ID, rn.run); err != nil {
		rn.halted = fmt.Errorf("%w: writing the record of run %s: %w", ErrStopped, rn.run.ID, err)
		rn.log.WithError(err).Error("cannot write the run's record; it stays as last written until the next start")
		return false
	}
	rn.e.observe(rn.run)
	return true
}

func (rn *runner) now() time.Time { return rn.e.cfg.Clock.Now() }

func stepNames(s []Step) []string {
	out := make([]string, len(s))
	for i := range s {
		out[i] = s[i].Name
	}
	return out
}

func recordNames(s []StepRecord) []string {
	out := make([]string, len(s))
	for i := range s {
		out[i] = s[i].Name
	}
	return out
}

// Exec is a step's handle on its run: identity, data and logger. It is
// valid during the call of Do or Undo that received it.
type Exec struct {
	rn      *runner
	step    string
	attempt int
	undo    bool
}

// ID, Kind and Key identify the run.
func (x *Exec) ID() string   { return x.rn.run.ID }
func (x *Exec) Kind() string { return x.rn.run.Kind }
func (x *Exec) Key() string  { return x.rn.run.Key }

// Step is the name of the step being called.
func (x *Exec) Step() string { return x.step }

// Attempt counts the calls of this Do (or Undo) in this life of the run,
// from 1.
func (x *Exec) Attempt() int { return x.attempt }

// Undoing reports whether this is a call of Undo.
func (x *Exec) Undoing() bool { return x.undo }

// Log is the executor's logger with the run's and step's fields.
func (x *Exec) Log() logrus.FieldLogger { return x.rn.log.WithField("step", x.step) }

// Load decodes the run's data into v.
func (x *Exec) Load(v any) error {
	x.rn.mu.Lock()
	raw := slices.Clone(x.rn.run.Data)
	x.rn.mu.Unlock()
	if len(raw) == 0 {
		raw = []byte("null")
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("saga: run %s: load data: %w", x.rn.run.ID, err)
	}
	return nil
}

// Save replaces the run's data with v and writes the record, synced,
// before it returns; save an output chosen on a device before relying on
// it. Once the executor is stopping Save writes nothing and returns an
// error wrapping ErrStopped.
func (x *Exec) Save(v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("saga: run %s: save data: %w", x.rn.run.ID, err)
	}
	x.rn.mu.Lock()
	defer x.rn.mu.Unlock()
	old := x.rn.run.Data
	x.rn.run.Data = raw
	if !x.rn.persistLocked() {
		x.rn.run.Data = old
		if x.rn.halted != nil {
			return x.rn.halted
		}
		return ErrStopped
	}
	return nil
}

// attempts says how many tries, in words.
func attempts(n int) string {
	if n == 1 {
		return "1 attempt"
	}
	return fmt.Sprintf("%d attempts", n)
}
