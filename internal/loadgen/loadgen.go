// Package loadgen runs a fixed number of calls from concurrent clients and
// reports their rate and latency on a given clock — the lab's virtual one
// when the work waits on simulated devices. Benchmarks share it so that
// their figures are measured the same way.
package loadgen

import (
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/utils/clock"
)

// Result is what Run measured.
type Result struct {
	PerSecond float64
	P50, P99  time.Duration
}

// Run makes calls calls of call(i), i in [0, calls), from clients
// goroutines, measuring on clk, and returns the rate and latency percentiles. It stops at the
// first error and returns it.
func Run(clk clock.PassiveClock, calls, clients int, call func(i int) error) (Result, error) {
	if calls <= 0 || clients <= 0 {
		return Result{}, errors.New("loadgen: calls and clients must be positive")
	}
	lats := make([]time.Duration, calls)
	var next atomic.Int64
	var failed atomic.Value
	var wg sync.WaitGroup
	start := clk.Now()
	for range clients {
		wg.Go(func() {
			for failed.Load() == nil {
				i := int(next.Add(1)) - 1
				if i >= calls {
					return
				}
				t0 := clk.Now()
				if err := call(i); err != nil {
					failed.CompareAndSwap(nil, err)
					return
				}
				lats[i] = clk.Now().Sub(t0)
			}
		})
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		return Result{}, err
	}
	total := clk.Now().Sub(start)
	slices.Sort(lats)
	return Result{PerSecond: float64(calls) / total.Seconds(), P50: lats[calls/2], P99: lats[calls*99/100]}, nil
}
