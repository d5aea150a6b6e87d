package alert

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/sirupsen/logrus"

	"github.com/sanmob/sanmob/store"
)

// Store kinds. An alert's state and the event of its change are written in
// one transaction, so that the firing set and the log the sinks deliver
// from never disagree after a crash.
const (
	kindFiring   = "alert"          // id: fingerprint
	kindResolved = "alert-resolved" // id: the resolving event's seq (seqID)
	kindEvent    = "alert-event"    // id: seqID
	kindCursor   = "alert-cursor"   // id: sink name; what the sink has delivered
)

// seqID makes ids that sort as the numbers do.
func seqID(seq uint64) string { return fmt.Sprintf("%020d", seq) }

// cursor is the last event a sink has delivered (or given up on).
type cursor struct {
	Seq uint64 `json:"seq"`
}

// Restore makes the Manager keep its state in st: it loads the firing
// alerts (with their start times), the recently resolved ones and the
// change log, and from then on every change is written to st before Set
// returns. An alert that still fires is not new again: a raiser that sets
// it firing after a restart changes nothing, and one that finds the
// condition gone resolves it, once. Call it before the first Set.
func (m *Manager) Restore(st *store.Store, log logrus.FieldLogger) error {
	if log == nil {
		log = logrus.StandardLogger()
	}
	firing := map[string]*Alert{}
	var resolved []Alert
	var events []Event
	err := st.View(func(tx *store.Tx) error {
		if err := tx.List(kindFiring, func(id string, raw []byte) error {
			var a Alert
			if err := json.Unmarshal(raw, &a); err != nil {
				return fmt.Errorf("alert: stored alert %s: %w", id, err)
			}
			firing[id] = &a
			return nil
		}); err != nil {
			return err
		}
		if err := tx.List(kindResolved, func(id string, raw []byte) error {
			var a Alert
			if err := json.Unmarshal(raw, &a); err != nil {
				return fmt.Errorf("alert: stored resolved alert %s: %w", id, err)
			}
			resolved = append(resolved, a)
			return nil
		}); err != nil {
			return err
		}
		return tx.List(kindEvent, func(id string, raw []byte) error {
			var e Event
			if err := json.Unmarshal(raw, &e); err != nil {
				return fmt.Errorf("alert: stored event %s: %w", id, err)
			}
			events = append(events, e)
			return nil
		})
	})
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.st, m.log = st, log
	m.firing = firing
	m.unconfirmed = map[string]bool{}
	for fp := range firing {
		m.unconfirmed[fp] = true
	}
	if len(resolved) > m.keep {
		resolved = resolved[len(resolved)-m.keep:]
	}
	m.resolved = resolved
	if len(events) > maxEvents {
		events = events[len(events)-maxEvents:]
	}
	m.events = events
	if n := len(events); n > 0 {
		m.seq = events[n-1].Seq
	}
	log.WithFields(logrus.Fields{"firing": len(firing), "resolved": len(resolved), "seq": m.seq}).Info("alerts restored from the store")
	return nil
}

// writeChange records e: the firing alert, or the resolved one in place of
// it; the event; and the removal of what the bounds pushed out.
func writeChange(tx *store.Tx, e Event, trimmedResolved []Alert, trimmedEvents []Event) error {
	fp := e.Alert.Fingerprint
	var err error
	if e.Type == EventFired {
		err = tx.Put(kindFiring, fp, e.Alert)
	} else {
		err = tx.Delete(kindFiring, fp)
		if err == nil {
			err = tx.Put(kindResolved, seqID(e.Seq), e.Alert)
		}
	}
	if err == nil {
		err = tx.Put(kindEvent, seqID(e.Seq), e)
	}
	// A resolved alert is stored under its event's seq, which the
	// resolved list does not keep: find the ids by listing.
	if err == nil && len(trimmedResolved) > 0 {
		var ids []string
		err = tx.List(kindResolved, func(id string, _ []byte) error {
			if len(ids) < len(trimmedResolved) {
				ids = append(ids, id)
			}
			return nil
		})
		for _, id := range ids {
			if err == nil {
				err = tx.Delete(kindResolved, id)
			}
		}
	}
	for _, t := range trimmedEvents {
		if err == nil {
			err = tx.Delete(kindEvent, seqID(t.Seq))
		}
	}
	return err
}

// persistLocked writes to the store, when the Manager has one. A failed
// write is logged and the change stays in memory: the alert is raised and
// delivered all the same, and only a restart would forget it.
func (m *Manager) persistLocked(fn func(tx *store.Tx) error) {
	if m.st == nil {
		return
	}
	if err := m.st.Update(fn); err != nil {
		m.log.WithError(err).Error("alert: storing an alert change failed; it is kept in memory only")
	}
}

// loadCursor returns the sink's stored cursor; ok false when it has none
// (or the Manager has no store).
func (m *Manager) loadCursor(sink string) (seq uint64, ok bool, err error) {
	m.mu.Lock()
	st := m.st
	m.mu.Unlock()
	if st == nil {
		return 0, false, nil
	}
	var c cursor
	switch err := st.Get(kindCursor, sink, &c); {
	case err == nil:
		return c.Seq, true, nil
	case errors.Is(err, store.ErrNotFound):
		return 0, false, nil
	default:
		return 0, false, err
	}
}

// saveCursor records that the sink is done with every event up to seq.
func (m *Manager) saveCursor(sink string, seq uint64) error {
	m.mu.Lock()
	st := m.st
	m.mu.Unlock()
	if st == nil {
		return nil
	}
	return st.Put(kindCursor, sink, cursor{Seq: seq})
}
