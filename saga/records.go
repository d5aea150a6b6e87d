package saga

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/sanmob/sanmob/store"
)

// Get returns the recorded run; an error wrapping ErrNotFound if none.
func (e *Executor) Get(id string) (Run, error) {
	var r Run
	err := e.cfg.Store.Get(RecordKind, id, &r)
	if errors.Is(err, store.ErrNotFound) {
		return Run{}, fmt.Errorf("%w: %s: %w", ErrNotFound, id, err)
	}
	if err != nil {
		return Run{}, fmt.Errorf("saga: get run %s: %w", id, err)
	}
	return r, nil
}

// List returns the recorded runs of kind (all kinds if kind is empty),
// oldest first.
func (e *Executor) List(kind string) ([]Run, error) {
	var out []Run
	err := e.scan(func(r Run) error {
		if kind == "" || r.Kind == kind {
			out = append(out, r)
		}
		return nil
	})
	return out, err
}

func (e *Executor) scan(fn func(Run) error) error {
	return e.cfg.Store.List(RecordKind, func(id string, raw []byte) error {
		var r Run
		if err := json.Unmarshal(raw, &r); err != nil {
			return fmt.Errorf("saga: run %s: %w", id, err)
		}
		return fn(r)
	})
}

// Active returns the run that holds (kind, key) — running, undoing or
// failed — and whether there is one.
func (e *Executor) Active(kind, key string) (Run, bool, error) {
	e.mu.Lock()
	id := e.active[kindKey{kind, key}]
	e.mu.Unlock()
	if id == "" {
		return Run{}, false, nil
	}
	r, err := e.Get(id)
	if err != nil {
		return Run{}, false, err
	}
	return r, true, nil
}

// Prune deletes the records of done and undone runs last updated more than
// olderThan ago, and returns how many. Failed runs are kept: they explain
// what may be left on a device.
func (e *Executor) Prune(olderThan time.Duration) (int, error) {
	cut := e.cfg.Clock.Now().Add(-olderThan)
	var ids []string
	err := e.scan(func(r Run) error {
		if (r.State == StateDone || r.State == StateUndone) && r.UpdatedAt.Before(cut) {
			ids = append(ids, r.ID)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	for i, id := range ids {
		if err := e.cfg.Store.Delete(RecordKind, id); err != nil {
			return i, fmt.Errorf("saga: prune run %s: %w", id, err)
		}
	}
	e.mu.Lock()
	for _, id := range ids {
		delete(e.recent, id)
	}
	e.mu.Unlock()
	return len(ids), nil
}
