package qdepth

import (
	"reflect"
	"testing"
	"time"
)

// oneHost is one host with one VM keeping outstanding I/Os on one LUN
// behind an unlimited port.
func oneHost(p Profile, outstanding int, d time.Duration) Config {
	return Config{
		Seed:     1,
		Backend:  p,
		Ports:    []Port{{Name: "p0"}},
		LUNs:     []LUN{{Name: "lun0"}},
		Hosts:    []Host{{Name: "h0", VMs: []VM{{Name: "vm0", Outstanding: outstanding, Shares: 1}}}},
		Period:   100 * time.Millisecond,
		Duration: d,
		// Window wider than any outstanding count here, so the VM sets the load.
		InitialWindow: 1024,
	}
}

func mustRun(t *testing.T, cfg Config) Result {
	t.Helper()
	r, err := Run(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRunIsDeterministicForASeed(t *testing.T) {
	cfg := twoHosts(DiskProfile(), 2, 1, 64)
	cfg.Duration = 2 * time.Second
	cfg.Period = 250 * time.Millisecond
	cfg.Ports[0].QueueLimit = 48
	a := mustRun(t, cfg)
	b := mustRun(t, cfg)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("two runs with the same seed differ")
	}
	if a.QFull(0, len(a.Periods)) == 0 {
		t.Fatal("scenario should exercise QUEUE FULL")
	}
	cfg.Seed = 2
	c := mustRun(t, cfg)
	if reflect.DeepEqual(Summarize(a.Latencies(-1, 0, 8)), Summarize(c.Latencies(-1, 0, 8))) {
		t.Fatal("another seed gave the same latencies")
	}
}

func TestMoreOutstandingRaisesLatencyAndThroughputSaturates(t *testing.T) {
	for _, p := range []Profile{DiskProfile(), FlashProfile()} {
		t.Run(p.Name, func(t *testing.T) {
			d := 2 * time.Second
			if p.Name == "flash" {
				d = 400 * time.Millisecond
			}
			var prevIOPS float64
			var prevMean time.Duration
			for _, n := range []int{1, 4, 16, 64, 256} {
				r := mustRun(t, oneHost(p, n, d))
				iops := r.TotalIOPS(1, len(r.Periods)) // skip the first period's ramp
				s := Summarize(r.Latencies(-1, 1, len(r.Periods)))
				t.Logf("%s outstanding %3d: %8.0f IOPS, mean %v p99 %v", p.Name, n, iops, s.Mean, s.P99)
				// The back end serves Servers commands at once: latency is
				// flat up to there, then grows with the queue (Little's law).
				if s.Mean < prevMean*95/100 {
					t.Errorf("outstanding %d: mean latency fell from %v to %v", n, prevMean, s.Mean)
				}
				if n > p.Servers {
					want := time.Duration(float64(n) / p.IOPS() * float64(time.Second))
					if s.Mean < want*85/100 || s.Mean > want*115/100 {
						t.Errorf("outstanding %d past saturation: mean %v, want ≈ N/X = %v", n, s.Mean, want)
					}
				}
				if iops < prevIOPS*0.97 {
					t.Errorf("outstanding %d: throughput fell from %.0f to %.0f", n, prevIOPS, iops)
				}
				if iops > p.IOPS()*1.05 {
					t.Errorf("outstanding %d: %.0f IOPS above the back end's %.0f", n, iops, p.IOPS())
				}
				if n >= 64 && iops < p.IOPS()*0.93 {
					t.Errorf("outstanding %d: %.0f IOPS, want near the back end's %.0f", n, iops, p.IOPS())
				}
				if n == 1 {
					// No queueing: one command at a time at the mean service time.
					want := p.Mean.Seconds()
					if got := s.Mean.Seconds(); got < want*0.85 || got > want*1.15 {
						t.Errorf("outstanding 1: mean %v, want ≈ %v", s.Mean, p.Mean)
					}
				}
				prevIOPS, prevMean = iops, s.Mean
			}
		})
	}
}

func TestPortQueueLimitAnswersQueueFull(t *testing.T) {
	cfg := oneHost(DiskProfile(), 64, time.Second)
	cfg.Ports[0].QueueLimit = 16
	r := mustRun(t, cfg)
	if r.QFull(0, len(r.Periods)) == 0 {
		t.Fatal("64 outstanding on a port of 16: no QUEUE FULL")
	}
	var obsQFull int
	for _, p := range r.Periods {
		for _, o := range p.Obs {
			obsQFull += o.QFull
			if o.InFlight > 64 {
				t.Fatalf("period %d: %d in flight", p.Index, o.InFlight)
			}
		}
	}
	if obsQFull != r.QFull(0, len(r.Periods)) {
		t.Fatalf("host saw %d QUEUE FULL, port sent %d", obsQFull, r.QFull(0, len(r.Periods)))
	}
	// Refused commands are retried, so throughput holds.
	if iops := r.TotalIOPS(1, len(r.Periods)); iops < DiskProfile().IOPS()*0.9 {
		t.Fatalf("%.0f IOPS under QUEUE FULL, want near %.0f", iops, DiskProfile().IOPS())
	}

	// At or under the limit: none.
	cfg.Ports[0].QueueLimit = 64
	if r := mustRun(t, cfg); r.QFull(0, len(r.Periods)) != 0 {
		t.Fatalf("64 outstanding on a port of 64: %d QUEUE FULL", r.QFull(0, len(r.Periods)))
	}
}

func TestConfigValidate(t *testing.T) {
	good := oneHost(DiskProfile(), 1, time.Second)
	for name, mutate := range map[string]func(*Config){
		"no servers":   func(c *Config) { c.Backend.Servers = 0 },
		"no period":    func(c *Config) { c.Period = 0 },
		"short run":    func(c *Config) { c.Duration = c.Period / 2 },
		"unknown lun":  func(c *Config) { c.Hosts[0].VMs[0].LUN = 3 },
		"unknown port": func(c *Config) { c.LUNs[0].Port = 1 },
		"neg shares":   func(c *Config) { c.Hosts[0].VMs[0].Shares = -1 },
		"neg limit":    func(c *Config) { c.Ports[0].QueueLimit = -1 },
		"min fraction": func(c *Config) { c.Backend.MinFraction = 1 },
	} {
		c := good
		c.Hosts = []Host{{Name: "h0", VMs: append([]VM(nil), good.Hosts[0].VMs...)}}
		c.LUNs = append([]LUN(nil), good.LUNs...)
		c.Ports = append([]Port(nil), good.Ports...)
		mutate(&c)
		if _, err := Run(c); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestSummarize(t *testing.T) {
	var s []time.Duration
	for i := 1000; i >= 1; i-- {
		s = append(s, time.Duration(i)*time.Millisecond)
	}
	got := Summarize(s)
	want := LatencySummary{N: 1000, Mean: 500500 * time.Microsecond, P99: 990 * time.Millisecond, P999: 999 * time.Millisecond, Max: time.Second}
	if got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	if (Summarize(nil) != LatencySummary{}) {
		t.Fatal("empty sample")
	}
}

// twoHosts is two hosts, each with one VM of the given shares keeping
// outstanding I/Os to one shared LUN on one port.
func twoHosts(p Profile, shares0, shares1 float64, outstanding int) Config {
	return Config{
		Seed:    7,
		Backend: p,
		Ports:   []Port{{Name: "p0"}},
		LUNs:    []LUN{{Name: "lun0"}},
		Hosts: []Host{
			{Name: "h0", VMs: []VM{{Name: "a", Outstanding: outstanding, Shares: shares0}}},
			{Name: "h1", VMs: []VM{{Name: "b", Outstanding: outstanding, Shares: shares1}}},
		},
		Period:   2 * time.Second,
		Duration: 60 * time.Second,
	}
}
