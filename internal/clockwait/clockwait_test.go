package clockwait_test

import (
	"context"
	"errors"
	"testing"
	"time"

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
