package qdepth

import (
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
// issues a new one as soon as one completes. An Absent VM is not on its
// host until an Arrive event: it issues nothing and its shares do not count.
type VM struct {
	Name        string
	LUN         int // index into Config.LUNs
	Outstanding int
	Shares      float64
	Absent      bool
}

// Host is an initiator with its VMs. A host with FixedWindow > 0 is
// uncontrolled: its queues keep that window, and the Policy neither sees
// them nor sets them (a host that does not run the controller, or another
// cluster's host on the same array).
type Host struct {
	Name        string
	VMs         []VM
	FixedWindow int
}

// EventKind is what a scripted Event does to a VM.
type EventKind uint8

const (
	// SetOutstanding makes the VM keep Outstanding I/Os from now on: 0 or a
	// few idles it, more brings it back. I/Os already issued complete.
	SetOutstanding EventKind = iota
	// Arrive puts an Absent VM on its host with its shares, keeping
	// Outstanding I/Os (0 keeps the VM's configured count): a VM that
	// migrates in, or, for every VM of a host, a host that joins.
	Arrive
	// Leave stops the VM: it issues nothing more, and its shares leave its
	// host at once; its I/Os already issued complete.
	Leave
)

// Event is a scripted change at a virtual time. Events at the same time
// apply in their order in Config.Events; an event at the end of a period
// applies after it (at the start of the next).
type Event struct {
	At          time.Duration
	Kind        EventKind
	Host, VM    int // indexes into Config.Hosts and that host's VMs
	Outstanding int
}

// Port is an array target port. When QueueLimit commands are accepted and
// not yet completed, it answers QUEUE FULL. QueueLimit 0 is no limit.
type Port struct {
	Name       string
	QueueLimit int
}

// LUN is a volume reached through target ports: Ports when set, else Port.
// A host sends a LUN's commands round robin over its queue's paths: all of
// the LUN's ports unless the Policy is a Router that picks some.
type LUN struct {
	Name  string
	Port  int   // index into Config.Ports
	Ports []int // indexes into Config.Ports; when set, Port is ignored
}

func (l LUN) ports() []int {
	if len(l.Ports) > 0 {
		return l.Ports
	}
	return []int{l.Port}
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
	Events     []Event
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
	// PortCompletions is Completions by target port (index into
	// Config.Ports); nil when none completed.
	PortCompletions map[int]int
}

// Period is what a controller sees at the end of a control period.
type Period struct {
	Index      int
	Start, End time.Duration
	Obs        []Observation // one per (host, LUN) that has VMs, ordered by host then LUN
}

// Policy sets queue depths: at the end of every period it is given the
// period's observations and returns the windows for the next period. Keys
// it leaves out keep their window; a window below 1 counts as 1. Queues of
// uncontrolled hosts (Host.FixedWindow) and queues with no VM present are
// not observed.
type Policy interface {
	Control(p Period) map[Key]int
}

// Ticker is a Policy that wants to run more often than once a period (ESXi
// and Linux react per command; a short tick approximates that). Tick() in
// (0, Config.Period) makes the simulator call Control every Tick() as well,
// each time with the observations since the previous call; at the period's
// end it is called as always. Its observations' Period fields then name the
// tick's interval.
type Ticker interface {
	Tick() time.Duration
}

// Router is a Policy that also picks each queue's paths: after each Control
// the simulator asks Paths for the target ports (indexes into Config.Ports,
// each one of the LUN's) that each queue sends round robin over; a queue it
// leaves out, or gives no valid port, keeps its paths.
type Router interface {
	Paths() map[Key][]int
}

// VMStats is one VM over one period. Latencies are VM-observed: from the VM
// issuing the I/O to its completion, host queueing and QUEUE FULL retries
// included. DeviceLatencies are of the same I/Os from their (last) dispatch
// to the array to completion, what the host measures and the controllers
// act on. Present and Outstanding are the VM's at the period's end.
type VMStats struct {
	Host, VM        int
	Completions     int
	Latencies       []time.Duration
	DeviceLatencies []time.Duration
	Present         bool
	Outstanding     int
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
	evTick                   // a Ticker's control call within a period
	evScript                 // a Config.Events entry
)

type io struct {
	vm         int // global VM index
	key        int // queue index
	port       int // where it was last sent
	issued     time.Duration
	dispatched time.Duration
}

type event struct {
	at     time.Duration
	seq    uint64
	kind   evKind
	io     *io
	script int // index into Config.Events for evScript
}

// eventHeap is a binary min-heap of events by (at, scripted last, seq): a
// total order, so runs are deterministic. Typed rather than
// container/heap, whose interface boxes every event.
type eventHeap []event

func (h eventHeap) less(i, j int) bool {
	if h[i].at != h[j].at {
		return h[i].at < h[j].at
	}
	// A scripted event at a period's end comes after it: it belongs to the
	// next period, and the period's control step does not see it.
	if (h[i].kind == evScript) != (h[j].kind == evScript) {
		return h[j].kind == evScript
	}
	return h[i].seq < h[j].seq
}

func (h *eventHeap) push(e event) {
	*h = append(*h, e)
	q := *h
	for i := len(q) - 1; i > 0; {
		parent := (i - 1) / 2
		if !q.less(i, parent) {
			break
		}
		q[i], q[parent] = q[parent], q[i]
		i = parent
	}
}

func (h *eventHeap) pop() event {
	q := *h
	top := q[0]
	n := len(q) - 1
	q[0] = q[n]
	q[n] = event{}
	q = q[:n]
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < n && q.less(l, m) {
			m = l
		}
		if r < n && q.less(r, m) {
			m = r
		}
		if m == i {
			break
		}
		q[i], q[m] = q[m], q[i]
		i = m
	}
	*h = q
	return top
}

type counters struct {
	completions int
	latSum      time.Duration
	qfull       int
	byPort      []int // completions by port; nil until the first
}

func (c *counters) complete(port, ports int, lat time.Duration) {
	c.completions++
	c.latSum += lat
	if c.byPort == nil {
		c.byPort = make([]int, ports)
	}
	c.byPort[port]++
}

func (c *counters) portMap() map[int]int {
	if c.byPort == nil {
		return nil
	}
	m := map[int]int{}
	for p, n := range c.byPort {
		if n > 0 {
			m[p] = n
		}
	}
	return m
}

type queue struct {
	key      Key
	ports    []int // the paths, round robin
	rr       int
	fixed    bool // an uncontrolled host's: the Policy never sees it
	shares   float64
	present  int // VMs present
	window   int
	inflight int
	waiting  []*io // FIFO
	retries  []*io // refused commands due again: sent before waiting

	period, ctl counters // since the period's start, since the last control call
}

type vmState struct {
	host, vm int
	queue    int
	present  bool
	target   int // I/Os it keeps outstanding
	count    int // I/Os it has outstanding (host queue, array, retries)
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
		for _, p := range l.ports() {
			if p < 0 || p >= len(c.Ports) {
				return fmt.Errorf("qdepth: lun %d: unknown port %d", i, p)
			}
		}
	}
	for i, e := range c.Events {
		if e.Host < 0 || e.Host >= len(c.Hosts) || e.VM < 0 || e.VM >= len(c.Hosts[e.Host].VMs) {
			return fmt.Errorf("qdepth: event %d: unknown host %d vm %d", i, e.Host, e.VM)
		}
		if e.At < 0 || e.Outstanding < 0 || e.Kind > Leave {
			return fmt.Errorf("qdepth: event %d: negative time or outstanding, or unknown kind", i)
		}
	}
	for h, host := range c.Hosts {
		if host.FixedWindow < 0 {
			return fmt.Errorf("qdepth: host %d: negative fixed window", h)
		}
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
				if _, ok := index[k]; !ok {
					index[k] = len(s.queues)
					q := &queue{key: k, ports: slices.Clone(cfg.LUNs[l].ports()), window: cfg.InitialWindow}
					if host.FixedWindow > 0 {
						q.window, q.fixed = host.FixedWindow, true
					}
					s.queues = append(s.queues, q)
				}
			}
		}
		for v, vm := range host.VMs {
			s.vms = append(s.vms, &vmState{host: h, vm: v, queue: index[Key{h, vm.LUN}], stats: VMStats{Host: h, VM: v}})
		}
	}
	for i, vm := range s.vms {
		c := cfg.Hosts[vm.host].VMs[vm.vm]
		if !c.Absent {
			s.arrive(i, c.Outstanding)
		}
	}
	for i, e := range cfg.Events {
		s.seq++
		s.events.push(event{at: e.At, seq: s.seq, kind: evScript, script: i})
	}
	s.dispatchAll()
	var tick time.Duration
	if t, ok := cfg.Controller.(Ticker); ok && t.Tick() > 0 && t.Tick() < cfg.Period {
		tick = t.Tick()
	}
	res := Result{Config: cfg}
	periods := int(cfg.Duration / cfg.Period)
	for p := range periods {
		start := time.Duration(p) * cfg.Period
		end := start + cfg.Period
		s.push(end, evPeriod, nil)
		if tick > 0 {
			for at := start + tick; at < end; at += tick {
				s.push(at, evTick, nil)
			}
		}
		last := start
		for {
			e := s.events.pop()
			s.now = e.at
			if e.kind == evPeriod {
				break
			}
			if e.kind == evTick {
				s.control(p, last, s.now)
				last = s.now
				continue
			}
			s.handle(e)
		}
		res.Periods = append(res.Periods, s.closePeriod(p, start, end, last))
	}
	return res, nil
}

func (s *sim) push(at time.Duration, k evKind, x *io) {
	s.seq++
	s.events.push(event{at: at, seq: s.seq, kind: k, io: x})
}

// arrive puts VM i on its host keeping n I/Os outstanding.
func (s *sim) arrive(i, n int) {
	vm := s.vms[i]
	if !vm.present {
		vm.present = true
		q := s.queues[vm.queue]
		q.present++
		q.shares += s.cfg.Hosts[vm.host].VMs[vm.vm].Shares
	}
	s.setOutstanding(i, n)
}

func (s *sim) leave(i int) {
	vm := s.vms[i]
	if vm.present {
		vm.present = false
		q := s.queues[vm.queue]
		q.present--
		q.shares -= s.cfg.Hosts[vm.host].VMs[vm.vm].Shares
		if q.present == 0 {
			q.shares = 0
		}
	}
	vm.target = 0
}

// setOutstanding makes VM i keep n I/Os outstanding: more are issued now,
// fewer by not reissuing completions.
func (s *sim) setOutstanding(i, n int) {
	vm := s.vms[i]
	vm.target = n
	for vm.count < vm.target {
		s.issue(i)
	}
}

// issue queues a new I/O of VM i at its host.
func (s *sim) issue(i int) {
	vm := s.vms[i]
	vm.count++
	q := s.queues[vm.queue]
	q.waiting = append(q.waiting, &io{vm: i, key: vm.queue, issued: s.now})
}

func (s *sim) dispatchAll() {
	for qi := range s.queues {
		s.dispatch(qi)
	}
}

// dispatch sends queued commands of queue qi while its window allows, round
// robin over its paths.
func (s *sim) dispatch(qi int) {
	q := s.queues[qi]
	for q.inflight < q.window && len(q.retries)+len(q.waiting) > 0 {
		from := &q.waiting
		if len(q.retries) > 0 {
			from = &q.retries
		}
		x := (*from)[0]
		(*from)[0] = nil
		*from = (*from)[1:]
		q.inflight++
		x.dispatched = s.now
		port := q.ports[q.rr%len(q.ports)]
		q.rr++
		x.port = port
		limit := s.cfg.Ports[port].QueueLimit
		if limit > 0 && s.portLoad[port] >= limit {
			s.portQFull[port]++
			s.push(s.now+s.cfg.QFullDelay, evQFull, x)
			continue
		}
		s.portLoad[port]++
		if s.busy < s.cfg.Backend.Servers {
			s.busy++
			s.push(s.now+s.cfg.Backend.sample(s.rng), evComplete, x)
		} else {
			s.backlog = append(s.backlog, x)
		}
	}
}

func (s *sim) handle(e event) {
	if e.kind == evScript {
		ev := s.cfg.Events[e.script]
		i := slices.IndexFunc(s.vms, func(v *vmState) bool { return v.host == ev.Host && v.vm == ev.VM })
		switch ev.Kind {
		case SetOutstanding:
			if s.vms[i].present {
				s.setOutstanding(i, ev.Outstanding)
			}
		case Arrive:
			n := ev.Outstanding
			if n == 0 {
				n = s.cfg.Hosts[ev.Host].VMs[ev.VM].Outstanding
			}
			s.arrive(i, n)
		case Leave:
			s.leave(i)
		}
		s.dispatch(s.vms[i].queue)
		return
	}
	x := e.io
	q := s.queues[x.key]
	switch e.kind {
	case evComplete:
		s.portLoad[x.port]--
		q.inflight--
		dev := s.now - x.dispatched
		q.period.complete(x.port, len(s.cfg.Ports), dev)
		q.ctl.complete(x.port, len(s.cfg.Ports), dev)
		vm := s.vms[x.vm]
		vm.count--
		vm.stats.Completions++
		vm.stats.Latencies = append(vm.stats.Latencies, s.now-x.issued)
		vm.stats.DeviceLatencies = append(vm.stats.DeviceLatencies, dev)
		if len(s.backlog) > 0 {
			next := s.backlog[0]
			s.backlog[0] = nil
			s.backlog = s.backlog[1:]
			s.push(s.now+s.cfg.Backend.sample(s.rng), evComplete, next)
		} else {
			s.busy--
		}
		if vm.count < vm.target {
			vm.count++
			*x = io{vm: x.vm, key: x.key, issued: s.now} // reissued: the same slot, a new I/O
			q.waiting = append(q.waiting, x)
		}
		// Freed: a slot in this queue, and at the port for every queue on it.
		s.dispatch(x.key)
		for qi, other := range s.queues {
			if qi != x.key && slices.Contains(other.ports, x.port) {
				s.dispatch(qi)
			}
		}
	case evQFull:
		q.inflight--
		q.period.qfull++
		q.ctl.qfull++
		s.push(s.now+s.cfg.RetryDelay, evRetry, x)
		s.dispatch(x.key)
	case evRetry:
		q.retries = append(q.retries, x)
		s.dispatch(x.key)
	}
}

// observe is what the hosts report of the queues the Policy governs.
func (s *sim) observe(c func(*queue) *counters) []Observation {
	var obs []Observation
	for _, q := range s.queues {
		if q.fixed || q.present == 0 {
			continue
		}
		n := c(q)
		o := Observation{Key: q.key, Window: q.window, Shares: q.shares, Completions: n.completions,
			QFull: n.qfull, InFlight: q.inflight, Waiting: len(q.retries) + len(q.waiting), PortCompletions: n.portMap()}
		if n.completions > 0 {
			o.MeanLatency = n.latSum / time.Duration(n.completions)
		}
		obs = append(obs, o)
	}
	return obs
}

// control calls the Policy with what happened since its last call and
// applies its windows and paths.
func (s *sim) control(p int, from, to time.Duration) {
	if s.cfg.Controller == nil {
		return
	}
	obs := s.observe(func(q *queue) *counters { return &q.ctl })
	for _, q := range s.queues {
		q.ctl = counters{}
	}
	w := s.cfg.Controller.Control(Period{Index: p, Start: from, End: to, Obs: obs})
	for _, q := range s.queues {
		if n, ok := w[q.key]; ok && !q.fixed {
			q.window = max(n, 1)
		}
	}
	if r, ok := s.cfg.Controller.(Router); ok {
		for k, ports := range r.Paths() {
			qi := slices.IndexFunc(s.queues, func(q *queue) bool { return q.key == k })
			if qi < 0 || s.queues[qi].fixed {
				continue
			}
			valid := slices.DeleteFunc(slices.Clone(ports), func(p int) bool {
				return !slices.Contains(s.cfg.LUNs[k.LUN].ports(), p)
			})
			if len(valid) > 0 {
				s.queues[qi].ports = valid
			}
		}
	}
	s.dispatchAll()
}

func (s *sim) closePeriod(p int, start, end, lastTick time.Duration) PeriodResult {
	pr := PeriodResult{Period: Period{Index: p, Start: start, End: end}}
	pr.Obs = s.observe(func(q *queue) *counters { return &q.period })
	for _, q := range s.queues {
		q.period = counters{}
	}
	for _, vm := range s.vms {
		vm.stats.Present, vm.stats.Outstanding = vm.present, vm.target
		pr.VMs = append(pr.VMs, vm.stats)
		vm.stats = VMStats{Host: vm.host, VM: vm.vm}
	}
	pr.PortQFull = append([]int(nil), s.portQFull...)
	clear(s.portQFull)
	s.control(p, lastTick, end)
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
	return r.gather(h, from, to, func(vm VMStats) []time.Duration { return vm.Latencies })
}

// DeviceLatencies gathers the device latencies (dispatch → completion)
// over periods [from, to), of host h, or of all hosts when h < 0. The slice
// is fresh.
func (r Result) DeviceLatencies(h, from, to int) []time.Duration {
	return r.gather(h, from, to, func(vm VMStats) []time.Duration { return vm.DeviceLatencies })
}

// gather appends one latency series of every VM of host h (all hosts when
// h < 0) over periods [from, to).
func (r Result) gather(h, from, to int, series func(VMStats) []time.Duration) []time.Duration {
	var out []time.Duration
	for _, p := range r.Periods[from:to] {
		for _, vm := range p.VMs {
			if h < 0 || vm.Host == h {
				out = append(out, series(vm)...)
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
