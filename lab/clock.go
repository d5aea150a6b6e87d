package lab

import (
	"context"
	"time"

	"k8s.io/utils/clock"
)

var _ clock.PassiveClock = (*Clock)(nil)

// Clock is the lab's virtual time: it starts at the config's Epoch and runs
// Speed times faster than real time, so that hours of replication or a
// minute of zone commits pass in seconds of a test. It reads the monotonic
// clock, so it never runs backwards when the wall clock is stepped.
type Clock struct {
	epoch time.Time // wall reading only: virtual times compare by wall time
	start time.Time // real, with its monotonic reading
	speed float64
}

func newClock(epoch time.Time, speed float64) *Clock {
	return &Clock{epoch: epoch.Round(0), start: time.Now(), speed: speed}
}

// Now is the current virtual time.
func (c *Clock) Now() time.Time {
	return c.epoch.Add(time.Duration(float64(time.Since(c.start)) * c.speed))
}

// Since is the virtual time elapsed since t.
func (c *Clock) Since(t time.Time) time.Duration { return c.Now().Sub(t) }

// Speed is the number of virtual seconds per real second.
func (c *Clock) Speed() float64 { return c.speed }

// Sleep waits until d of virtual time has passed, which takes d/Speed of
// real time, or until ctx ends, whose error it then returns.
func (c *Clock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(time.Duration(float64(d) / c.speed))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
