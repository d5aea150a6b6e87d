package qdepth

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// The scenarios of issue 12's figures, shared by the goal tests and
// BenchmarkQueueDepthComparison: every policy runs on the same configs and
// seeds.

// media is a back end with the settings its scenarios use.
type media struct {
	profile     Profile
	threshold   time.Duration // 𝓛 for PARDA and sanmob
	period      time.Duration // the control period of every policy
	outstanding int           // each VM keeps this many I/Os outstanding
	portLimit   int           // the single target port's queue limit
	betaPer1000 float64       // PARDA's β per 1000 shares
}

func diskMedia() media {
	return media{profile: DiskProfile(), threshold: DiskThreshold, period: 2 * time.Second,
		outstanding: 128, portLimit: 256, betaPer1000: 4}
}

// flashMedia: the back end is 60 times faster, so the period is 100 ms
// (20,000 completions a period, more samples than a disk period's 6,600)
// to keep runs short; everything is counted in periods. The load and the
// port scale with the back end's 64 servers (4 × the disk's 16), and so
// does PARDA's β.
func flashMedia() media {
	return media{profile: FlashProfile(), threshold: FlashThreshold, period: 100 * time.Millisecond,
		outstanding: 256, portLimit: 1024, betaPer1000: 16}
}

// scenario is a config without its policy, and where its events fall.
type scenario struct {
	name   string
	media  media
	cfg    Config
	events []scriptedAt // in order; each starts a segment
}

// scriptedAt is an event (or a few at once) at the start of period Period.
type scriptedAt struct {
	Name   string
	Period int
}

// twoToOne is scenario (a): two hosts, one VM each, shares 2:1, steady.
func twoToOne(m media, periods int) scenario {
	o := m.outstanding
	return scenario{name: "2 hosts 2:1", media: m, cfg: Config{
		Seed: 12, Backend: m.profile, Period: m.period, Duration: time.Duration(periods) * m.period,
		Ports: []Port{{Name: "p0", QueueLimit: m.portLimit}}, LUNs: []LUN{{Name: "lun0"}},
		Hosts: []Host{
			{Name: "h0", VMs: []VM{{Name: "a", Outstanding: o, Shares: 2000}}},
			{Name: "h1", VMs: []VM{{Name: "b", Outstanding: o, Shares: 1000}}},
		},
	}}
}

// sixHosts is scenario (b): six hosts with mixed shares on one LUN, then,
// seg periods apart: h0's VM idles; it returns; an uncontrolled host (fixed
// window 64) joins; it leaves; a VM with 1000 shares migrates in to h1
// (whose shares double); then h5's, h4's and h3's VMs stop one by one.
func sixHosts(m media, seg int) scenario {
	o := m.outstanding
	shares := []float64{2000, 1000, 1000, 500, 1500, 4000}
	sc := scenario{name: "6 hosts + events", media: m}
	cfg := Config{Seed: 12, Backend: m.profile, Period: m.period,
		Ports: []Port{{Name: "p0", QueueLimit: m.portLimit}}, LUNs: []LUN{{Name: "lun0"}}}
	for i, s := range shares {
		cfg.Hosts = append(cfg.Hosts, Host{Name: fmt.Sprintf("h%d", i), VMs: []VM{{Name: fmt.Sprintf("vm%d", i), Outstanding: o, Shares: s}}})
	}
	cfg.Hosts[1].VMs = append(cfg.Hosts[1].VMs, VM{Name: "migrant", Outstanding: o, Shares: 1000, Absent: true})
	cfg.Hosts = append(cfg.Hosts, Host{Name: "uncontrolled", FixedWindow: 64, VMs: []VM{{Name: "ext", Outstanding: o, Absent: true}}})
	at := func(k int) time.Duration { return time.Duration(k*seg) * m.period }
	cfg.Events = []Event{
		{At: at(1), Kind: SetOutstanding, Host: 0, VM: 0, Outstanding: 2},
		{At: at(2), Kind: SetOutstanding, Host: 0, VM: 0, Outstanding: o},
		{At: at(3), Kind: Arrive, Host: 6, VM: 0},
		{At: at(4), Kind: Leave, Host: 6, VM: 0},
		{At: at(5), Kind: Arrive, Host: 1, VM: 1},
		{At: at(6), Kind: Leave, Host: 5, VM: 0},
		{At: at(7), Kind: Leave, Host: 4, VM: 0},
		{At: at(8), Kind: Leave, Host: 3, VM: 0},
	}
	names := []string{"idle", "return", "uncontrolled joins", "it leaves", "migrate in", "stop 1", "stop 2", "stop 3"}
	for k, n := range names {
		sc.events = append(sc.events, scriptedAt{Name: n, Period: (k + 1) * seg})
	}
	cfg.Duration = at(len(names) + 1)
	sc.cfg = cfg
	return sc
}

// policyCase is a named policy, made fresh for each run.
type policyCase struct {
	name    string
	initial int // the windows before its first step
	make    func(sc scenario) Policy
}

// uncontrolledDepth is the reference's static window: larger than any VM's
// outstanding count, so windows never bind (the port's limit still does).
const uncontrolledDepth = 100000

func policies() []policyCase {
	return []policyCase{
		{"uncontrolled", uncontrolledDepth, func(scenario) Policy { return Static{Depth: uncontrolledDepth} }},
		{"static 32", 32, func(scenario) Policy { return Static{Depth: 32} }},
		{"static 64", 64, func(scenario) Policy { return Static{Depth: 64} }},
		{"ESXi adaptive", 64, func(scenario) Policy {
			return &ESXiAdaptive{QFullSampleSize: 32, QFullThreshold: 4, Max: 64, Every: 10 * time.Millisecond}
		}},
		{"Linux ramp", 64, func(scenario) Policy { return &LinuxRamp{Max: 64, Every: 10 * time.Millisecond} }},
		{"PARDA", 32, func(sc scenario) Policy { return NewPARDA(sc.media.threshold, sc.media.betaPer1000/1000) }},
		{"sanmob", 32, func(sc scenario) Policy { return &Adapt{Threshold: sc.media.threshold, Config: sc.cfg} }},
	}
}

func runCase(sc scenario, pc policyCase) (Result, error) {
	cfg := sc.cfg
	cfg.InitialWindow = pc.initial
	cfg.Controller = pc.make(sc)
	return Run(cfg)
}

// metrics are one run's figures.
type metrics struct {
	iops                float64 // whole run
	dev                 LatencySummary
	vmMean              time.Duration
	shareErr, jain      float64 // worst settled segment
	qfullPerSec         float64
	reconverge          []int // periods after each event; -1: not within its segment
	settledMeanDev      time.Duration
	segmentShareErrs    []float64
	settledSegmentMeans []time.Duration
}

// controlled reports, for period p, each controlled host's completions and
// β (the shares of its VMs present and busy: keeping at least 8 I/Os
// outstanding), for the hosts with β > 0.
func controlled(r Result, p int) (x, beta map[int]float64) {
	x, beta = map[int]float64{}, map[int]float64{}
	for _, vm := range r.Periods[p].VMs {
		host := r.Config.Hosts[vm.Host]
		if host.FixedWindow > 0 || !vm.Present || vm.Outstanding < 8 {
			continue
		}
		beta[vm.Host] += host.VMs[vm.VM].Shares
	}
	for _, vm := range r.Periods[p].VMs {
		if _, ok := beta[vm.Host]; ok {
			x[vm.Host] += float64(vm.Completions)
		}
	}
	return x, beta
}

// shareFigures are the share-ratio error (max over pairs of
// |(x_i/x_j)/(β_i/β_j) − 1|) and Jain's index on x/β over periods
// [from, to) (β from the last of them).
func shareFigures(r Result, from, to int) (errMax, jain float64) {
	x := map[int]float64{}
	_, beta := controlled(r, to-1)
	for p := from; p < to; p++ {
		px, _ := controlled(r, p)
		for h, v := range px {
			x[h] += v
		}
	}
	hosts := make([]int, 0, len(beta))
	for h := range beta {
		hosts = append(hosts, h)
	}
	slices.Sort(hosts)
	var sum, sq float64
	for _, i := range hosts {
		y := x[i] / beta[i]
		sum += y
		sq += y * y
		for _, j := range hosts {
			if i != j && x[j] > 0 {
				errMax = max(errMax, math.Abs((x[i]/x[j])/(beta[i]/beta[j])-1))
			}
		}
	}
	if len(hosts) == 0 || sq == 0 {
		return 0, 0
	}
	return errMax, sum * sum / (float64(len(hosts)) * sq)
}

// meanDevice is the mean device latency over periods [from, to).
func meanDevice(r Result, from, to int) time.Duration {
	var sum time.Duration
	var n int
	for _, p := range r.Periods[from:to] {
		for _, vm := range p.VMs {
			for _, d := range vm.DeviceLatencies {
				sum += d
			}
			n += len(vm.DeviceLatencies)
		}
	}
	if n == 0 {
		return 0
	}
	return sum / time.Duration(n)
}

// Reconvergence after an event at the start of period e, its segment
// running to period f: the settled values are, over the segment's last
// quarter, each controlled busy host's share of the controlled hosts'
// throughput and the mean device latency. Period t is in band when, over
// periods max(e, t−1) … t (two periods: a dithered window of a few
// commands alternates between the integers around it from one period to
// the next), every host's share is within 3 percentage points of its
// settled value and the mean device latency within 5 % of its settled
// value. The reconvergence is the least k such that periods e+k … f−1 are
// all in band (0: the first period after the event already is); -1 when
// not even the segment's last two periods are, i.e. it never settled.
const (
	shareBand   = 0.03
	latencyBand = 0.05
)

func reconvergence(r Result, e, f int) int {
	tail := e + (f-e)*3/4
	settled := shares(r, tail, f)
	lat := meanDevice(r, tail, f).Seconds()
	in := func(p int) bool {
		from := max(e, p-1)
		for h, v := range shares(r, from, p+1) {
			if math.Abs(v-settled[h]) > shareBand {
				return false
			}
		}
		l := meanDevice(r, from, p+1).Seconds()
		return math.Abs(l-lat) <= latencyBand*lat
	}
	k := f - e
	for p := f - 1; p >= e && in(p); p-- {
		k = p - e
	}
	if k >= f-e-1 {
		return -1
	}
	return k
}

// shares is each controlled busy host's share of the controlled hosts'
// completions over periods [from, to).
func shares(r Result, from, to int) map[int]float64 {
	out := map[int]float64{}
	var tot float64
	for p := from; p < to; p++ {
		x, _ := controlled(r, p)
		for h, v := range x {
			out[h] += v
			tot += v
		}
	}
	for h := range out {
		out[h] /= tot
	}
	return out
}

func measure(sc scenario, r Result) metrics {
	n := len(r.Periods)
	var m metrics
	secs := (time.Duration(n) * sc.cfg.Period).Seconds()
	m.iops = r.TotalIOPS(0, n)
	m.dev = Summarize(r.DeviceLatencies(-1, 0, n))
	m.vmMean = Summarize(r.Latencies(-1, 0, n)).Mean
	m.qfullPerSec = float64(r.QFull(0, n)) / secs
	bounds := []int{0}
	for _, e := range sc.events {
		bounds = append(bounds, e.Period)
	}
	bounds = append(bounds, n)
	m.jain = 1
	var settledSum time.Duration
	for i := 0; i+1 < len(bounds); i++ {
		from, to := bounds[i], bounds[i+1]
		e, j := shareFigures(r, (from+to)/2, to)
		m.segmentShareErrs = append(m.segmentShareErrs, e)
		m.shareErr = max(m.shareErr, e)
		m.jain = min(m.jain, j)
		s := meanDevice(r, (from+to)/2, to)
		m.settledSegmentMeans = append(m.settledSegmentMeans, s)
		settledSum += s
		if i > 0 {
			m.reconverge = append(m.reconverge, reconvergence(r, from, to))
		}
	}
	m.settledMeanDev = settledSum / time.Duration(len(bounds)-1)
	return m
}
