package saga

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"
)

// Every log line of a run carries saga, kind and key; those of a step carry
// step too.
func TestLogFields(t *testing.T) {
	log, hook := logtest.NewNullLogger()
	log.SetLevel(logrus.DebugLevel)
	dev := newDevice()
	sc := &script{do: map[string][]error{"b": {errBusy, errRefused}}, undo: map[string][]error{}}
	h := newHarness(t, newAutoClock(), func(e *Executor) {
		e.Register("attach", scriptedPlan(dev, sc, []string{"a", "b"}, nil))
	}, func(c *Config) { c.Log = log })
	h.start()
	r, err := h.e.Do(waitCtx(t), "attach", "vm7", nil)
	if !errors.Is(err, errRefused) {
		t.Fatalf("err %v", err)
	}
	steps := map[string]bool{}
	n := 0
	for _, e := range hook.AllEntries() {
		if e.Data["saga"] == nil {
			continue // the executor's own lines
		}
		n++
		if e.Data["saga"] != r.ID || e.Data["kind"] != "attach" || e.Data["key"] != "vm7" {
			t.Errorf("line %q has fields %v", e.Message, e.Data)
		}
		if s, ok := e.Data["step"].(string); ok {
			steps[s] = true
		}
	}
	if n == 0 || !steps["a"] || !steps["b"] {
		t.Errorf("%d run lines, steps seen %v", n, steps)
	}
}

// Of many Submits racing for one key, exactly one wins.
func TestBusyUnderRace(t *testing.T) {
	release := make(chan struct{})
	h := newHarness(t, newAutoClock(), func(e *Executor) {
		e.Register("k", func(Run) ([]Step, error) {
			return []Step{{Name: "hold", Do: func(ctx context.Context, x *Exec) error {
				select {
				case <-release:
				case <-ctx.Done():
				}
				return nil
			}}}, nil
		})
	}, nil)
	h.start()
	defer close(release)
	var wg sync.WaitGroup
	var mu sync.Mutex
	won, busy := 0, 0
	for range 16 {
		wg.Go(func() {
			_, err := h.e.Submit("k", "same", nil)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				won++
			case errors.Is(err, ErrBusy):
				busy++
			default:
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if won != 1 || busy != 15 {
		t.Errorf("won %d, busy %d", won, busy)
	}
}

// A plan that panics or refuses its data fails Submit, and nothing is
// recorded.
func TestPlanErrors(t *testing.T) {
	h := newHarness(t, newAutoClock(), func(e *Executor) {
		e.Register("panics", func(Run) ([]Step, error) { panic("bad") })
		e.Register("refuses", func(Run) ([]Step, error) { return nil, fmt.Errorf("no volume") })
		e.Register("empty", func(Run) ([]Step, error) { return nil, nil })
	}, nil)
	for _, kind := range []string{"panics", "refuses", "empty"} {
		if _, err := h.e.Submit(kind, "x", nil); !errors.Is(err, ErrPlan) {
			t.Errorf("%s: %v", kind, err)
		}
	}
	if runs, err := h.e.List(""); err != nil || len(runs) != 0 {
		t.Errorf("List = %v, %v", runs, err)
	}
	if _, ok, _ := h.e.Active("panics", "x"); ok {
		t.Error("key held after a refused Submit")
	}
}

// Observe sees every synced write of a run, in order, and may call the
// executor back.
func TestObserveEveryWrite(t *testing.T) {
	dev := newDevice()
	sc := &script{do: map[string][]error{"b": {errRefused}}, undo: map[string][]error{"a": {errStuck, errStuck, errStuck, errStuck}}}
	var mu sync.Mutex
	var seen []string
	var e *Executor
	h := newHarness(t, newAutoClock(), func(ex *Executor) {
		e = ex
		ex.Register("k", scriptedPlan(dev, sc, []string{"a", "b"}, nil))
	}, func(c *Config) {
		c.Observe = func(r Run) {
			_, _, _ = e.Active(r.Kind, r.Key) // must not deadlock
			mu.Lock()
			seen = append(seen, fmt.Sprintf("%s %v", r.State, stepStates(r)))
			mu.Unlock()
		}
	})
	h.start()
	r, _ := h.e.Do(waitCtx(t), "k", "x", nil)
	if _, err := h.e.Retry(r.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := h.e.Wait(waitCtx(t), r.ID); !errors.Is(err, errRefused) {
		t.Fatal(err)
	}
	want := []string{
		"running [doing pending]",
		"running [done doing]",
		"undoing [done doing]", // b failed: the record says why before any undo
		"undoing [done undoing]",
		"undoing [undoing undone]",
		"undoing [undoing undone]", // a's undo: transient error recorded
		"undoing [undoing undone]",
		"undoing [undoing undone]",
		"failed [failed undone]",
		"undoing [failed undone]", // Retry
		"undoing [undoing undone]",
		"undone [undone undone]",
	}
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(seen) != fmt.Sprint(want) {
		t.Errorf("observed\n%s\nwant\n%s", seen, want)
	}
}
