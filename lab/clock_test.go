package lab

import (
	"context"
	"errors"
	"testing"
	"time"
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
			if err := c.SleepContext(context.Background(), d); err != nil {
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
	if err := c.SleepContext(ctx, 0); !errors.Is(err, context.Canceled) {
		t.Fatalf("Sleep on a canceled context = %v", err)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := c.SleepContext(ctx, time.Hour); !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
		t.Fatalf("Sleep(1h) = %v after %v", err, time.Since(start))
	}
	if err := c.SleepContext(context.Background(), -time.Second); err != nil {
		t.Fatalf("negative sleep: %v", err)
	}
}
