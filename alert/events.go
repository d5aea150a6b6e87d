package alert

// The changes of the alerts, numbered: the log the sinks deliver from and
// the subscriptions the SSE stream reads.

// Event is one change of an alert's state.
type Event struct {
	// Seq numbers the Manager's changes from 1, across restarts when the
	// Manager has a store. In a subscription, snapshot and resync events
	// carry the Seq the subscription starts or ends at.
	Seq   uint64 `json:"seq"`
	Type  string `json:"type"`
	Alert Alert  `json:"alert"`
}

// Event types. Fired and resolved are changes; a subscription starts with a
// snapshot of the firing alerts and, when its reader falls behind, ends
// with resync.
const (
	EventFired    = "fired"
	EventResolved = "resolved"
	EventResync   = "resync"
)

// maxEvents bounds the change log the sinks deliver from, in memory and in
// the store: a receiver that stays down for more changes than this loses
// the oldest (counted in its Lost, and logged).
const maxEvents = 10000

// subBuffer is how many events a subscriber may fall behind by before it is
// dropped with a last resync event.
const subBuffer = 64

// Subscription receives the Manager's changes; see Subscribe.
type Subscription struct {
	m  *Manager
	ch chan Event
}

// C delivers the events. It is closed after a resync event (the reader fell
// more than a buffer behind) or once Close was called.
func (s *Subscription) C() <-chan Event { return s.ch }

// Close ends the subscription; closing twice is harmless.
func (s *Subscription) Close() {
	s.m.mu.Lock()
	defer s.m.mu.Unlock()
	if _, ok := s.m.subs[s]; ok {
		delete(s.m.subs, s)
		close(s.ch)
	}
}

// Subscribe returns the firing alerts and, atomically with them, a
// subscription to every change after them. Sending never blocks the
// Manager: a subscriber whose buffer is full gets a resync event in the slot
// kept for it and is dropped.
func (m *Manager) Subscribe() ([]Alert, *Subscription) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := &Subscription{m: m, ch: make(chan Event, subBuffer)}
	m.subs[s] = struct{}{}
	return m.firingLocked(), s
}

// publishLocked offers e to the subscribers and wakes the sinks.
func (m *Manager) publishLocked(e Event) {
	for s := range m.subs {
		if len(s.ch) >= cap(s.ch)-1 {
			s.ch <- Event{Seq: e.Seq, Type: EventResync}
			delete(m.subs, s)
			close(s.ch)
			continue
		}
		s.ch <- e
	}
	for _, w := range m.wake {
		select {
		case w <- struct{}{}:
		default: // already woken
		}
	}
}

// notify returns a channel that receives (coalesced) a value after every
// change.
func (m *Manager) notify() <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	w := make(chan struct{}, 1)
	m.wake = append(m.wake, w)
	return w
}

// eventsAfter returns the logged events with Seq > after, and how many such
// events are no longer in the log (lost to its bound).
func (m *Manager) eventsAfter(after uint64) (events []Event, lost uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.events) == 0 {
		return nil, 0
	}
	if first := m.events[0].Seq; after+1 < first {
		lost = first - after - 1
	}
	// Seqs are consecutive in the log: index arithmetic finds the start.
	i := 0
	if after >= m.events[0].Seq {
		i = int(after - m.events[0].Seq + 1)
	}
	if i >= len(m.events) {
		return nil, lost
	}
	return append([]Event(nil), m.events[i:]...), lost
}

// head returns the last change's Seq and the firing alerts as of it.
func (m *Manager) head() (uint64, []Alert) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.seq, m.firingLocked()
}
