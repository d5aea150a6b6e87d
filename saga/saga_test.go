package saga

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sanmob/sanmob/errclass"
	"github.com/sanmob/sanmob/store"
)

func TestScriptedOutcomes(t *testing.T) {
	abc := []string{"a", "b", "c"}
	tests := []struct {
		name        string
		steps       []string
		noUndo      map[string]bool
		do, undo    map[string][]error
		afterEffect map[string]bool

		wantState  State
		wantSteps  []StepState
		wantCalls  []string
		wantDevice []string
		wantErrIs  []error
		wantClass  errclass.Class
		wantWaits  []time.Duration
		wantAction bool
	}{{
		name:       "all ok",
		steps:      abc,
		wantState:  StateDone,
		wantSteps:  []StepState{StepDone, StepDone, StepDone},
		wantCalls:  []string{"do a", "do b", "do c"},
		wantDevice: abc,
	}, {
		name:       "transient twice then ok",
		steps:      abc,
		do:         map[string][]error{"b": {errBusy, errBusy}},
		wantState:  StateDone,
		wantSteps:  []StepState{StepDone, StepDone, StepDone},
		wantCalls:  []string{"do a", "do b", "do b", "do b", "do c"},
		wantDevice: abc,
		wantWaits:  []time.Duration{10 * time.Millisecond, 20 * time.Millisecond},
	}, {
		name:      "transient past the attempts undoes",
		steps:     abc,
		do:        map[string][]error{"b": {errBusy, errBusy, errBusy, errBusy, errBusy}},
		wantState: StateUndone,
		wantSteps: []StepState{StepUndone, StepUndone, StepPending},
		wantCalls: []string{"do a", "do b", "do b", "do b", "do b", "undo b", "undo a"},
		wantErrIs: []error{errBusy},
		wantClass: errclass.Transient,
		wantWaits: []time.Duration{10 * time.Millisecond, 20 * time.Millisecond, 40 * time.Millisecond},
	}, {
		name:      "final error undoes in reverse, failed step first",
		steps:     abc,
		do:        map[string][]error{"c": {errRefused}},
		wantState: StateUndone,
		wantSteps: []StepState{StepUndone, StepUndone, StepUndone},
		wantCalls: []string{"do a", "do b", "do c", "undo c", "undo b", "undo a"},
		wantErrIs: []error{errRefused},
		wantClass: errclass.Final,
	}, {
		name:        "partly applied failed step is undone",
		steps:       abc,
		do:          map[string][]error{"b": {errRefused}},
		afterEffect: map[string]bool{"b": true},
		wantState:   StateUndone,
		wantSteps:   []StepState{StepUndone, StepUndone, StepPending},
		wantCalls:   []string{"do a", "do b", "undo b", "undo a"},
		wantErrIs:   []error{errRefused},
		wantClass:   errclass.Final,
	}, {
		name:      "not found on undo counts as undone",
		steps:     abc,
		do:        map[string][]error{"c": {errRefused}},
		undo:      map[string][]error{"b": {errGone}},
		wantState: StateUndone,
		wantSteps: []StepState{StepUndone, StepUndone, StepUndone},
		wantCalls: []string{"do a", "do b", "do c", "undo c", "undo b", "undo a"},
		// "undo b" returned not-found without removing b: it stays, which is
		// what a device that really lost it would not show; here it proves
		// the run went on.
		wantDevice: []string{"b"},
		wantErrIs:  []error{errRefused},
		wantClass:  errclass.Final,
	}, {
		name:      "undo transient then ok",
		steps:     abc,
		do:        map[string][]error{"c": {errRefused}},
		undo:      map[string][]error{"a": {errStuck}},
		wantState: StateUndone,
		wantSteps: []StepState{StepUndone, StepUndone, StepUndone},
		wantCalls: []string{"do a", "do b", "do c", "undo c", "undo b", "undo a", "undo a"},
		wantErrIs: []error{errRefused},
		wantClass: errclass.Final,
		wantWaits: []time.Duration{10 * time.Millisecond},
	}, {
		name:       "undo fails forever leaves failed with action",
		steps:      abc,
		do:         map[string][]error{"c": {errRefused}},
		undo:       map[string][]error{"b": {errStuck, errStuck, errStuck, errStuck}},
		wantState:  StateFailed,
		wantSteps:  []StepState{StepDone, StepFailed, StepUndone},
		wantCalls:  []string{"do a", "do b", "do c", "undo c", "undo b", "undo b", "undo b", "undo b"},
		wantDevice: []string{"a", "b"},
		wantErrIs:  []error{errRefused, errStuck},
		wantClass:  errclass.Final,
		wantWaits:  []time.Duration{10 * time.Millisecond, 20 * time.Millisecond, 40 * time.Millisecond},
		wantAction: true,
	}, {
		name:      "step without undo is skipped",
		steps:     abc,
		noUndo:    map[string]bool{"b": true},
		do:        map[string][]error{"c": {errRefused}},
		wantState: StateUndone,
		wantSteps: []StepState{StepUndone, StepUndone, StepUndone},
		wantCalls: []string{"do a", "do b", "do c", "undo c", "undo a"},
		// b has no undo, so what it made stays (by the plan's choice).
		wantDevice: []string{"b"},
		wantErrIs:  []error{errRefused},
		wantClass:  errclass.Final,
	}, {
		name:      "not found from do is final",
		steps:     abc,
		do:        map[string][]error{"a": {errGone}},
		wantState: StateUndone,
		wantSteps: []StepState{StepUndone, StepPending, StepPending},
		wantCalls: []string{"do a", "undo a"},
		wantErrIs: []error{errGone},
		wantClass: errclass.NotFound,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dev := newDevice()
			sc := &script{do: tt.do, undo: tt.undo, afterEffect: tt.afterEffect}
			if sc.do == nil {
				sc.do = map[string][]error{}
			}
			if sc.undo == nil {
				sc.undo = map[string][]error{}
			}
			clk := newAutoClock()
			h := newHarness(t, clk, func(e *Executor) {
				e.Register("k", scriptedPlan(dev, sc, tt.steps, tt.noUndo))
			}, nil)
			h.start()

			r, err := h.e.Do(waitCtx(t), "k", "key1", map[string]int{"n": 1})
			if r.State != tt.wantState {
				t.Fatalf("state %s, want %s (err %v)", r.State, tt.wantState, err)
			}
			if got := stepStates(r); !slices.Equal(got, tt.wantSteps) {
				t.Errorf("steps %v, want %v", got, tt.wantSteps)
			}
			if got := dev.log(); !slices.Equal(got, tt.wantCalls) {
				t.Errorf("calls %v, want %v", got, tt.wantCalls)
			}
			if got := dev.names(); !slices.Equal(got, tt.wantDevice) {
				t.Errorf("device %v, want %v", got, tt.wantDevice)
			}
			if got := clk.waited(); !slices.Equal(got, tt.wantWaits) {
				t.Errorf("backoffs %v, want %v", got, tt.wantWaits)
			}
			if tt.wantState == StateDone {
				if err != nil {
					t.Errorf("err %v, want nil", err)
				}
			} else {
				var re *RunError
				if !errors.As(err, &re) {
					t.Fatalf("err %v is not a *RunError", err)
				}
				for _, want := range tt.wantErrIs {
					if !errors.Is(err, want) {
						t.Errorf("errors.Is(%v, %v) = false", err, want)
					}
				}
				if got := errclass.Of(err); got != tt.wantClass {
					t.Errorf("class %v, want %v", got, tt.wantClass)
				}
				if r.LastError == "" {
					t.Error("LastError is empty")
				}
			}
			if (r.Action != "") != tt.wantAction {
				t.Errorf("action %q, want one: %v", r.Action, tt.wantAction)
			}
			// The record says the same after a restart, and the run holds
			// its key only if failed.
			h.restart()
			got, err := h.e.Get(r.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.State != tt.wantState || !slices.Equal(stepStates(got), tt.wantSteps) {
				t.Errorf("after restart: %s %v", got.State, stepStates(got))
			}
			if _, held, _ := h.e.Active("k", "key1"); held != (tt.wantState == StateFailed) {
				t.Errorf("Active = %v after restart", held)
			}
		})
	}
}

// A failed run keeps its key; once what blocked the undo is gone, Retry
// undoes it, after a restart too.
func TestFailedRunRetry(t *testing.T) {
	dev := newDevice()
	sc := &script{
		do:   map[string][]error{"b": {errRefused}},
		undo: map[string][]error{"a": {errStuck, errStuck, errStuck, errStuck}},
	}
	h := newHarness(t, newAutoClock(), func(e *Executor) {
		e.Register("k", scriptedPlan(dev, sc, []string{"a", "b"}, nil))
	}, nil)
	h.start()
	r, err := h.e.Do(waitCtx(t), "k", "vm1", nil)
	if r.State != StateFailed || !errors.Is(err, errStuck) {
		t.Fatalf("got %s, %v; want failed with the undo error", r.State, err)
	}
	_, err = h.e.Submit("k", "vm1", nil)
	if !errors.Is(err, ErrBusy) {
		t.Fatalf("Submit on a failed run's key: %v, want ErrBusy", err)
	}
	if _, err := h.e.Retry(r.ID); err != nil {
		t.Fatal(err)
	}
	// The script is spent: the undo of a now works.
	got, err := h.e.Wait(waitCtx(t), r.ID)
	if got.State != StateUndone || !errors.Is(err, errRefused) {
		t.Fatalf("after Retry: %s, %v", got.State, err)
	}
	if _, err := h.e.Retry(r.ID); !errors.Is(err, ErrNotFailed) {
		t.Errorf("Retry of an undone run: %v", err)
	}
	if names := dev.names(); len(names) != 0 {
		t.Errorf("device keeps %v", names)
	}
	if _, err := h.e.Submit("k", "vm1", nil); err != nil {
		t.Errorf("Submit after undone: %v", err)
	}
}

// The record, with the step doing, is on disk before the first Do runs.
func TestRecordBeforeFirstDo(t *testing.T) {
	var h *harness
	var seen Run
	var seenErr error
	h = newHarness(t, newAutoClock(), func(e *Executor) {
		e.Register("k", func(Run) ([]Step, error) {
			return []Step{{Name: "first", Do: func(ctx context.Context, x *Exec) error {
				// Read the store directly, as a new process would.
				seenErr = h.st.Get(RecordKind, x.ID(), &seen)
				return nil
			}}}, nil
		})
	}, nil)
	h.start()
	r, err := h.e.Do(waitCtx(t), "k", "key", map[string]string{"lun": "x"})
	if err != nil {
		t.Fatal(err)
	}
	if seenErr != nil {
		t.Fatalf("record not readable in the first Do: %v", seenErr)
	}
	if seen.ID != r.ID || seen.State != StateRunning || seen.Steps[0].State != StepDoing || string(seen.Data) != `{"lun":"x"}` {
		t.Errorf("record seen by the first Do: %+v", seen)
	}
}

// Save is durable before it returns: a restart between the step that saved
// and the next one resumes with the data.
func TestSaveVisibleAfterRestart(t *testing.T) {
	type data struct {
		Volume string `json:"volume"`
		LUN    int    `json:"lun"`
	}
	var h *harness
	blocked := make(chan struct{})
	var pickCalls, useCalls int
	var used data
	plan := func(Run) ([]Step, error) {
		return []Step{{
			Name: "pick-lun",
			Do: func(ctx context.Context, x *Exec) error {
				pickCalls++
				var d data
				if err := x.Load(&d); err != nil {
					return err
				}
				d.LUN = 7
				return x.Save(d)
			},
		}, {
			Name: "use-lun",
			Do: func(ctx context.Context, x *Exec) error {
				useCalls++
				if useCalls == 1 { // the first life dies here
					close(blocked)
					<-ctx.Done()
					return ctx.Err()
				}
				return x.Load(&used)
			},
		}}, nil
	}
	h = newHarness(t, newAutoClock(), func(e *Executor) { e.Register("attach", plan) }, nil)
	h.start()
	r, err := h.e.Submit("attach", "vm1", data{Volume: "v1"})
	if err != nil {
		t.Fatal(err)
	}
	<-blocked
	h.restart()
	got, err := h.e.Wait(waitCtx(t), r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if used != (data{Volume: "v1", LUN: 7}) {
		t.Errorf("resumed step loaded %+v", used)
	}
	if pickCalls != 1 || useCalls != 2 {
		t.Errorf("calls pick=%d use=%d, want 1 and 2", pickCalls, useCalls)
	}
	if got.Resumed != 1 || got.Steps[1].Attempts != 2 {
		t.Errorf("resumed %d, attempts %d", got.Resumed, got.Steps[1].Attempts)
	}
}

// When Run's context ends, a step in flight is waited for and nothing more
// is written; the record stays as it was.
func TestStopWritesNothing(t *testing.T) {
	inStep := make(chan struct{})
	h := newHarness(t, newAutoClock(), func(e *Executor) {
		e.Register("k", func(Run) ([]Step, error) {
			return []Step{{Name: "slow", Do: func(ctx context.Context, x *Exec) error {
				close(inStep)
				<-ctx.Done()
				return nil // even a success after the stop is not recorded
			}}}, nil
		})
	}, nil)
	h.start()
	r, err := h.e.Submit("k", "key", nil)
	if err != nil {
		t.Fatal(err)
	}
	<-inStep
	before := h.writes.Load()
	h.stop()
	if n := h.writes.Load(); n != before {
		t.Errorf("%d writes after the stop", n-before)
	}
	got, err := h.e.Get(r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != StateRunning || got.Steps[0].State != StepDoing {
		t.Errorf("record after stop: %s %v", got.State, stepStates(got))
	}
	if _, err := h.e.Wait(waitCtx(t), r.ID); !errors.Is(err, ErrStopped) {
		t.Errorf("Wait after stop: %v", err)
	}
	if _, err := h.e.Submit("k", "other", nil); !errors.Is(err, ErrStopped) {
		t.Errorf("Submit after stop: %v", err)
	}
}

func TestSubmitRules(t *testing.T) {
	dev := newDevice()
	sc := &script{do: map[string][]error{}, undo: map[string][]error{}}
	release := make(chan struct{})
	h := newHarness(t, newAutoClock(), func(e *Executor) {
		e.Register("k", scriptedPlan(dev, sc, []string{"a"}, nil))
		e.Register("slow", func(Run) ([]Step, error) {
			return []Step{{Name: "wait", Do: func(ctx context.Context, x *Exec) error {
				select {
				case <-release:
				case <-ctx.Done():
				}
				return nil
			}}}, nil
		})
		e.Register("bad", func(Run) ([]Step, error) {
			return []Step{{Name: "x", Do: func(context.Context, *Exec) error { return nil }}, {Name: "x", Do: func(context.Context, *Exec) error { return nil }}}, nil
		})
	}, nil)

	// Before Run: queued, and the key is held.
	queued, err := h.e.Submit("k", "q", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.e.Submit("k", "q", nil); !errors.Is(err, ErrBusy) {
		t.Errorf("second Submit before Run: %v", err)
	}
	h.start()
	if _, err := h.e.Wait(waitCtx(t), queued.ID); err != nil {
		t.Errorf("queued run: %v", err)
	}

	slow, err := h.e.Submit("slow", "s", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = h.e.Submit("slow", "s", nil)
	if !errors.Is(err, ErrBusy) || !strings.Contains(err.Error(), slow.ID) {
		t.Errorf("busy error %v does not name %s", err, slow.ID)
	}
	if a, ok, err := h.e.Active("slow", "s"); err != nil || !ok || a.ID != slow.ID {
		t.Errorf("Active = %v %v %v", a.ID, ok, err)
	}
	if _, err := h.e.Submit("slow", "other", nil); err != nil {
		t.Errorf("another key: %v", err)
	}
	close(release)
	if _, err := h.e.Wait(waitCtx(t), slow.ID); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := h.e.Active("slow", "s"); ok {
		t.Error("done run still holds its key")
	}
	if _, err := h.e.Submit("nope", "x", nil); !errors.Is(err, ErrUnknownKind) {
		t.Errorf("unknown kind: %v", err)
	}
	if _, err := h.e.Submit("bad", "x", nil); !errors.Is(err, ErrPlan) {
		t.Errorf("duplicate step names: %v", err)
	}
	if _, err := h.e.Get("nope"); !errors.Is(err, ErrNotFound) || !errclass.IsNotFound(err) {
		t.Errorf("Get of no run: %v", err)
	}
	runs, err := h.e.List("slow")
	if err != nil || len(runs) != 2 {
		t.Errorf("List = %d runs, %v", len(runs), err)
	}
	// Wait after the end still finds the original error in this process.
	sc.do["a"] = []error{errRefused}
	r, err := h.e.Submit("k", "late", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.e.Wait(waitCtx(t), r.ID); !errors.Is(err, errRefused) {
		t.Fatalf("Wait: %v", err)
	}
	if _, err := h.e.Wait(waitCtx(t), r.ID); !errors.Is(err, errRefused) {
		t.Errorf("second Wait lost the sentinel: %v", err)
	}
}

// A resumed run whose kind now plans other steps fails loudly and touches
// no device.
func TestPlanMismatchOnResume(t *testing.T) {
	dev := newDevice()
	sc := &script{do: map[string][]error{}, undo: map[string][]error{}}
	blocked := make(chan struct{})
	names := []string{"a", "b"}
	h := newHarness(t, newAutoClock(), nil, nil)
	h.register = func(e *Executor) {
		e.Register("k", func(r Run) ([]Step, error) {
			steps, _ := scriptedPlan(dev, sc, names, nil)(r)
			if names[1] == "b" {
				steps[1].Do = func(ctx context.Context, x *Exec) error {
					close(blocked)
					<-ctx.Done()
					return ctx.Err()
				}
			}
			return steps, nil
		})
	}
	h.register(h.e)
	h.start()
	r, err := h.e.Submit("k", "key", nil)
	if err != nil {
		t.Fatal(err)
	}
	<-blocked
	names = []string{"a", "c"}
	calls := len(dev.log())
	h.restart()
	got, err := h.e.Wait(waitCtx(t), r.ID)
	if got.State != StateFailed || !errors.Is(err, ErrPlan) || got.Action == "" {
		t.Fatalf("got %s %q, %v", got.State, got.Action, err)
	}
	if n := len(dev.log()); n != calls {
		t.Errorf("%d device calls after the mismatch", n-calls)
	}
}

func TestPrune(t *testing.T) {
	dev := newDevice()
	sc := &script{do: map[string][]error{"a": {errRefused}}, undo: map[string][]error{}}
	clk := newAutoClock()
	h := newHarness(t, clk, func(e *Executor) {
		e.Register("k", scriptedPlan(dev, sc, []string{"a"}, nil))
	}, nil)
	h.start()
	undone, _ := h.e.Do(waitCtx(t), "k", "1", nil)
	done, _ := h.e.Do(waitCtx(t), "k", "2", nil)
	clk.Step(time.Hour)
	fresh, _ := h.e.Do(waitCtx(t), "k", "3", nil)
	n, err := h.e.Prune(30 * time.Minute)
	if err != nil || n != 2 {
		t.Fatalf("Prune = %d, %v", n, err)
	}
	for _, id := range []string{undone.ID, done.ID} {
		if _, err := h.e.Get(id); !errors.Is(err, ErrNotFound) {
			t.Errorf("%s survived: %v", id, err)
		}
	}
	if _, err := h.e.Get(fresh.ID); err != nil {
		t.Errorf("recent run pruned: %v", err)
	}
}

// A step that outlives StepTimeout is cut and retried as transient.
func TestStepTimeout(t *testing.T) {
	calls := 0
	h := newHarness(t, nil, func(e *Executor) {
		e.Register("k", func(Run) ([]Step, error) {
			return []Step{{Name: "hang-once", Do: func(ctx context.Context, x *Exec) error {
				calls++
				if calls == 1 {
					<-ctx.Done()
					return ctx.Err()
				}
				return nil
			}}}, nil
		})
	}, func(c *Config) {
		c.Clock = nil // real
		c.StepTimeout = 5 * time.Millisecond
		c.Backoff.Initial = time.Millisecond
	})
	h.start()
	r, err := h.e.Do(waitCtx(t), "k", "x", nil)
	if err != nil {
		t.Fatal(err)
	}
	if s := r.Steps[0]; s.Attempts != 2 || !strings.Contains(s.LastError, "timed out") || s.ErrorClass != "transient" {
		t.Errorf("step record %+v", s)
	}
}

func TestPanicIsFinal(t *testing.T) {
	h := newHarness(t, newAutoClock(), func(e *Executor) {
		e.Register("k", func(Run) ([]Step, error) {
			return []Step{{Name: "boom", Do: func(context.Context, *Exec) error { panic("oops") }}}, nil
		})
	}, nil)
	h.start()
	r, err := h.e.Do(waitCtx(t), "k", "x", nil)
	if r.State != StateUndone || !errors.Is(err, ErrPanic) || errclass.Of(err) != errclass.Final {
		t.Errorf("got %s, %v", r.State, err)
	}
}

// TestLocalStepCostsNoWrite: a Local step is not marked doing by a write of
// its own; a crash in the middle of it resumes from the step before it,
// whose Do runs again, then the Local step's.
func TestLocalStepCostsNoWrite(t *testing.T) {
	dir := t.TempDir()
	crash := make(chan struct{})
	var dev, local atomic.Int32
	plan := func(crashing bool) func(Run) ([]Step, error) {
		return func(Run) ([]Step, error) {
			return []Step{
				{Name: "device", Do: func(context.Context, *Exec) error { dev.Add(1); return nil }},
				{Name: "record", Local: true, Do: func(ctx context.Context, _ *Exec) error {
					local.Add(1)
					if crashing {
						close(crash)
						<-ctx.Done() // killed in the middle of it
						return ctx.Err()
					}
					return nil
				}},
			}, nil
		}
	}
	st := openStore(t, dir)
	e, err := New(Config{Store: st, Clock: newAutoClock(), Log: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	e.Register("k", plan(true))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	r, err := e.Submit("k", "key", nil)
	if err != nil {
		t.Fatal(err)
	}
	<-crash
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	var rec Run
	if err := st.Get(RecordKind, r.ID, &rec); err != nil {
		t.Fatal(err)
	}
	if rec.Steps[0].State != StepDoing || rec.Steps[1].State != StepPending {
		t.Fatalf("record after a crash in the Local step: %+v; want the step before it doing", rec.Steps)
	}
	closeStore(t, st)

	st = openStore(t, dir)
	e, err = New(Config{Store: st, Clock: newAutoClock(), Log: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	e.Register("k", plan(false))
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = e.Run(ctx) }()
	end, err := e.Wait(waitCtx(t), r.ID)
	if err != nil || end.State != StateDone {
		t.Fatalf("resumed run: %+v, %v", end, err)
	}
	if dev.Load() != 2 || local.Load() != 2 {
		t.Fatalf("device step ran %d times, local %d: want both twice", dev.Load(), local.Load())
	}
	closeStore(t, st)
}

func openStore(t *testing.T, dir string) *store.Store {
	t.Helper()
	st, err := store.Open(store.Options{Dir: dir, Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func closeStore(t *testing.T, st *store.Store) {
	t.Helper()
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestUndoHasItsOwnPatience: a transient error of an Undo is retried up to
// UndoAttempts, not Attempts: giving up on an undo leaves the run failed.
func TestUndoHasItsOwnPatience(t *testing.T) {
	busy := errclass.New(errclass.Transient, "busy")
	var undos atomic.Int32
	st := openStore(t, t.TempDir())
	defer closeStore(t, st)
	e, err := New(Config{Store: st, Clock: newAutoClock(), Log: quietLog(),
		Backoff: Backoff{Initial: time.Millisecond, Attempts: 2, UndoAttempts: 6}})
	if err != nil {
		t.Fatal(err)
	}
	e.Register("k", func(Run) ([]Step, error) {
		return []Step{{Name: "s",
			Do: func(context.Context, *Exec) error { return errors.New("refused") },
			Undo: func(context.Context, *Exec) error {
				if undos.Add(1) < 5 {
					return busy
				}
				return nil
			}}}, nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = e.Run(ctx) }()
	r, err := e.Do(waitCtx(t), "k", "key", nil)
	if r.State != StateUndone || undos.Load() != 5 {
		t.Fatalf("run %s after %d undo calls (%v): want undone after 5", r.State, undos.Load(), err)
	}
}
