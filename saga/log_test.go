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
