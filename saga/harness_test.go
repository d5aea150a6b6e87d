package saga

import (
	"context"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"k8s.io/utils/clock"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/sanmob/sanmob/errclass"
	"github.com/sanmob/sanmob/store"
)

// Device errors of the tests, one per class.
var (
	errBusy    = errclass.New(errclass.Transient, "device busy")
	errRefused = errclass.New(errclass.Final, "device refused")
	errGone    = errclass.New(errclass.NotFound, "no such object")
	errStuck   = errclass.New(errclass.Transient, "object in use")
)

func quietLog() *logrus.Logger {
	l := logrus.New()
	l.Out = io.Discard
	return l
}

// autoClock is a fake clock whose timers fire at once, having moved the
// time by their duration; it records every duration waited, so that tests
// check the backoff without sleeping.
type autoClock struct {
	*clocktesting.FakeClock
	mu    sync.Mutex
	waits []time.Duration
}

func newAutoClock() *autoClock {
	return &autoClock{FakeClock: clocktesting.NewFakeClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))}
}

func (c *autoClock) NewTimer(d time.Duration) clock.Timer {
	t := c.FakeClock.NewTimer(d)
	c.mu.Lock()
	c.waits = append(c.waits, d)
	c.mu.Unlock()
	c.Step(d)
	return t
}

func (c *autoClock) waited() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.waits)
}

// device is a fake device: named effects that outlive executors and stores,
// and a log of calls.
type device struct {
	mu    sync.Mutex
	objs  map[string]bool
	calls []string
}

func newDevice() *device { return &device{objs: map[string]bool{}} }

func (d *device) call(s string) {
	d.mu.Lock()
	d.calls = append(d.calls, s)
	d.mu.Unlock()
}

func (d *device) put(name string) {
	d.mu.Lock()
	d.objs[name] = true
	d.mu.Unlock()
}

// remove deletes name; errGone if it is not there.
func (d *device) remove(name string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.objs[name] {
		return errGone
	}
	delete(d.objs, name)
	return nil
}

func (d *device) names() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []string
	for n := range d.objs {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

func (d *device) log() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.calls)
}

// script says what each step's calls return, in order; past the end of a
// list calls succeed.
type script struct {
	mu       sync.Mutex
	do, undo map[string][]error
	// afterEffect: the scripted Do error comes after the effect is applied
	// (a partial apply).
	afterEffect map[string]bool
}

func (s *script) next(m map[string][]error, step string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	errs := m[step]
	if len(errs) == 0 {
		return nil
	}
	m[step] = errs[1:]
	return errs[0]
}

// scriptedPlan builds steps that put "<step>" on dev in Do and remove it in
// Undo (none for names in noUndo), following sc.
func scriptedPlan(dev *device, sc *script, names []string, noUndo map[string]bool) func(Run) ([]Step, error) {
	return func(Run) ([]Step, error) {
		var steps []Step
		for _, name := range names {
			s := Step{Name: name}
			s.Do = func(ctx context.Context, x *Exec) error {
				dev.call("do " + name)
				err := sc.next(sc.do, name)
				if err != nil && !sc.afterEffect[name] {
					return err
				}
				dev.put(name)
				return err
			}
			if !noUndo[name] {
				s.Undo = func(ctx context.Context, x *Exec) error {
					dev.call("undo " + name)
					if err := sc.next(sc.undo, name); err != nil {
						return err
					}
					return dev.remove(name)
				}
			}
			steps = append(steps, s)
		}
		return steps, nil
	}
}

// harness owns a store directory, an executor on it and its Run goroutine;
// restart simulates a daemon restart on the same directory.
type harness struct {
	t        *testing.T
	dir      string
	clk      clock.Clock
	mod      func(*Config)
	register func(*Executor)

	st     *store.Store
	e      *Executor
	cancel context.CancelFunc
	done   chan error
	writes atomic.Int64
}

func newHarness(t *testing.T, clk clock.Clock, register func(*Executor), mod func(*Config)) *harness {
	t.Helper()
	h := &harness{t: t, dir: t.TempDir(), clk: clk, register: register, mod: mod}
	h.open()
	t.Cleanup(func() {
		if h.cancel != nil {
			h.stop()
		}
		_ = h.st.Close()
	})
	return h
}

func (h *harness) open() {
	h.t.Helper()
	st, err := store.Open(store.Options{Dir: h.dir, Logger: quietLog()})
	if err != nil {
		h.t.Fatal(err)
	}
	h.st = st
	cfg := Config{
		Store:   st,
		Clock:   h.clk,
		Log:     quietLog(),
		Backoff: Backoff{Initial: 10 * time.Millisecond, Max: 40 * time.Millisecond, Attempts: 4},
		Observe: func(Run) { h.writes.Add(1) },
	}
	if h.mod != nil {
		h.mod(&cfg)
	}
	e, err := New(cfg)
	if err != nil {
		h.t.Fatal(err)
	}
	h.e = e
	if h.register != nil {
		h.register(e)
	}
}

func (h *harness) start() {
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	h.done = make(chan error, 1)
	e := h.e
	go func() { h.done <- e.Run(ctx) }()
}

func (h *harness) stop() {
	h.t.Helper()
	h.cancel()
	h.cancel = nil
	if err := <-h.done; err != nil {
		h.t.Errorf("Run: %v", err)
	}
}

// restart stops the executor, closes and reopens the store, and starts a
// new executor on it.
func (h *harness) restart() {
	h.t.Helper()
	h.stop()
	if err := h.st.Close(); err != nil {
		h.t.Fatal(err)
	}
	h.open()
	h.start()
}

func waitCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func stepStates(r Run) []StepState {
	var out []StepState
	for _, s := range r.Steps {
		out = append(out, s.State)
	}
	return out
}
