package qdepth

import (
	"reflect"
	"testing"
	"time"
)

func TestStaticWindowsCapOutstandingAndSplitEvenly(t *testing.T) {
	for _, depth := range []int{32, 64} {
		cfg := twoHosts(DiskProfile(), 2, 1, 128)
		cfg.Period = 500 * time.Millisecond
		cfg.Duration = 3 * time.Second
		cfg.InitialWindow = 1
		cfg.Controller = Static{Depth: depth}
		r := mustRun(t, cfg)
		last := r.Periods[len(r.Periods)-1]
		for _, o := range last.Obs {
			if o.Window != depth || o.InFlight != depth || o.Waiting != 128-depth {
				t.Fatalf("depth %d: %+v", depth, o)
			}
		}
		// Static ignores shares: equal windows give equal throughput.
		a, b := r.IOPS(0, 2, len(r.Periods)), r.IOPS(1, 2, len(r.Periods))
		if ratio := a / b; ratio < 0.9 || ratio > 1.1 {
			t.Fatalf("depth %d: throughput %.0f vs %.0f, want even", depth, a, b)
		}
		// Latency grows with the total outstanding: Little's law, L = N/X.
		s := Summarize(r.Latencies(-1, 2, len(r.Periods)))
		devLat := last.Obs[0].MeanLatency.Seconds()
		want := float64(2*depth) / r.TotalIOPS(2, len(r.Periods))
		if devLat < want*0.8 || devLat > want*1.2 {
			t.Fatalf("depth %d: device latency %.4fs, Little's law says %.4fs", depth, devLat, want)
		}
		t.Logf("depth %d: %.0f+%.0f IOPS, VM mean %v p99 %v, device %.1f ms", depth, a, b, s.Mean, s.P99, devLat*1e3)
	}
}

func TestESXiAdaptiveHalvesOnQueueFullAndRecovers(t *testing.T) {
	e := &ESXiAdaptive{QFullSampleSize: 8, QFullThreshold: 4, Max: 64}
	k := Key{0, 0}
	w := e.Control(Period{Obs: []Observation{{Key: k, Window: 64, QFull: 17, Completions: 100}}})
	if w[k] != 16 {
		t.Fatalf("17 QFULL at sample size 8 from 64: %d, want 16", w[k])
	}
	w = e.Control(Period{Obs: []Observation{{Key: k, Window: 16, Completions: 10}}})
	if w[k] != 18 {
		t.Fatalf("10 good at threshold 4 from 16: %d, want 18", w[k])
	}
	w = e.Control(Period{Obs: []Observation{{Key: k, Window: 18, Completions: 2}}})
	if w[k] != 19 { // 2 left over + 2
		t.Fatalf("carry of good completions: %d, want 19", w[k])
	}
	w = e.Control(Period{Obs: []Observation{{Key: k, Window: 63, Completions: 1000}}})
	if w[k] != 64 {
		t.Fatalf("clamp at Max: %d", w[k])
	}
}

func TestESXiAdaptiveInTheSimulatorCutsQueueFull(t *testing.T) {
	cfg := twoHosts(DiskProfile(), 1, 1, 64)
	cfg.Ports[0].QueueLimit = 48
	// ESXi adapts per command; a short period approximates it (at 100 ms
	// the halvings of a whole period pile up and the depth collapses to 1).
	cfg.Period = 10 * time.Millisecond
	cfg.Duration = 4 * time.Second
	cfg.InitialWindow = 64
	cfg.Controller = Static{Depth: 64}
	static := mustRun(t, cfg)
	cfg.Controller = &ESXiAdaptive{QFullSampleSize: 32, QFullThreshold: 4, Max: 64}
	adaptive := mustRun(t, cfg)
	n := len(static.Periods)
	qs, qa := static.QFull(n/2, n), adaptive.QFull(n/2, n)
	t.Logf("QFULL in the second half: static %d, adaptive %d; IOPS %.0f vs %.0f", qs, qa, static.TotalIOPS(n/2, n), adaptive.TotalIOPS(n/2, n))
	if qa >= qs/2 {
		t.Fatalf("adaptive %d QUEUE FULL vs static %d: want far fewer", qa, qs)
	}
	if adaptive.TotalIOPS(n/2, n) < DiskProfile().IOPS()*0.85 {
		t.Fatalf("adaptive lost throughput: %.0f", adaptive.TotalIOPS(n/2, n))
	}
}

func TestPARDASharesTwoToOneOnACongestedBackEnd(t *testing.T) {
	cfg := twoHosts(DiskProfile(), 2, 1, 128)
	threshold := 30 * time.Millisecond
	c := NewPARDA(threshold, 4)
	cfg.Controller = c
	cfg.Duration = 120 * time.Second // 60 periods of 2 s; PARDA needs ~30 from equal windows
	r := mustRun(t, cfg)
	n := len(r.Periods)
	from := n / 2
	a, b := r.IOPS(0, from, n), r.IOPS(1, from, n)
	wa, _ := c.Window(Key{0, 0})
	wb, _ := c.Window(Key{1, 0})
	dev := r.Periods[n-1].Obs[0].MeanLatency
	t.Logf("IOPS %.0f : %.0f = %.2f, windows %.1f : %.1f, device latency %v", a, b, a/b, wa, wb, dev)
	if ratio := a / b; ratio < 1.85 || ratio > 2.15 {
		t.Fatalf("throughput ratio %.2f, want ≈ 2", ratio)
	}
	if total := a + b; total < DiskProfile().IOPS()*0.93 {
		t.Fatalf("total %.0f IOPS, want near %.0f", total, DiskProfile().IOPS())
	}
	// Equilibrium latency 𝓛 + Σβ/C: 30 ms + 12/3300 s ≈ 33.6 ms.
	want := threshold.Seconds() + 12/DiskProfile().IOPS()
	if got := dev.Seconds(); got < want*0.85 || got > want*1.15 {
		t.Fatalf("device latency %v, want ≈ %.1f ms", dev, want*1e3)
	}
}

func TestPARDARunIsDeterministic(t *testing.T) {
	run := func() Result {
		cfg := twoHosts(DiskProfile(), 2, 1, 64)
		cfg.Ports[0].QueueLimit = 100
		cfg.Period = 250 * time.Millisecond
		cfg.Duration = 3 * time.Second
		cfg.Controller = NewPARDA(30*time.Millisecond, 4)
		r := mustRun(t, cfg)
		r.Config.Controller = nil
		return r
	}
	if !reflect.DeepEqual(run(), run()) {
		t.Fatal("two PARDA runs with the same seed differ")
	}
}

func TestPARDAStep(t *testing.T) {
	c := &PARDA{Threshold: 30 * time.Millisecond, Alpha: 0.5, Gamma: 1, BetaPerShare: 1}
	k := Key{0, 0}
	// First sample seeds L; latency at twice the threshold halves w, plus β.
	w := c.Control(Period{Obs: []Observation{{Key: k, Window: 32, Shares: 2, Completions: 1, MeanLatency: 60 * time.Millisecond}}})
	if w[k] != 18 {
		t.Fatalf("got %d, want 32·½ + 2 = 18", w[k])
	}
	// EWMA: L = ½·15 + ½·60 = 37.5 ms; w = 18·30/37.5 + 2 = 16.4.
	c.Control(Period{Obs: []Observation{{Key: k, Window: 18, Shares: 2, Completions: 1, MeanLatency: 15 * time.Millisecond}}})
	if got, _ := c.Window(k); got < 16.39 || got > 16.41 {
		t.Fatalf("got %.3f, want 16.4", got)
	}
	// No completions: the estimate stays and the window still moves by β.
	c.Control(Period{Obs: []Observation{{Key: k, Window: 16, Shares: 2}}})
	if got, _ := c.Window(k); got < 15.11 || got > 15.13 {
		t.Fatalf("got %.3f, want 16.4·0.8 + 2 = 15.12", got)
	}
}

func TestLinuxRampStepsDownOnQueueFullAndUpWhenQuiet(t *testing.T) {
	l := &LinuxRamp{}
	k := Key{0, 0}
	step := func(window, qfull int, d time.Duration) int {
		return l.Control(Period{Start: 0, End: d, Obs: []Observation{{Key: k, Window: window, QFull: qfull, Completions: 100}}})[k]
	}
	if got := step(64, 10, time.Second); got != 64 {
		t.Fatalf("10 QUEUE FULL: %d, want 64 (more than 10 needed)", got)
	}
	if got := step(64, 1, time.Second); got != 63 {
		t.Fatalf("11th QUEUE FULL: %d, want 63", got)
	}
	if got := step(63, 0, 119*time.Second); got != 63 {
		t.Fatalf("119 s quiet: %d", got)
	}
	if got := step(63, 0, time.Second); got != 64 {
		t.Fatalf("120 s quiet: %d, want 64", got)
	}
	if got := step(64, 0, 200*time.Second); got != 64 {
		t.Fatalf("clamp at Max: %d", got)
	}
	if got := step(64, 3, time.Second); got != 64 || l.state[k].quiet != 0 {
		t.Fatalf("a QUEUE FULL restarts the quiet time: %d, %v", got, l.state[k].quiet)
	}
}

func TestLinuxRampInTheSimulatorSettlesUnderThePortLimit(t *testing.T) {
	cfg := twoHosts(DiskProfile(), 1, 1, 64)
	cfg.Ports[0].QueueLimit = 96
	cfg.Period = time.Second
	cfg.Duration = 8 * time.Second
	cfg.InitialWindow = 64
	cfg.Controller = &LinuxRamp{Every: 10 * time.Millisecond}
	r := mustRun(t, cfg)
	n := len(r.Periods)
	last := r.Periods[n-1]
	sum := last.Obs[0].Window + last.Obs[1].Window
	t.Logf("QFULL first period %d, last %d; windows %d+%d", r.QFull(0, 1), r.QFull(n-1, n), last.Obs[0].Window, last.Obs[1].Window)
	if r.QFull(n-1, n) > r.QFull(0, 1)/10 || sum > 96+2 {
		t.Fatalf("windows %d, QFULL %d then %d: want the sum near the port's 96 and far fewer", sum, r.QFull(0, 1), r.QFull(n-1, n))
	}
}
