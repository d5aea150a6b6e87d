package external

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/sanmob/sanmob/compute"
	"github.com/sanmob/sanmob/errclass"
)

// reader is a read-only inner driver: the manager's view.
type reader struct {
	mu  sync.Mutex
	vms []compute.VM
}

func (r *reader) Hosts(context.Context) ([]compute.Host, error) {
	return []compute.Host{{ID: "h1"}, {ID: "h2"}, {ID: "h3"}}, nil
}

func (r *reader) VMs(context.Context) ([]compute.VM, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]compute.VM(nil), r.vms...), nil
}

// mover is an inner Mover, as the lab's hypervisor: it records its calls.
type mover struct {
	reader
	calls []string
}

func (m *mover) Move(_ context.Context, vm, host string, mode compute.MoveMode) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls = append(m.calls, "move "+vm+" "+host+" "+string(mode))
	for i := range m.vms {
		if m.vms[i].ID == vm {
			m.vms[i].Host = host
		}
	}
	return nil
}

func (m *mover) PowerOff(_ context.Context, vm string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls = append(m.calls, "off "+vm)
	return nil
}

func (m *mover) PowerOn(_ context.Context, vm string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls = append(m.calls, "on "+vm)
	return nil
}

func (m *mover) log() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.calls...)
}

func newMover() *mover {
	return &mover{reader: reader{vms: []compute.VM{{ID: "vm1", Host: "h1"}, {ID: "vm2", Host: "h1"}}}}
}

var t0 = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

// moveAsync starts a Move and returns its result channel once the move is
// pending.
func moveAsync(t *testing.T, ctx context.Context, d *Driver, vm, host string) <-chan error {
	t.Helper()
	res := make(chan error, 1)
	go func() { res <- d.Move(ctx, vm, host, compute.MoveLive) }()
	deadline := time.Now().Add(10 * time.Second)
	for !d.Waiting(vm) {
		select {
		case err := <-res:
			t.Fatalf("Move returned %v before waiting", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the move never became pending")
		}
		time.Sleep(time.Millisecond)
	}
	return res
}

func wait(t *testing.T, res <-chan error) error {
	t.Helper()
	select {
	case err := <-res:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("Move did not return")
		return nil
	}
}

func TestSwitched(t *testing.T) {
	m := newMover()
	clk := clocktesting.NewFakeClock(t0)
	d := New(m, time.Minute, clk)
	var mu sync.Mutex
	var seen []string
	d.Watch(func(vm string) { mu.Lock(); seen = append(seen, vm); mu.Unlock() })
	res := moveAsync(t, context.Background(), d, "vm1", "h2")
	req, ok := d.Pending("vm1")
	if !ok || req.Host != "h2" || req.Op != "move" || req.Mode != compute.MoveLive || !req.Deadline.Equal(t0.Add(time.Minute)) {
		t.Fatalf("pending %+v %v", req, ok)
	}
	if d.Waiting("vm2") {
		t.Fatal("vm2 is not moving")
	}
	if err := d.Report("vm1", StateSwitched, ""); err != nil {
		t.Fatal(err)
	}
	if err := wait(t, res); err != nil {
		t.Fatalf("Move after switched: %v", err)
	}
	if d.Waiting("vm1") {
		t.Error("still waiting after the report")
	}
	if got := m.log(); len(got) != 1 || got[0] != "move vm1 h2 live" {
		t.Errorf("inner mover calls %v: the reported move is applied there", got)
	}
	// Repeating the report is harmless; contradicting it is not.
	if err := d.Report("vm1", StateSwitched, ""); err != nil {
		t.Errorf("repeated report: %v", err)
	}
	if err := d.Report("vm1", StateFailed, "oops"); !errors.Is(err, ErrNothingPending) || !errors.Is(err, compute.ErrConflict) {
		t.Errorf("contradicting report: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) < 2 || seen[0] != "vm1" {
		t.Errorf("watchers saw %v, want vm1 at registration and at the report", seen)
	}
}

func TestFailed(t *testing.T) {
	m := newMover()
	d := New(m, time.Minute, clocktesting.NewFakeClock(t0))
	res := moveAsync(t, context.Background(), d, "vm1", "h2")
	if err := d.Report("vm1", StateFailed, "host h2 is in maintenance mode"); err != nil {
		t.Fatal(err)
	}
	// A repeat before Move took it, and a contradiction.
	if err := d.Report("vm1", StateFailed, "host h2 is in maintenance mode"); err != nil {
		t.Errorf("repeated report: %v", err)
	}
	err := wait(t, res)
	if !errors.Is(err, ErrManagerFailed) || errclass.Of(err) != errclass.Final || !strings.Contains(err.Error(), "maintenance mode") {
		t.Fatalf("Move after failed: %v (class %v)", err, errclass.Of(err))
	}
	if got := m.log(); len(got) != 0 {
		t.Errorf("inner mover calls %v after a failure", got)
	}
	if err := d.Report("vm1", StateSwitched, ""); !errors.Is(err, compute.ErrConflict) {
		t.Errorf("switched after failed: %v", err)
	}
}

func TestTimeout(t *testing.T) {
	clk := clocktesting.NewFakeClock(t0)
	d := New(&reader{vms: []compute.VM{{ID: "vm1", Host: "h1"}}}, 10*time.Minute, clk)
	res := moveAsync(t, context.Background(), d, "vm1", "h2")
	for !clk.HasWaiters() {
		time.Sleep(time.Millisecond)
	}
	clk.Step(10*time.Minute - time.Second)
	select {
	case err := <-res:
		t.Fatalf("Move returned %v before the timeout", err)
	case <-time.After(20 * time.Millisecond):
	}
	clk.Step(time.Second)
	err := wait(t, res)
	if !errors.Is(err, ErrNoReport) || errclass.Of(err) != errclass.Final ||
		!strings.Contains(err.Error(), "no report from the hypervisor manager within 10m0s") {
		t.Fatalf("Move at the timeout: %v", err)
	}
	if d.Waiting("vm1") {
		t.Error("still waiting after the timeout")
	}
	if err := d.Report("vm1", StateSwitched, ""); !errors.Is(err, ErrNothingPending) {
		t.Errorf("report after the timeout: %v", err)
	}
}

// A context that ends leaves the move pending: the retry waits on the same
// move (same deadline), and a report that came in between is kept.
func TestContextEndsThenRetry(t *testing.T) {
	m := newMover()
	clk := clocktesting.NewFakeClock(t0)
	d := New(m, time.Minute, clk)
	ctx, cancel := context.WithCancel(context.Background())
	res := moveAsync(t, ctx, d, "vm1", "h2")
	cancel()
	err := wait(t, res)
	if !errors.Is(err, context.Canceled) || errclass.Of(err) != errclass.Transient {
		t.Fatalf("Move after ctx ended: %v", err)
	}
	if !d.Waiting("vm1") {
		t.Fatal("the move is no longer pending after ctx ended")
	}
	first, _ := d.Pending("vm1")
	clk.Step(10 * time.Second)
	if err := d.Report("vm1", StateSwitched, ""); err != nil {
		t.Fatal(err)
	}
	if err := d.Move(context.Background(), "vm1", "h2", compute.MoveLive); err != nil {
		t.Fatalf("retried Move after the report: %v", err)
	}
	if got := m.log(); len(got) != 1 {
		t.Errorf("inner calls %v", got)
	}
	// A retry that re-attaches keeps the first deadline.
	ctx2, cancel2 := context.WithCancel(context.Background())
	res = moveAsync(t, ctx2, d, "vm1", "h3")
	cancel2()
	_ = wait(t, res)
	clk.Step(10 * time.Second)
	res = moveAsync(t, context.Background(), d, "vm1", "h3")
	second, _ := d.Pending("vm1")
	if !second.Deadline.Equal(first.Deadline.Add(10*time.Second)) || second.Host != "h3" {
		t.Errorf("re-attached move %+v, want the deadline of its first call", second)
	}
	if err := d.Report("vm1", StateSwitched, ""); err != nil {
		t.Fatal(err)
	}
	if err := wait(t, res); err != nil {
		t.Fatal(err)
	}
}

// A move of the VM elsewhere replaces the pending one; a move to where the
// VM already runs is a no-op that drops it.
func TestSupersedeAndNoop(t *testing.T) {
	m := newMover()
	d := New(m, time.Minute, clocktesting.NewFakeClock(t0))
	res := moveAsync(t, context.Background(), d, "vm1", "h2")
	if err := d.Move(context.Background(), "vm1", "h1", compute.MoveLive); err != nil {
		t.Fatalf("move to its own host: %v", err)
	}
	if err := wait(t, res); !errors.Is(err, compute.ErrUnavailable) {
		t.Errorf("superseded Move: %v", err)
	}
	if d.Waiting("vm1") {
		t.Error("the no-op move left the old one pending")
	}
	if err := d.Report("vm1", StateSwitched, ""); !errors.Is(err, ErrNothingPending) {
		t.Errorf("report with nothing pending: %v", err)
	}
}

func TestBadInput(t *testing.T) {
	d := New(newMover(), 0, nil)
	if d.Timeout() != DefaultTimeout {
		t.Errorf("timeout %v", d.Timeout())
	}
	if err := d.Move(context.Background(), "nope", "h2", compute.MoveLive); !errors.Is(err, compute.ErrNotFound) {
		t.Errorf("unknown VM: %v", err)
	}
	if err := d.Move(context.Background(), "vm1", "h2", "warp"); !errors.Is(err, compute.ErrInvalid) {
		t.Errorf("bad mode: %v", err)
	}
	if err := d.Report("vm1", "done", ""); !errors.Is(err, ErrBadState) || !errors.Is(err, compute.ErrInvalid) {
		t.Errorf("bad state: %v", err)
	}
	if err := d.Report("vm2", StateSwitched, ""); !errors.Is(err, ErrNothingPending) {
		t.Errorf("nothing pending: %v", err)
	}
}

func TestPower(t *testing.T) {
	m := newMover()
	d := New(m, time.Minute, nil)
	if err := d.PowerOff(context.Background(), "vm1"); err != nil {
		t.Fatal(err)
	}
	if err := d.PowerOn(context.Background(), "vm1"); err != nil {
		t.Fatal(err)
	}
	if got := m.log(); len(got) != 2 || got[0] != "off vm1" || got[1] != "on vm1" {
		t.Errorf("inner calls %v, want delegation", got)
	}
	r := New(&reader{vms: []compute.VM{{ID: "vm1", Host: "h1"}}}, time.Minute, nil)
	if err := r.PowerOff(context.Background(), "vm1"); err != nil {
		t.Errorf("PowerOff without an inner mover: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := r.PowerOn(ctx, "vm1"); !errors.Is(err, context.Canceled) {
		t.Errorf("PowerOn after ctx ended: %v", err)
	}
}
