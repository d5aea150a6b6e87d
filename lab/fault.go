package lab

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/sanmob/sanmob/internal/clockwait"
)

// Errors of fault injection.
var (
	// ErrInvalidFault: InjectFault refused the fault.
	ErrInvalidFault = errors.New("lab: invalid fault")
	// ErrInjected is wrapped by every failure a fault causes, transient or
	// final, so a test can tell a scripted failure from a real one.
	ErrInjected = errors.New("lab: injected fault")
)

// Operations a fault can match. OpAny matches every one, OpRead every read
// method of the drivers.
const (
	OpCommit    = "commit"    // enabling a fabric's zone configuration
	OpZone      = "zone"      // defining or changing zone objects
	OpMask      = "mask"      // presenting or unpresenting a volume
	OpVolume    = "volume"    // creating, expanding or deleting a volume or snapshot
	OpLogin     = "login"     // a vport logging in (FDISC) or out
	OpReplicate = "replicate" // copying data between arrays over a link
	OpMove      = "move"      // moving a VM between hosts (source and destination host)
	OpPower     = "power"     // powering a VM off or on (its host)
	OpRead      = "read"
	OpAny       = "any"
)

// Kinds of failure.
const (
	// KindUnavailable (the default) is transient: the device was busy or
	// unreachable; the error wraps the driver package's ErrUnavailable.
	KindUnavailable = "unavailable"
	// KindFinal definitely failed: the caller must undo, not retry.
	KindFinal = "final"
	// KindAppliedTimeout takes effect yet reports a transient error, like a
	// commit that is applied after the caller's timeout: the trap that makes
	// "verify after a timeout" necessary.
	KindAppliedTimeout = "applied-timeout"
)

// Fault makes matching operations fail or slow down. A fault on a host also
// disturbs the hypervisor manager's reads, whose inventory spans that host.
// A fault on a link with op "any" and no latency also takes the link down
// while it is active: replication over it stops (replication.go).
type Fault struct {
	Target  string        // fabric id, array id, host id, or "link:SITE-SITE"; required
	Op      string        // commit|zone|mask|volume|login|replicate|move|power|read|any; required
	Count   int           // the next Count matching ops; or
	Rate    float64       // a share in (0,1] of them, drawn from the world's seeded RNG, with no limit (one of Count and Rate)
	Latency time.Duration // > 0: delay matching ops by this much virtual time instead of failing them
	Kind    string        // unavailable (default), final, applied-timeout; empty for a latency fault
}

type targetKind uint8

const (
	fabricTarget targetKind = iota + 1
	arrayTarget
	hostTarget
	linkTarget
)

const linkPrefix = "link:"

// anyHost is the target the hypervisor manager's own operations name: they
// are disturbed by a fault on any of its hosts.
const anyHost = "\x00host"

// opsByTarget says which operations a device of each kind performs, so that
// a fault that could never fire (a commit on an array) is refused.
var opsByTarget = map[targetKind][]string{
	fabricTarget: {OpCommit, OpZone, OpLogin, OpRead, OpAny},
	arrayTarget:  {OpVolume, OpMask, OpReplicate, OpRead, OpAny},
	hostTarget:   {OpLogin, OpMove, OpPower, OpRead, OpAny},
	linkTarget:   {OpReplicate, OpAny},
}

type activeFault struct {
	Fault
	kind    targetKind
	limited bool // Count was > 0: the fault ends when it reaches 0
}

// InjectFault adds a fault after the active ones; an operation consults them
// in the order they were injected.
func (w *World) InjectFault(f Fault) error {
	af, err := w.checkFault(f)
	if err != nil {
		return err
	}
	// A link fault may take the link down: replication progress up to now
	// follows the table without it (replication.go).
	w.faultsChanged(func() {
		w.faultMu.Lock()
		defer w.faultMu.Unlock()
		w.faults = append(w.faults, af)
	})
	return nil
}

func (w *World) checkFault(f Fault) (activeFault, error) {
	invalid := func(format string, args ...any) (activeFault, error) {
		return activeFault{}, fmt.Errorf("%w: %s", ErrInvalidFault, fmt.Sprintf(format, args...))
	}
	af := activeFault{Fault: f}
	switch {
	case f.Target == "":
		return invalid("target is required")
	case strings.HasPrefix(f.Target, linkPrefix):
		t, ok := w.linkTarget(strings.TrimPrefix(f.Target, linkPrefix))
		if !ok {
			return invalid("no link %q", f.Target)
		}
		af.Target, af.kind = t, linkTarget
	default:
		if _, ok := w.Switch(f.Target); ok {
			af.kind = fabricTarget
		} else if _, ok := w.Array(f.Target); ok {
			af.kind = arrayTarget
		} else if _, ok := w.hostIndex(f.Target); ok {
			af.kind = hostTarget
		} else {
			return invalid("unknown target %q: want a fabric, array or host id or link:SITE-SITE", f.Target)
		}
	}
	switch f.Op {
	case "":
		return invalid("op is required")
	case OpCommit, OpZone, OpMask, OpVolume, OpLogin, OpReplicate, OpMove, OpPower, OpRead, OpAny:
	default:
		return invalid("unknown op %q", f.Op)
	}
	if ops := opsByTarget[af.kind]; !slices.Contains(ops, f.Op) {
		return invalid("target %q does no %q operations (it does %s)", f.Target, f.Op, strings.Join(ops, ", "))
	}
	if f.Count < 0 {
		return invalid("count %d is negative", f.Count)
	}
	if math.IsNaN(f.Rate) || f.Rate < 0 || f.Rate > 1 {
		return invalid("rate %v is outside [0,1]", f.Rate)
	}
	if f.Count == 0 && f.Rate == 0 {
		return invalid("neither count nor rate: the fault would never fire")
	}
	if f.Count > 0 && f.Rate > 0 {
		return invalid("both count %d and rate %v: give one, count for the next ops or rate for a share of them", f.Count, f.Rate)
	}
	if f.Latency < 0 {
		return invalid("latency %v is negative", f.Latency)
	}
	switch f.Kind {
	case "", KindUnavailable:
		if f.Latency > 0 {
			af.Kind = "" // a latency fault fails nothing
		} else {
			af.Kind = KindUnavailable
		}
	case KindFinal, KindAppliedTimeout:
		if f.Latency > 0 {
			return invalid("kind %q with a latency: a latency fault slows ops down instead of failing them", f.Kind)
		}
	default:
		return invalid("unknown kind %q", f.Kind)
	}
	af.limited = f.Count > 0
	return af, nil
}

// ClearFaults removes every fault.
func (w *World) ClearFaults() {
	w.faultsChanged(func() {
		w.faultMu.Lock()
		defer w.faultMu.Unlock()
		w.faults = nil
	})
}

// Faults lists the active faults, in the order they are consulted, with the
// Count they have left.
func (w *World) Faults() []Fault {
	w.faultMu.Lock()
	defer w.faultMu.Unlock()
	out := make([]Fault, len(w.faults))
	for i, f := range w.faults {
		out[i] = f.Fault
	}
	return out
}

func (f *activeFault) matches(op string, targets []string) bool {
	if f.Op != OpAny && f.Op != op {
		return false
	}
	for _, t := range targets {
		if t == f.Target || (t == anyHost && f.kind == hostTarget) {
			return true
		}
	}
	return false
}

// fault is where every device operation meets the fault table; write paths
// call it before they act. The operation is the op on each of targets (a
// replication names both arrays and the link). class is the driver package's
// ErrUnavailable, which transient failures wrap. It honours ctx, sleeps the
// virtual delay of any latency fault that fires, and reports the first
// failure fault that fires:
//
//	applyThenFail, err := w.fault(ctx, fabric.ErrUnavailable, OpCommit, s.id)
//	if err != nil && !applyThenFail {
//		return err // nothing happened
//	}
//	... apply the change ...
//	return err // nil, or the transient error of an applied-timeout
//
// Faults are consulted in injection order; a failure stops the scan, so the
// faults after it are not consumed.
func (w *World) fault(ctx context.Context, class error, op string, targets ...string) (applyThenFail bool, err error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	var (
		delay time.Duration
		fired *Fault
	)
	w.faultMu.Lock()
	kept := w.faults[:0]
	for i := range w.faults {
		f := &w.faults[i]
		if fired == nil && f.matches(op, targets) && (f.Rate == 0 || w.faultRNG.Float64() < f.Rate) {
			if f.Latency > 0 {
				delay += f.Latency
			} else {
				c := f.Fault
				fired = &c
			}
			if f.limited {
				f.Count--
			}
		}
		if !f.limited || f.Count > 0 {
			kept = append(kept, *f)
		}
	}
	clear(w.faults[len(kept):])
	w.faults = kept
	w.faultMu.Unlock()

	if delay > 0 {
		if err := clockwait.Sleep(ctx, w.clock, delay); err != nil {
			return false, err
		}
	}
	if fired == nil {
		return false, nil
	}
	switch fired.Kind {
	case KindFinal:
		return false, fmt.Errorf("%w: %s on %s failed for good", ErrInjected, op, fired.Target)
	case KindAppliedTimeout:
		return true, fmt.Errorf("%w: %s on %s timed out after it was applied: %w", ErrInjected, op, fired.Target, class)
	default:
		return false, fmt.Errorf("%w: %s on %s: %w", ErrInjected, op, fired.Target, class)
	}
}
