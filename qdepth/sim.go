package qdepth

import (
	"container/heap"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"
)

// Profile is a back end: Servers commands in service at once, each taking a
// service time of MinFraction·Mean plus an exponential rest, so the mean is
// Mean and the back end saturates at Servers/Mean commands per second.
type Profile struct {
	Name        string
	Servers     int
	Mean        time.Duration
	MinFraction float64 // in [0, 1): the part of every service time that is fixed
}

// DiskProfile is a disk-like back end of about 3,300 IOPS (the array of the
// PARDA paper): 16 spindles' worth of parallelism, ≈4.85 ms per command.
func DiskProfile() Profile {
	return Profile{Name: "disk", Servers: 16, Mean: 16 * time.Second / 3300, MinFraction: 0.1}
}

// FlashProfile is a flash-like back end of about 200,000 IOPS: 64 commands
// in service, 320 µs each, half of it fixed.
func FlashProfile() Profile {
	return Profile{Name: "flash", Servers: 64, Mean: 320 * time.Microsecond, MinFraction: 0.5}
}

// IOPS is the most the back end completes per second.
func (p Profile) IOPS() float64 { return float64(p.Servers) / p.Mean.Seconds() }

func (p Profile) sample(r *rand.Rand) time.Duration {
	fixed := p.MinFraction * float64(p.Mean)
	return time.Duration(fixed + r.ExpFloat64()*(float64(p.Mean)-fixed))
}

// VM is a closed-loop workload: it keeps Outstanding I/Os to one LUN, and
// issues a new one as soon as one completes.
type VM struct {
	Name        string
	LUN         int // index into Config.LUNs
	Outstanding int
	Shares      float64
}

// Host is an initiator with its VMs.
type Host struct {
	Name string
	VMs  []VM
}

// Port is an array target port. When QueueLimit commands are accepted and
// not yet completed, it answers QUEUE FULL. QueueLimit 0 is no limit.
type Port struct {
	Name       string
	QueueLimit int
}

// LUN is a volume reached through one target port.
type LUN struct {
	Name string
	Port int // index into Config.Ports
}

// Config is one simulation run. All times are virtual.
type Config struct {
	Seed     uint64
	Backend  Profile
	Ports    []Port
	LUNs     []LUN
	Hosts    []Host
	Period   time.Duration // control period; the controller runs at the end of each
	Duration time.Duration // virtual time simulated

	InitialWindow int           // each (host, LUN) queue depth at start; 0 is 32
	QFullDelay    time.Duration // port to host time of a QUEUE FULL reply; 0 is 50 µs
	RetryDelay    time.Duration // host wait before it reissues a refused command; 0 is 1 ms

	Controller Policy // nil keeps the initial windows
}

// Key names one host's issue queue to one LUN.
type Key struct{ Host, LUN int }

// Observation is one (host, LUN) queue over one control period, as the
// host would report it.
type Observation struct {
	Key
	Window      int           // queue depth during the period (the last one set)
	Shares      float64       // sum of the shares of the VMs on this host using this LUN
	Completions int           // commands completed
	MeanLatency time.Duration // mean device latency (dispatch accepted → completion); 0 if none completed
	QFull       int           // QUEUE FULL replies received
	InFlight    int           // commands at the array at the period's end
	Waiting     int           // commands queued at the host at the period's end
}

// Period is what a controller sees at the end of a control period.
type Period struct {
	Index      int
	Start, End time.Duration
	Obs        []Observation // one per (host, LUN) that has VMs, ordered by host then LUN
}

// Policy sets queue depths: at the end of every period it is given the
// period's observations and returns the windows for the next period. Keys
// it leaves out keep their window; a window below 1 counts as 1.
type Policy interface {
	Control(p Period) map[Key]int
}

// VMStats is one VM over one period: latency is from the VM issuing the I/O
// to its completion, host queueing and QUEUE FULL retries included.
type VMStats struct {
	Host, VM    int
	Completions int
	Latencies   []time.Duration
}

// PeriodResult is one control period of a run.
type PeriodResult struct {
	Period
	VMs       []VMStats // ordered by host then VM
	PortQFull []int     // QUEUE FULL replies per port
}

// Result is a whole run, period by period.
type Result struct {
	Config  Config
	Periods []PeriodResult
}

type evKind uint8

const (
	evComplete evKind = iota // the back end finished a command
	evQFull                  // a QUEUE FULL reply reaches the host
	evRetry                  // a refused command is eligible again
	evPeriod                 // end of a control period
)

type io struct {
	vm         int // global VM index
	key        int // queue index
	issued     time.Duration
	dispatched time.Duration
}

type event struct {
	at   time.Duration
	seq  uint64
	kind evKind
	io   *io
}

type eventHeap []event

func (h eventHeap) Len() int { return len(h) }
func (h eventHeap) Less(i, j int) bool {
	if h[i].at != h[j].at {
		return h[i].at < h[j].at
	}
	return h[i].seq < h[j].seq
}
func (h eventHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *eventHeap) Push(x any)   { *h = append(*h, x.(event)) }
func (h *eventHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}

type queue struct {
	key      Key
	port     int
	shares   float64
	window   int
	inflight int
	waiting  []*io // FIFO; retries go to the front

	completions int
	latSum      time.Duration
	qfull       int
}

type vmState struct {
	host, vm int
	queue    int
	stats    VMStats
}

type sim struct {
	cfg    Config
	rng    *rand.Rand
	now    time.Duration
	seq    uint64
	events eventHeap

	queues    []*queue
	vms       []*vmState
	portLoad  []int
	portQFull []int
	busy      int   // back-end servers in service
	backlog   []*io // accepted, waiting for a server
}

// Validate reports the first thing wrong with the configuration.
func (c Config) Validate() error {
	switch {
	case c.Backend.Servers < 1 || c.Backend.Mean <= 0:
		return errors.New("qdepth: backend needs servers ≥ 1 and a positive mean service time")
	case c.Backend.MinFraction < 0 || c.Backend.MinFraction >= 1:
		return errors.New("qdepth: backend minFraction must be in [0, 1)")
	case c.Period <= 0 || c.Duration < c.Period:
		return errors.New("qdepth: need a positive period and a duration of at least one period")
	case c.InitialWindow < 0 || c.QFullDelay < 0 || c.RetryDelay < 0:
		return errors.New("qdepth: negative initial window or delay")
	}
	for i, p := range c.Ports {
		if p.QueueLimit < 0 {
			return fmt.Errorf("qdepth: port %d: negative queue limit", i)
		}
	}
	for i, l := range c.LUNs {
		if l.Port < 0 || l.Port >= len(c.Ports) {
			return fmt.Errorf("qdepth: lun %d: unknown port %d", i, l.Port)
		}
	}
	for h, host := range c.Hosts {
		for v, vm := range host.VMs {
			if vm.LUN < 0 || vm.LUN >= len(c.LUNs) {
				return fmt.Errorf("qdepth: host %d vm %d: unknown lun %d", h, v, vm.LUN)
			}
			if vm.Outstanding < 0 || vm.Shares < 0 {
				return fmt.Errorf("qdepth: host %d vm %d: negative outstanding or shares", h, v)
			}
		}
	}
	return nil
}

// Run simulates cfg and returns its periods. The same configuration (seed
// included) and a deterministic controller give the same result.
func Run(cfg Config) (Result, error) {
	if err := cfg.Validate(); err != nil {
		return Result{}, err
	}
	if cfg.InitialWindow == 0 {
		cfg.InitialWindow = 32
	}
	if cfg.QFullDelay == 0 {
		cfg.QFullDelay = 50 * time.Microsecond
	}
	if cfg.RetryDelay == 0 {
		cfg.RetryDelay = time.Millisecond
	}
	s := &sim{
		cfg:       cfg,
		rng:       rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)),
		portLoad:  make([]int, len(cfg.Ports)),
		portQFull: make([]int, len(cfg.Ports)),
	}
	index := map[Key]int{}
	for h, host := range cfg.Hosts {
		for l := range cfg.LUNs {
			for _, vm := range host.VMs {
				if vm.LUN != l {
					continue
				}
				k := Key{h, l}
				qi, ok := index[k]
				if !ok {
					qi = len(s.queues)
					index[k] = qi
					s.queues = append(s.queues, &queue{key: k, port: cfg.LUNs[l].Port, window: cfg.InitialWindow})
				}
				s.queues[qi].shares += vm.Shares
			}
		}
		for v, vm := range host.VMs {
			s.vms = append(s.vms, &vmState{host: h, vm: v, queue: index[Key{h, vm.LUN}], stats: VMStats{Host: h, VM: v}})
		}
	}
	for i, vm := range s.vms {
		for range cfg.Hosts[vm.host].VMs[vm.vm].Outstanding {
			s.issue(i)
		}
	}
	s.dispatchAll()
	res := Result{Config: cfg}
	periods := int(cfg.Duration / cfg.Period)
	for p := range periods {
		start := time.Duration(p) * cfg.Period
		end := start + cfg.Period
		s.push(end, evPeriod, nil)
		for {
			e := heap.Pop(&s.events).(event)
			s.now = e.at
			if e.kind == evPeriod {
				break
			}
			s.handle(e)
		}
		res.Periods = append(res.Periods, s.closePeriod(p, start, end))
	}
	return res, nil
}

func (s *sim) push(at time.Duration, k evKind, x *io) {
	s.seq++
	heap.Push(&s.events, event{at: at, seq: s.seq, kind: k, io: x})
}

// issue queues a new I/O of VM i at its host.
func (s *sim) issue(i int) {
	vm := s.vms[i]
	q := s.queues[vm.queue]
	q.waiting = append(q.waiting, &io{vm: i, key: vm.queue, issued: s.now})
}

func (s *sim) dispatchAll() {
	for qi := range s.queues {
		s.dispatch(qi)
	}
}

// dispatch sends queued commands of queue qi while its window allows.
func (s *sim) dispatch(qi int) {
	q := s.queues[qi]
	for q.inflight < q.window && len(q.waiting) > 0 {
		x := q.waiting[0]
		q.waiting[0] = nil
		q.waiting = q.waiting[1:]
		q.inflight++
		x.dispatched = s.now
		limit := s.cfg.Ports[q.port].QueueLimit
		if limit > 0 && s.portLoad[q.port] >= limit {
			s.portQFull[q.port]++
			s.push(s.now+s.cfg.QFullDelay, evQFull, x)
			continue
		}
		s.portLoad[q.port]++
		if s.busy < s.cfg.Backend.Servers {
			s.busy++
			s.push(s.now+s.cfg.Backend.sample(s.rng), evComplete, x)
		} else {
			s.backlog = append(s.backlog, x)
		}
	}
}

func (s *sim) handle(e event) {
	x := e.io
	q := s.queues[x.key]
	switch e.kind {
	case evComplete:
		s.portLoad[q.port]--
		q.inflight--
		q.completions++
		q.latSum += s.now - x.dispatched
		vm := s.vms[x.vm]
		vm.stats.Completions++
		vm.stats.Latencies = append(vm.stats.Latencies, s.now-x.issued)
		if len(s.backlog) > 0 {
			next := s.backlog[0]
			s.backlog[0] = nil
			s.backlog = s.backlog[1:]
			s.push(s.now+s.cfg.Backend.sample(s.rng), evComplete, next)
		} else {
			s.busy--
		}
		s.issue(x.vm)
		// Freed: a slot in this queue, and at the port for every queue on it.
		s.dispatch(x.key)
		for qi, other := range s.queues {
			if qi != x.key && other.port == q.port {
				s.dispatch(qi)
			}
		}
	case evQFull:
		q.inflight--
		q.qfull++
		s.push(s.now+s.cfg.RetryDelay, evRetry, x)
		s.dispatch(x.key)
	case evRetry:
		q.waiting = append([]*io{x}, q.waiting...)
		s.dispatch(x.key)
	}
}

func (s *sim) closePeriod(p int, start, end time.Duration) PeriodResult {
	pr := PeriodResult{Period: Period{Index: p, Start: start, End: end}}
	for _, q := range s.queues {
		o := Observation{Key: q.key, Window: q.window, Shares: q.shares, Completions: q.completions,
			QFull: q.qfull, InFlight: q.inflight, Waiting: len(q.waiting)}
		if q.completions > 0 {
			o.MeanLatency = q.latSum / time.Duration(q.completions)
		}
		pr.Obs = append(pr.Obs, o)
		q.completions, q.latSum, q.qfull = 0, 0, 0
	}
	for _, vm := range s.vms {
		pr.VMs = append(pr.VMs, vm.stats)
		vm.stats = VMStats{Host: vm.host, VM: vm.vm}
	}
	pr.PortQFull = append([]int(nil), s.portQFull...)
	clear(s.portQFull)
	if s.cfg.Controller != nil {
		w := s.cfg.Controller.Control(pr.Period)
		for _, q := range s.queues {
			if n, ok := w[q.key]; ok {
				q.window = max(n, 1)
			}
		}
		s.dispatchAll()
	}
	return pr
}

// IOPS is the throughput of host h (all its VMs) over periods [from, to).
func (r Result) IOPS(h, from, to int) float64 {
	var n int
	var d time.Duration
	for _, p := range r.Periods[from:to] {
		d += p.End - p.Start
		for _, vm := range p.VMs {
			if vm.Host == h {
				n += vm.Completions
			}
		}
	}
	if d == 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// TotalIOPS is the throughput of all hosts over periods [from, to).
func (r Result) TotalIOPS(from, to int) float64 {
	var t float64
	for h := range r.Config.Hosts {
		t += r.IOPS(h, from, to)
	}
	return t
}

// QFull is the number of QUEUE FULL replies over periods [from, to).
func (r Result) QFull(from, to int) int {
	var n int
	for _, p := range r.Periods[from:to] {
		for _, c := range p.PortQFull {
			n += c
		}
	}
	return n
}

// Latencies gathers the VM-observed latencies over periods [from, to), of
// host h, or of all hosts when h < 0. The slice is fresh.
func (r Result) Latencies(h, from, to int) []time.Duration {
	var out []time.Duration
	for _, p := range r.Periods[from:to] {
		for _, vm := range p.VMs {
			if h < 0 || vm.Host == h {
				out = append(out, vm.Latencies...)
			}
		}
	}
	return out
}

// LatencySummary is the mean and tail of a latency sample.
type LatencySummary struct {
	N                    int
	Mean, P99, P999, Max time.Duration
}

// Summarize sorts samples in place and summarizes them (nearest rank).
func Summarize(samples []time.Duration) LatencySummary {
	if len(samples) == 0 {
		return LatencySummary{}
	}
	slices.Sort(samples)
	var sum float64
	for _, d := range samples {
		sum += float64(d)
	}
	rank := func(q float64) time.Duration {
		i := int(math.Ceil(q*float64(len(samples)))) - 1
		return samples[min(max(i, 0), len(samples)-1)]
	}
	return LatencySummary{N: len(samples), Mean: time.Duration(sum / float64(len(samples))),
		P99: rank(0.99), P999: rank(0.999), Max: samples[len(samples)-1]}
}
