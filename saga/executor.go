package saga

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
	"k8s.io/utils/clock"

	"github.com/sanmob/sanmob/errclass"
	"github.com/sanmob/sanmob/store"
)

// RecordKind is the store kind of run records.
const RecordKind = "saga"

// Store is what the executor needs of the record store; *store.Store is it.
// Put must be synced before it returns; Get returns an error wrapping
// store.ErrNotFound for an absent record, Create one wrapping
// store.ErrConflict for a taken id; List scans in id order.
type Store interface {
	Get(kind, id string, v any) error
	Put(kind, id string, v any) error
	Create(kind, id string, v any) error
	Delete(kind, id string) error
	List(kind string, fn func(id string, raw []byte) error) error
}

var _ Store = (*store.Store)(nil)

// Backoff is the retry policy of a step's Do and Undo: a transient error is
// retried after Initial, doubling up to Max, for at most Attempts calls of a
// Do in all, and UndoAttempts of an Undo. Zero fields take the defaults
// (100ms, 30s, 5, and UndoAttempts as Attempts). An undo may deserve the
// longer patience: giving up on a Do only undoes the run, giving up on an
// Undo leaves it failed for a person.
type Backoff struct {
	Initial      time.Duration
	Max          time.Duration
	Attempts     int
	UndoAttempts int
}

// Config configures an Executor.
type Config struct {
	// Store holds the run records; required.
	Store Store
	// Clock times backoffs, step timeouts and record stamps; default real.
	Clock clock.Clock
	// Log receives the executor's logs; default logrus' standard logger.
	Log logrus.FieldLogger
	// Classify tells the class of a step error; default errclass.Of.
	Classify func(error) errclass.Class
	// Backoff is the retry policy of Do and Undo.
	Backoff Backoff
	// StepTimeout, if positive, bounds every call of Do or Undo (measured
	// on Clock); a call that outlives it ends with ErrStepTimeout, which is
	// transient.
	StepTimeout time.Duration
	// Observe, if set, is called with a copy of the run after every synced
	// write of its record (exactly once per write, including the first), in
	// order for one run and concurrently for different runs. It must be
	// quick and must not call the executor's methods for the same run
	// (Get, List and Active are fine).
	Observe func(Run)
}

// Executor runs sagas. Exactly one Executor may write the runs of a store.
type Executor struct {
	cfg Config
	log logrus.FieldLogger

	mu    sync.Mutex
	plans map[string]func(Run) ([]Step, error)
	// active maps a (kind, key) to the run that holds it.
	active map[kindKey]string
	// watches holds one watch per run that is unfinished in this process's
	// view (submitted, resumed, retried); Wait blocks on it.
	watches map[string]*watch
	// runners holds the runner of each id that has a goroutine; queued the runs
	// submitted before Run started; fresh the ids being submitted, so that
	// Run does not count them as resumed.
	runners map[string]*runner
	queued  map[string]Run
	fresh   map[string]bool
	// recent keeps the original errors of runs that ended lately, for Wait
	// calls that come after the end.
	recent      map[string]outcome
	recentOrder []string
	started     bool // Run was called
	running     bool // Run is serving
	stopped     bool // Run has stopped
	ctx         context.Context
	wg          sync.WaitGroup
	seq         uint64
}

type kindKey struct{ kind, key string }

type outcome struct{ orig, undo error }

// watch is resolved (ch closed) when its run ends or the executor stops.
type watch struct {
	ch  chan struct{}
	run Run
	err error
}

const recentMax = 1024

// New validates cfg and loads the record of every run that holds its key,
// so that Submit refuses a busy key even before Run starts.
func New(cfg Config) (*Executor, error) {
	if cfg.Store == nil {
		return nil, errors.New("saga: Config.Store is required")
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	if cfg.Log == nil {
		cfg.Log = logrus.StandardLogger()
	}
	if cfg.Classify == nil {
		cfg.Classify = errclass.Of
	}
	b := &cfg.Backoff
	if b.Initial < 0 || b.Max < 0 || b.Attempts < 0 || b.UndoAttempts < 0 || cfg.StepTimeout < 0 {
		return nil, errors.New("saga: negative Backoff or StepTimeout")
	}
	if b.Initial == 0 {
		b.Initial = 100 * time.Millisecond
	}
	if b.Max == 0 {
		b.Max = 30 * time.Second
	}
	if b.Max < b.Initial {
		b.Max = b.Initial
	}
	if b.Attempts == 0 {
		b.Attempts = 5
	}
	if b.UndoAttempts == 0 {
		b.UndoAttempts = b.Attempts
	}
	e := &Executor{
		cfg:     cfg,
		log:     cfg.Log,
		plans:   map[string]func(Run) ([]Step, error){},
		active:  map[kindKey]string{},
		watches: map[string]*watch{},
		runners: map[string]*runner{},
		queued:  map[string]Run{},
		fresh:   map[string]bool{},
		recent:  map[string]outcome{},
	}
	err := e.scan(func(r Run) error {
		if !r.State.holdsKey() {
			return nil
		}
		k := kindKey{r.Kind, r.Key}
		if other, ok := e.active[k]; ok {
			e.log.WithFields(logrus.Fields{"saga": r.ID, "kind": r.Kind, "key": r.Key, "other": other}).
				Error("two runs hold the same key; the later one waits for the earlier")
			return nil
		}
		e.active[k] = r.ID
		if r.State.Unfinished() {
			e.watches[r.ID] = &watch{ch: make(chan struct{})}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("saga: load runs: %w", err)
	}
	return e, nil
}

// Register adds the plan of a kind: plan builds the step list from a run
// (its Data mostly). It is called at Submit and again whenever a run is
// resumed or retried, so it must build the same step names from the same
// data; a resumed run whose step names differ from the recorded ones fails
// with ErrPlan. Register before Run; it panics on an empty kind, a nil plan
// or a second plan for a kind.
func (e *Executor) Register(kind string, plan func(r Run) ([]Step, error)) {
	if kind == "" || plan == nil {
		panic("saga: Register needs a kind and a plan")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, dup := e.plans[kind]; dup {
		panic(fmt.Sprintf("saga: kind %q registered twice", kind))
	}
	e.plans[kind] = plan
}

func (e *Executor) plan(r Run) ([]Step, error) {
	e.mu.Lock()
	plan := e.plans[r.Kind]
	e.mu.Unlock()
	if plan == nil {
		return nil, fmt.Errorf("%w %q", ErrUnknownKind, r.Kind)
	}
	steps, err := callPlan(plan, r.clone())
	if err != nil {
		return nil, fmt.Errorf("%w: kind %q: %w", ErrPlan, r.Kind, err)
	}
	if len(steps) == 0 {
		return nil, fmt.Errorf("%w: kind %q: no steps", ErrPlan, r.Kind)
	}
	seen := map[string]bool{}
	for i, s := range steps {
		switch {
		case s.Name == "" || s.Do == nil:
			return nil, fmt.Errorf("%w: kind %q: step %d has no name or no Do", ErrPlan, r.Kind, i)
		case seen[s.Name]:
			return nil, fmt.Errorf("%w: kind %q: step name %q twice", ErrPlan, r.Kind, s.Name)
		}
		seen[s.Name] = true
	}
	return steps, nil
}

// callPlan calls a plan, turning a panic into an error so that a bad plan
// fails its run instead of the daemon.
func callPlan(plan func(Run) ([]Step, error), r Run) (steps []Step, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("plan panicked: %v", p)
		}
	}()
	return plan(r)
}

// Submit records a new run of kind for key with data (marshalled to JSON)
// and starts it in the executor's own goroutine and context, so a caller
// that goes away does not abandon it. The record, with every step pending,
// is synced before Submit returns and before any step runs. Before Run is
// called the run is queued and starts when Run starts; after Run has
// stopped Submit fails with ErrStopped. A (kind, key) whose run is running,
// undoing or failed gets an error wrapping ErrBusy that names that run.
func (e *Executor) Submit(kind, key string, data any) (Run, error) {
	r, _, err := e.submit(kind, key, data)
	return r, err
}

func (e *Executor) submit(kind, key string, data any) (Run, *watch, error) {
	raw, err := json.Marshal(data)
	if err != nil {
		return Run{}, nil, fmt.Errorf("saga: %s %q: data: %w", kind, key, err)
	}
	now := e.cfg.Clock.Now()
	r := Run{Kind: kind, Key: key, State: StateRunning, Data: raw, CreatedAt: now, UpdatedAt: now}
	steps, err := e.plan(r)
	if err != nil {
		return Run{}, nil, err
	}
	for _, s := range steps {
		r.Steps = append(r.Steps, StepRecord{Name: s.Name, State: StepPending})
	}
	if len(r.Steps) > 0 && !steps[0].Local {
		// The record that creates the run also marks its first step doing,
		// so the first device call costs no write of its own.
		r.Steps[0].State, r.Steps[0].Attempts, r.Steps[0].StartedAt = StepDoing, 1, now
	}

	k := kindKey{kind, key}
	e.mu.Lock()
	if e.stopped {
		e.mu.Unlock()
		return Run{}, nil, ErrStopped
	}
	if other, ok := e.active[k]; ok {
		e.mu.Unlock()
		if other == "" {
			other = "being submitted"
		}
		return Run{}, nil, fmt.Errorf("%w: %s %q has run %s", ErrBusy, kind, key, other)
	}
	e.seq++
	seq := e.seq
	e.active[k] = "" // reserved until the id is known
	e.mu.Unlock()

	for try := 0; ; try++ {
		r.ID = fmt.Sprintf("%s-%06d-%08x", now.UTC().Format("20060102T150405.000000000Z"), seq%1e6, rand.Uint32())
		e.mu.Lock()
		e.active[k] = r.ID
		e.fresh[r.ID] = true
		e.mu.Unlock()
		err = e.cfg.Store.Create(RecordKind, r.ID, r)
		if err == nil || !errors.Is(err, store.ErrConflict) || try == 3 {
			break
		}
		e.mu.Lock()
		delete(e.fresh, r.ID)
		e.mu.Unlock()
	}
	if err != nil {
		e.mu.Lock()
		delete(e.active, k)
		delete(e.fresh, r.ID)
		e.mu.Unlock()
		return Run{}, nil, fmt.Errorf("saga: %s %q: record run: %w", kind, key, err)
	}
	e.observe(r)
	e.fields(r).Info("run submitted")

	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.fresh, r.ID)
	if e.stopped {
		// Run stopped while the record was written: the run is recorded
		// and the next start runs it; Wait answers from the record.
		w := &watch{ch: make(chan struct{}), run: r.clone()}
		w.err = runError(r, nil, nil)
		close(w.ch)
		return r.clone(), w, nil
	}
	w := e.watches[r.ID]
	if w == nil {
		w = &watch{ch: make(chan struct{})}
		e.watches[r.ID] = w
	}
	if e.running {
		e.startLocked(r, false)
	} else {
		// Run starts it, whether or not its scan of the store saw it.
		e.queued[r.ID] = r
	}
	return r.clone(), w, nil
}

// Wait waits until the run ends or ctx ends, and returns the run. The error
// is nil for a done run; for an undone or failed run it is a *RunError
// carrying the original step error; if the executor stops first (or the run
// is unfinished and this executor will not run it) it wraps ErrStopped; if
// ctx ends first it is ctx's error. A run queued before Run waits for Run.
func (e *Executor) Wait(ctx context.Context, id string) (Run, error) {
	e.mu.Lock()
	w := e.watches[id]
	e.mu.Unlock()
	if w == nil {
		return e.settled(id)
	}
	return waitOn(ctx, w)
}

func waitOn(ctx context.Context, w *watch) (Run, error) {
	select {
	case <-w.ch:
		return w.run.clone(), w.err
	case <-ctx.Done():
		return Run{}, ctx.Err()
	}
}

// settled answers Wait for a run this process is not running.
func (e *Executor) settled(id string) (Run, error) {
	r, err := e.Get(id)
	if err != nil {
		return Run{}, err
	}
	e.mu.Lock()
	o := e.recent[id]
	e.mu.Unlock()
	return r, runError(r, o.orig, o.undo)
}

// Do submits a run and waits for it: Submit, then Wait. If ctx ends first
// the run goes on in the executor and Do returns ctx's error.
func (e *Executor) Do(ctx context.Context, kind, key string, data any) (Run, error) {
	r, w, err := e.submit(kind, key, data)
	if err != nil {
		return r, err
	}
	got, err := waitOn(ctx, w)
	if ctx.Err() != nil && err == ctx.Err() {
		return r, err // the run as submitted; it goes on
	}
	return got, err
}

// Retry moves a failed run back to undoing (synced) and runs its undo
// again, from the failed step down; Wait then waits for it. Any other state
// gets an error wrapping ErrNotFailed. Before Run it is queued like Submit.
func (e *Executor) Retry(id string) (Run, error) {
	e.mu.Lock()
	if e.stopped {
		e.mu.Unlock()
		return Run{}, ErrStopped
	}
	if e.runners[id] != nil || e.watches[id] != nil {
		e.mu.Unlock()
		return Run{}, fmt.Errorf("%w: run %s is in progress", ErrNotFailed, id)
	}
	r, err := e.Get(id)
	if err == nil && r.State != StateFailed {
		err = fmt.Errorf("%w: run %s is %s", ErrNotFailed, id, r.State)
	}
	if err == nil {
		r.State = StateUndoing
		r.Action = ""
		r.UpdatedAt = e.cfg.Clock.Now()
		if perr := e.cfg.Store.Put(RecordKind, r.ID, r); perr != nil {
			err = fmt.Errorf("saga: retry run %s: %w", id, perr)
		}
	}
	if err != nil {
		e.mu.Unlock()
		return Run{}, err
	}
	// The watch keeps other Retry calls out while Observe runs unlocked
	// (it may call the executor), before the runner's first write.
	w := &watch{ch: make(chan struct{})}
	e.watches[id] = w
	e.mu.Unlock()
	e.observe(r)
	e.fields(r).Info("run retried")

	e.mu.Lock()
	defer e.mu.Unlock()
	switch {
	case e.stopped:
		if e.watches[id] == w { // else Run's release answered it
			w.run, w.err = r.clone(), runError(r, nil, nil)
			close(w.ch)
			delete(e.watches, id)
		}
	case e.running:
		e.startLocked(r, false)
	default:
		e.queued[r.ID] = r
	}
	return r.clone(), nil
}

// Abort stops a run that is running forward and undoes it. The abort is
// written first, synced: the same write marks the run undoing, with
// AbortRequested set, LastError saying it was aborted by request (class
// final) and FailedStep the step in progress; so a crash right after it
// resumes the run as undoing, never forward. Then the context of the step
// in progress is cancelled with the cause ErrAborted; once that call has
// returned (whatever it returns), the run undoes the step and every done
// step before it in reverse, as for a final error, and ends undone (or
// failed). Undo calls get a fresh context. Abort returns the run as
// written by the abort (undoing).
//
// A run that is undoing, done, undone or failed gets an error wrapping
// ErrNotRunning, an unknown id one wrapping ErrNotFound; an executor that
// is not serving (before Run, after it stopped) one wrapping ErrStopped; a
// run still being submitted one wrapping ErrBusy. Calling Abort on a run
// already aborted answers ErrNotRunning too: it is undoing.
func (e *Executor) Abort(id string) (Run, error) {
	e.mu.Lock()
	rn := e.runners[id]
	serving, submitting := e.running && !e.stopped, e.fresh[id]
	e.mu.Unlock()
	if rn == nil {
		r, err := e.Get(id)
		switch {
		case err != nil:
			return Run{}, err
		case r.State != StateRunning:
			return Run{}, fmt.Errorf("%w: run %s of %s %q is %s", ErrNotRunning, id, r.Kind, r.Key, r.State)
		case submitting:
			return Run{}, fmt.Errorf("%w: run %s is being submitted; abort it again in a moment", ErrBusy, id)
		case !serving:
			return Run{}, fmt.Errorf("%w: run %s cannot be aborted until the executor runs", ErrStopped, id)
		default:
			// Running in the record, yet no goroutine: it is between
			// the record and its start (Retry, resume). Ask again.
			return Run{}, fmt.Errorf("%w: run %s is starting; abort it again in a moment", ErrBusy, id)
		}
	}
	// e.mu is not held here: Observe, called under rn.mu, may take it.
	rn.mu.Lock()
	defer rn.mu.Unlock()
	cur := rn.run
	switch {
	case cur.State != StateRunning:
		return Run{}, fmt.Errorf("%w: run %s of %s %q is %s", ErrNotRunning, id, cur.Kind, cur.Key, cur.State)
	case rn.halted != nil || rn.ctx.Err() != nil:
		return Run{}, fmt.Errorf("%w: run %s stays %s until the next start", ErrStopped, id, cur.State)
	}
	r := cur.clone()
	r.State = StateUndoing
	r.AbortRequested = true
	r.ErrorClass = errclass.Final.String()
	r.FailedStep = ""
	for _, s := range r.Steps {
		if s.State != StepDone {
			if s.State == StepDoing {
				r.FailedStep = s.Name
			}
			break
		}
	}
	abortErr := error(ErrAborted)
	if r.FailedStep != "" {
		abortErr = fmt.Errorf("%w during step %q", ErrAborted, r.FailedStep)
	}
	r.LastError = abortErr.Error()
	r.UpdatedAt = e.cfg.Clock.Now()
	// Written here rather than through persistLocked: a failed write must
	// leave the runner as it was (running forward), not halted.
	if err := e.cfg.Store.Put(RecordKind, r.ID, r); err != nil {
		return Run{}, fmt.Errorf("saga: abort run %s: writing its record: %w", id, err)
	}
	// Field by field: a step's Exec reads the run's ID and key unlocked.
	rn.run.State, rn.run.AbortRequested, rn.run.ErrorClass = r.State, r.AbortRequested, r.ErrorClass
	rn.run.FailedStep, rn.run.LastError, rn.run.UpdatedAt = r.FailedStep, r.LastError, r.UpdatedAt
	rn.orig = abortErr
	e.observe(r)
	rn.log.WithField("step", r.FailedStep).Warn("run aborted by request; undoing it")
	rn.abort(ErrAborted)
	return r.clone(), nil
}

// Run is the executor's runnable. It resumes every unfinished run — a
// running run from its first step not done, by calling that step's Do again;
// an undoing run by continuing its undo — starts queued runs, serves until
// ctx ends, and then stops: steps see ctx end, no further transition is
// written (each record stays as it was, for the next start), and Run
// returns once every step in flight has returned. It may be called once.
func (e *Executor) Run(ctx context.Context) error {
	e.mu.Lock()
	if e.started {
		e.mu.Unlock()
		return errors.New("saga: Run called twice")
	}
	e.started = true
	e.ctx = ctx
	e.mu.Unlock()

	var unfinished []Run
	err := e.scan(func(r Run) error {
		if r.State.Unfinished() {
			unfinished = append(unfinished, r)
		}
		return nil
	})
	e.mu.Lock()
	if err != nil {
		e.stopped = true
		e.mu.Unlock()
		e.release(ErrStopped)
		return fmt.Errorf("saga: resume: %w", err)
	}
	resumed := 0
	for _, r := range unfinished {
		if _, ok := e.queued[r.ID]; ok || e.fresh[r.ID] {
			continue // submitted or retried in this life: started below
		}
		if e.watches[r.ID] == nil {
			e.watches[r.ID] = &watch{ch: make(chan struct{})}
		}
		e.startLocked(r, true)
		resumed++
	}
	for id, r := range e.queued {
		delete(e.fresh, id)
		e.startLocked(r, false)
	}
	clear(e.queued)
	e.running = true
	e.mu.Unlock()
	e.log.WithField("resumed", resumed).Info("saga executor running")

	<-ctx.Done()
	e.mu.Lock()
	e.running = false
	e.stopped = true
	e.mu.Unlock()
	e.wg.Wait()
	e.release(ErrStopped)
	e.log.Info("saga executor stopped")
	return nil
}

// release resolves every watch left, after the executor stopped.
func (e *Executor) release(err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for id, w := range e.watches {
		r, gerr := e.Get(id)
		if gerr != nil {
			r = Run{ID: id}
		}
		w.run = r
		w.err = fmt.Errorf("%w: run %s stays %s until the next start", err, id, r.State)
		close(w.ch)
		delete(e.watches, id)
	}
}

// startLocked starts a goroutine for r unless one runs it; e.mu is held.
func (e *Executor) startLocked(r Run, resumed bool) {
	if e.runners[r.ID] != nil || e.stopped {
		return
	}
	e.wg.Add(1)
	rn := &runner{e: e, ctx: e.ctx, run: r, resumed: resumed, log: e.fields(r)}
	rn.fwd, rn.abort = context.WithCancelCause(e.ctx)
	e.runners[r.ID] = rn
	// A retried run keeps the original error of its first undo in this
	// process.
	rn.orig = e.recent[r.ID].orig
	go func() {
		defer e.wg.Done()
		defer rn.abort(nil)
		rn.exec()
		e.finish(rn)
	}()
}

// finish records the end of a runner: a run that reached a terminal state
// releases its key (unless failed) and its waiters; one that halted (stop or
// store failure) keeps its key, and its waiters learn why.
func (e *Executor) finish(rn *runner) {
	// Read the runner's state under its own lock, before e.mu: Abort reads
	// it concurrently, and Observe (under rn.mu) may take e.mu.
	rn.mu.Lock()
	r, halted, orig, undoErr := rn.run, rn.halted, rn.orig, rn.undoErr
	rn.mu.Unlock()
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.runners, r.ID)
	w := e.watches[r.ID]
	if halted != nil {
		if errors.Is(halted, ErrStopped) && e.stopped {
			return // Run's release answers the waiters
		}
		if w != nil {
			w.run, w.err = r.clone(), halted
			close(w.ch)
			delete(e.watches, r.ID)
		}
		return
	}
	if !r.State.holdsKey() {
		if k := (kindKey{r.Kind, r.Key}); e.active[k] == r.ID {
			delete(e.active, k)
		}
	}
	if r.State != StateDone {
		if len(e.recentOrder) >= recentMax {
			delete(e.recent, e.recentOrder[0])
			e.recentOrder = e.recentOrder[1:]
		}
		e.recent[r.ID] = outcome{orig, undoErr}
		e.recentOrder = append(e.recentOrder, r.ID)
	}
	if w != nil {
		w.run, w.err = r.clone(), runError(r, orig, undoErr)
		close(w.ch)
		delete(e.watches, r.ID)
	}
}

func (e *Executor) observe(r Run) {
	if e.cfg.Observe != nil {
		e.cfg.Observe(r.clone())
	}
}

func (e *Executor) fields(r Run) *logrus.Entry {
	return e.log.WithFields(logrus.Fields{"saga": r.ID, "kind": r.Kind, "key": r.Key})
}
