package clockwait

import (
	"time"

	"k8s.io/utils/clock"
)

// Scaled makes a clock that only tells the time (Now, Since) into a full
// clock.Clock whose timers run speed times faster than real time: d of its
// time takes d/speed of real time. It is the bridge for the lab's virtual
// clock while that implements only clock.PassiveClock; once lab.Clock
// implements clock.Clock, use it directly and delete this. speed <= 0 means 1.
func Scaled(c clock.PassiveClock, speed float64) clock.Clock {
	if speed <= 0 {
		speed = 1
	}
	return scaled{PassiveClock: c, speed: speed}
}

type scaled struct {
	clock.PassiveClock
	speed float64
}

var _ clock.Clock = scaled{}

func (s scaled) real(d time.Duration) time.Duration {
	return time.Duration(float64(d) / s.speed)
}

func (s scaled) After(d time.Duration) <-chan time.Time { return s.NewTimer(d).C() }

func (s scaled) NewTimer(d time.Duration) clock.Timer {
	return scaledTimer{t: time.NewTimer(s.real(d)), s: s}
}

func (s scaled) Sleep(d time.Duration) { time.Sleep(s.real(d)) }

// Tick is like time.Tick: the ticker is never stopped.
func (s scaled) Tick(d time.Duration) <-chan time.Time {
	if d <= 0 {
		return nil
	}
	return time.NewTicker(s.real(d)).C
}

// scaledTimer is a real timer over a scaled duration. The times it sends
// are real ones; callers of a Clock's timers use the signal, not the value.
type scaledTimer struct {
	t *time.Timer
	s scaled
}

func (t scaledTimer) C() <-chan time.Time        { return t.t.C }
func (t scaledTimer) Stop() bool                 { return t.t.Stop() }
func (t scaledTimer) Reset(d time.Duration) bool { return t.t.Reset(t.s.real(d)) }
