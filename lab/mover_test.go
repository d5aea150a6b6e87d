package lab

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/sanmob/sanmob/compute"
	"github.com/sanmob/sanmob/errclass"
)

// fastSpeed makes the longest live move (32 GiB, ≈ 35 s virtual) take well
// under a millisecond of real time.
const fastSpeed = 1e5

func vmOf(t *testing.T, w *World, id string) compute.VM {
	t.Helper()
	vms, err := w.Compute().VMs(context.Background())
	if err != nil {
		t.Fatalf("VMs: %v", err)
	}
	for _, v := range vms {
		if v.ID == id {
			return v
		}
	}
	t.Fatalf("no VM %s", id)
	return compute.VM{}
}

func TestMoveLive(t *testing.T) {
	tests := []struct {
		name, vm, host string
		crossSite      bool
	}{
		{"same site", "east-vm001", "east-esx02", false},
		{"cross site", "east-vm002", "west-esx03", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, Config{Seed: 7, Speed: fastSpeed})
			before := vmOf(t, w, tc.vm)
			if before.Host == tc.host || before.Power != compute.PowerOn || before.MemoryBytes < 4<<30 {
				t.Fatalf("before: %+v", before)
			}
			want := w.moveTime(compute.MoveLive, before.MemoryBytes, 0, map[bool]int32{false: 0, true: 1}[tc.crossSite])
			if want < time.Duration(float64(before.MemoryBytes)*8/10e9*float64(time.Second)) {
				t.Fatalf("moveTime %v is faster than 10 Gbps", want)
			}
			start := w.Clock().Now()
			if err := w.Compute().Move(context.Background(), tc.vm, tc.host, compute.MoveLive); err != nil {
				t.Fatalf("Move: %v", err)
			}
			if took := w.Clock().Since(start); took < want {
				t.Errorf("the move took %v of virtual time, want at least %v", took, want)
			}
			after := vmOf(t, w, tc.vm)
			if after.Host != tc.host || after.Power != compute.PowerOn {
				t.Errorf("after: host %s power %s, want %s on", after.Host, after.Power, tc.host)
			}
		})
	}
}

// TestMoveTransferCap: Config.TransferCapBytesPerSec caps a live move's
// memory copy; a cold move does not copy memory.
func TestMoveTransferCap(t *testing.T) {
	const capBps = 64 << 20
	w := newWorld(t, Config{Seed: 7, Speed: fastSpeed, TransferCapBytesPerSec: capBps})
	mem := int64(4 << 30)
	want := time.Duration(float64(mem)/capBps*float64(time.Second)) + liveSwitchover
	for _, dst := range []int32{0, 1} {
		if got := w.moveTime(compute.MoveLive, mem, 0, dst); got != want {
			t.Errorf("live move to site %d: %v, want %v (4 GiB at 64 MiB/s)", dst, got, want)
		}
	}
	if got := w.moveTime(compute.MoveCold, mem, 0, 1); got != coldMoveTime {
		t.Errorf("cold move: %v, want %v", got, coldMoveTime)
	}
}

func TestMoveIdempotent(t *testing.T) {
	w := newWorld(t, Config{Seed: 7, Speed: fastSpeed})
	ctx := context.Background()
	hv := w.Compute()
	tests := []struct {
		name string
		op   func() error
	}{
		{"move to the host it is on", func() error { return hv.Move(ctx, "east-vm001", "east-esx01", compute.MoveLive) }},
		{"cold move to the host it is on, powered on", func() error { return hv.Move(ctx, "east-vm001", "east-esx01", compute.MoveCold) }},
		{"power on a VM that is on", func() error { return hv.PowerOn(ctx, "east-vm001") }},
		{"move", func() error { return hv.Move(ctx, "east-vm001", "east-esx03", compute.MoveLive) }},
		{"move again", func() error { return hv.Move(ctx, "east-vm001", "east-esx03", compute.MoveLive) }},
		{"power off", func() error { return hv.PowerOff(ctx, "east-vm001") }},
		{"power off again", func() error { return hv.PowerOff(ctx, "east-vm001") }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.op(); err != nil {
				t.Fatal(err)
			}
		})
	}
	if v := vmOf(t, w, "east-vm001"); v.Host != "east-esx03" || v.Power != compute.PowerOff {
		t.Errorf("VM %+v, want on east-esx03, off", v)
	}
}

func TestMoveRefused(t *testing.T) {
	w := newWorld(t, Config{Seed: 7, Speed: fastSpeed})
	ctx := context.Background()
	hv := w.Compute()
	if err := hv.PowerOff(ctx, "east-vm005"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		vm, host string
		mode     compute.MoveMode
		want     error
		class    errclass.Class
	}{
		{"unknown vm", "east-vm999", "east-esx02", compute.MoveLive, compute.ErrNotFound, errclass.NotFound},
		{"malformed vm", "east-vmx", "east-esx02", compute.MoveLive, compute.ErrNotFound, errclass.NotFound},
		{"unknown site", "north-vm001", "east-esx02", compute.MoveLive, compute.ErrNotFound, errclass.NotFound},
		{"unknown host", "east-vm001", "east-esx09", compute.MoveLive, compute.ErrNotFound, errclass.NotFound},
		{"bad mode", "east-vm001", "east-esx02", "warp", compute.ErrInvalid, errclass.Final},
		{"cold move of a VM that is on", "east-vm001", "east-esx02", compute.MoveCold, compute.ErrConflict, errclass.Final},
		{"live move of a VM that is off", "east-vm005", "east-esx02", compute.MoveLive, compute.ErrConflict, errclass.Final},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before, _ := hv.VMs(ctx)
			err := hv.Move(ctx, tc.vm, tc.host, tc.mode)
			if !errors.Is(err, tc.want) || compute.Classify(err) != tc.class {
				t.Fatalf("Move = %v (%v), want %v (%v)", err, compute.Classify(err), tc.want, tc.class)
			}
			if after, _ := hv.VMs(ctx); !reflect.DeepEqual(after, before) {
				t.Error("a refused move changed the VMs")
			}
		})
	}
	for _, op := range []func(context.Context, string) error{hv.PowerOn, hv.PowerOff} {
		if err := op(ctx, "west-vm000"); !errors.Is(err, compute.ErrNotFound) {
			t.Errorf("power of an unknown VM = %v, want not found", err)
		}
	}
}

func TestMoveCold(t *testing.T) {
	w := newWorld(t, Config{Seed: 7, Speed: fastSpeed})
	ctx := context.Background()
	hv := w.Compute()
	steps := []struct {
		name      string
		op        func() error
		host, pow string
	}{
		{"refused while on", func() error { return hv.Move(ctx, "west-vm004", "east-esx01", compute.MoveCold) }, "west-esx04", compute.PowerOn},
		{"power off", func() error { return hv.PowerOff(ctx, "west-vm004") }, "west-esx04", compute.PowerOff},
		{"cold move across sites", func() error { return hv.Move(ctx, "west-vm004", "east-esx01", compute.MoveCold) }, "east-esx01", compute.PowerOff},
		{"power on at the destination", func() error { return hv.PowerOn(ctx, "west-vm004") }, "east-esx01", compute.PowerOn},
	}
	for i, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			err := s.op()
			if i == 0 {
				if !errors.Is(err, compute.ErrConflict) {
					t.Fatalf("got %v, want conflict", err)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if v := vmOf(t, w, "west-vm004"); v.Host != s.host || v.Power != s.pow {
				t.Errorf("VM on %s %s, want %s %s", v.Host, v.Power, s.host, s.pow)
			}
		})
	}
}

func TestMoveFaults(t *testing.T) {
	const vmID, src, dst = "east-vm001", "east-esx01", "east-esx02"
	tests := []struct {
		name     string
		fault    Fault
		power    bool // the op is PowerOff, not a live move
		class    errclass.Class
		ok       bool // no error
		moved    bool // the change applied
		atLeast  time.Duration
		injected bool
	}{
		{name: "unavailable on the source", fault: Fault{Target: src, Op: OpMove, Count: 1},
			class: errclass.Transient, injected: true},
		{name: "unavailable on the destination", fault: Fault{Target: dst, Op: OpMove, Count: 1},
			class: errclass.Transient, injected: true},
		{name: "final", fault: Fault{Target: dst, Op: OpMove, Count: 1, Kind: KindFinal},
			class: errclass.Final, injected: true},
		{name: "applied-timeout", fault: Fault{Target: src, Op: OpMove, Count: 1, Kind: KindAppliedTimeout},
			class: errclass.Transient, moved: true, injected: true},
		{name: "latency", fault: Fault{Target: dst, Op: OpMove, Count: 1, Latency: time.Hour},
			ok: true, moved: true, atLeast: time.Hour},
		{name: "any op", fault: Fault{Target: src, Op: OpAny, Count: 1, Kind: KindFinal},
			class: errclass.Final, injected: true},
		{name: "a fault on another host", fault: Fault{Target: "east-esx03", Op: OpMove, Count: 1, Kind: KindFinal},
			ok: true, moved: true},
		{name: "power, final", fault: Fault{Target: src, Op: OpPower, Count: 1, Kind: KindFinal}, power: true,
			class: errclass.Final, injected: true},
		{name: "power, unavailable", fault: Fault{Target: src, Op: OpPower, Count: 1}, power: true,
			class: errclass.Transient, injected: true},
		{name: "power, applied-timeout", fault: Fault{Target: src, Op: OpPower, Count: 1, Kind: KindAppliedTimeout}, power: true,
			class: errclass.Transient, moved: true, injected: true},
		{name: "a move fault does not disturb power", fault: Fault{Target: src, Op: OpMove, Count: 1, Kind: KindFinal}, power: true,
			ok: true, moved: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, Config{Seed: 7, Speed: fastSpeed * 10})
			if err := w.InjectFault(tc.fault); err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			start := w.Clock().Now()
			var err error
			if tc.power {
				err = w.Compute().PowerOff(ctx, vmID)
			} else {
				err = w.Compute().Move(ctx, vmID, dst, compute.MoveLive)
			}
			took := w.Clock().Since(start)
			switch {
			case tc.ok && err != nil:
				t.Fatalf("got %v, want no error", err)
			case !tc.ok && (err == nil || compute.Classify(err) != tc.class):
				t.Fatalf("got %v (%v), want a %v error", err, compute.Classify(err), tc.class)
			}
			if got := errors.Is(err, ErrInjected); got != tc.injected {
				t.Errorf("errors.Is(%v, ErrInjected) = %v, want %v", err, got, tc.injected)
			}
			if took < tc.atLeast {
				t.Errorf("took %v of virtual time, want at least %v", took, tc.atLeast)
			}
			v := vmOf(t, w, vmID)
			moved := v.Host == dst
			if tc.power {
				moved = v.Power == compute.PowerOff
			}
			if moved != tc.moved {
				t.Errorf("VM %s %s: applied = %v, want %v", v.Host, v.Power, moved, tc.moved)
			}
			// The fault is spent: a retry succeeds and ends in the same place.
			if tc.power {
				err = w.Compute().PowerOff(ctx, vmID)
			} else {
				err = w.Compute().Move(ctx, vmID, dst, compute.MoveLive)
			}
			if err != nil {
				t.Errorf("retry: %v", err)
			}
		})
	}
}

func TestMoveFaultRefusedOnOtherTargets(t *testing.T) {
	w := newWorld(t, Config{Seed: 7})
	tests := []struct {
		name  string
		fault Fault
	}{
		{"move on a fabric", Fault{Target: "east-a", Op: OpMove, Count: 1}},
		{"power on an array", Fault{Target: w.Arrays()[0].ID, Op: OpPower, Count: 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := w.InjectFault(tc.fault); !errors.Is(err, ErrInvalidFault) {
				t.Errorf("InjectFault = %v, want invalid", err)
			}
		})
	}
}

func TestMoveContext(t *testing.T) {
	tests := []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
	}{
		{"cancelled before", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx, cancel
		}},
		{"deadline during the copy", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 20*time.Millisecond)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Speed 1: the copy takes seconds of real time, the deadline ends it.
			w := newWorld(t, Config{Seed: 7, Speed: 1})
			ctx, cancel := tc.ctx()
			defer cancel()
			err := w.Compute().Move(ctx, "east-vm001", "east-esx02", compute.MoveLive)
			if err == nil || compute.Classify(err) != errclass.Transient {
				t.Fatalf("Move = %v, want a transient error", err)
			}
			if v := vmOf(t, w, "east-vm001"); v.Host != "east-esx01" {
				t.Errorf("the abandoned move left the VM on %s", v.Host)
			}
			// Nothing is left busy.
			vi, _ := w.vmIndex("east-vm001")
			if w.hv.vms[vi].moving {
				t.Error("the abandoned move left the VM busy")
			}
		})
	}
}

func TestMoveBusy(t *testing.T) {
	w := newWorld(t, Config{Seed: 7, Speed: 1})
	hv := w.Compute()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- hv.Move(ctx, "east-vm001", "east-esx02", compute.MoveLive) }()
	vi, _ := w.vmIndex("east-vm001")
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		hv.mu.RLock()
		moving := hv.vms[vi].moving
		hv.mu.RUnlock()
		if moving {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the move never started")
		}
	}
	tests := []struct {
		name string
		op   func() error
	}{
		{"another move", func() error { return hv.Move(context.Background(), "east-vm001", "east-esx03", compute.MoveLive) }},
		{"power off", func() error { return hv.PowerOff(context.Background(), "east-vm001") }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.op(); !errors.Is(err, compute.ErrUnavailable) {
				t.Errorf("got %v, want unavailable", err)
			}
		})
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("the cancelled move = %v", err)
	}
}

func TestMovePersists(t *testing.T) {
	tests := []struct {
		name  string
		close func(w *World) // how the first process ends
	}{
		{"close", func(w *World) { _ = w.Close() }},
		{"crash", func(w *World) { w.crash() }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := persistConfig(t.TempDir())
			cfg.Speed = fastSpeed
			w := openWorld(t, cfg)
			ctx := context.Background()
			hv := w.Compute()
			for _, step := range []func() error{
				func() error { return hv.Move(ctx, "east-vm001", "west-esx02", compute.MoveLive) },
				func() error { return hv.PowerOff(ctx, "east-vm002") },
				func() error { return hv.Move(ctx, "east-vm002", "east-esx04", compute.MoveCold) },
				func() error { return hv.PowerOff(ctx, "east-vm003") },
				func() error { return hv.PowerOn(ctx, "east-vm003") },
			} {
				if err := step(); err != nil {
					t.Fatal(err)
				}
			}
			want, err := hv.VMs(ctx)
			if err != nil {
				t.Fatal(err)
			}
			tc.close(w)

			w2 := openWorld(t, cfg)
			got, err := w2.Compute().VMs(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for i := range want {
				g, x := got[i], want[i]
				if g.ID != x.ID || g.Host != x.Host || g.Power != x.Power {
					t.Errorf("after reopening, %s on %s %s, want on %s %s", g.ID, g.Host, g.Power, x.Host, x.Power)
				}
			}
			if v := got[1]; v.Host != "east-esx04" || v.Power != compute.PowerOff {
				t.Errorf("east-vm002 on %s %s, want east-esx04 off", v.Host, v.Power)
			}
		})
	}
}
