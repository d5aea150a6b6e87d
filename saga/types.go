package saga

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sanmob/sanmob/errclass"
)

// State is the state of a run.
type State string

// Run states. Running and undoing are unfinished: the executor resumes them
// at start. Done and undone are terminal. Failed waits for a person: an undo
// still failed after its retries, so something may be left on a device; the
// run keeps its key until Retry brings it to undone.
const (
	StateRunning State = "running"
	StateUndoing State = "undoing"
	StateDone    State = "done"
	StateUndone  State = "undone"
	StateFailed  State = "failed"
)

// Unfinished reports whether the executor still has work to do on a run in
// state s (running or undoing).
func (s State) Unfinished() bool { return s == StateRunning || s == StateUndoing }

// Terminal reports whether no executor will touch a run in state s again on
// its own: done, undone or failed (failed moves again only through Retry).
func (s State) Terminal() bool { return s == StateDone || s == StateUndone || s == StateFailed }

// holdsKey reports whether a run in state s keeps its (kind, key) from a new
// run: every state but done and undone.
func (s State) holdsKey() bool { return s != StateDone && s != StateUndone }

// StepState is the state of one step of a run.
type StepState string

// Step states. A step goes pending → doing → done; on failure of the run it
// goes (doing or done) → undoing → undone, or failed when its undo still
// fails after the retries.
const (
	StepPending StepState = "pending"
	StepDoing   StepState = "doing"
	StepDone    StepState = "done"
	StepUndoing StepState = "undoing"
	StepUndone  StepState = "undone"
	StepFailed  StepState = "failed"
)

// StepRecord is the durable record of one step.
type StepRecord struct {
	Name  string    `json:"name"`
	State StepState `json:"state"`
	// Attempts counts calls of Do, UndoAttempts calls of Undo, over every
	// life of the run (a resumed step counts on). A call is counted in the
	// write that precedes it, so a call cut short by a crash is counted, and
	// so is a retry whose backoff a crash cut short.
	Attempts     int `json:"attempts"`
	UndoAttempts int `json:"undo_attempts,omitempty"`
	// LastError is the last error of Do or Undo, ErrorClass its class.
	LastError  string    `json:"last_error,omitempty"`
	ErrorClass string    `json:"error_class,omitempty"`
	StartedAt  time.Time `json:"started_at,omitzero"`
	EndedAt    time.Time `json:"ended_at,omitzero"`
}

// Run is the durable record of one run. Values handed out by the executor
// are copies: changing them changes nothing.
type Run struct {
	// ID sorts by creation time and is unique.
	ID    string       `json:"id"`
	Kind  string       `json:"kind"`
	Key   string       `json:"key"`
	State State        `json:"state"`
	Steps []StepRecord `json:"steps"`
	// Data holds the run's parameters and whatever its steps saved.
	Data json.RawMessage `json:"data,omitempty"`
	// LastError says why the run is undoing, undone or failed; ErrorClass is
	// its class and FailedStep the step whose Do failed (empty when the run
	// failed before any step, e.g. a plan that no longer matches).
	LastError  string `json:"last_error,omitempty"`
	ErrorClass string `json:"error_class,omitempty"`
	FailedStep string `json:"failed_step,omitempty"`
	// Action says what a person must do about a failed run.
	Action    string    `json:"action,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	// Resumed counts the starts of an executor that found the run
	// unfinished and continued it.
	Resumed int `json:"resumed,omitempty"`
	// AbortRequested says that Abort stopped the run while it ran
	// forward: the same write turned it undoing, so a start after a crash
	// undoes it and never runs it forward again.
	AbortRequested bool `json:"abort_requested,omitempty"`
}

// clone returns a deep copy, so that callers never share memory with the
// executor.
func (r Run) clone() Run {
	r.Steps = slices.Clone(r.Steps)
	r.Data = slices.Clone(r.Data)
	return r
}

// Step is one idempotent step of a plan. The executor knows nothing of what
// it does; the step must:
//
//   - read the device's truth before acting, and treat "already done" as
//     done (Do) and "already gone" as gone (Undo; an error of class NotFound
//     from Undo counts as success), because Do is called again after a
//     transient error, after a crash and on resume, and Undo after a crash
//     in the middle of an undo;
//   - return errors whose class (errclass) says what happened: transient
//     (may still be in progress: retried after a backoff, and Do re-reads
//     the truth), final (definitely failed: the run is undone) or not found;
//   - save any output chosen on a device (a LUN id, a generated name) with
//     Exec.Save before relying on it, so that a resumed run and the undo
//     find it;
//   - return promptly when ctx ends.
//
// Undo is also called for the step whose Do failed, since it may have
// partly applied. Undo may be nil for a step that leaves nothing behind.
type Step struct {
	Name string
	Do   func(ctx context.Context, x *Exec) error
	Undo func(ctx context.Context, x *Exec) error
	// Local marks a step that touches no device, only sanmob's own store
	// (the attachment record written at the end of an attach): no write
	// marks it doing before its Do — the write that ends the run carries
	// it. A crash in the middle of it resumes from the step before it,
	// whose Do runs again, as any step's may.
	Local bool
}

// Errors of the executor. Compare with errors.Is.
var (
	// ErrBusy: the (kind, key) already has a run that holds it (running,
	// undoing or failed); the message names that run.
	ErrBusy = errclass.New(errclass.Transient, "saga: busy")
	// ErrUnknownKind: no plan is registered for the kind.
	ErrUnknownKind = errors.New("saga: unknown kind")
	// ErrPlan: the plan refused the data, built an invalid step list, or on
	// resume built steps whose names differ from the recorded ones.
	ErrPlan = errors.New("saga: bad plan")
	// ErrStopped: the executor has stopped (or has lost its store); the run
	// stays as recorded and resumes at the next start.
	ErrStopped = errclass.New(errclass.Transient, "saga: executor stopped")
	// ErrNotFailed: Retry of a run that is not failed.
	ErrNotFailed = errors.New("saga: run is not failed")
	// ErrNotFound: no run has the id.
	ErrNotFound = errclass.New(errclass.NotFound, "saga: run not found")
	// ErrStepTimeout: a step call outlived Config.StepTimeout. Transient: the
	// device may still be working, so Do is called again and re-reads.
	ErrStepTimeout = errclass.New(errclass.Transient, "saga: step timed out")
	// ErrPanic: a step panicked; the run treats it as a final error.
	ErrPanic = errors.New("saga: step panicked")
	// ErrAborted: Abort stopped the run. It is the cause of the context
	// the step in progress sees cancelled, and the error (final) that the
	// run's undo carries.
	ErrAborted = errclass.New(errclass.Final, "saga: aborted by request")
	// ErrNotRunning: Abort of a run that is not running forward (undoing,
	// done, undone or failed). Final: asking again will not change it.
	ErrNotRunning = errclass.New(errclass.Final, "saga: run is not running")
)

// RunError is what Wait and Do return for a run that did not end done. It
// carries the original step error: errors.Is and errors.As find the device's
// sentinel in it, and errclass.Of gives the class it had. For a failed run it
// also carries the undo error that remained, which errors.Is finds too.
//
// The original error object lives only in the process that ran the step;
// for a run that ended in an earlier life of the daemon, Err is rebuilt from
// the record: same message and class, but not the sentinel.
type RunError struct {
	ID, Kind, Key string
	State         State
	Step          string
	Class         errclass.Class
	Err           error
	UndoErr       error
	Action        string
}

func (e *RunError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "saga %s %q (run %s)", e.Kind, e.Key, e.ID)
	if e.Step != "" {
		fmt.Fprintf(&b, ": step %q", e.Step)
	}
	fmt.Fprintf(&b, ": %v; %s", e.Err, e.State)
	if e.UndoErr != nil {
		fmt.Fprintf(&b, ": undo: %v", e.UndoErr)
	}
	if e.Action != "" {
		fmt.Fprintf(&b, "; action: %s", e.Action)
	}
	return b.String()
}

// Unwrap gives the original error and, for a failed run, the undo error.
func (e *RunError) Unwrap() []error {
	if e.UndoErr != nil {
		return []error{e.Err, e.UndoErr}
	}
	return []error{e.Err}
}

// ErrorClass is the class of the original error, so that errclass.Of of a
// RunError is that of the step error that decided the outcome.
func (e *RunError) ErrorClass() errclass.Class { return e.Class }

// storedError stands in for an original error known only from the record.
type storedError struct {
	msg   string
	class errclass.Class
}

func (e *storedError) Error() string              { return e.msg }
func (e *storedError) ErrorClass() errclass.Class { return e.class }

func parseClass(s string) errclass.Class {
	switch s {
	case errclass.Transient.String():
		return errclass.Transient
	case errclass.NotFound.String():
		return errclass.NotFound
	default:
		return errclass.Final
	}
}

// runError builds Wait's error for a run: nil for done; orig and undo are
// the in-process errors when known.
func runError(r Run, orig, undo error) error {
	if r.State == StateDone {
		return nil
	}
	if !r.State.Terminal() {
		return fmt.Errorf("%w: run %s of %s %q is %s", ErrStopped, r.ID, r.Kind, r.Key, r.State)
	}
	if orig == nil {
		orig = &storedError{msg: r.LastError, class: parseClass(r.ErrorClass)}
	}
	if undo == nil && r.State == StateFailed {
		for _, s := range r.Steps {
			if s.State == StepFailed {
				undo = &storedError{msg: s.LastError, class: parseClass(s.ErrorClass)}
			}
		}
	}
	return &RunError{
		ID: r.ID, Kind: r.Kind, Key: r.Key, State: r.State, Step: r.FailedStep,
		Class: parseClass(r.ErrorClass), Err: orig, UndoErr: undo, Action: r.Action,
	}
}
