package qdepth

import (
	"cmp"
	"math"
	"slices"
	"strings"
	"time"
)

// Queue is one host's command queue to one LUN, as sanmob knows it at the
// end of a control period: where it lives, whose shares it carries, and
// what the host measured over the period.
type Queue struct {
	Host, Volume string
	Pool         string        // the back end; queues on one pool share its capacity
	Threshold    time.Duration // the pool's latency threshold 𝓛
	Ports        []string      // target ports the host reaches the LUN through
	Shares       float64       // the shares of the VMs on Host that use Volume
	Sample       *Sample       // the period's telemetry; nil when the host sent none
}

// Sample is a queue's telemetry over one control period.
type Sample struct {
	IOPS        float64
	Latency     time.Duration // mean device latency
	Outstanding float64       // commands the VMs have outstanding: at the array plus queued in the host
	QFull, Busy int           // QUEUE FULL and BUSY replies
	PortIOPS    map[string]float64
}

// PortLimit is a target port's command queue, shared by every initiator.
// QueueLimit 0 is unknown: no budget is enforced on that port.
type PortLimit struct {
	WWPN       string
	QueueLimit int
	// Fabric is the fabric the port is on ("" unknown): preferred ports
	// keep at least one on every fabric a queue has paths on, so that a
	// fabric's loss never leaves a LUN without a preferred path.
	Fabric string
}

// Input is one control step's view of the world.
type Input struct {
	Now    time.Time
	Queues []Queue
	Ports  []PortLimit
}

// Decision is the recommendation for one queue, and what it rests on.
type Decision struct {
	Host, Volume         string
	QueueDepth           int
	PreferredTargetPorts []string
	Latency              time.Duration // the period's measured latency (0: none measured)
	Threshold            time.Duration
	Congested            bool   // latency or QUEUE FULL past the limits, with hysteresis
	Reason               string // what bound the depth: "shares", "latency", "queue-full", "port-budget", "idle", "max", "no-telemetry" (no sample this period: the window is kept)
}

// Settings are the controller's knobs; the zero value of each is its default.
type Settings struct {
	Default int // depth before any measurement; 0 is 32 (ESXi DSNRO)
	// Min and Max clamp the window; 0 is 1 and 256. A fractional window is
	// served by dithering (QueueDepth alternates between the integers
	// around it so that its mean is the window), so a small share stays
	// exact: a floor of 4 would give a 500-share queue 4 where its share of
	// the pool is 1.75.
	Min, Max int
	Gamma    float64 // how far a step moves toward its target, (0, 1]; 0 is 0.8 (PARDA's γ)
	// PortHeadroom is the fraction of a port's queue limit the windows of
	// all hosts on it may add up to; 0 is 0.9.
	PortHeadroom float64
	// QFullCut multiplies a queue's window after a period with QUEUE FULL
	// or BUSY; 0 is 0.5.
	QFullCut float64
	// CongestedAbove is the latency, as a multiple of the threshold, that
	// counts a period as congested; 0 is 1.25. RaiseAfter congested periods
	// in a row raise Congested; ClearAfter periods under 1.1 × the
	// threshold without QUEUE FULL clear it; 0 is 2 and 3.
	CongestedAbove         float64
	RaiseAfter, ClearAfter int
}

// WithDefaults is s with every zero knob set to its default, as Step uses
// it.
func (s Settings) WithDefaults() Settings {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	deff := func(v *float64, d float64) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&s.Default, 32)
	def(&s.Min, 1)
	def(&s.Max, 256)
	def(&s.RaiseAfter, 2)
	def(&s.ClearAfter, 3)
	deff(&s.Gamma, 0.8)
	deff(&s.PortHeadroom, 0.9)
	deff(&s.QFullCut, 0.5)
	deff(&s.CongestedAbove, 1.25)
	s.Gamma = min(s.Gamma, 1)
	s.Default = min(max(s.Default, s.Min), s.Max)
	return s
}

// QueueKey names a queue.
type QueueKey struct{ Host, Volume string }

type queueState struct {
	window    float64
	carry     float64 // window − QueueDepth summed over the steps: the dither
	congested bool
	hot, calm int // consecutive congested and calm periods
}

// State is what the controller carries from one step to the next. The zero
// value is a fresh controller. Step never changes the State it is given.
type State struct {
	queues map[QueueKey]queueState
	pools  map[string]poolState
}

// poolState is what a pool's last step measured, and what it has learnt of
// the back end's capacity.
type poolState struct {
	outstanding float64 // the pool's queues' commands at the array, by Little's law (Σ IOPS·latency)
	latency     float64 // their mean latency, seconds
	capacity    float64 // commands/s per command of latency slope: 1/(dL/dN); 0 unknown
}

// Window is the unrounded window the state holds for k, and whether it
// holds one.
func (s State) Window(k QueueKey) (float64, bool) {
	q, ok := s.queues[k]
	return q.window, ok
}

// Controller is sanmob's queue-depth controller. Step is a pure function:
// the same State and Input give the same result.
type Controller struct{ Settings Settings }

// Step runs one control period. Queues not in the input are forgotten, so
// a VM that left a host stops counting there at the next step.
func (c Controller) Step(prev State, in Input) (State, []Decision) {
	set := c.Settings.WithDefaults()
	next := State{queues: make(map[QueueKey]queueState, len(in.Queues)), pools: map[string]poolState{}}
	queues := slices.Clone(in.Queues)
	slices.SortFunc(queues, func(a, b Queue) int {
		return cmp.Or(strings.Compare(a.Host, b.Host), strings.Compare(a.Volume, b.Volume))
	})
	ws := make([]*work, len(queues))
	byPool := map[string][]*work{}
	var pools []string
	for i, q := range queues {
		k := QueueKey{q.Host, q.Volume}
		st, ok := prev.queues[k]
		if !ok {
			st.window = float64(set.Default)
		}
		w := &work{q: q, st: st, target: st.window, reason: "shares"}
		if q.Sample == nil {
			w.reason = "no-telemetry" // it keeps its window
		}
		if s := q.Sample; s != nil {
			w.bounded = s.Outstanding >= 0.9*st.window
		}
		ws[i] = w
		if q.Sample == nil {
			continue // not measured this period: it keeps its window and takes no part of the split
		}
		if _, seen := byPool[q.Pool]; !seen {
			pools = append(pools, q.Pool)
		}
		byPool[q.Pool] = append(byPool[q.Pool], w)
	}

	// Each pool: Little's law gives the total outstanding that would hold
	// the pool's latency at its threshold at the throughput it delivers now;
	// that total is split among its queues by shares (water-filling, so a
	// queue that wants less than its share gives the rest to the others).
	for _, p := range pools {
		group := byPool[p]
		var x, latSum, prevTotal float64
		threshold := group[0].q.Threshold
		for _, w := range group {
			prevTotal += w.st.window
			if s := w.q.Sample; s != nil && s.IOPS > 0 {
				x += s.IOPS
				latSum += s.IOPS * s.Latency.Seconds()
			}
		}
		if x == 0 || threshold <= 0 {
			continue // nothing measured: keep the windows
		}
		lat := latSum / x
		ps := learn(prev.pools[p], latSum, lat, x)
		next.pools[p] = ps
		// Over the threshold, the latency falls by 1/C for each command
		// taken out (C the back end's capacity): N − (L − 𝓛)·C. Alone on
		// the back end C is x, and that is x·𝓛; beside load sanmob does
		// not govern, C is more than x, and the learnt C cuts enough in
		// one step where x·𝓛 would only close the gap by the governed
		// fraction of the load each period.
		total := x * threshold.Seconds()
		if lat > threshold.Seconds() && ps.capacity > x {
			total = max(latSum-(lat-threshold.Seconds())*ps.capacity, latSum/2)
		}
		calm := lat <= threshold.Seconds()
		if calm {
			// A pool under its threshold is never squeezed; its windows may
			// grow, at most doubling in a period.
			total = max(total, prevTotal)
			total = min(total, 2*prevTotal)
		}
		split(group, total, set, calm)
	}

	for _, w := range ws {
		s := w.q.Sample
		if s == nil {
			continue
		}
		stepped := w.st.window + set.Gamma*(w.target-w.st.window)
		// A queue over its threshold never grows, whatever its pool does:
		// its window is capped at w·𝓛/L (at most halved by latency alone in
		// one period, so one noisy period cannot collapse it).
		if t := w.q.Threshold.Seconds(); t > 0 && s.Latency.Seconds() > t {
			stepped = min(stepped, w.st.window*max(t/s.Latency.Seconds(), 0.5))
			w.reason = "latency"
		}
		if s.QFull+s.Busy > 0 {
			stepped = min(stepped, w.st.window*set.QFullCut)
			w.reason = "queue-full"
		}
		w.target = stepped
	}
	for _, w := range ws {
		w.target = min(max(w.target, float64(set.Min)), float64(set.Max))
		if w.target == float64(set.Max) {
			w.reason = "max"
		}
	}

	balance(ws, in.Ports)

	// Port budgets: the windows of every queue through a port, each queue
	// counted over its preferred ports evenly, may not add up past the
	// port's headroom; over it, every queue on the port is scaled down.
	limits := map[string]int{}
	for _, p := range in.Ports {
		limits[p.WWPN] = p.QueueLimit
	}
	for range 4 {
		load := map[string]float64{}
		for _, w := range ws {
			for _, p := range w.q.Ports {
				load[p] += w.target / float64(len(w.q.Ports))
			}
		}
		over := false
		for _, w := range ws {
			scale := 1.0
			for _, p := range w.q.Ports {
				if lim := limits[p]; lim > 0 {
					budget := set.PortHeadroom * float64(lim)
					if load[p] > budget {
						scale = min(scale, budget/load[p])
					}
				}
			}
			if scale < 1 {
				over = true
				w.target = max(w.target*scale, 1)
				w.reason = "port-budget"
			}
		}
		if !over {
			break
		}
	}

	depths := dither(ws, byPool, pools)
	out := make([]Decision, 0, len(ws))
	for i, w := range ws {
		st := w.st
		st.window = w.target
		depth := depths[i]
		st.carry += st.window - float64(depth)
		d := Decision{Host: w.q.Host, Volume: w.q.Volume, QueueDepth: depth,
			PreferredTargetPorts: w.q.Ports, Threshold: w.q.Threshold, Reason: w.reason}
		if s := w.q.Sample; s != nil {
			d.Latency = s.Latency
			hot := s.QFull+s.Busy > 0 || (w.q.Threshold > 0 && float64(s.Latency) > set.CongestedAbove*float64(w.q.Threshold))
			// Calm is under 1.1 × the threshold: the controller holds
			// latency at the threshold, so a band over it keeps a
			// converged queue from flapping between congested and not.
			calm := s.QFull+s.Busy == 0 && float64(s.Latency) <= 1.1*float64(w.q.Threshold)
			switch {
			case hot:
				st.hot, st.calm = st.hot+1, 0
			case calm:
				st.hot, st.calm = 0, st.calm+1
			default:
				st.hot, st.calm = 0, 0
			}
			if st.hot >= set.RaiseAfter {
				st.congested = true
			}
			if st.calm >= set.ClearAfter {
				st.congested = false
			}
		}
		d.Congested = st.congested
		next.queues[QueueKey{w.q.Host, w.q.Volume}] = st
		out = append(out, d)
	}
	return next, out
}

// learn updates a pool's capacity estimate from two periods: when its own
// outstanding N moved by more than a tenth and its latency L moved the same
// way by more than 2 %, C = ΔN/ΔL. Load it does not govern that changes at
// the same time can only make the pair disagree in sign (skipped) or make C
// look smaller (clamped to the measured throughput x, the estimate that
// assumes no other load); C is kept within [x, 4x].
func learn(prev poolState, n, lat, x float64) poolState {
	next := poolState{outstanding: n, latency: lat, capacity: prev.capacity}
	dn, dl := n-prev.outstanding, lat-prev.latency
	if prev.latency > 0 && math.Abs(dn) > 0.1*max(n, prev.outstanding) && dn*dl > 0 && math.Abs(dl) > 0.02*lat {
		next.capacity = dn / dl
	}
	if next.capacity > 0 {
		next.capacity = min(max(next.capacity, x), 4*x)
	}
	return next
}

// dither turns windows into integer depths by error diffusion: each
// queue's depths sum, over the steps, to its windows' sum (the carry stays
// within ±1), so the mean depth is the exact fractional window; and within
// a pool the queues whose carried-over fractions are largest round up, so
// the pool's total depth is its total window rounded, not the sum of
// every queue rounded the same way at once.
func dither(ws []*work, byPool map[string][]*work, pools []string) []int {
	index := make(map[*work]int, len(ws))
	for i, w := range ws {
		index[w] = i
	}
	depths := make([]int, len(ws))
	for i, w := range ws {
		depths[i] = int(math.Round(w.target)) // a queue in no pool's split (no sample) keeps its window
	}
	for _, p := range pools {
		group := byPool[p]
		var total float64
		v := make([]float64, len(group))
		for j, w := range group {
			v[j] = w.target + w.st.carry
			total += v[j]
			depths[index[w]] = int(math.Floor(v[j]))
		}
		up := int(math.Round(total))
		for _, w := range group {
			up -= depths[index[w]]
		}
		order := make([]int, len(group))
		for j := range order {
			order[j] = j
		}
		slices.SortStableFunc(order, func(a, b int) int {
			return cmp.Compare(v[b]-math.Floor(v[b]), v[a]-math.Floor(v[a]))
		})
		for _, j := range order[:min(max(up, 0), len(order))] {
			depths[index[group[j]]]++
		}
	}
	for i := range depths {
		depths[i] = max(depths[i], 1)
	}
	return depths
}

// work is one queue while a step runs.
type work struct {
	q       Queue
	st      queueState
	target  float64
	reason  string
	bounded bool // the window, not the VMs' demand, limits this queue
}

// split shares total among a pool's queues in proportion to their shares
// (water-filling). A queue whose VMs want less than its window (not
// bounded) is capped at what they keep outstanding plus half again, and
// its unused share goes to the others. In a calm pool no queue is cut
// below min(its window, Default): nothing needs its room.
func split(group []*work, total float64, set Settings, calm bool) {
	// caps: the most a queue is given; use: what it takes from the total
	// when capped. A queue its VMs do not fill takes what they keep
	// outstanding (Little's law counts commands, not windows), so the
	// room its window leaves unused goes to the others.
	caps := make([]float64, len(group))
	use := make([]float64, len(group))
	for i, w := range group {
		caps[i], use[i] = float64(set.Max), float64(set.Max)
		if s := w.q.Sample; s != nil && !w.bounded {
			caps[i] = max(math.Ceil(1.5*s.Outstanding), float64(set.Min))
			use[i] = min(s.Outstanding, caps[i])
		}
	}
	alloc := make([]float64, len(group))
	open := make([]bool, len(group))
	for i := range open {
		open[i] = true
	}
	left := total
	for range len(group) + 1 {
		var shares float64
		for i, w := range group {
			if open[i] {
				shares += shareOf(w)
			}
		}
		if shares == 0 || left <= 0 {
			break
		}
		capped := false
		for i, w := range group {
			if open[i] && left*shareOf(w)/shares >= caps[i] {
				alloc[i], open[i], capped = caps[i], false, true
				left -= use[i]
			}
		}
		if !capped {
			for i, w := range group {
				if open[i] {
					alloc[i] = left * shareOf(w) / shares
				}
			}
			break
		}
	}
	for i, w := range group {
		w.target = alloc[i]
		if !w.bounded && w.q.Sample != nil {
			w.reason = "idle"
		}
		if calm {
			w.target = max(w.target, min(w.st.window, float64(set.Default)))
		}
	}
}

// shareOf is a queue's weight: its shares, or 1000 (a normal VM's) when
// none are set.
func shareOf(w *work) float64 {
	if w.q.Shares > 0 {
		return w.q.Shares
	}
	return 1000
}

// balance picks each queue's preferred target ports: queues, fewest paths
// and then largest window first, go to the port of theirs with the least projected use (windows
// over queue limit), and a second port joins when its use is within a
// tenth of the first's, so load spreads instead of piling on the "first
// available" port.
func balance(ws []*work, ports []PortLimit) {
	limit := map[string]float64{}
	fabric := map[string]string{}
	for _, p := range ports {
		if p.QueueLimit > 0 {
			limit[p.WWPN] = float64(p.QueueLimit)
		}
		fabric[p.WWPN] = p.Fabric
	}
	use := func(load map[string]float64, p string) float64 {
		if l := limit[p]; l > 0 {
			return load[p] / l
		}
		return load[p] / 2048
	}
	load := map[string]float64{}
	order := slices.Clone(ws)
	// Queues with the fewest paths first (a queue with one path has no
	// choice, and the others should steer around it), then the largest.
	slices.SortStableFunc(order, func(a, b *work) int {
		return cmp.Or(cmp.Compare(len(a.q.Ports), len(b.q.Ports)), cmp.Compare(b.target, a.target))
	})
	for _, w := range order {
		cands := slices.Clone(w.q.Ports)
		if len(cands) <= 1 {
			for _, p := range cands {
				load[p] += w.target
			}
			continue
		}
		slices.SortStableFunc(cands, func(a, b string) int {
			return cmp.Or(cmp.Compare(use(load, a), use(load, b)), strings.Compare(a, b))
		})
		// On each fabric, the least used port and a second within a
		// tenth of it.
		var pick []string
		first := map[string]string{}
		for _, p := range cands {
			f := fabric[p]
			best, seen := first[f]
			switch {
			case !seen:
				first[f] = p
				pick = append(pick, p)
			case use(load, p) <= use(load, best)+0.1 && slices.IndexFunc(pick, func(x string) bool { return fabric[x] == f && x != best }) < 0:
				pick = append(pick, p)
			}
		}
		slices.Sort(pick)
		for _, p := range pick {
			load[p] += w.target / float64(len(pick))
		}
		w.q.Ports = slices.Clone(pick)
	}
}

// Default latency thresholds 𝓛 by media. DiskThreshold is SIOC's default.
// FlashThreshold is set from the flash profile the simulator models
// (64 commands in service, 320 µs each, ≈ 200,000 IOPS): see the package
// doc.
const (
	DiskThreshold  = 30 * time.Millisecond
	FlashThreshold = 1500 * time.Microsecond
)

// DefaultThreshold is the threshold for a pool's media: "flash" is
// FlashThreshold, anything else DiskThreshold.
func DefaultThreshold(media string) time.Duration {
	if media == "flash" {
		return FlashThreshold
	}
	return DiskThreshold
}
