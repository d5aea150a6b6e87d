package qdepth

import (
	"fmt"
	"math"
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

// goals checks issue 12's goals for sanmob's controller on sc: throughput
// ≥ 99 % of the reference (refIOPS), the settled mean device latency of
// every segment within 5 % of 𝓛, p99 under p99Bound·𝓛, share-ratio error
// ≤ 3 %, reconvergence ≤ 10 periods after every event.
func goals(t *testing.T, sc scenario, refIOPS, p99Bound float64) {
	t.Helper()
	cases := policies()
	r, err := runCase(sc, cases[len(cases)-1])
	if err != nil {
		t.Fatal(err)
	}
	m := measure(sc, r)
	th := sc.media.threshold
	t.Logf("%s, %s: IOPS %.0f vs %.0f reference; device mean %v (settled %v) p99 %v p99.9 %v; share error %.4f, Jain %.5f; reconvergence %v",
		sc.name, sc.media.profile.Name, m.iops, refIOPS, m.dev.Mean, m.settledMeanDev, m.dev.P99, m.dev.P999, m.shareErr, m.jain, m.reconverge)
	if m.iops < 0.99*refIOPS {
		t.Errorf("throughput %.0f < 99 %% of the reference %.0f", m.iops, refIOPS)
	}
	for i, s := range m.settledSegmentMeans {
		if math.Abs(s.Seconds()/th.Seconds()-1) > 0.05 {
			t.Errorf("segment %d: settled mean device latency %v, want %v ± 5 %%", i, s, th)
		}
	}
	if m.dev.P99.Seconds() > p99Bound*th.Seconds() {
		t.Errorf("p99 %v > %.2f × %v", m.dev.P99, p99Bound, th)
	}
	if m.shareErr > 0.03 {
		t.Errorf("share-ratio error %.4f > 3 %% (by segment %.4f)", m.shareErr, m.segmentShareErrs)
	}
	for i, k := range m.reconverge {
		if k < 0 || k > 10 {
			t.Errorf("after %s: reconvergence %d periods, want ≤ 10 (-1: not within the segment)", sc.events[i].Name, k)
		}
	}
}

// uncontrolledIOPS runs the uncontrolled reference on sc.
func uncontrolledIOPS(t *testing.T, sc scenario) float64 {
	r, err := runCase(sc, policies()[0])
	if err != nil {
		t.Fatal(err)
	}
	return r.TotalIOPS(0, len(r.Periods))
}

// diskP99 is the p99 bound the disk runs are held to: 1.6 × 𝓛, not the
// goal's 1.5. On the disk profile the service time alone has a p99 of
// 0.1·4.85 ms + 4.36 ms·ln 100 ≈ 20.6 ms, 15.8 ms above its mean, so a
// mean device latency at 𝓛 = 30 ms has a p99 of at least ≈ 46 ms (1.53 ×)
// whatever the windows; a transient after an event adds to it.
const diskP99 = 1.6

// diskEventsP99 is the bound for the disk run with events: the period in
// which the uncontrolled host joins runs at ≈ 48 ms before any controller
// can act (it acts at the period's end), and that period alone is 1/270 of
// the run's samples, enough to lift the p99 of the whole run.
const diskEventsP99 = 1.7

func TestControllerGoalsTwoHostsDisk(t *testing.T) {
	sc := twoToOne(diskMedia(), 30)
	goals(t, sc, uncontrolledIOPS(t, sc), diskP99)
}

func TestControllerGoalsTwoHostsFlash(t *testing.T) {
	sc := twoToOne(flashMedia(), 12)
	goals(t, sc, uncontrolledIOPS(t, sc), 1.5)
}

// The six-host run's reference is the back end's nominal capacity rather
// than an uncontrolled run, whose QUEUE FULL storm (768 commands on a port
// of 256, each refused one retried every millisecond) would take most of
// the package's test time; BenchmarkQueueDepthComparison runs the real
// one, and it saturates the back end (within 0.3 % of nominal).
//
// The control period is 1 s here (2 s in the benchmark) so that 30-period
// segments fit the package's test time: the shares are averaged over each
// segment's second half, and the dither of a window of a few commands
// needs a dozen periods or more to average out.
func TestControllerGoalsSixHostsAndEventsDisk(t *testing.T) {
	m := diskMedia()
	m.period = time.Second
	sc := sixHosts(m, 30)
	goals(t, sc, DiskProfile().IOPS(), diskEventsP99)
}

func TestThresholds(t *testing.T) {
	if DefaultThreshold("flash") != FlashThreshold || DefaultThreshold("disk") != DiskThreshold || DefaultThreshold("") != DiskThreshold {
		t.Fatal("DefaultThreshold")
	}
	if DiskThreshold != 30*time.Millisecond {
		t.Fatal("DiskThreshold is SIOC's 30 ms")
	}
}

// pool is n queues of one pool behind port "a", each with the same sample.
func pool(n int, th time.Duration, s Sample) Input {
	var in Input
	for i := range n {
		smp := s
		in.Queues = append(in.Queues, Queue{Host: fmt.Sprintf("h%d", i), Volume: "v", Pool: "p", Threshold: th,
			Ports: []string{"a"}, Shares: 1000, Sample: &smp})
	}
	return in
}

func TestStepCongestedQueueNeverGrows(t *testing.T) {
	c := Controller{}
	var st State
	// Seed windows at 10, then report latency over the threshold with the
	// VMs filling them: no window may grow, and the cut is at least 𝓛/L.
	in := pool(3, 30*time.Millisecond, Sample{IOPS: 1000, Latency: 30 * time.Millisecond, Outstanding: 100})
	for range 5 {
		st, _ = c.Step(st, in)
	}
	for _, lat := range []time.Duration{31, 45, 60, 200} {
		in := pool(3, 30*time.Millisecond, Sample{IOPS: 50, Latency: lat * time.Millisecond, Outstanding: 100})
		prev := st
		var ds []Decision
		st, ds = c.Step(prev, in)
		for _, d := range ds {
			k := QueueKey{d.Host, d.Volume}
			w0, _ := prev.Window(k)
			w1, _ := st.Window(k)
			if bound := w0 * max(30/float64(lat), 0.5); w1 > bound+1e-9 && w1 > 1 {
				t.Fatalf("latency %d ms: window %.2f → %.2f, want ≤ w·max(𝓛/L, ½) = %.2f", lat, w0, w1, bound)
			}
		}
	}
}

func TestStepCalmPoolIsNotSqueezed(t *testing.T) {
	c := Controller{}
	var st State
	// A calm pool measuring little throughput (x·𝓛 small) keeps its windows.
	in := pool(2, 30*time.Millisecond, Sample{IOPS: 10, Latency: 5 * time.Millisecond, Outstanding: 40})
	for range 4 {
		var ds []Decision
		st, ds = c.Step(st, in)
		for _, d := range ds {
			if d.QueueDepth < 32 || d.Congested {
				t.Fatalf("calm pool squeezed: %+v", d)
			}
		}
	}
}

func TestStepQueueFullCutsAndRaisesCongested(t *testing.T) {
	c := Controller{}
	var st State
	var ds []Decision
	in := pool(1, 30*time.Millisecond, Sample{IOPS: 1000, Latency: 10 * time.Millisecond, Outstanding: 64, QFull: 3})
	for i := range 3 {
		prev := st
		st, ds = c.Step(prev, in)
		w0, ok := prev.Window(QueueKey{"h0", "v"})
		if !ok {
			w0 = 32
		}
		w1, _ := st.Window(QueueKey{"h0", "v"})
		if w1 > w0*0.5+1e-9 && w1 > 1 {
			t.Fatalf("step %d: QUEUE FULL: %.2f → %.2f, want halved", i, w0, w1)
		}
		if ds[0].Reason != "queue-full" || ds[0].Congested != (i >= 1) {
			t.Fatalf("step %d: %+v (Congested after 2 hot periods)", i, ds[0])
		}
	}
	// Hysteresis: 2 calm periods keep Congested, the 3rd clears it.
	calm := pool(1, 30*time.Millisecond, Sample{IOPS: 1000, Latency: 10 * time.Millisecond, Outstanding: 64})
	for i := range 3 {
		st, ds = c.Step(st, calm)
		if ds[0].Congested != (i < 2) {
			t.Fatalf("calm step %d: Congested %v", i, ds[0].Congested)
		}
	}
}

func TestStepPortBudget(t *testing.T) {
	c := Controller{Settings: Settings{Default: 64}}
	in := pool(4, 30*time.Millisecond, Sample{IOPS: 100, Latency: 5 * time.Millisecond, Outstanding: 100})
	in.Ports = []PortLimit{{WWPN: "a", QueueLimit: 100}}
	_, ds := c.Step(State{}, in)
	var sum int
	for _, d := range ds {
		sum += d.QueueDepth
		if d.Reason != "port-budget" {
			t.Fatalf("%+v", d)
		}
	}
	if sum > 90+len(ds) { // headroom 0.9, plus rounding
		t.Fatalf("windows add up to %d on a port of 100", sum)
	}
}

func TestStepDitherMeanIsTheWindow(t *testing.T) {
	// Two queues with shares 7:1 on a saturated back end of 2,000 IOPS with
	// 𝓛 5 ms: the pool's total is 10 commands, so the windows are 8.75 and
	// 1.25. The depths are integers; over the steps they must average to
	// the windows, and the throughput ratio to 7.
	c := Controller{}
	const capacity = 2000.0
	th := 5 * time.Millisecond
	in := pool(2, th, Sample{})
	in.Queues[0].Shares, in.Queues[1].Shares = 7000, 1000
	depth := []int{32, 32}
	var st State
	var ds []Decision
	sum, done := [2]float64{}, [2]float64{}
	const warm, n = 20, 40
	for step := range warm + n {
		total := float64(depth[0] + depth[1])
		lat := total / capacity // seconds; Little's law on a saturated back end
		for i := range 2 {
			in.Queues[i].Sample = &Sample{IOPS: float64(depth[i]) / lat, Latency: time.Duration(lat * float64(time.Second)), Outstanding: 100}
			if step >= warm {
				sum[i] += float64(depth[i])
				done[i] += float64(depth[i]) / lat
			}
		}
		st, ds = c.Step(st, in)
		for i, d := range ds {
			depth[i] = d.QueueDepth
		}
	}
	w0, _ := st.Window(QueueKey{"h0", "v"})
	w1, _ := st.Window(QueueKey{"h1", "v"})
	t.Logf("windows %.3f, %.3f; mean depths %.3f, %.3f; throughput ratio %.3f", w0, w1, sum[0]/n, sum[1]/n, done[0]/done[1])
	if math.Abs(w0-8.75) > 0.1 || math.Abs(w1-1.25) > 0.1 {
		t.Fatalf("windows %.3f, %.3f, want 8.75, 1.25", w0, w1)
	}
	if m0, m1 := sum[0]/n, sum[1]/n; math.Abs(m0-8.75) > 0.1 || math.Abs(m1-1.25) > 0.05 {
		t.Fatalf("mean depths %.3f, %.3f, want 8.75, 1.25", m0, m1)
	}
	if r := done[0] / done[1]; math.Abs(r/7-1) > 0.03 {
		t.Fatalf("throughput ratio %.3f, want 7 ± 3 %%", r)
	}
}

func TestStepLearnsCapacityBesideUngovernedLoad(t *testing.T) {
	// Two periods: the pool's own outstanding fell from 99 to 70 and its
	// latency from 49 to 40 ms: C ≈ 29/0.009 = 3,222/s, well above the
	// 1,750/s it completes (the rest is someone else's). Over 𝓛 the next
	// total is N − (L − 𝓛)·C, not x·𝓛.
	ps := learn(poolState{outstanding: 99, latency: 0.049}, 70, 0.040, 1750)
	if ps.capacity < 3200 || ps.capacity > 3250 {
		t.Fatalf("capacity %.0f", ps.capacity)
	}
	// Load changing at the same time can only be skipped or clamped to x.
	if ps := learn(poolState{outstanding: 99, latency: 0.030}, 70, 0.045, 1750); ps.capacity != 0 {
		t.Fatalf("opposite signs learnt %.0f", ps.capacity)
	}
	if ps := learn(poolState{outstanding: 70, latency: 0.030, capacity: 3000}, 99, 0.060, 1750); ps.capacity != 1750 {
		t.Fatalf("a steep rise: capacity %.0f, want clamped to x = 1750", ps.capacity)
	}
}

// noRoute hides Adapt's Paths: every queue stays round robin over all of
// its LUN's ports (ESXi's default Round Robin path policy).
type noRoute struct{ a *Adapt }

func (n noRoute) Control(p Period) map[Key]int { return n.a.Control(p) }

func TestPathBalancingMovesLoadOffASharedPort(t *testing.T) {
	// lun0 is reached only through port a; lun1 through a and b. Round
	// robin puts half of lun1's commands on a, beside all of lun0's; the
	// controller's preferred ports move lun1 to b.
	cfg := Config{Seed: 3, Backend: DiskProfile(), Period: 2 * time.Second, Duration: 40 * time.Second,
		Ports: []Port{{Name: "a", QueueLimit: 64}, {Name: "b", QueueLimit: 64}},
		LUNs:  []LUN{{Name: "lun0", Port: 0}, {Name: "lun1", Ports: []int{0, 1}}},
		Hosts: []Host{
			{Name: "h0", VMs: []VM{{Name: "x", LUN: 0, Outstanding: 128, Shares: 1000}}},
			{Name: "h1", VMs: []VM{{Name: "y", LUN: 1, Outstanding: 128, Shares: 1000}}},
			{Name: "h2", VMs: []VM{{Name: "z", LUN: 1, Outstanding: 128, Shares: 1000}}},
		}}
	run := func(route bool) (qfull int, load [2]int, iops float64, lat time.Duration) {
		a := &Adapt{Threshold: DiskThreshold, Config: cfg}
		c := cfg
		c.Controller = a
		if !route {
			c.Controller = noRoute{a}
		}
		r := mustRun(t, c)
		n := len(r.Periods)
		for _, p := range r.Periods[n/2:] {
			for _, o := range p.Obs {
				for port, k := range o.PortCompletions {
					load[port] += k
				}
			}
		}
		return r.QFull(n/2, n), load, r.TotalIOPS(n/2, n), Summarize(r.DeviceLatencies(-1, n/2, n)).Mean
	}
	q0, l0, x0, m0 := run(false)
	q1, l1, x1, m1 := run(true)
	t.Logf("round robin: %d QUEUE FULL, completions by port %v, %.0f IOPS, %v; preferred ports: %d, %v, %.0f IOPS, %v", q0, l0, x0, m0, q1, l1, x1, m1)
	if float64(l1[0]) > 1.2*float64(l1[1]) || float64(l0[0]) < 1.5*float64(l0[1]) {
		t.Fatalf("port a vs b: round robin %v, preferred ports %v: want a loaded under round robin and even with preferred ports", l0, l1)
	}
	if q1 > q0 {
		t.Fatalf("preferred ports: %d QUEUE FULL, round robin %d", q1, q0)
	}
	// Round robin, port a's budget holds the windows under what the pool's
	// threshold allows; balanced, the pool reaches it.
	if math.Abs(m1.Seconds()/DiskThreshold.Seconds()-1) > 0.05 {
		t.Fatalf("preferred ports: mean device latency %v, want %v ± 5 %%", m1, DiskThreshold)
	}
}

// TestPreferredPortsSpanFabrics: with paths on two fabrics, every queue
// keeps a preferred port on each, however the load falls; a queue with no
// sample says so and keeps its window.
func TestPreferredPortsSpanFabrics(t *testing.T) {
	ports := []PortLimit{{WWPN: "a1", QueueLimit: 100, Fabric: "a"}, {WWPN: "a2", QueueLimit: 100, Fabric: "a"},
		{WWPN: "b1", QueueLimit: 100, Fabric: "b"}, {WWPN: "b2", QueueLimit: 100, Fabric: "b"}}
	in := Input{Ports: ports}
	for i := range 6 {
		in.Queues = append(in.Queues, Queue{Host: "h", Volume: string(rune('p' + i)), Pool: "p", Threshold: 30 * time.Millisecond,
			Ports: []string{"a1", "a2", "b1", "b2"}, Sample: &Sample{IOPS: 1000, Latency: 20 * time.Millisecond, Outstanding: 20}})
	}
	in.Queues = append(in.Queues, Queue{Host: "h", Volume: "quiet", Pool: "p", Threshold: 30 * time.Millisecond, Ports: []string{"a1", "b2"}})
	_, ds := Controller{}.Step(State{}, in)
	spread := map[string]int{}
	for _, d := range ds {
		var a, b bool
		for _, p := range d.PreferredTargetPorts {
			a, b = a || p[0] == 'a', b || p[0] == 'b'
			spread[p]++
		}
		if !a || !b {
			t.Errorf("%s: preferred %v leaves a fabric out", d.Volume, d.PreferredTargetPorts)
		}
		if d.Volume == "quiet" && (d.Reason != "no-telemetry" || d.QueueDepth != 32) {
			t.Errorf("queue without a sample: %+v", d)
		}
	}
	if len(spread) != 4 {
		t.Errorf("load not spread over the ports: %v", spread)
	}
}
