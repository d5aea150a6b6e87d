package qdepth

import (
	"testing"
	"time"
)

func TestControllerSharesTwoToOneAtTheThreshold(t *testing.T) {
	cfg := twoHosts(DiskProfile(), 2000, 1000, 128)
	a := &Adapt{Threshold: 30 * time.Millisecond, Config: cfg}
	cfg.Controller = a
	r := mustRun(t, cfg)
	n := len(r.Periods)
	x0, x1 := r.IOPS(0, n/2, n), r.IOPS(1, n/2, n)
	var lat time.Duration
	last := r.Periods[n-1]
	for _, o := range last.Obs {
		lat += o.MeanLatency / 2
		t.Logf("%+v", o)
	}
	t.Logf("IOPS %.0f : %.0f = %.3f, total %.0f of %.0f, device latency %v", x0, x1, x0/x1, x0+x1, DiskProfile().IOPS(), lat)
	if r := x0 / x1; r < 1.94 || r > 2.06 {
		t.Fatalf("share ratio %.3f, want 2 ± 3 %%", r)
	}
}

func TestCongestedLUNGetsLessThanACalmOne(t *testing.T) {
	c := Controller{}
	in := Input{Queues: []Queue{
		{Host: "h", Volume: "hot", Pool: "p1", Threshold: 30 * time.Millisecond, Ports: []string{"a"},
			Sample: &Sample{IOPS: 2000, Latency: 90 * time.Millisecond, Outstanding: 180}},
		{Host: "h", Volume: "calm", Pool: "p2", Threshold: 30 * time.Millisecond, Ports: []string{"a"},
			Sample: &Sample{IOPS: 500, Latency: 4 * time.Millisecond, Outstanding: 2}},
	}}
	var st State
	var ds []Decision
	for range 3 {
		st, ds = c.Step(st, in)
	}
	if ds[0].Volume != "calm" || ds[1].Volume != "hot" {
		t.Fatalf("order: %+v", ds)
	}
	if ds[1].QueueDepth >= ds[0].QueueDepth || !ds[1].Congested || ds[0].Congested {
		t.Fatalf("hot %+v, calm %+v", ds[1], ds[0])
	}
}
