// Package external is the compute driver for a hypervisor manager that
// moves VMs itself (a vCenter plug-in, Nova, a KubeVirt controller) and
// tells sanmob when it is done, instead of being driven by it.
//
// Reads (Hosts, VMs) come from an inner compute.Driver that reads the
// manager. Move registers a pending move of the VM and blocks until the
// manager reports it (Report): "switched" — the VM runs on the destination —
// ends the call with success; "failed" ends it with a final error carrying
// the manager's detail; no report within the timeout ends it with a final
// error too, so a migration rolls back rather than waits forever. A context
// that ends first (an abort, a shutdown, the caller's own deadline) ends the
// call with the context's error, which is transient, and leaves the pending
// move registered with its deadline: the next Move of the same VM to the same
// host and mode (the saga's retry) waits on it again, and a report that came
// in between is not lost.
//
// Pending moves live in memory only. After a restart of sanmobd the saga
// resumes the migration's compute step, whose Move registers the move again
// with a fresh deadline; a report sent while sanmobd was down is answered
// 409 (nothing pending) and must be sent again once the migration shows
// waiting-compute again.
//
// PowerOff and PowerOn delegate to the inner driver when it is a
// compute.Mover (the lab's hypervisor standing in for the manager), and are
// no-ops otherwise: with an external manager a cold move is the manager's
// whole job (power off, move, power on) and is reported once, as a live one.
// When the inner driver is a Mover, a "switched" report also applies the
// move there, so that reads agree with the report.
package external

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"k8s.io/utils/clock"

	"github.com/sanmob/sanmob/compute"
	"github.com/sanmob/sanmob/errclass"
)

// Report states.
const (
	// StateSwitched: the VM runs on the destination host.
	StateSwitched = "switched"
	// StateFailed: the manager could not move the VM; it still runs where
	// it ran.
	StateFailed = "failed"
)

// DefaultTimeout is the timeout of New when given none.
const DefaultTimeout = 15 * time.Minute

// Errors of the driver. Compare with errors.Is.
var (
	// ErrNothingPending: a report for a VM that has no pending move (and
	// that does not repeat the last report). It wraps compute.ErrConflict.
	ErrNothingPending = fmt.Errorf("external: no compute operation is pending for the VM: %w", compute.ErrConflict)
	// ErrBadState: a report whose state is neither switched nor failed. It
	// wraps compute.ErrInvalid.
	ErrBadState = fmt.Errorf("external: report state must be %q or %q: %w", StateSwitched, StateFailed, compute.ErrInvalid)
	// ErrNoReport: the manager did not report within the timeout (final).
	ErrNoReport = errclass.New(errclass.Final, "no report from the hypervisor manager")
	// ErrManagerFailed: the manager reported the move failed (final); the
	// error's message carries the manager's detail.
	ErrManagerFailed = errclass.New(errclass.Final, "the hypervisor manager reported the move failed")
)

// Request is a pending compute operation, as a manager needs to know it.
type Request = compute.PendingMove

type report struct{ host, state, detail string }

// op is a pending move; done is closed once result is set or the op is
// superseded.
type op struct {
	req        Request
	result     *report
	superseded bool
	done       chan struct{}
}

// Driver is the external compute driver. It is a compute.Mover.
type Driver struct {
	inner   compute.Driver
	timeout time.Duration
	clk     clock.Clock

	mu       sync.Mutex
	pending  map[string]*op    // by VM
	last     map[string]report // the last report a Move consumed, by VM
	watchers []func(vm string)
}

var _ compute.Mover = (*Driver)(nil)

// New returns a driver that reads through inner and waits up to timeout
// (DefaultTimeout when not positive) for each report, timed on clk (the
// real clock when nil).
func New(inner compute.Driver, timeout time.Duration, clk clock.Clock) *Driver {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	if clk == nil {
		clk = clock.RealClock{}
	}
	return &Driver{inner: inner, timeout: timeout, clk: clk, pending: map[string]*op{}, last: map[string]report{}}
}

// Timeout is how long a Move waits for its report.
func (d *Driver) Timeout() time.Duration { return d.timeout }

// Hosts reads the inner driver.
func (d *Driver) Hosts(ctx context.Context) ([]compute.Host, error) { return d.inner.Hosts(ctx) }

// VMs reads the inner driver.
func (d *Driver) VMs(ctx context.Context) ([]compute.VM, error) { return d.inner.VMs(ctx) }

// Watch registers fn, called (without the driver's lock) with the VM's id
// whenever what Waiting says of it may have changed: a move registered,
// reported, timed out or superseded. fn must be quick.
func (d *Driver) Watch(fn func(vm string)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.watchers = append(d.watchers, fn)
}

func (d *Driver) notify(vm string) {
	d.mu.Lock()
	ws := slices.Clone(d.watchers)
	d.mu.Unlock()
	for _, fn := range ws {
		fn(vm)
	}
}

// Waiting reports whether a move of vm waits for the manager's report: it is
// registered, not reported yet, and its deadline has not passed.
func (d *Driver) Waiting(vm string) bool {
	_, ok := d.Pending(vm)
	return ok
}

// Pending returns the move of vm that waits for a report, if any.
func (d *Driver) Pending(vm string) (Request, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	p := d.pending[vm]
	if p == nil || p.result != nil || !d.clk.Now().Before(p.req.Deadline) {
		return Request{}, false
	}
	return p.req, true
}

// Move asks the manager to move vm to host and waits for its report. A VM
// that the inner driver already sees on host is a no-op (and drops any
// move of it still pending), as compute.Mover requires of a retry.
func (d *Driver) Move(ctx context.Context, vm, host string, mode compute.MoveMode) error {
	if !mode.Valid() {
		return fmt.Errorf("external: move of %s: mode %q, want %q or %q: %w", vm, mode, compute.MoveLive, compute.MoveCold, compute.ErrInvalid)
	}
	vms, err := d.inner.VMs(ctx)
	if err != nil {
		return fmt.Errorf("external: reading where %s runs: %w", vm, err)
	}
	i := slices.IndexFunc(vms, func(v compute.VM) bool { return v.ID == vm })
	if i < 0 {
		return fmt.Errorf("external: no VM %q: %w", vm, compute.ErrNotFound)
	}
	if vms[i].Host == host {
		d.drop(vm)
		return nil
	}
	p, fresh := d.register(vm, host, mode)
	if fresh {
		d.notify(vm)
	}
	t := d.clk.NewTimer(max(p.req.Deadline.Sub(d.clk.Now()), 0))
	defer t.Stop()
	select {
	case <-p.done:
	case <-t.C():
	case <-ctx.Done():
		// The op stays registered: a retry waits on it again.
		return fmt.Errorf("external: waiting for the hypervisor manager to move %s to %s: %w", vm, host, ctx.Err())
	}
	d.mu.Lock()
	res, superseded := p.result, p.superseded
	if d.pending[vm] == p {
		delete(d.pending, vm)
		if res != nil {
			d.last[vm] = *res
		}
	}
	d.mu.Unlock()
	switch {
	case superseded:
		return fmt.Errorf("external: the move of %s to %s was replaced by another move of it: %w", vm, host, compute.ErrUnavailable)
	case res == nil:
		d.notify(vm)
		return fmt.Errorf("%w within %v: moving %s to %s (the hypervisor manager must report %q or %q)",
			ErrNoReport, d.timeout, vm, host, StateSwitched, StateFailed)
	case res.state == StateFailed:
		detail := res.detail
		if detail == "" {
			detail = "no detail given"
		}
		return fmt.Errorf("%w: moving %s to %s: %s", ErrManagerFailed, vm, host, detail)
	}
	if m, ok := d.inner.(compute.Mover); ok {
		// The lab stands in for the manager: make its truth agree.
		if err := m.Move(ctx, vm, host, mode); err != nil {
			return fmt.Errorf("external: applying the reported move of %s to %s: %w", vm, host, err)
		}
	}
	return nil
}

// register returns the op of (vm, host, mode), a new one (fresh) unless one
// is pending and alive; another op of vm is superseded.
func (d *Driver) register(vm, host string, mode compute.MoveMode) (p *op, fresh bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.clk.Now()
	if p := d.pending[vm]; p != nil {
		if p.req.Host == host && p.req.Mode == mode && (p.result != nil || now.Before(p.req.Deadline)) {
			return p, false
		}
		d.supersedeLocked(p)
	}
	p = &op{req: Request{VM: vm, Op: "move", Host: host, Mode: mode, Since: now, Deadline: now.Add(d.timeout)}, done: make(chan struct{})}
	d.pending[vm] = p
	delete(d.last, vm)
	return p, true
}

func (d *Driver) supersedeLocked(p *op) {
	if p.result == nil && !p.superseded {
		p.superseded = true
		close(p.done)
	}
	delete(d.pending, p.req.VM)
}

// drop forgets any pending move of vm.
func (d *Driver) drop(vm string) {
	d.mu.Lock()
	p := d.pending[vm]
	if p != nil {
		d.supersedeLocked(p)
	}
	d.mu.Unlock()
	if p != nil {
		d.notify(vm)
	}
}

// Report is the manager's word on the pending move of vm: StateSwitched or
// StateFailed, with an optional detail (why it failed). Repeating the same
// report is harmless (nil), whether the move still waits or has taken it;
// a different one after the first is refused with an error wrapping
// compute.ErrConflict, as is a report for a VM with nothing pending
// (ErrNothingPending). A bad state gets ErrBadState.
func (d *Driver) Report(vm, state, detail string) error {
	if state != StateSwitched && state != StateFailed {
		return fmt.Errorf("%w, got %q", ErrBadState, state)
	}
	rep := report{state: state, detail: detail}
	d.mu.Lock()
	p := d.pending[vm]
	if p != nil && p.result == nil && !d.clk.Now().Before(p.req.Deadline) {
		p = nil // timed out: its Move is about to say so
	}
	switch {
	case p != nil && p.result == nil:
		rep.host = p.req.Host
		p.result = &rep
		close(p.done)
		d.mu.Unlock()
		d.notify(vm)
		return nil
	case p != nil:
		prev := *p.result
		d.mu.Unlock()
		if prev.state == state && prev.detail == detail {
			return nil
		}
		return fmt.Errorf("external: the move of %s to %s was already reported %s: %w", vm, prev.host, prev.state, compute.ErrConflict)
	}
	prev, ok := d.last[vm]
	d.mu.Unlock()
	if ok && prev.state == state && prev.detail == detail {
		return nil
	}
	return fmt.Errorf("%w: vm %s", ErrNothingPending, vm)
}

// PowerOff delegates to the inner driver when it is a compute.Mover; with
// a manager that moves VMs itself it does nothing (see the package doc).
func (d *Driver) PowerOff(ctx context.Context, vm string) error {
	if m, ok := d.inner.(compute.Mover); ok {
		return m.PowerOff(ctx, vm)
	}
	return ctx.Err()
}

// PowerOn delegates like PowerOff.
func (d *Driver) PowerOn(ctx context.Context, vm string) error {
	if m, ok := d.inner.(compute.Mover); ok {
		return m.PowerOn(ctx, vm)
	}
	return ctx.Err()
}
