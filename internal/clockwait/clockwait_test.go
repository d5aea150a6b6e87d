package clockwait_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"k8s.io/utils/clock"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/sanmob/sanmob/internal/clockwait"
)

var epoch = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func TestSleepEndsWhenTheClockPasses(t *testing.T) {
	c := clocktesting.NewFakeClock(epoch)
	done := make(chan error, 1)
	go func() { done <- clockwait.Sleep(context.Background(), c, time.Minute) }()
	for !c.HasWaiters() {
		time.Sleep(time.Millisecond) // polling the fake, not synchronizing on real time
	}
	c.Step(59 * time.Second)
	select {
	case err := <-done:
		t.Fatalf("returned %v before the minute passed", err)
	default:
	}
	c.Step(time.Second)
	if err := <-done; err != nil {
		t.Fatalf("Sleep = %v, want nil", err)
	}
	if c.HasWaiters() {
		t.Fatal("the timer was not stopped")
	}
}

func TestSleepEndsWithTheContext(t *testing.T) {
	c := clocktesting.NewFakeClock(epoch)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- clockwait.Sleep(ctx, c, time.Hour) }()
	for !c.HasWaiters() {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Sleep = %v, want context.Canceled", err)
	}
	if c.HasWaiters() {
		t.Fatal("the timer was not stopped")
	}
}

func TestSleepWithoutWaiting(t *testing.T) {
	done, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		name string
		ctx  context.Context
		d    time.Duration
		want error
	}{
		{"zero", context.Background(), 0, nil},
		{"negative", context.Background(), -time.Second, nil},
		{"context done", done, time.Second, context.Canceled},
		{"context done, zero", done, 0, context.Canceled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := clocktesting.NewFakeClock(epoch)
			if err := clockwait.Sleep(tc.ctx, c, tc.d); !errors.Is(err, tc.want) {
				t.Fatalf("Sleep = %v, want %v", err, tc.want)
			}
			if c.HasWaiters() {
				t.Fatal("a timer was left behind")
			}
		})
	}
}

func TestScaled(t *testing.T) {
	pc := clocktesting.NewFakePassiveClock(epoch)
	var c clock.Clock = clockwait.Scaled(pc, 1e6)
	if !c.Now().Equal(epoch) || c.Since(epoch.Add(-time.Hour)) != time.Hour {
		t.Fatal("Now and Since must come from the wrapped clock")
	}
	// An hour at a million times real time is 3.6 ms of real time.
	start := time.Now()
	if err := clockwait.Sleep(context.Background(), c, time.Hour); err != nil {
		t.Fatal(err)
	}
	<-c.After(time.Hour)
	tm := c.NewTimer(1000 * time.Hour)
	if !tm.Stop() {
		t.Fatal("Stop of a pending timer must report true")
	}
	tm.Reset(time.Hour)
	<-tm.C()
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("three virtual hours took %v of real time", took)
	}
}
