package loadgen

import (
	"errors"
	"testing"
	"time"

	"k8s.io/utils/clock"
	clocktesting "k8s.io/utils/clock/testing"
)

func TestRunCountsEveryCallOnce(t *testing.T) {
	seen := make([]int32, 100)
	r, err := Run(clock.RealClock{}, 100, 7, func(i int) error { seen[i]++; return nil })
	if err != nil || r.PerSecond <= 0 || r.P99 < r.P50 {
		t.Fatalf("%+v, %v", r, err)
	}
	for i, n := range seen {
		if n != 1 {
			t.Fatalf("call %d made %d times", i, n)
		}
	}
}

func TestRunLatencyOnItsClock(t *testing.T) {
	// The clock advances by one millisecond per reading, so results are exact.
	clk := &clocktesting.SimpleIntervalClock{Duration: time.Millisecond}
	r, err := Run(clk, 10, 1, func(int) error { return nil })
	// One client: each call reads the clock twice, 1 ms apart.
	if err != nil || r.P50 != time.Millisecond || r.P99 != time.Millisecond {
		t.Fatalf("%+v, %v", r, err)
	}
}

func TestRunStopsAtAnError(t *testing.T) {
	boom := errors.New("boom")
	if _, err := Run(clock.RealClock{}, 50, 4, func(i int) error {
		if i == 3 {
			return boom
		}
		return nil
	}); !errors.Is(err, boom) {
		t.Fatalf("err %v", err)
	}
	if _, err := Run(clock.RealClock{}, 0, 1, nil); err == nil {
		t.Fatal("zero calls accepted")
	}
}
