package loadgen

import (
	"errors"
	"testing"
	"time"
)

// stepClock advances by one millisecond per reading, so results are exact.
type stepClock struct{ t time.Time }

func (c *stepClock) Now() time.Time { c.t = c.t.Add(time.Millisecond); return c.t }

func TestRunCountsEveryCallOnce(t *testing.T) {
	seen := make([]int32, 100)
	r, err := Run(realClock{}, 100, 7, func(i int) error { seen[i]++; return nil })
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
	clk := &stepClock{}
	r, err := Run(clk, 10, 1, func(int) error { return nil })
	// One client: each call reads the clock twice, 1 ms apart.
	if err != nil || r.P50 != time.Millisecond || r.P99 != time.Millisecond {
		t.Fatalf("%+v, %v", r, err)
	}
}

func TestRunStopsAtAnError(t *testing.T) {
	boom := errors.New("boom")
	if _, err := Run(realClock{}, 50, 4, func(i int) error {
		if i == 3 {
			return boom
		}
		return nil
	}); !errors.Is(err, boom) {
		t.Fatalf("err %v", err)
	}
	if _, err := Run(realClock{}, 0, 1, nil); err == nil {
		t.Fatal("zero calls accepted")
	}
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }
