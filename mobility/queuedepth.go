package mobility

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/sanmob/sanmob/alert"
	"github.com/sanmob/sanmob/fabric/wwn"
	"github.com/sanmob/sanmob/internal/clockwait"
	"github.com/sanmob/sanmob/inventory"
	"github.com/sanmob/sanmob/qdepth"
	"github.com/sanmob/sanmob/saga"
)

// Queue depths (issue 12): hosts send I/O telemetry per (host, LUN, target
// port); every control period the samples of the period, the VMs' shares
// and the pools' thresholds go through qdepth's controller, whose
// recommendations are served per host (and streamed), raise
// QueueCongestion, and feed the gauges. Telemetry is a measurement, not a
// record: it lives in memory, and after a restart the controller starts
// again from the default depth and reconverges within a few periods.

// QueueDepthConfig tunes the queue-depth controller.
type QueueDepthConfig struct {
	// Period is the control period, on the service's clock (default 2 s,
	// PARDA's).
	Period time.Duration
	// Thresholds are latency thresholds by pool id; a pool not named gets
	// FlashThreshold or DiskThreshold by its media.
	Thresholds                    map[string]time.Duration
	FlashThreshold, DiskThreshold time.Duration
	// Settings are the controller's knobs (qdepth.Settings' defaults).
	Settings qdepth.Settings
	// MaxSamples is the most samples one telemetry batch may carry (default
	// 5,000). HostRate is how many samples per second one host may send on
	// average and HostBurst how many at once (defaults 1,000 and 10,000):
	// past that a batch is refused with the wait before it would fit.
	MaxSamples int
	HostRate   float64
	HostBurst  float64
	// Wall is the real time the rate limits run on (default time.Now): they
	// protect the daemon's CPU, which the lab's virtual clock does not
	// speed up.
	Wall func() time.Time
}

// DefaultQueueDepthPeriod is the control period when none is configured.
const DefaultQueueDepthPeriod = 2 * time.Second

func (c QueueDepthConfig) withDefaults() QueueDepthConfig {
	if c.Period <= 0 {
		c.Period = DefaultQueueDepthPeriod
	}
	if c.DiskThreshold <= 0 {
		c.DiskThreshold = qdepth.DiskThreshold
	}
	if c.FlashThreshold <= 0 {
		c.FlashThreshold = qdepth.FlashThreshold
	}
	if c.MaxSamples <= 0 {
		c.MaxSamples = 5000
	}
	if c.HostRate <= 0 {
		c.HostRate = 1000
	}
	if c.HostBurst <= 0 {
		c.HostBurst = 10000
	}
	if c.Wall == nil {
		c.Wall = time.Now
	}
	return c
}

// TelemetrySample is one host's measurement of one LUN through one target
// port (API.md, POST /telemetry/io).
type TelemetrySample struct {
	Host           string    `json:"host"`
	Volume         string    `json:"volume"`
	TargetPortWWPN string    `json:"targetPortWWPN"`
	At             time.Time `json:"at"`
	IOPS           float64   `json:"iops"`
	LatencyMs      float64   `json:"latencyMs"`       // mean device latency over the sample
	Outstanding    float64   `json:"outstanding"`     // commands outstanding: at the array plus queued in the host
	QFull          int       `json:"qfull,omitempty"` // QUEUE FULL (TASK SET FULL) replies; optional
	Busy           int       `json:"busy,omitempty"`  // BUSY replies; optional
}

// TelemetryResult says what became of a batch: accepted samples count in
// the current control period; stale ones were older than the previous
// period's start; ignored ones name a volume that a VM on another host
// uses (a host that has just lost the VM to a migration).
type TelemetryResult struct {
	Accepted int `json:"accepted"`
	Stale    int `json:"stale"`
	Ignored  int `json:"ignored"`
}

// RateLimitedError is a telemetry batch refused because its host sent too
// much: RetryAfter is when it would fit.
type RateLimitedError struct {
	Host       string
	RetryAfter time.Duration
}

func (e *RateLimitedError) Error() string {
	return fmt.Sprintf("host %s sent more telemetry than its rate allows; retry in %ds", inventory.Clip(e.Host), e.RetrySeconds())
}

// RetrySeconds is RetryAfter in whole seconds, rounded up: what a
// Retry-After header says.
func (e *RateLimitedError) RetrySeconds() int { return int(math.Ceil(e.RetryAfter.Seconds())) }

// Unwrap makes it a client error the edges map to 429.
func (e *RateLimitedError) Unwrap() error { return ErrRateLimited }

// ErrRateLimited is the sentinel of RateLimitedError.
var ErrRateLimited = fmt.Errorf("rate limited")

// QueueDepth is the recommendation for one of a host's LUNs and what it
// rests on.
type QueueDepth struct {
	Volume               string   `json:"volume"`
	WWN                  string   `json:"wwn"` // the SCSI device identifier (naa.…) the host sees the LUN as
	LUN                  *int     `json:"lun,omitempty"`
	Pool                 string   `json:"pool"`
	Array                string   `json:"array"`
	QueueDepth           int      `json:"queueDepth"`
	PreferredTargetPorts []string `json:"preferredTargetPorts"`
	// LatencyMs is the period's measured mean device latency, null when
	// the host sent no telemetry for the LUN in the period.
	LatencyMs   *float64 `json:"latencyMs"`
	ThresholdMs float64  `json:"thresholdMs"`
	IOPS        *float64 `json:"iops"`
	QFull       int      `json:"qfull"`
	Busy        int      `json:"busy"`
	// Shares is the sum of the shares of the host's VMs on the LUN (a VM
	// without shares counts as 1000); VMs are those VMs.
	Shares    int      `json:"shares"`
	VMs       []string `json:"vms"`
	Congested bool     `json:"congested"`
	// Reason is what bound the depth: shares, latency, queue-full,
	// port-budget, idle, max, or no-telemetry (the host has sent none
	// lately: the default depth, every path preferred).
	Reason string `json:"reason"`
}

// HostQueueDepths is one host's recommendations as of one control period.
type HostQueueDepths struct {
	Host          string       `json:"host"`
	At            *time.Time   `json:"at"` // the control period's end; null before the first
	PeriodSeconds float64      `json:"periodSeconds"`
	Items         []QueueDepth `json:"items"`
}

type qdKey = qdepth.QueueKey

// qdAcc is one (host, volume) queue's telemetry in the current period.
type qdAcc struct {
	ports       map[string]*qdPortAcc
	qfull, busy int
}

type qdPortAcc struct {
	n                          int
	iops, latIOPS, lat, outstd float64
}

type qdBucket struct {
	tokens float64
	at     time.Time
}

// queueDepths is the controller's loop and what it last decided.
type queueDepths struct {
	s   *Service
	cfg QueueDepthConfig
	ctl qdepth.Controller

	stepMu sync.Mutex // one step (a period's or a reshare) at a time

	idxMu sync.Mutex
	idx   *qdIndex           // who uses each volume (usersIndex)
	paths map[string]qdPaths // each VM's ports per volume (portsOf)

	mu       sync.Mutex
	acc      map[qdKey]*qdAcc
	periodAt time.Time // the current period's start
	lastSeen map[string]time.Time
	buckets  map[string]*qdBucket // by source and host
	counts   map[string]uint64    // telemetry samples by result
	prev     qdepth.State         // the state before the last step
	state    qdepth.State         // after it
	lastIn   qdepth.Input         // the last step's input (for a reshare)
	out      map[string][]QueueDepth
	at       time.Time
	alerts   map[qdKey]map[string]string // raised QueueCongestion labels
	critCalm map[qdKey]int               // periods without QUEUE FULL/BUSY of a critical QueueCongestion
	left     map[qdKey]time.Time         // (host, volume) whose VM moved away, until when its samples are ignored
	subs     map[*qdSub]struct{}
	closed   bool // the loop has stopped: new watches end at once
}

type qdSub struct {
	host string
	ch   chan HostQueueDepths
	gone bool
}

func newQueueDepths(s *Service, cfg QueueDepthConfig) *queueDepths {
	cfg = cfg.withDefaults()
	return &queueDepths{s: s, cfg: cfg, ctl: qdepth.Controller{Settings: cfg.Settings},
		acc: map[qdKey]*qdAcc{}, lastSeen: map[string]time.Time{}, buckets: map[string]*qdBucket{}, counts: map[string]uint64{}, paths: map[string]qdPaths{},
		out: map[string][]QueueDepth{}, alerts: map[qdKey]map[string]string{}, critCalm: map[qdKey]int{}, left: map[qdKey]time.Time{}, subs: map[*qdSub]struct{}{}}
}

// IngestTelemetry validates a batch and adds it to the current control
// period. A batch is taken whole or not at all: the first bad sample is a
// FieldError naming it; a host over its rate a RateLimitedError. source
// names the sender (the API's token name): each sender has its own bucket
// per host, so that one client flooding in a host's name cannot starve the
// host's own agent; "" is the daemon itself (the lab's agents), which is
// not rate-limited.
func (s *Service) IngestTelemetry(ctx context.Context, source string, samples []TelemetrySample) (TelemetryResult, error) {
	if !s.started.Load() {
		// Before the inventory has loaded every host and volume would look
		// unknown: a 400 an agent would take for good.
		return TelemetryResult{}, fmt.Errorf("the inventory is still loading; send the batch again in a few seconds: %w", ErrNotReady)
	}
	res, err := s.qd.ingest(ctx, source, samples)
	s.qd.count(res, err, len(samples))
	return res, err
}

func (q *queueDepths) ingest(ctx context.Context, source string, samples []TelemetrySample) (TelemetryResult, error) {
	var res TelemetryResult
	if len(samples) == 0 {
		return res, invalid("samples", "the batch is empty")
	}
	if len(samples) > q.cfg.MaxSamples {
		return res, invalid("samples", "%d samples in one batch; at most %d", len(samples), q.cfg.MaxSamples)
	}
	now := q.s.clk.Now()
	owner, portOf, err := q.validate(ctx, samples, now)
	if err != nil {
		return res, err
	}
	perHost := map[string]int{}
	for _, x := range samples {
		perHost[x.Host]++
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if source != "" { // "" is the daemon's own (the lab's agents): not limited
		if err := q.admitLocked(source, perHost); err != nil {
			return res, err
		}
	}
	oldest := q.periodAt.Add(-max(q.cfg.Period, staleAfter))
	for i, x := range samples {
		if _, ok := owner[i]; ok {
			res.Ignored++
			continue
		}
		if x.At.Before(oldest) {
			res.Stale++
			continue
		}
		k := qdKey{Host: x.Host, Volume: x.Volume}
		a := q.acc[k]
		if a == nil {
			a = &qdAcc{ports: map[string]*qdPortAcc{}}
			q.acc[k] = a
		}
		p := a.ports[portOf[i]]
		if p == nil {
			p = &qdPortAcc{}
			a.ports[portOf[i]] = p
		}
		p.n++
		p.iops += x.IOPS
		p.latIOPS += x.IOPS * x.LatencyMs
		p.lat += x.LatencyMs
		p.outstd += x.Outstanding
		a.qfull += x.QFull
		a.busy += x.Busy
		q.lastSeen[x.Host] = now
		res.Accepted++
	}
	return res, nil
}

// count adds a batch's outcome to the telemetry counters.
func (q *queueDepths) count(res TelemetryResult, err error, n int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	var rl *RateLimitedError
	switch {
	case err == nil:
		q.counts["accepted"] += uint64(res.Accepted)
		q.counts["stale"] += uint64(res.Stale)
		q.counts["ignored"] += uint64(res.Ignored)
	case errors.As(err, &rl):
		q.counts["limited"] += uint64(n)
	default:
		q.counts["rejected"] += uint64(n)
	}
}

// TelemetryCounts is how many samples were accepted, stale, ignored,
// rejected (in a batch refused as bad input) and limited (in a batch
// refused by a host's rate) since the start, for the metrics.
func (s *Service) TelemetryCounts() map[string]uint64 {
	s.qd.mu.Lock()
	defer s.qd.mu.Unlock()
	out := map[string]uint64{"accepted": 0, "stale": 0, "ignored": 0, "rejected": 0, "limited": 0}
	maps.Copy(out, s.qd.counts)
	return out
}

// validate checks every sample and returns, by index, the host of the VM
// that uses a sample's volume when that VM runs on another host (those
// samples are ignored), and each sample's target port in canonical form. A sample must name a volume the host has: one a VM
// on it uses, or one attached to the host itself; and a target port the
// host's paths to it run through.
func (q *queueDepths) validate(ctx context.Context, samples []TelemetrySample, now time.Time) (map[int]string, []string, error) {
	inv := q.s.Inventory
	ports := map[string]string{} // target port WWPN → array
	for _, a := range inv.Arrays() {
		for _, p := range a.TargetPorts {
			ports[p.WWPN.String()] = a.ID
		}
	}
	owner := map[int]string{}
	future := now.Add(max(time.Minute, 2*q.cfg.Period))
	users := q.usersIndex(2 * time.Second)
	paths := map[qdKey][]string{}     // the ports each (host, volume) of the batch may name
	vmsOf := map[qdKey][]string{}     // the VMs on host using volume, whose topology says
	updated := map[string]time.Time{} // those VMs' records' UpdatedAt
	portOf := make([]string, len(samples))
	err := func() error {
		inv.RLock()
		defer inv.RUnlock()
		for i, x := range samples {
			f := func(name string) string { return fmt.Sprintf("[%d].%s", i, name) }
			if x.Host == "" {
				return invalid(f("host"), "required")
			}
			if _, ok := inv.HostLocked(x.Host); !ok {
				return invalid(f("host"), "no such host %q", inventory.Clip(x.Host))
			}
			if x.Volume == "" {
				return invalid(f("volume"), "required")
			}
			v, ok := inv.VolumeLocked(x.Volume)
			if !ok {
				return invalid(f("volume"), "no such volume %q", inventory.Clip(x.Volume))
			}
			w, err := wwn.Parse(x.TargetPortWWPN)
			if err != nil {
				return invalid(f("targetPortWWPN"), "not a WWPN: %v", err)
			}
			portOf[i] = w.String()
			arr, ok := ports[portOf[i]]
			if !ok {
				return invalid(f("targetPortWWPN"), "%s is no array's target port", w)
			}
			if arr != v.Array {
				return invalid(f("targetPortWWPN"), "%s is a port of array %s; volume %s is on %s", w, arr, v.ID, v.Array)
			}
			if x.At.IsZero() {
				return invalid(f("at"), "required (RFC 3339)")
			}
			if x.At.After(future) {
				return invalid(f("at"), "%s is in the future (now %s)", x.At.Format(time.RFC3339), now.Format(time.RFC3339))
			}
			for _, n := range []struct {
				name string
				v    float64
				max  float64
			}{{"iops", x.IOPS, 1e8}, {"latencyMs", x.LatencyMs, 3.6e6}, {"outstanding", x.Outstanding, 1e6},
				{"qfull", float64(x.QFull), 1e9}, {"busy", float64(x.Busy), 1e9}} {
				if n.v < 0 || math.IsNaN(n.v) {
					return invalid(f(n.name), "must not be negative")
				}
				if n.v > n.max {
					return invalid(f(n.name), "%g is past any device's (at most %g)", n.v, n.max)
				}
			}
			k := qdKey{Host: x.Host, Volume: x.Volume}
			byHost := users[x.Volume]
			if len(byHost[x.Host]) == 0 {
				// The index may be older than a VM made or moved since:
				// ask the records themselves for this one.
				if vms := q.s.vmsUsingLocked(x.Host, x.Volume); len(vms) > 0 {
					byHost = map[string][]string{x.Host: vms}
				}
			}
			switch {
			case len(byHost[x.Host]) > 0:
				vmsOf[k] = byHost[x.Host]
				for _, id := range byHost[x.Host] {
					if vm, ok := inv.VMLocked(id); ok {
						updated[id] = vm.UpdatedAt
					}
				}
			case len(byHost) > 0:
				elsewhere := slices.Sorted(maps.Keys(byHost))[0]
				if !q.leftRecently(x.Volume, x.Host, now) {
					return invalid(f("volume"), "volume %s is used by %s on host %s, not by a VM on host %s", v.ID,
						strings.Join(byHost[elsewhere], ", "), elsewhere, inventory.Clip(x.Host))
				}
				owner[i] = elsewhere // its VM has just moved away: ignored
			default:
				rec, ok := q.s.attachments[attachKey(x.Volume, x.Host)]
				if !ok {
					return invalid(f("volume"), "volume %s is used by no VM on host %s and not attached to it", v.ID, inventory.Clip(x.Host))
				}
				if _, seen := paths[k]; !seen {
					paths[k] = []string{}
					for _, p := range rec.TargetPorts {
						paths[k] = append(paths[k], p.String())
					}
				}
			}
		}
		return nil
	}()
	if err != nil {
		return nil, nil, err
	}
	for k, vms := range vmsOf {
		for _, vm := range vms {
			ports, err := q.portsOf(ctx, vm, updated[vm])
			if err != nil {
				return nil, nil, err
			}
			paths[k] = append(paths[k], ports[k.Volume]...)
		}
	}
	for i, x := range samples {
		if _, ok := owner[i]; ok {
			continue
		}
		if ps := paths[qdKey{Host: x.Host, Volume: x.Volume}]; !slices.Contains(ps, portOf[i]) {
			slices.Sort(ps)
			return nil, nil, invalid(fmt.Sprintf("[%d].targetPortWWPN", i), "host %s has no path to volume %s through %s; its paths run through %v",
				inventory.Clip(x.Host), x.Volume, portOf[i], slices.Compact(ps))
		}
	}
	return owner, portOf, nil
}

// admitLocked takes the batch's samples from each host's bucket, or none.
func (q *queueDepths) admitLocked(source string, perHost map[string]int) error {
	now := q.cfg.Wall()
	hosts := slices.Sorted(maps.Keys(perHost))
	for _, h := range hosts {
		b := q.bucket(source+"\x00"+h, now)
		if need := float64(perHost[h]); need > b.tokens {
			wait := time.Duration((need - b.tokens) / q.cfg.HostRate * float64(time.Second))
			if need > q.cfg.HostBurst {
				wait = time.Duration(need / q.cfg.HostRate * float64(time.Second))
			}
			return &RateLimitedError{Host: h, RetryAfter: max(wait, time.Second)}
		}
	}
	for _, h := range hosts {
		q.buckets[source+"\x00"+h].tokens -= float64(perHost[h])
	}
	return nil
}

func (q *queueDepths) bucket(h string, now time.Time) *qdBucket {
	b := q.buckets[h]
	if b == nil {
		b = &qdBucket{tokens: q.cfg.HostBurst, at: now}
		q.buckets[h] = b
	}
	if d := now.Sub(b.at); d > 0 {
		b.tokens = min(q.cfg.HostBurst, b.tokens+d.Seconds()*q.cfg.HostRate)
		b.at = now
	}
	return b
}

// volumeUsersLocked maps each volume a VM uses to the hosts of those VMs
// and, on each, the VMs; the caller holds the inventory's lock.
func (s *Service) volumeUsersLocked() map[string]map[string][]string {
	out := map[string]map[string][]string{}
	s.VMsLocked(func(vm *inventory.VM) bool {
		for _, r := range vm.Volumes {
			if out[r.ID] == nil {
				out[r.ID] = map[string][]string{}
			}
			out[r.ID][vm.Host] = append(out[r.ID][vm.Host], vm.ID)
		}
		return true
	})
	return out
}

// run closes a control period every Period until ctx ends.
func (q *queueDepths) run(ctx context.Context) {
	q.mu.Lock()
	q.periodAt = q.s.clk.Now()
	q.mu.Unlock()
	defer q.closeSubs()
	for clockwait.Sleep(ctx, q.s.cfg.Clock, q.cfg.Period) == nil {
		q.step(ctx, false)
	}
}

// step closes the current period (or, for a reshare, re-runs the last one
// against today's placement and shares) and publishes the result.
func (q *queueDepths) step(ctx context.Context, reshare bool) {
	q.stepMu.Lock()
	defer q.stepMu.Unlock()
	now := q.s.clk.Now()
	q.mu.Lock()
	var samples map[qdKey]*qdepth.Sample
	prev := q.state
	if reshare {
		if q.at.IsZero() {
			q.mu.Unlock()
			return
		}
		prev = q.prev
		samples = map[qdKey]*qdepth.Sample{}
		for _, x := range q.lastIn.Queues {
			if x.Sample != nil {
				samples[qdKey{Host: x.Host, Volume: x.Volume}] = x.Sample
			}
		}
		now = q.at
		last := q.lastIn.Queues
		q.mu.Unlock()
		samples, prev = q.s.carryMoved(samples, prev, last)
		q.mu.Lock()
	} else {
		samples = make(map[qdKey]*qdepth.Sample, len(q.acc))
		for k, a := range q.acc {
			samples[k] = a.sample()
		}
		q.acc = map[qdKey]*qdAcc{}
		q.periodAt = now
	}
	reporting := map[string]bool{}
	quiet := 10 * q.cfg.Period
	for h, at := range q.lastSeen {
		if now.Sub(at) <= quiet {
			reporting[h] = true
		} else {
			delete(q.lastSeen, h)
		}
	}
	q.mu.Unlock()

	in, meta := q.s.queueInput(ctx, now, reporting, samples, q.cfg)
	next, ds := q.ctl.Step(prev, in)

	out := map[string][]QueueDepth{}
	for _, d := range ds {
		k := qdKey{Host: d.Host, Volume: d.Volume}
		qd := *meta[k]
		qd.QueueDepth = d.QueueDepth
		qd.PreferredTargetPorts = nonNil(d.PreferredTargetPorts)
		qd.Congested = d.Congested
		qd.Reason = d.Reason
		if x := samples[k]; x != nil {
			lat, iops := float64(x.Latency)/float64(time.Millisecond), x.IOPS
			qd.LatencyMs, qd.IOPS, qd.QFull, qd.Busy = &lat, &iops, x.QFull, x.Busy
		}
		out[d.Host] = append(out[d.Host], qd)
	}
	q.mu.Lock()
	if !reshare {
		q.prev = prev
	}
	q.state, q.lastIn, q.at = next, in, now
	changed := map[string]bool{}
	for h, items := range out {
		if !slices.EqualFunc(items, q.out[h], sameDepth) {
			changed[h] = true
		}
	}
	for h := range q.out {
		if _, ok := out[h]; !ok {
			changed[h] = true
		}
	}
	q.out = out
	q.congestionLocked(out)
	for sub := range q.subs {
		if changed[sub.host] && !sub.gone {
			select {
			case sub.ch <- q.hostLocked(sub.host):
			default:
				sub.gone = true // too slow: the stream ends, the client reconnects
				close(sub.ch)
			}
		}
	}
	q.mu.Unlock()
}

// sameDepth tells whether a host has anything new to act on: a depth,
// preferred ports, congestion, or whose shares the queue carries. The
// latency and the reason move every period and are not news by themselves.
func sameDepth(a, b QueueDepth) bool {
	return a.Volume == b.Volume && a.QueueDepth == b.QueueDepth && slices.Equal(a.PreferredTargetPorts, b.PreferredTargetPorts) &&
		a.Congested == b.Congested && a.Shares == b.Shares && slices.Equal(a.VMs, b.VMs)
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func (a *qdAcc) sample() *qdepth.Sample {
	x := &qdepth.Sample{QFull: a.qfull, Busy: a.busy, PortIOPS: map[string]float64{}}
	var latIOPS, lat float64
	var n int
	for port, p := range a.ports {
		iops := p.iops / float64(p.n)
		x.PortIOPS[port] = iops
		x.IOPS += iops
		x.Outstanding += p.outstd / float64(p.n)
		latIOPS += p.latIOPS / float64(p.n)
		lat += p.lat
		n += p.n
	}
	ms := lat / float64(max(n, 1))
	if x.IOPS > 0 {
		ms = latIOPS / x.IOPS
	}
	x.Latency = time.Duration(ms * float64(time.Millisecond))
	return x
}

// queueInput builds the controller's input: one queue per (host, volume)
// of every VM on a reporting host, plus the volumes those hosts reported
// that no VM on another host uses, with the VMs' shares, the pools'
// thresholds, the ports the paths run through and the ports' limits.
func (s *Service) queueInput(ctx context.Context, now time.Time, reporting map[string]bool,
	samples map[qdKey]*qdepth.Sample, cfg QueueDepthConfig) (qdepth.Input, map[qdKey]*QueueDepth) {
	in := qdepth.Input{Now: now}
	if len(reporting) == 0 {
		return in, map[qdKey]*QueueDepth{}
	}
	for _, a := range s.Inventory.Arrays() {
		for _, p := range a.TargetPorts {
			in.Ports = append(in.Ports, qdepth.PortLimit{WWPN: p.WWPN.String(), QueueLimit: p.QueueLimit, Fabric: p.Fabric})
		}
	}
	media := map[string]string{}
	for _, p := range s.Inventory.Pools("") {
		media[p.ID] = p.Media
	}
	meta := map[qdKey]*QueueDepth{} // the answer's part that is not the controller's
	queues := map[qdKey]*qdepth.Queue{}
	add := func(host string, vol inventory.Volume) *qdepth.Queue {
		k := qdKey{Host: host, Volume: vol.ID}
		if q := queues[k]; q != nil {
			return q
		}
		q := &qdepth.Queue{Host: host, Volume: vol.ID, Pool: vol.Pool, Threshold: cfg.threshold(vol.Pool, media[vol.Pool]), Sample: samples[k]}
		queues[k] = q
		meta[k] = &QueueDepth{Volume: vol.ID, WWN: vol.WWN, LUN: vol.LUN, Pool: vol.Pool, Array: vol.Array,
			ThresholdMs: float64(q.Threshold) / float64(time.Millisecond), VMs: []string{}, PreferredTargetPorts: []string{}}
		return q
	}
	users := map[string]string{}
	var vms []inventory.VM
	s.RLock()
	s.VMsLocked(func(vm *inventory.VM) bool {
		for _, r := range vm.Volumes {
			users[r.ID] = vm.Host
		}
		if reporting[vm.Host] {
			vms = append(vms, *vm)
		}
		return true
	})
	s.RUnlock()
	slices.SortFunc(vms, func(a, b inventory.VM) int { return strings.Compare(a.ID, b.ID) })
	for _, vm := range vms {
		ports, err := s.qd.portsOf(ctx, vm.ID, vm.UpdatedAt)
		if err != nil {
			continue
		}
		for _, r := range vm.Volumes {
			vol, err := s.Inventory.Volume(r.ID)
			if err != nil {
				continue
			}
			q := add(vm.Host, vol)
			shares := vm.Shares
			if shares <= 0 {
				shares = 1000
			}
			q.Shares += float64(shares)
			m := meta[qdKey{Host: vm.Host, Volume: vol.ID}]
			lun := r.LUN
			m.LUN = &lun
			m.Shares += shares
			m.VMs = append(m.VMs, vm.ID)
			for _, p := range ports[vol.ID] {
				if !slices.Contains(q.Ports, p) {
					q.Ports = append(q.Ports, p)
				}
			}
		}
	}
	for k, x := range samples {
		if queues[k] != nil || !reporting[k.Host] {
			continue
		}
		if h, ok := users[k.Volume]; ok && h != k.Host {
			continue // the VM that uses it runs elsewhere now
		}
		vol, err := s.Inventory.Volume(k.Volume)
		if err != nil {
			continue
		}
		q := add(k.Host, vol)
		q.Shares = 1000
		meta[k].Shares = 1000
		for p := range x.PortIOPS {
			q.Ports = append(q.Ports, p)
		}
	}
	for _, q := range queues {
		if len(q.Ports) == 0 && q.Sample != nil {
			for p := range q.Sample.PortIOPS {
				q.Ports = append(q.Ports, p)
			}
		}
		sort.Strings(q.Ports)
		in.Queues = append(in.Queues, *q)
	}
	slices.SortFunc(in.Queues, func(a, b qdepth.Queue) int {
		return strings.Compare(a.Host+"\x00"+a.Volume, b.Host+"\x00"+b.Volume)
	})
	return in, meta
}

func (c QueueDepthConfig) threshold(pool, media string) time.Duration {
	if t, ok := c.Thresholds[pool]; ok && t > 0 {
		return t
	}
	if media == "flash" {
		return c.FlashThreshold
	}
	return c.DiskThreshold
}

// congestionLocked raises QueueCongestion for each congested queue —
// critical while the array answers QUEUE FULL or BUSY, warning for latency
// alone — and resolves the ones that cleared or whose queue went away.
func (q *queueDepths) congestionLocked(out map[string][]QueueDepth) {
	seen := map[qdKey]bool{}
	for host, items := range out {
		for _, d := range items {
			k := qdKey{Host: host, Volume: d.Volume}
			if !d.Congested {
				continue
			}
			seen[k] = true
			// Critical at the first QUEUE FULL or BUSY; back to warning
			// only after ClearAfter periods without any, so that a queue
			// on the edge does not page and unpage every period.
			sev := alert.Warning
			if d.QFull+d.Busy > 0 {
				sev = alert.Critical
				q.critCalm[k] = 0
			} else if old := q.alerts[k]; old != nil && old["severity"] == alert.Critical {
				q.critCalm[k]++
				if q.critCalm[k] < q.cfg.Settings.WithDefaults().ClearAfter {
					sev = alert.Critical
				}
			}
			labels := map[string]string{"alertname": alert.QueueCongestion, "severity": sev, "host": host,
				"volume": d.Volume, "pool": d.Pool, "array": d.Array}
			if old := q.alerts[k]; old != nil && old["severity"] != sev {
				q.s.alerts.Set(old, nil, false)
			}
			lat := "no latency measured"
			if d.LatencyMs != nil {
				lat = fmt.Sprintf("latency %.1f ms", *d.LatencyMs)
			}
			summary := fmt.Sprintf("host %s, volume %s (pool %s): %s against a threshold of %.1f ms, %d QUEUE FULL and %d BUSY in the last period; recommended queue depth %d",
				host, d.Volume, d.Pool, lat, d.ThresholdMs, d.QFull, d.Busy, d.QueueDepth)
			if q.s.alerts.Set(labels, map[string]string{"summary": summary}, true) {
				q.s.log.WithFields(logrus.Fields{"host": host, "volume": d.Volume, "severity": sev}).Warn(summary)
			}
			q.alerts[k] = labels
		}
	}
	for k, labels := range q.alerts {
		if !seen[k] {
			q.s.alerts.Set(labels, nil, false)
			delete(q.alerts, k)
			delete(q.critCalm, k)
		}
	}
}

// reshare re-runs the last control period against the placement and
// shares as they are now: a migration's cutover calls it in the same step
// that moves the VM's record, so that its shares govern its LUNs on the
// destination host and the source forgets it without waiting a period.
func (q *queueDepths) reshare() {
	q.idxMu.Lock()
	q.idx = nil // the placement changed: the users index is out of date
	q.idxMu.Unlock()
	q.step(context.Background(), true)
}

// HostQueueDepths returns a host's recommendations; ErrNotFound for a host
// the inventory does not have. A host that has sent no telemetry lately
// gets its VMs' LUNs at the default depth, every path preferred.
func (s *Service) HostQueueDepths(ctx context.Context, host string) (HostQueueDepths, error) {
	if !s.started.Load() {
		return HostQueueDepths{}, fmt.Errorf("the inventory is still loading: %w", ErrNotReady)
	}
	if _, err := s.Inventory.Host(host); err != nil {
		return HostQueueDepths{}, err
	}
	q := s.qd
	q.mu.Lock()
	out := q.hostLocked(host)
	q.mu.Unlock()
	if len(out.Items) > 0 {
		return out, nil
	}
	in, meta := s.queueInput(ctx, s.clk.Now(), map[string]bool{host: true}, nil, q.cfg)
	def := q.ctl.Settings.WithDefaults()
	for _, x := range in.Queues {
		v := *meta[qdKey{Host: x.Host, Volume: x.Volume}]
		v.QueueDepth, v.PreferredTargetPorts, v.Reason = def.Default, nonNil(x.Ports), "no-telemetry"
		out.Items = append(out.Items, v)
	}
	return out, nil
}

func (q *queueDepths) hostLocked(host string) HostQueueDepths {
	out := HostQueueDepths{Host: host, PeriodSeconds: q.cfg.Period.Seconds(), Items: slices.Clone(q.out[host])}
	if !q.at.IsZero() {
		at := q.at
		out.At = &at
	}
	if out.Items == nil {
		out.Items = []QueueDepth{}
	}
	return out
}

// WatchQueueDepths subscribes to a host's recommendations: the channel
// gets the host's view each time a control period changes it, and is
// closed when the reader falls behind (it should subscribe again) or
// cancel is called.
func (s *Service) WatchQueueDepths(host string) (<-chan HostQueueDepths, func()) {
	q := s.qd
	sub := &qdSub{host: host, ch: make(chan HostQueueDepths, 8)}
	q.mu.Lock()
	q.subs[sub] = struct{}{}
	if q.closed {
		sub.gone = true
		close(sub.ch)
	}
	q.mu.Unlock()
	return sub.ch, func() {
		q.mu.Lock()
		defer q.mu.Unlock()
		if _, ok := q.subs[sub]; ok {
			delete(q.subs, sub)
			if !sub.gone {
				sub.gone = true
				close(sub.ch)
			}
		}
	}
}

// QueueDepthsAll is every host's recommendations as of the last period,
// for the gauges.
func (s *Service) QueueDepthsAll() map[string][]QueueDepth {
	q := s.qd
	q.mu.Lock()
	defer q.mu.Unlock()
	out := make(map[string][]QueueDepth, len(q.out))
	for h, items := range q.out {
		out[h] = slices.Clone(items)
	}
	return out
}

// reshared runs an activate step, then, once the VM's record says where it
// runs, the queue-depth reshare: the VM's shares govern its LUNs on the
// host it is now on, in the same step.
func (s *Service) reshared(do stepFn) stepFn {
	return func(ctx context.Context, x *saga.Exec) error {
		if err := do(ctx, x); err != nil {
			return err
		}
		s.qd.reshare()
		return nil
	}
}

// StepQueueDepths closes the current control period now instead of at its
// time, as the loop would: for tests that drive periods themselves.
func (s *Service) StepQueueDepths(ctx context.Context) { s.qd.step(ctx, false) }

// carryMoved moves, for every volume whose VMs now run on one other host
// than the one its last period's sample came from, that sample and that
// queue's window to the new host: a migrated VM's I/O goes with it, so the
// destination's split counts it at once, with the depth it had converged
// to rather than the default.
func (s *Service) carryMoved(samples map[qdKey]*qdepth.Sample, st qdepth.State, last []qdepth.Queue) (map[qdKey]*qdepth.Sample, qdepth.State) {
	// reshare dropped the index before it called this: it is built anew
	// here, from the placement as it now is, and serves the next batches.
	users := s.qd.usersIndex(2 * time.Second)
	for _, x := range last {
		if hosts := users[x.Volume]; len(hosts) > 0 && len(hosts[x.Host]) == 0 {
			s.qd.noteLeft(x.Volume, x.Host) // its VM has left the host
		}
	}
	out := make(map[qdKey]*qdepth.Sample, len(samples))
	for k, x := range samples {
		hosts := users[k.Volume]
		if len(hosts) != 1 || len(hosts[k.Host]) > 0 {
			out[k] = x
			continue
		}
		var dst string
		for h := range hosts {
			dst = h
		}
		to := qdKey{Host: dst, Volume: k.Volume}
		if _, ok := samples[to]; ok {
			continue // the destination measures it itself
		}
		out[to] = x
		st = st.Moved(k, to)
	}
	return out, st
}

// qdIndex is which hosts' VMs use each volume, as of when it was built.
type qdIndex struct {
	built time.Time // wall time
	users map[string]map[string][]string
}

// usersIndex returns the volume → host → VMs index, rebuilt when older than
// maxAge of real time: one scan of every VM serves every batch meanwhile.
func (q *queueDepths) usersIndex(maxAge time.Duration) map[string]map[string][]string {
	q.idxMu.Lock()
	defer q.idxMu.Unlock()
	now := q.cfg.Wall()
	if q.idx == nil || now.Sub(q.idx.built) > maxAge || now.Before(q.idx.built) {
		q.s.RLock()
		users := q.s.volumeUsersLocked()
		q.s.RUnlock()
		q.idx = &qdIndex{built: now, users: users}
	}
	return q.idx.users
}

// vmsUsingLocked is the VMs on host that use volume, from the records; the
// caller holds the inventory's lock.
func (s *Service) vmsUsingLocked(host, volume string) []string {
	var out []string
	s.VMsLocked(func(vm *inventory.VM) bool {
		if vm.Host == host && slices.ContainsFunc(vm.Volumes, func(r inventory.VolumeRef) bool { return r.ID == volume }) {
			out = append(out, vm.ID)
		}
		return true
	})
	return out
}

// qdPaths is a VM's target ports per volume, from its topology.
type qdPaths struct {
	updated time.Time // the VM record's UpdatedAt when read
	at      time.Time // the service's clock when read
	ports   map[string][]string
}

// portsOf is the target ports a VM's paths to each of its volumes run
// through, kept for pathTTL periods of the service's clock or until the
// VM's record changes: a period reads each VM's topology far less often
// than it runs.
func (q *queueDepths) portsOf(ctx context.Context, vmID string, updated time.Time) (map[string][]string, error) {
	now := q.s.clk.Now()
	q.idxMu.Lock()
	c, ok := q.paths[vmID]
	q.idxMu.Unlock()
	if ok && c.updated.Equal(updated) && now.Sub(c.at) < pathTTL*q.cfg.Period && !now.Before(c.at) {
		return c.ports, nil
	}
	top, err := q.s.ModelTopology(vmID)
	if err != nil {
		return nil, err
	}
	ports := map[string][]string{}
	for _, p := range top.Paths {
		if !p.TargetPortWWPN.IsZero() && !slices.Contains(ports[p.Volume], p.TargetPortWWPN.String()) {
			ports[p.Volume] = append(ports[p.Volume], p.TargetPortWWPN.String())
		}
	}
	q.idxMu.Lock()
	if len(q.paths) > 2*q.s.Counts()["vms"]+64 {
		clear(q.paths) // VMs deleted since: start again
	}
	q.paths[vmID] = qdPaths{updated: updated, at: now, ports: ports}
	q.idxMu.Unlock()
	return ports, nil
}

// pathTTL is how many control periods a VM's paths are trusted for: a zone
// repaired or a path gone shows in the recommendations within it.
const pathTTL = 15

// noteLeft records that volume's VM has moved away from host: for a while
// the host's agent may still report it, and those samples are ignored
// rather than refused.
func (q *queueDepths) noteLeft(volume, host string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	now := q.s.clk.Now()
	for k, until := range q.left {
		if now.After(until) {
			delete(q.left, k)
		}
	}
	q.left[qdKey{Host: host, Volume: volume}] = now.Add(leftGrace * q.cfg.Period)
}

// leftRecently reports whether volume's VM moved away from host within the
// last leftGrace periods.
func (q *queueDepths) leftRecently(volume, host string, now time.Time) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	until, ok := q.left[qdKey{Host: host, Volume: volume}]
	return ok && !now.After(until)
}

// leftGrace is how many periods a host's samples for a VM that moved away
// are ignored before they are refused as naming a volume the host lacks.
const leftGrace = 10

// closeSubs ends every watch: the control loop has stopped, so nothing more
// will come (a stream kept open on heartbeats alone would look alive).
func (q *queueDepths) closeSubs() {
	q.mu.Lock()
	defer q.mu.Unlock()
	for sub := range q.subs {
		if !sub.gone {
			sub.gone = true
			close(sub.ch)
		}
	}
	q.closed = true
}

// staleAfter is the least age past the current period's start at which a
// sample is stale: an agent's batch may arrive a period late, and on the
// lab a period is a few tens of real milliseconds.
const staleAfter = 10 * time.Second

// UnknownThresholdPools lists the pools QueueDepthConfig.Thresholds names
// that no array reports (a typo in the config, or a pool not read yet).
func (s *Service) UnknownThresholdPools() []string {
	known := map[string]bool{}
	for _, p := range s.Inventory.Pools("") {
		known[p.ID] = true
	}
	var out []string
	for id := range s.qd.cfg.Thresholds {
		if !known[id] {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}
