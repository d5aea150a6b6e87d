package saga

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/sanmob/sanmob/store"
)

// The property: whatever the step errors and wherever the daemon dies,
// once everything settles every run is done or undone (failed only when its
// script made an undo fail forever, and undone after a Retry once that is
// fixed), and the device holds exactly the objects of the done runs, each
// the one its run saved.

// Outcomes of a scripted call.
const (
	outOK = iota
	outTransient
	outFinal
	outNotFound
	outFinalAfterEffect
)

type propStep struct {
	Name        string `json:"name"`
	Do          []int  `json:"do,omitempty"`
	Undo        []int  `json:"undo,omitempty"`
	UndoForever bool   `json:"undo_forever,omitempty"`
}

type propData struct {
	Steps []propStep       `json:"steps"`
	Out   map[string]int64 `json:"out,omitempty"`
}

// Kill kinds.
const (
	killCancel      = iota // cancel Run's context from inside the step
	killCloseStore         // close the store under the executor, then cancel
	killAsyncCancel        // cancel from another goroutine, racing the executor
	killKinds
)

// world is the fake data center: objects named "<key>/<step>" holding the
// LUN chosen when made. It outlives executors and stores.
type world struct {
	mu      sync.Mutex
	objs    map[string]int64
	calls   map[string]int
	total   int
	nextLUN int64
	fixed   bool

	// The armed kill: at device call killAt, before or after the effect.
	killAt     int
	killBefore bool
	kill       func()
	fired      bool
}

func newWorld() *world { return &world{objs: map[string]int64{}, calls: map[string]int{}} }

// call counts a device call and says which scripted outcome it gets and
// whether it is the kill point.
func (w *world) call(name string, script []int) (out int, kill func(before bool)) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := w.calls[name]
	w.calls[name]++
	if n < len(script) {
		out = script[n]
	}
	w.total++
	if w.total == w.killAt {
		fn, when := w.kill, w.killBefore
		kill = func(before bool) {
			if before == when {
				w.mu.Lock()
				w.fired = true
				w.mu.Unlock()
				fn()
			}
		}
	}
	return out, kill
}

func (w *world) plan(r Run) ([]Step, error) {
	var d propData
	if err := json.Unmarshal(r.Data, &d); err != nil {
		return nil, err
	}
	var steps []Step
	for _, ps := range d.Steps {
		steps = append(steps, Step{Name: ps.Name, Do: w.do(ps), Undo: w.undo(ps)})
	}
	return steps, nil
}

func (w *world) maybeKill(kill func(bool), before bool) {
	if kill != nil {
		kill(before)
	}
}

func (w *world) do(ps propStep) func(context.Context, *Exec) error {
	return func(ctx context.Context, x *Exec) error {
		name := x.Key() + "/" + ps.Name
		out, kill := w.call(name+"/do", ps.Do)
		w.maybeKill(kill, true)
		var err error
		switch out {
		case outTransient:
			err = errBusy
		case outFinal:
			err = errRefused
		case outNotFound:
			err = errGone
		}
		if err == nil || out == outFinalAfterEffect {
			// Read the truth first: adopt what an earlier call made.
			w.mu.Lock()
			lun, ok := w.objs[name]
			if !ok {
				w.nextLUN++
				lun = w.nextLUN
				w.objs[name] = lun
			}
			w.mu.Unlock()
			if out == outFinalAfterEffect {
				err = errRefused
			}
			w.maybeKill(kill, false)
			if err == nil {
				var d propData
				if lerr := x.Load(&d); lerr != nil {
					return lerr
				}
				if d.Out == nil {
					d.Out = map[string]int64{}
				}
				d.Out[ps.Name] = lun
				return x.Save(d)
			}
			return err
		}
		w.maybeKill(kill, false)
		return err
	}
}

func (w *world) undo(ps propStep) func(context.Context, *Exec) error {
	return func(ctx context.Context, x *Exec) error {
		name := x.Key() + "/" + ps.Name
		out, kill := w.call(name+"/undo", ps.Undo)
		w.maybeKill(kill, true)
		defer w.maybeKill(kill, false)
		w.mu.Lock()
		defer w.mu.Unlock()
		if ps.UndoForever && !w.fixed {
			return errStuck
		}
		if out == outTransient {
			return errStuck
		}
		// The truth, not the saved LUN, decides: a crash may have come
		// between making the object and saving its LUN.
		if _, ok := w.objs[name]; !ok {
			return errGone
		}
		delete(w.objs, name)
		return nil
	}
}

func randomRun(rng *rand.Rand) propData {
	n := 1 + rng.IntN(4)
	var d propData
	for i := range n {
		ps := propStep{Name: fmt.Sprintf("s%d", i)}
		if rng.IntN(3) == 0 {
			for range 1 + rng.IntN(4) {
				ps.Do = append(ps.Do, rng.IntN(5))
			}
		}
		if rng.IntN(4) == 0 {
			for range 1 + rng.IntN(2) { // fewer than the attempts
				ps.Undo = append(ps.Undo, outTransient)
			}
		}
		ps.UndoForever = rng.IntN(15) == 0
		d.Steps = append(d.Steps, ps)
	}
	return d
}

// backend opens the store of one life of the daemon on the same "disk".
type backend func(t *testing.T) (Store, func() error)

func memBackend() backend {
	disk := &memDisk{recs: map[string][]byte{}}
	return func(*testing.T) (Store, func() error) {
		s := disk.open()
		return s, s.Close
	}
}

func badgerBackend(dir string) backend {
	return func(t *testing.T) (Store, func() error) {
		s, err := store.Open(store.Options{Dir: dir, Logger: quietLog()})
		if err != nil {
			t.Fatal(err)
		}
		return s, s.Close
	}
}

func propSeed(t *testing.T) uint64 {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("SAGA_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		seed = v
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("seed %d (rerun with SAGA_SEED=%d)", seed, seed)
		}
	})
	return seed
}

func TestPropertyRandomFaultsAndKills(t *testing.T) {
	iters := 400
	if testing.Short() {
		iters = 50
	}
	seed := propSeed(t)
	stats := &propStats{states: map[State]int{}}
	for i := range iters {
		rng := rand.New(rand.NewPCG(seed, uint64(i)))
		if !propIteration(t, rng, memBackend(), stats) {
			t.Fatalf("iteration %d failed", i)
		}
	}
	stats.report(t)
}

func TestPropertyBadgerRestart(t *testing.T) {
	iters := 15
	if testing.Short() {
		iters = 3
	}
	seed := propSeed(t)
	stats := &propStats{states: map[State]int{}}
	for i := range iters {
		rng := rand.New(rand.NewPCG(seed, uint64(i)))
		if !propIteration(t, rng, badgerBackend(t.TempDir()), stats) {
			t.Fatalf("iteration %d failed", i)
		}
	}
	t.Logf("lives %d, kills fired %d, runs resumed %d times, failed runs retried %d, outcomes %v",
		stats.lives, stats.kills, stats.resumed, stats.retried, stats.states)
}

// propStats shows what the iterations exercised.
type propStats struct {
	lives, kills, resumed, retried int
	states                         map[State]int
}

func (st *propStats) report(t *testing.T) {
	t.Logf("lives %d, kills fired %d, runs resumed %d times, failed runs retried %d, outcomes %v",
		st.lives, st.kills, st.resumed, st.retried, st.states)
	if st.kills == 0 || st.resumed == 0 || st.retried == 0 || st.states[StateDone] == 0 || st.states[StateUndone] == 0 {
		t.Errorf("the iterations did not exercise kills, resumes, done and undone runs")
	}
}

type propRun struct {
	id   string
	key  string
	data propData
}

// propIteration runs random runs through random kills until they settle,
// and checks the property; it reports whether it held.
func propIteration(t *testing.T, rng *rand.Rand, open backend, stats *propStats) bool {
	t.Helper()
	w := newWorld()
	kills := rng.IntN(4)
	var runs []propRun
	nRuns := 1 + rng.IntN(4)
	ctxWait, cancelWait := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancelWait()

	for life := 0; ; life++ {
		if life > 20 {
			t.Errorf("runs did not settle after %d lives", life)
			return false
		}
		stats.lives++
		st, closeStore := open(t)
		e, err := New(Config{
			Store:   st,
			Log:     quietLog(),
			Backoff: Backoff{Initial: time.Microsecond, Max: 4 * time.Microsecond, Attempts: 3},
		})
		if err != nil {
			t.Fatal(err)
		}
		e.Register("prop", w.plan)
		ctx, cancel := context.WithCancel(context.Background())
		w.mu.Lock()
		w.killAt = 0
		w.fired = false
		if life < kills {
			w.killAt = w.total + 1 + rng.IntN(8)
			w.killBefore = rng.IntN(2) == 0
			switch rng.IntN(killKinds) {
			case killCancel:
				w.kill = cancel
			case killCloseStore:
				w.kill = func() { _ = closeStore(); cancel() }
			case killAsyncCancel:
				w.kill = func() { go cancel() }
			}
		}
		w.mu.Unlock()

		runDone := make(chan error, 1)
		submit := func(j int) {
			key := fmt.Sprintf("vm%d", j)
			d := randomRun(rng)
			r, err := e.Submit("prop", key, d)
			if err != nil {
				// Killed while submitting: no record, so nothing may be
				// on the device for it.
				return
			}
			runs = append(runs, propRun{id: r.ID, key: key, data: d})
		}
		if life == 0 {
			for j := range nRuns / 2 { // queued before Run
				submit(j)
			}
		}
		go func() { runDone <- e.Run(ctx) }()
		if life == 0 {
			for j := nRuns / 2; j < nRuns; j++ {
				submit(j)
			}
		}

		settled := true
		for _, pr := range runs {
			r, err := e.Wait(ctxWait, pr.id)
			var re *RunError
			if !r.State.Terminal() || (err != nil && !errors.As(err, &re)) {
				if ctxWait.Err() != nil {
					t.Errorf("run %s did not settle: %s, %v", pr.id, r.State, err)
					cancel()
					<-runDone
					return false
				}
				settled = false
				break
			}
		}
		// A kill that fired late (the async one) still ends this life.
		w.mu.Lock()
		w.killAt = 0
		settled = settled && !w.fired
		if w.fired {
			stats.kills++
		}
		w.mu.Unlock()
		if !settled {
			cancel()
			<-runDone
			_ = closeStore()
			continue
		}

		// Settled, no kill pending: check, fix the stuck undos, retry.
		ok := checkRuns(t, e, w, runs, true)
		w.mu.Lock()
		w.fixed = true
		w.mu.Unlock()
		for _, pr := range runs {
			if r, _ := e.Get(pr.id); r.State == StateFailed {
				stats.retried++
				if _, err := e.Retry(pr.id); err != nil {
					t.Errorf("Retry %s: %v", pr.id, err)
					ok = false
				}
				if r, err := e.Wait(ctxWait, pr.id); r.State != StateUndone {
					t.Errorf("run %s after Retry: %s, %v", pr.id, r.State, err)
					ok = false
				}
			}
		}
		ok = checkRuns(t, e, w, runs, false) && ok
		for _, pr := range runs {
			r, _ := e.Get(pr.id)
			stats.states[r.State]++
			stats.resumed += r.Resumed
		}
		cancel()
		<-runDone
		_ = closeStore()
		if !ok {
			t.Logf("life %d, kills %d, runs:", life, kills)
			for _, pr := range runs {
				r, _ := json.Marshal(pr.data)
				t.Logf("  %s %s %s", pr.id, pr.key, r)
			}
		}
		return ok
	}
}

// checkRuns checks the property; failed runs are allowed only if
// allowFailed and their script made an undo fail forever.
func checkRuns(t *testing.T, e *Executor, w *world, runs []propRun, allowFailed bool) bool {
	t.Helper()
	ok := true
	w.mu.Lock()
	defer w.mu.Unlock()
	expect := 0
	for _, pr := range runs {
		r, err := e.Get(pr.id)
		if err != nil {
			t.Errorf("run %s: %v", pr.id, err)
			return false
		}
		var d propData
		if err := json.Unmarshal(r.Data, &d); err != nil {
			t.Errorf("run %s data: %v", pr.id, err)
			return false
		}
		forever := false
		for _, s := range pr.data.Steps {
			forever = forever || s.UndoForever
		}
		switch r.State {
		case StateDone:
			for _, s := range r.Steps {
				name := pr.key + "/" + s.Name
				lun, has := w.objs[name]
				if s.State != StepDone || !has || lun != d.Out[s.Name] {
					t.Errorf("done run %s: step %s is %s, device has %v (LUN %d), record saved %d",
						pr.id, s.Name, s.State, has, lun, d.Out[s.Name])
					ok = false
				}
				expect++
			}
		case StateUndone:
			for _, s := range r.Steps {
				if _, has := w.objs[pr.key+"/"+s.Name]; has || (s.State != StepUndone && s.State != StepPending) {
					t.Errorf("undone run %s: step %s is %s, device has it: %v", pr.id, s.Name, s.State, has)
					ok = false
				}
			}
		case StateFailed:
			if !allowFailed || !forever {
				t.Errorf("run %s failed (%s) without an undo scripted to fail forever", pr.id, r.Action)
				ok = false
			}
			for _, s := range r.Steps {
				if _, has := w.objs[pr.key+"/"+s.Name]; has {
					expect++
				}
			}
		default:
			t.Errorf("run %s is %s after settling", pr.id, r.State)
			ok = false
		}
	}
	if len(w.objs) != expect {
		t.Errorf("device holds %d objects, the runs explain %d: %v", len(w.objs), expect, w.objs)
		ok = false
	}
	return ok
}
