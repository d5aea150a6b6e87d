package saga

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/utils/clock"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/sanmob/sanmob/errclass"
)

// blockingPlan is a, b, c over dev, where b's Do blocks until its context
// ends (it signals entered first) and records the cause it saw.
type blockingPlan struct {
	dev     *device
	entered chan struct{}
	mu      sync.Mutex
	causes  []error
	// onCancel, if set, runs in b's Do once its context ended.
	onCancel func()
}

func (p *blockingPlan) plan(Run) ([]Step, error) {
	step := func(name string, block bool) Step {
		return Step{
			Name: name,
			Do: func(ctx context.Context, x *Exec) error {
				p.dev.call("do " + name)
				if block {
					p.dev.put(name) // partly applied before it waits
					p.entered <- struct{}{}
					<-ctx.Done()
					p.mu.Lock()
					p.causes = append(p.causes, context.Cause(ctx))
					p.mu.Unlock()
					if p.onCancel != nil {
						p.onCancel()
					}
					return ctx.Err()
				}
				p.dev.put(name)
				return nil
			},
			Undo: func(ctx context.Context, x *Exec) error {
				p.dev.call("undo " + name)
				if err := ctx.Err(); err != nil {
					return err // an undo must get a live context
				}
				return p.dev.remove(name)
			},
		}
	}
	return []Step{step("a", false), step("b", true), step("c", false)}, nil
}

// TestAbortStepBlockedOnContext: Abort writes the run undoing first, then
// cancels the step in progress with the cause ErrAborted; the run undoes
// that step and the done ones in reverse and ends undone, its error final
// and saying it was aborted; the step after is never called.
func TestAbortStepBlockedOnContext(t *testing.T) {
	p := &blockingPlan{dev: newDevice(), entered: make(chan struct{}, 1)}
	var mu sync.Mutex
	var observed []Run
	h := newHarness(t, newAutoClock(), func(e *Executor) { e.Register("k", p.plan) }, func(c *Config) {
		c.Observe = func(r Run) {
			mu.Lock()
			observed = append(observed, r)
			mu.Unlock()
		}
	})
	h.start()
	r, err := h.e.Submit("k", "vm1", nil)
	if err != nil {
		t.Fatal(err)
	}
	<-p.entered
	got, err := h.e.Abort(r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != StateUndoing || !got.AbortRequested || got.FailedStep != "b" ||
		got.ErrorClass != errclass.Final.String() || !strings.Contains(got.LastError, "aborted by request") {
		t.Fatalf("Abort returned %+v", got)
	}
	// The abort is on disk as Abort returns.
	var onDisk Run
	if err := h.st.Get(RecordKind, r.ID, &onDisk); err != nil {
		t.Fatal(err)
	}
	if onDisk.State != StateUndoing || !onDisk.AbortRequested {
		t.Fatalf("record after Abort: %s, abort %v", onDisk.State, onDisk.AbortRequested)
	}
	end, err := h.e.Wait(waitCtx(t), r.ID)
	if end.State != StateUndone || !errors.Is(err, ErrAborted) || errclass.Of(err) != errclass.Final {
		t.Fatalf("after the abort: %s, %v", end.State, err)
	}
	if want := []StepState{StepUndone, StepUndone, StepPending}; !slices.Equal(stepStates(end), want) {
		t.Errorf("steps %v, want %v", stepStates(end), want)
	}
	if want := []string{"do a", "do b", "undo b", "undo a"}; !slices.Equal(p.dev.log(), want) {
		t.Errorf("calls %v, want %v", p.dev.log(), want)
	}
	if names := p.dev.names(); len(names) != 0 {
		t.Errorf("device keeps %v", names)
	}
	p.mu.Lock()
	causes := slices.Clone(p.causes)
	p.mu.Unlock()
	if len(causes) != 1 || !errors.Is(causes[0], ErrAborted) {
		t.Errorf("the step saw causes %v, want ErrAborted", causes)
	}
	mu.Lock()
	var sawAbort bool
	for _, o := range observed {
		if o.AbortRequested && o.State == StateUndoing && !sawAbort {
			sawAbort = true
			if o.Steps[1].State != StepDoing {
				t.Errorf("the abort's write has step b %s, want doing", o.Steps[1].State)
			}
		}
	}
	mu.Unlock()
	if !sawAbort {
		t.Errorf("no observed write carries the abort")
	}
	if _, err := h.e.Abort(r.ID); !errors.Is(err, ErrNotRunning) || errclass.Of(err) != errclass.Final {
		t.Errorf("Abort of an undone run: %v", err)
	}
	if _, err := h.e.Abort("no-such-run"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Abort of an unknown run: %v", err)
	}
	// The key is free again.
	if _, err := h.e.Submit("k", "vm1", nil); err != nil {
		t.Errorf("Submit after the aborted run: %v", err)
	}
}

// TestAbortCrashResumesUndoing: the daemon dies right after the abort's
// write, before any undo: the next start undoes the run and never calls a
// Do again.
func TestAbortCrashResumesUndoing(t *testing.T) {
	p := &blockingPlan{dev: newDevice(), entered: make(chan struct{}, 1)}
	var h *harness
	var once sync.Once
	p.onCancel = func() { once.Do(func() { h.cancel() }) } // the kill, before b returns
	h = newHarness(t, newAutoClock(), func(e *Executor) { e.Register("k", p.plan) }, nil)
	h.start()
	r, err := h.e.Submit("k", "vm1", nil)
	if err != nil {
		t.Fatal(err)
	}
	<-p.entered
	if _, err := h.e.Abort(r.ID); err != nil {
		t.Fatal(err)
	}
	if err := <-h.done; err != nil {
		t.Fatal(err)
	}
	h.done = make(chan error, 1)
	h.done <- nil // for restart's stop
	rec, err := h.e.Get(r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if rec.State != StateUndoing || !rec.AbortRequested || rec.Steps[1].State != StepDoing {
		t.Fatalf("record after the kill: %s %v abort=%v", rec.State, stepStates(rec), rec.AbortRequested)
	}
	before := len(p.dev.log())
	h.restart()
	end, err := h.e.Wait(waitCtx(t), r.ID)
	if end.State != StateUndone || err == nil || !strings.Contains(err.Error(), "aborted by request") {
		t.Fatalf("after the restart: %s, %v", end.State, err)
	}
	if got, want := p.dev.log()[before:], []string{"undo b", "undo a"}; !slices.Equal(got, want) {
		t.Errorf("calls after the restart %v, want %v (no Do)", got, want)
	}
	if end.Resumed != 1 || !end.AbortRequested {
		t.Errorf("resumed %d, abort %v", end.Resumed, end.AbortRequested)
	}
	if names := p.dev.names(); len(names) != 0 {
		t.Errorf("device keeps %v", names)
	}
}

// TestAbortDuringBackoff: a step waiting out the backoff of a transient
// error is not called again once aborted.
func TestAbortDuringBackoff(t *testing.T) {
	dev := newDevice()
	sc := &script{do: map[string][]error{"b": {errBusy, errBusy}}, undo: map[string][]error{}}
	clk := clocktesting.NewFakeClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)) // timers never fire by themselves
	h := newHarness(t, clk, func(e *Executor) {
		e.Register("k", scriptedPlan(dev, sc, []string{"a", "b", "c"}, nil))
	}, nil)
	h.start()
	r, err := h.e.Submit("k", "vm1", nil)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !clk.HasWaiters() {
		if time.Now().After(deadline) {
			t.Fatal("the run never waited out a backoff")
		}
		time.Sleep(time.Millisecond)
	}
	if _, err := h.e.Abort(r.ID); err != nil {
		t.Fatal(err)
	}
	end, err := h.e.Wait(waitCtx(t), r.ID)
	if end.State != StateUndone || !errors.Is(err, ErrAborted) {
		t.Fatalf("after the abort: %s, %v", end.State, err)
	}
	if want := []string{"do a", "do b", "undo b", "undo a"}; !slices.Equal(dev.log(), want) {
		t.Errorf("calls %v, want %v", dev.log(), want)
	}
}

// TestAbortNotRunning: only a run going forward can be aborted.
func TestAbortNotRunning(t *testing.T) {
	dev := newDevice()
	undoEntered, release := make(chan struct{}), make(chan struct{})
	sc := &script{do: map[string][]error{"b": {errRefused}}, undo: map[string][]error{}}
	h := newHarness(t, newAutoClock(), func(e *Executor) {
		e.Register("done", scriptedPlan(dev, &script{do: map[string][]error{}, undo: map[string][]error{}}, []string{"a"}, nil))
		e.Register("undoing", func(r Run) ([]Step, error) {
			steps, _ := scriptedPlan(dev, sc, []string{"a", "b"}, nil)(r)
			undo := steps[0].Undo
			steps[0].Undo = func(ctx context.Context, x *Exec) error {
				close(undoEntered)
				<-release
				return undo(ctx, x)
			}
			return steps, nil
		})
		e.Register("failed", scriptedPlan(dev, &script{do: map[string][]error{"b": {errRefused}},
			undo: map[string][]error{"a": {errRefused}}}, []string{"a", "b"}, nil))
	}, nil)
	h.start()
	done, err := h.e.Do(waitCtx(t), "done", "k1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.e.Abort(done.ID); !errors.Is(err, ErrNotRunning) {
		t.Errorf("Abort of a done run: %v", err)
	}
	failed, _ := h.e.Do(waitCtx(t), "failed", "k2", nil)
	if failed.State != StateFailed {
		t.Fatalf("failed run is %s", failed.State)
	}
	if _, err := h.e.Abort(failed.ID); !errors.Is(err, ErrNotRunning) {
		t.Errorf("Abort of a failed run: %v", err)
	}
	undoing, err := h.e.Submit("undoing", "k3", nil)
	if err != nil {
		t.Fatal(err)
	}
	<-undoEntered
	if _, err := h.e.Abort(undoing.ID); !errors.Is(err, ErrNotRunning) {
		t.Errorf("Abort of an undoing run: %v", err)
	}
	close(release)
	if end, _ := h.e.Wait(waitCtx(t), undoing.ID); end.State != StateUndone || end.AbortRequested {
		t.Errorf("undoing run ended %s, abort %v", end.State, end.AbortRequested)
	}
}

// TestAbortBeforeRun: an executor that does not serve yet refuses, and the
// run is untouched.
func TestAbortBeforeRun(t *testing.T) {
	dev := newDevice()
	h := newHarness(t, newAutoClock(), func(e *Executor) {
		e.Register("k", scriptedPlan(dev, &script{do: map[string][]error{}, undo: map[string][]error{}}, []string{"a"}, nil))
	}, nil)
	r, err := h.e.Submit("k", "vm1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.e.Abort(r.ID); !errors.Is(err, ErrStopped) {
		t.Errorf("Abort before Run: %v", err)
	}
	h.start()
	if end, err := h.e.Wait(waitCtx(t), r.ID); err != nil || end.State != StateDone {
		t.Errorf("run after the refused abort: %s, %v", end.State, err)
	}
}

// TestAbortRaces: aborts at random moments, racing the runs' own steps and
// transitions: an abort that succeeds always ends its run undone, leaving
// nothing on the device; one that comes too late gets ErrNotRunning and
// the run ends as it would have (done). The device holds exactly the
// objects of the done runs.
func TestAbortRaces(t *testing.T) {
	seed := propSeed(t)
	rng := rand.New(rand.NewPCG(seed, 1))
	dev := newDevice()
	plan := func(r Run) ([]Step, error) {
		var steps []Step
		for i := range 4 {
			name := fmt.Sprintf("%s/s%d", r.Key, i)
			steps = append(steps, Step{
				Name:  fmt.Sprintf("s%d", i),
				Local: i == 2,
				Do: func(ctx context.Context, x *Exec) error {
					dev.put(name)
					select { // a little work, cut short by an abort
					case <-time.After(time.Duration(x.Attempt()*50) * time.Microsecond):
					case <-ctx.Done():
						return ctx.Err()
					}
					return nil
				},
				Undo: func(ctx context.Context, x *Exec) error { return dev.remove(name) },
			})
		}
		return steps, nil
	}
	h := newHarness(t, clock.RealClock{}, func(e *Executor) {
		e.Register("k", plan)
		e.Register("warm", func(Run) ([]Step, error) {
			return []Step{{Name: "noop", Do: func(context.Context, *Exec) error { return nil }}}, nil
		})
	}, func(c *Config) {
		c.Backoff = Backoff{Initial: time.Microsecond, Max: time.Microsecond, Attempts: 3}
	})
	h.start()
	if _, err := h.e.Do(waitCtx(t), "warm", "up", nil); err != nil { // Run serves
		t.Fatal(err)
	}
	const runs = 200
	type result struct {
		id       string
		abortErr error
	}
	results := make([]result, runs)
	var wg sync.WaitGroup
	for i := range runs {
		r, err := h.e.Submit("k", fmt.Sprintf("vm%03d", i), nil)
		if err != nil {
			t.Fatal(err)
		}
		delay := time.Duration(rng.IntN(30000)) * time.Microsecond
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(delay)
			_, err := h.e.Abort(r.ID)
			results[i] = result{r.ID, err}
		}()
	}
	wg.Wait()
	var want []string
	aborted, late := 0, 0
	for i, res := range results {
		end, _ := h.e.Wait(waitCtx(t), res.id)
		switch {
		case res.abortErr == nil:
			aborted++
			if end.State != StateUndone || !end.AbortRequested {
				t.Fatalf("run %d: abort succeeded, run ended %s (abort %v)", i, end.State, end.AbortRequested)
			}
		case errors.Is(res.abortErr, ErrNotRunning):
			late++
			if end.State != StateDone || end.AbortRequested {
				t.Fatalf("run %d: abort came late, run ended %s (abort %v)", i, end.State, end.AbortRequested)
			}
			for s := range 4 {
				want = append(want, fmt.Sprintf("vm%03d/s%d", i, s))
			}
		default:
			t.Fatalf("run %d: Abort: %v", i, res.abortErr)
		}
	}
	slices.Sort(want)
	if got := dev.names(); !slices.Equal(got, want) {
		t.Fatalf("device holds %d objects, want %d (those of the done runs)", len(got), len(want))
	}
	t.Logf("%d aborted, %d too late", aborted, late)
	if aborted == 0 {
		t.Errorf("no abort won its race: the property was not exercised")
	}
}
