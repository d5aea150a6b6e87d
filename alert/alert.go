package alert

import (
	"hash/fnv"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
	"k8s.io/utils/clock"

	"github.com/sanmob/sanmob/store"
)

// Names of the alerts (label alertname).
const (
	FabricDrift = "FabricDrift"
	// OperationFailed: a multi-step change (an attach, a detach) failed and
	// could not be undone; something may be on a device that a person must
	// look at (the annotations say what).
	OperationFailed = "OperationFailed"
	// ReplicationLagHigh fires while a replication group's target is
	// further behind than its RPO allows, or it does not replicate at all
	// (SUSPENDED, INVALID).
	ReplicationLagHigh = "ReplicationLagHigh"
	// PoolUsageHigh fires while a pool's used share of its physical
	// capacity is past the nearly-full threshold (warning) or the full
	// one (critical).
	PoolUsageHigh = "PoolUsageHigh"
	// PoolOvercommitHigh fires while a pool's provisioned bytes are past
	// 95 % of what its maximum overcommit allows (warning) or past it
	// (critical).
	PoolOvercommitHigh = "PoolOvercommitHigh"
	// PoolFullSoon fires while a pool's forecast says it fills within
	// the days-to-full threshold.
	PoolFullSoon = "PoolFullSoon"
	// QueueCongestion fires while a host's queue to a LUN runs past its
	// pool's latency threshold or meets QUEUE FULL/BUSY (critical) for
	// several control periods in a row.
	QueueCongestion = "QueueCongestion"
)

// Severities.
const (
	Warning  = "warning"
	Critical = "critical"
)

// Alert is one alert in Alertmanager's shape.
type Alert struct {
	Status      string            `json:"status"` // firing | resolved
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	StartsAt    time.Time         `json:"startsAt"`
	EndsAt      *time.Time        `json:"endsAt,omitempty"`
	Fingerprint string            `json:"fingerprint"`
}

// Manager holds the firing alerts and the last resolved ones, numbers
// every change (an Event) and keeps the last ones for the sinks that
// deliver them. With Restore it keeps all of that in the store too.
type Manager struct {
	clock clock.PassiveClock // the time alerts are stamped with
	keep  int

	mu       sync.Mutex
	firing   map[string]*Alert
	resolved []Alert // oldest first, at most keep
	seq      uint64  // the last event's
	events   []Event // the last maxEvents, oldest first
	subs     map[*Subscription]struct{}
	wake     []chan struct{} // the sinks', each of capacity 1
	st       *store.Store    // nil: memory only
	log      logrus.FieldLogger
	// unconfirmed are the alerts Restore brought back firing that no
	// raiser has set since (see ResolveUnconfirmed).
	unconfirmed map[string]bool
}

// NewManager stamps alerts with clk and keeps up to keep resolved alerts
// (default 256).
func NewManager(clk clock.PassiveClock, keep int) *Manager {
	if keep <= 0 {
		keep = 256
	}
	return &Manager{clock: clk, keep: keep, firing: map[string]*Alert{}, subs: map[*Subscription]struct{}{},
		log: logrus.StandardLogger()}
}

// Fingerprint identifies a label set: FNV-64a over the sorted labels, as
// Alertmanager computes it.
func Fingerprint(labels map[string]string) string {
	h := fnv.New64a()
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		h.Write([]byte(k))
		h.Write([]byte{0xff})
		h.Write([]byte(labels[k]))
		h.Write([]byte{0xff})
	}
	return strconv.FormatUint(h.Sum64(), 16)
}

// Set makes the alert with these labels fire (keeping its start time if it
// already does, and taking the new annotations) or, with firing false,
// resolve if it fires. It reports whether anything changed state; each
// change is one Event, written to the store (when the Manager has one)
// before Set returns, then offered to the subscribers and the sinks.
func (m *Manager) Set(labels, annotations map[string]string, firing bool) bool {
	fp := Fingerprint(labels)
	m.mu.Lock()
	defer m.mu.Unlock()
	a, ok := m.firing[fp]
	delete(m.unconfirmed, fp) // its raiser has looked again
	switch {
	case firing && ok:
		if !maps.Equal(a.Annotations, annotations) {
			a.Annotations = maps.Clone(annotations)
			m.persistLocked(func(tx *store.Tx) error { return tx.Put(kindFiring, fp, a) })
		}
		return false
	case firing:
		a = &Alert{Status: "firing", Labels: maps.Clone(labels), Annotations: maps.Clone(annotations),
			StartsAt: m.clock.Now(), Fingerprint: fp}
		m.firing[fp] = a
		m.changeLocked(Event{Type: EventFired, Alert: *a})
		return true
	case ok:
		m.resolveLocked(a)
		return true
	}
	return false
}

// resolveLocked resolves the firing alert a now.
func (m *Manager) resolveLocked(a *Alert) {
	delete(m.firing, a.Fingerprint)
	end := m.clock.Now()
	r := *a
	r.Status, r.EndsAt = "resolved", &end
	m.resolved = append(m.resolved, r)
	m.changeLocked(Event{Type: EventResolved, Alert: r})
}

// changeLocked numbers e, logs it, trims the bounded lists, stores it all
// and hands e to the subscribers and sinks.
func (m *Manager) changeLocked(e Event) {
	m.seq++
	e.Seq = m.seq
	m.events = append(m.events, e)
	var trimmedResolved []Alert
	if len(m.resolved) > m.keep {
		n := len(m.resolved) - m.keep
		trimmedResolved = slices.Clone(m.resolved[:n])
		m.resolved = slices.Delete(m.resolved, 0, n)
	}
	var trimmedEvents []Event
	if len(m.events) > maxEvents {
		n := len(m.events) - maxEvents
		trimmedEvents = slices.Clone(m.events[:n])
		m.events = slices.Delete(m.events, 0, n)
	}
	m.persistLocked(func(tx *store.Tx) error { return writeChange(tx, e, trimmedResolved, trimmedEvents) })
	m.publishLocked(e)
}

// ResolveUnconfirmed resolves the alerts named names that Restore brought
// back firing and that no raiser has set (firing or not) since, and returns
// them. A raiser remembers what it fired only in memory: after a restart it
// sets what still fires, but cannot resolve what it no longer remembers.
// The daemon calls this once its raisers have each looked at everything at
// least once; an alert they did not set again has gone away while sanmob
// was down. It works once: later calls resolve nothing.
func (m *Manager) ResolveUnconfirmed(names ...string) []Alert {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Alert
	for _, a := range m.firingLocked() {
		if m.unconfirmed[a.Fingerprint] && slices.Contains(names, a.Labels["alertname"]) {
			m.resolveLocked(m.firing[a.Fingerprint])
			out = append(out, m.resolved[len(m.resolved)-1])
		}
	}
	m.unconfirmed = nil
	return out
}

// List returns the firing alerts, oldest first, then the resolved ones,
// newest first.
func (m *Manager) List() []Alert {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := m.firingLocked()
	for i := len(m.resolved) - 1; i >= 0; i-- {
		out = append(out, m.resolved[i])
	}
	return out
}

// firingLocked returns copies of the firing alerts, oldest first.
func (m *Manager) firingLocked() []Alert {
	out := make([]Alert, 0, len(m.firing)+len(m.resolved))
	for _, a := range m.firing {
		out = append(out, *a)
	}
	slices.SortFunc(out, func(a, b Alert) int {
		if c := a.StartsAt.Compare(b.StartsAt); c != 0 {
			return c
		}
		return strings.Compare(a.Fingerprint, b.Fingerprint)
	})
	return out
}
