package lab

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sanmob/sanmob/internal/clockwait"
)

func TestClock(t *testing.T) {
	tests := []struct {
		name  string
		speed float64
	}{
		{"default speed", 0},
		{"real time", 1},
		{"fast", 600},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t, Config{Speed: tt.speed})
			c := w.Clock()
			speed := c.Speed()
			if tt.speed == 0 && speed != 60 || tt.speed != 0 && speed != tt.speed {
				t.Fatalf("speed %v", speed)
			}
			v0, r0 := c.Now(), time.Now()
			if d := v0.Sub(testEpoch); d < 0 || d > time.Duration(speed*float64(time.Second)) {
				t.Fatalf("a new world's clock reads %v, epoch %v", v0, testEpoch)
			}
			// Sleep what should take 100ms of real time at this speed.
			d := time.Duration(speed * float64(100*time.Millisecond))
			if err := clockwait.Sleep(context.Background(), c, d); err != nil {
				t.Fatal(err)
			}
			real, virtual := time.Since(r0), c.Since(v0)
			if virtual < d {
				t.Fatalf("Sleep(%v) returned after %v of virtual time", d, virtual)
			}
			// Loosely: virtual time runs at speed x real time, within a
			// factor that a loaded machine cannot break.
			if ratio := float64(virtual) / float64(real); ratio < speed/2 || ratio > speed*1.01 {
				t.Fatalf("%v virtual in %v real: ratio %.1f, speed %v", virtual, real, ratio, speed)
			}
			if real < 90*time.Millisecond {
				t.Fatalf("Sleep(%v) at %vx took %v real, want about 100ms", d, speed, real)
			}
			if c.Now().Before(v0) {
				t.Fatal("the clock went backwards")
			}
		})
	}
}

func TestClockSleepHonoursContext(t *testing.T) {
	c := newClock(testEpoch, 1)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := clockwait.Sleep(ctx, c, 0); !errors.Is(err, context.Canceled) {
		t.Fatalf("Sleep on a canceled context = %v", err)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := clockwait.Sleep(ctx, c, time.Hour); !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
		t.Fatalf("Sleep(1h) = %v after %v", err, time.Since(start))
	}
	if err := clockwait.Sleep(context.Background(), c, -time.Second); err != nil {
		t.Fatalf("negative sleep: %v", err)
	}
}

// TestClockTimers: the k8s.io/utils/clock.Clock methods wait virtual time
// (d/Speed of real time) and hand out virtual times.
func TestClockTimers(t *testing.T) {
	const speed = 3600 // an hour a second
	c := newClock(testEpoch, speed)
	tests := []struct {
		name string
		wait func(d time.Duration) time.Time // returns the virtual time it saw fire
	}{
		{"After", func(d time.Duration) time.Time { return <-c.After(d) }},
		{"NewTimer", func(d time.Duration) time.Time { return <-c.NewTimer(d).C() }},
		{"NewTimer Reset", func(d time.Duration) time.Time {
			tm := c.NewTimer(100 * time.Hour)
			if !tm.Reset(d) {
				t.Error("Reset of a pending timer reported it inactive")
			}
			return <-tm.C()
		}},
		{"AfterFunc", func(d time.Duration) time.Time {
			ch := make(chan time.Time, 1)
			c.AfterFunc(d, func() { ch <- c.Now() })
			return <-ch
		}},
		{"Sleep", func(d time.Duration) time.Time { c.Sleep(d); return c.Now() }},
		{"NewTicker", func(d time.Duration) time.Time {
			tk := c.NewTicker(d / 2)
			defer tk.Stop()
			<-tk.C()
			return <-tk.C()
		}},
		{"Tick", func(d time.Duration) time.Time { <-c.Tick(d / 2); return <-c.Tick(d / 2) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const d = 3 * time.Minute // 50ms of real time
			v0, r0 := c.Now(), time.Now()
			fired := tt.wait(d)
			if got := fired.Sub(v0); got < d {
				t.Fatalf("fired after %v of virtual time, want >= %v", got, d)
			}
			if real := time.Since(r0); real > 5*time.Second {
				t.Fatalf("%v of virtual time took %v of real time at %vx", d, real, speed)
			}
		})
	}
	if u := c.Until(c.Now().Add(time.Hour)); u <= 0 || u > time.Hour {
		t.Errorf("Until an hour from now = %v", u)
	}
	if c.Tick(0) != nil {
		t.Error("Tick(0) is not nil")
	}
	tm := c.NewTimer(time.Hour)
	if !tm.Stop() || tm.Stop() {
		t.Error("Stop of a pending timer, then of a stopped one")
	}
}
