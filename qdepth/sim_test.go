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

// countingPolicy records what it is shown and sets every queue to depth.
type countingPolicy struct {
	depth int
	tick  time.Duration
	calls []Period
	paths map[Key][]int
}

func (c *countingPolicy) Control(p Period) map[Key]int {
	c.calls = append(c.calls, p)
	w := map[Key]int{}
	for _, o := range p.Obs {
		w[o.Key] = c.depth
	}
	return w
}
func (c *countingPolicy) Tick() time.Duration  { return c.tick }
func (c *countingPolicy) Paths() map[Key][]int { return c.paths }

func TestScriptedEvents(t *testing.T) {
	cfg := twoHosts(DiskProfile(), 1000, 1000, 32)
	cfg.Period = time.Second
	cfg.Duration = 10 * time.Second
	cfg.Hosts = append(cfg.Hosts, Host{Name: "h2", FixedWindow: 5, VMs: []VM{{Name: "x", Outstanding: 40, Absent: true}}})
	cfg.Hosts[0].VMs = append(cfg.Hosts[0].VMs, VM{Name: "in", Outstanding: 8, Shares: 500, Absent: true})
	cfg.Events = []Event{
		{At: 2500 * time.Millisecond, Kind: SetOutstanding, Host: 1, VM: 0, Outstanding: 0},  // b idles
		{At: 4500 * time.Millisecond, Kind: SetOutstanding, Host: 1, VM: 0, Outstanding: 32}, // and returns
		{At: 5500 * time.Millisecond, Kind: Arrive, Host: 2, VM: 0},                          // an uncontrolled host joins
		{At: 6500 * time.Millisecond, Kind: Arrive, Host: 0, VM: 1},                          // a VM migrates in
		{At: 8500 * time.Millisecond, Kind: Leave, Host: 1, VM: 0},                           // b stops
	}
	pol := &countingPolicy{depth: 64}
	cfg.Controller = pol
	r := mustRun(t, cfg)
	vmDone := func(p, h, v int) int {
		for _, s := range r.Periods[p].VMs {
			if s.Host == h && s.VM == v {
				return s.Completions
			}
		}
		t.Fatalf("period %d: no vm %d/%d", p, h, v)
		return 0
	}
	if vmDone(1, 1, 0) == 0 || vmDone(3, 1, 0) != 0 || vmDone(4, 1, 0) == 0 {
		t.Fatalf("idle and return: b completed %d, %d, %d in periods 1, 3, 4", vmDone(1, 1, 0), vmDone(3, 1, 0), vmDone(4, 1, 0))
	}
	if vmDone(9, 1, 0) != 0 {
		t.Fatal("b completed I/O after it left")
	}
	if vmDone(4, 2, 0) != 0 || vmDone(6, 2, 0) == 0 {
		t.Fatal("the uncontrolled host did not join at 5.5 s")
	}
	if vmDone(5, 0, 1) != 0 || vmDone(7, 0, 1) == 0 {
		t.Fatal("the VM did not migrate in at 6.5 s")
	}
	for _, p := range r.Periods {
		for _, o := range p.Obs {
			if o.Host == 2 {
				t.Fatalf("period %d: the uncontrolled host was observed: %+v", p.Index, o)
			}
			if o.Host == 1 && p.Index >= 8 {
				t.Fatalf("period %d: a queue with no VM left was observed", p.Index)
			}
			if o.Host == 0 {
				want := 1000.0
				if p.Index >= 6 {
					want = 1500 // the migrated VM's shares follow it
				}
				if o.Shares != want {
					t.Fatalf("period %d: host 0 shares %.0f, want %.0f", p.Index, o.Shares, want)
				}
			}
		}
	}
	// Device latency is part of the VM-observed latency; with 40
	// outstanding behind a window of 5 the uncontrolled VM waits at its host.
	dev, vm := Summarize(r.DeviceLatencies(2, 6, 10)), Summarize(r.Latencies(2, 6, 10))
	if dev.N != vm.N || dev.Mean*3 > vm.Mean {
		t.Fatalf("uncontrolled host: device %+v, VM-observed %+v", dev, vm)
	}
	if len(pol.calls) != 10 {
		t.Fatalf("%d control calls, want one a period", len(pol.calls))
	}
}

func TestTickerIsCalledWithinPeriods(t *testing.T) {
	cfg := twoHosts(DiskProfile(), 1, 1, 16)
	cfg.Period = time.Second
	cfg.Duration = 3 * time.Second
	pol := &countingPolicy{depth: 8, tick: 250 * time.Millisecond}
	cfg.Controller = pol
	r := mustRun(t, cfg)
	if len(pol.calls) != 12 {
		t.Fatalf("%d calls, want 4 a period", len(pol.calls))
	}
	var byTicks, byPeriods int
	for _, c := range pol.calls {
		if c.End-c.Start != 250*time.Millisecond {
			t.Fatalf("call over [%v, %v)", c.Start, c.End)
		}
		for _, o := range c.Obs {
			byTicks += o.Completions
		}
	}
	for _, p := range r.Periods {
		for _, o := range p.Obs {
			byPeriods += o.Completions
		}
	}
	if byTicks != byPeriods {
		t.Fatalf("ticks saw %d completions, periods %d", byTicks, byPeriods)
	}
}

func TestRouterPicksPaths(t *testing.T) {
	cfg := twoHosts(DiskProfile(), 1, 1, 16)
	cfg.Ports = []Port{{Name: "a"}, {Name: "b"}, {Name: "c"}}
	cfg.LUNs[0].Ports = []int{0, 1}
	cfg.Period = time.Second
	cfg.Duration = 3 * time.Second
	pol := &countingPolicy{depth: 16, paths: map[Key][]int{{0, 0}: {1}, {1, 0}: {2}}} // 2 is not the LUN's
	cfg.Controller = pol
	r := mustRun(t, cfg)
	first, last := r.Periods[0].Obs, r.Periods[2].Obs
	if first[0].PortCompletions[0] == 0 || first[0].PortCompletions[1] == 0 {
		t.Fatalf("before routing, round robin over both ports: %v", first[0].PortCompletions)
	}
	if last[0].PortCompletions[0] != 0 || last[0].PortCompletions[1] == 0 {
		t.Fatalf("host 0 routed to port 1: %v", last[0].PortCompletions)
	}
	if last[1].PortCompletions[0] == 0 || last[1].PortCompletions[1] == 0 {
		t.Fatalf("host 1's invalid path ignored: %v", last[1].PortCompletions)
	}
}
