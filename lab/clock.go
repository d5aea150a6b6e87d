package lab

import (
	"math"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/utils/clock"
)

var (
	_ clock.Clock                         = (*Clock)(nil)
	_ clock.WithTickerAndDelayedExecution = (*Clock)(nil)
)

// Clock is the lab's virtual time: it starts at the config's Epoch (or, for
// a world restored from its directory, at the last virtual time recorded
// there) and runs Speed times faster than real time, so that hours of
// replication or a minute of zone commits pass in seconds of a test. It
// reads the monotonic clock, so it never runs backwards when the wall clock
// is stepped. It is a k8s.io/utils/clock.Clock: every duration given to it
// is virtual and takes d/Speed of real time.
type Clock struct {
	base  time.Time // virtual time at start; wall reading only: virtual times compare by wall time
	start time.Time // real, with its monotonic reading
	speed float64
	// skipped is virtual time added by skip, in nanoseconds.
	skipped atomic.Int64
}

func newClock(base time.Time, speed float64) *Clock {
	return &Clock{base: base.Round(0), start: time.Now(), speed: speed}
}

// Now is the current virtual time.
func (c *Clock) Now() time.Time {
	return c.base.Add(time.Duration(float64(time.Since(c.start))*c.speed) + time.Duration(c.skipped.Load()))
}

// skip moves the virtual clock d forward at once. It is the lab's test
// hook for virtual time that must pass exactly (replication progress, a
// restart hours later) with a Speed too low for real time to move it
// noticeably. Timers and sleeps already armed do not fire early: they keep
// counting real time.
func (c *Clock) skip(d time.Duration) {
	if d > 0 {
		c.skipped.Add(int64(d))
	}
}

// Since is the virtual time elapsed since t.
func (c *Clock) Since(t time.Time) time.Duration { return c.Now().Sub(t) }

// Until is the virtual time until t.
func (c *Clock) Until(t time.Time) time.Duration { return t.Sub(c.Now()) }

// Speed is the number of virtual seconds per real second.
func (c *Clock) Speed() float64 { return c.speed }

// real is the real time d of virtual time takes.
func (c *Clock) real(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	r := math.Ceil(float64(d) / c.speed) // never short: a timer fires at d of virtual time or later
	if r >= math.MaxInt64 {
		return math.MaxInt64
	}
	return time.Duration(r)
}

// Sleep waits until d of virtual time has passed, which takes d/Speed of
// real time.
func (c *Clock) Sleep(d time.Duration) { time.Sleep(c.real(d)) }

// After sends the virtual time on the channel once d of virtual time has
// passed.
func (c *Clock) After(d time.Duration) <-chan time.Time { return c.NewTimer(d).C() }

// NewTimer is a timer of d of virtual time; its channel carries the virtual
// time it fired at.
func (c *Clock) NewTimer(d time.Duration) clock.Timer {
	t := &timer{c: c, ch: make(chan time.Time, 1)}
	t.t = time.AfterFunc(c.real(d), func() {
		select {
		case t.ch <- c.Now():
		default:
		}
	})
	return t
}

// AfterFunc calls f in its own goroutine once d of virtual time has passed.
func (c *Clock) AfterFunc(d time.Duration, f func()) clock.Timer {
	return &timer{c: c, t: time.AfterFunc(c.real(d), f)}
}

// Tick is NewTicker's channel, nil for d <= 0 (as time.Tick); the ticker
// cannot be stopped.
func (c *Clock) Tick(d time.Duration) <-chan time.Time {
	if d <= 0 {
		return nil
	}
	return c.NewTicker(d).C()
}

// NewTicker ticks every d of virtual time, dropping ticks a slow reader
// misses, as time.Ticker does. It panics when d <= 0, as time.NewTicker.
func (c *Clock) NewTicker(d time.Duration) clock.Ticker {
	if d <= 0 {
		panic("lab: non-positive interval for Clock.NewTicker")
	}
	ch := make(chan time.Time, 1)
	return &ticker{t: time.NewTicker(max(c.real(d), 1)), c: c, ch: ch, stop: make(chan struct{})}
}

// timer is a clock.Timer in virtual time.
type timer struct {
	c  *Clock
	t  *time.Timer
	ch chan time.Time // nil for AfterFunc
}

func (t *timer) C() <-chan time.Time { return t.ch }
func (t *timer) Stop() bool          { return t.t.Stop() }

// Reset rearms the timer for d of virtual time; a value from the previous
// arming that was not received is dropped, as time.Timer does since Go 1.23.
func (t *timer) Reset(d time.Duration) bool {
	active := t.t.Stop()
	if t.ch != nil {
		select {
		case <-t.ch:
		default:
		}
	}
	t.t.Reset(t.c.real(d))
	return active
}

// ticker relays a real ticker's ticks as virtual times.
type ticker struct {
	c        *Clock
	t        *time.Ticker
	ch       chan time.Time
	stop     chan struct{}
	stopOnce sync.Once
	started  sync.Once
}

func (t *ticker) C() <-chan time.Time {
	t.started.Do(func() { go t.relay() })
	return t.ch
}

func (t *ticker) relay() {
	for {
		select {
		case <-t.stop:
			return
		case <-t.t.C:
			select {
			case t.ch <- t.c.Now():
			default:
			}
		}
	}
}

func (t *ticker) Stop() {
	t.stopOnce.Do(func() {
		t.t.Stop()
		close(t.stop)
	})
}
