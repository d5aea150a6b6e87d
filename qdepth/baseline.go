package qdepth

import (
	"math"
	"time"
)

// The baseline controllers sanmob's controller is to be measured against
// (DOMAIN.md "Queue depth and congestion"). Each is a Policy; the
// stateful ones keep their state per Key and are not safe for concurrent
// use.

// Static holds every queue at Depth: the host defaults (ESXi DSNRO 32,
// QLogic 64).
type Static struct{ Depth int }

// Control returns Depth for every observed queue.
func (s Static) Control(p Period) map[Key]int {
	w := make(map[Key]int, len(p.Obs))
	for _, o := range p.Obs {
		w[o.Key] = s.Depth
	}
	return w
}

// ESXiAdaptive is ESXi's adaptive queue depth per (host, LUN): after
// QFullSampleSize QUEUE FULL replies the depth halves; after QFullThreshold
// good completions it grows by one, up to Max. ESXi reacts per command; here
// the counts of a period are applied at its end, so a short period
// approximates it better. A period with a QUEUE FULL counts no good
// completions (ESXi restarts the good count on a QUEUE FULL).
type ESXiAdaptive struct {
	QFullSampleSize int // QUEUE FULL replies per halving; ≤ 0 is 32
	QFullThreshold  int // good completions per +1; ≤ 0 is 4
	Max             int // the configured depth it returns to; ≤ 0 is 32
	// Every, when shorter than the simulator's period, makes it react every
	// Every (see Ticker); 0 reacts once a period.
	Every time.Duration

	state map[Key]*esxiState
}

// Tick is Every.
func (e *ESXiAdaptive) Tick() time.Duration { return e.Every }

type esxiState struct{ qfull, good int }

// Control applies the period's QUEUE FULL and good-completion counts.
func (e *ESXiAdaptive) Control(p Period) map[Key]int {
	sample, threshold, maxDepth := orDefault(e.QFullSampleSize, 32), orDefault(e.QFullThreshold, 4), orDefault(e.Max, 32)
	if e.state == nil {
		e.state = map[Key]*esxiState{}
	}
	w := make(map[Key]int, len(p.Obs))
	for _, o := range p.Obs {
		st := e.state[o.Key]
		if st == nil {
			st = &esxiState{}
			e.state[o.Key] = st
		}
		depth := o.Window
		if o.QFull > 0 {
			st.good = 0
			st.qfull += o.QFull
			for st.qfull >= sample && depth > 1 {
				depth = max(depth/2, 1)
				st.qfull -= sample
			}
		} else {
			st.good += o.Completions
			depth += st.good / threshold
			st.good %= threshold
		}
		w[o.Key] = min(max(depth, 1), maxDepth)
	}
	return w
}

// LinuxRamp is the Linux SCSI midlayer's queue-depth tracking per (host,
// LUN), in the simplified form of DOMAIN.md: more than QFullLimit QUEUE
// FULL replies since the depth last changed drop it by one; RampUp of
// virtual time with no QUEUE FULL (since the last QUEUE FULL or the last
// step up) raises it by one, up to Max.
type LinuxRamp struct {
	QFullLimit int           // ≤ 0 is 10
	RampUp     time.Duration // ≤ 0 is 120 s (queue_ramp_up_period)
	Max        int           // ≤ 0 is 64 (QLogic ql2xmaxqdepth)
	Every      time.Duration // as ESXiAdaptive.Every

	state map[Key]*linuxState
}

type linuxState struct {
	qfull int
	quiet time.Duration
}

// Tick is Every.
func (l *LinuxRamp) Tick() time.Duration { return l.Every }

// Control applies the interval's QUEUE FULL count and quiet time.
func (l *LinuxRamp) Control(p Period) map[Key]int {
	limit, maxDepth := orDefault(l.QFullLimit, 10), orDefault(l.Max, 64)
	ramp := l.RampUp
	if ramp <= 0 {
		ramp = 120 * time.Second
	}
	if l.state == nil {
		l.state = map[Key]*linuxState{}
	}
	w := make(map[Key]int, len(p.Obs))
	for _, o := range p.Obs {
		st := l.state[o.Key]
		if st == nil {
			st = &linuxState{}
			l.state[o.Key] = st
		}
		depth := o.Window
		if o.QFull > 0 {
			st.qfull += o.QFull
			st.quiet = 0
			if st.qfull > limit {
				depth--
				st.qfull = 0
			}
		} else {
			st.quiet += p.End - p.Start
			if st.quiet >= ramp {
				depth++
				st.quiet = 0
			}
		}
		w[o.Key] = min(max(depth, 1), maxDepth)
	}
	return w
}

// PARDA is the window controller of Gulati, Ahmad and Waldspurger (FAST
// '09), the basis of VMware SIOC, per (host, LUN):
//
//	L(t)   = (1−α)·l + α·L(t−1)               l: the period's mean latency
//	w(t+1) = (1−γ)·w(t) + γ·((𝓛/L(t))·w(t) + β)
//
// with β = BetaPerShare · the shares of the VMs on that host and LUN. At
// equilibrium windows are proportional to β and the latency is 𝓛 + Σβ/C.
// The paper's settings are α 0.002, γ 0.8 and a 2 s period.
type PARDA struct {
	Threshold    time.Duration // 𝓛; ≤ 0 is 30 ms (the SIOC default)
	Alpha        float64       // α
	Gamma        float64       // γ
	BetaPerShare float64       // β per share
	Min, Max     float64       // window clamps; Min ≤ 0 is 1, Max ≤ 0 is 256

	state map[Key]*pardaState
}

type pardaState struct {
	latency float64 // L, seconds; 0 before the first sample
	window  float64 // w
}

// NewPARDA is PARDA with the paper's α and γ.
func NewPARDA(threshold time.Duration, betaPerShare float64) *PARDA {
	return &PARDA{Threshold: threshold, Alpha: 0.002, Gamma: 0.8, BetaPerShare: betaPerShare}
}

// Window is the controller's current unrounded window for k, and whether
// it has one.
func (c *PARDA) Window(k Key) (float64, bool) {
	st, ok := c.state[k]
	if !ok {
		return 0, false
	}
	return st.window, true
}

// Control runs one PARDA step for every observed queue. A queue that
// completed nothing in the period keeps its latency estimate.
func (c *PARDA) Control(p Period) map[Key]int {
	threshold := c.Threshold
	if threshold <= 0 {
		threshold = 30 * time.Millisecond
	}
	lo, hi := c.Min, c.Max
	if lo <= 0 {
		lo = 1
	}
	if hi <= 0 {
		hi = 256
	}
	if c.state == nil {
		c.state = map[Key]*pardaState{}
	}
	w := make(map[Key]int, len(p.Obs))
	for _, o := range p.Obs {
		st := c.state[o.Key]
		if st == nil {
			st = &pardaState{window: float64(o.Window)}
			c.state[o.Key] = st
		}
		if o.Completions > 0 {
			l := o.MeanLatency.Seconds()
			if st.latency == 0 {
				st.latency = l
			} else {
				st.latency = (1-c.Alpha)*l + c.Alpha*st.latency
			}
		}
		if st.latency > 0 {
			beta := c.BetaPerShare * o.Shares
			next := (1-c.Gamma)*st.window + c.Gamma*(threshold.Seconds()/st.latency*st.window+beta)
			st.window = math.Min(math.Max(next, lo), hi)
		}
		w[o.Key] = int(math.Round(st.window))
	}
	return w
}

func orDefault(v, d int) int {
	if v <= 0 {
		return d
	}
	return v
}
