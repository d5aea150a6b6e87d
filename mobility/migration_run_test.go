package mobility

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/sanmob/sanmob/compute"
	"github.com/sanmob/sanmob/lab"
)

// TestSameFabricMigrationRollsBack: when the destination's fabric refuses
// the idle set's login for good, the move is rolled back: the VM stays on
// its host with the same set active and logged in, the idle set logged out,
// and no WWPN was ever logged in twice.
func TestSameFabricMigrationRollsBack(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	const vmID = "east-vm005"
	vm, err := h.svc.VM(vmID)
	if err != nil {
		t.Fatal(err)
	}
	dst := "east-esx02"
	if vm.Host == dst {
		dst = "east-esx03"
	}
	// The first login of the idle set succeeds; the second (the other
	// fabric) is refused: the first must be logged out again.
	if err := h.world.InjectFault(lab.Fault{Target: "east-b", Op: lab.OpLogin, Count: 1, Kind: lab.KindFinal}); err != nil {
		t.Fatal(err)
	}
	m, err := h.svc.StartMigration(MigrationSpec{VM: vmID, DestinationHost: dst})
	if err != nil {
		t.Fatal(err)
	}
	end, err := h.svc.WaitMigration(ctx, m.ID)
	if err != nil {
		t.Fatal(err)
	}
	if end.Phase != "rolled-back" || end.Error == "" {
		t.Fatalf("migration %+v: want rolled back with its error", end)
	}
	h.svc.Refresh(ctx)
	after, err := h.svc.VM(vmID)
	if err != nil {
		t.Fatal(err)
	}
	if after.Host != vm.Host {
		t.Fatalf("vm on %s after the rollback, was on %s", after.Host, vm.Host)
	}
	for i, p := range after.Vports {
		if p.Active != vm.Vports[i].Active || p.LoggedIn != vm.Vports[i].LoggedIn {
			t.Fatalf("vport %s: active %v logged in %v after the rollback; before %v %v", p.WWPN, p.Active, p.LoggedIn, vm.Vports[i].Active, vm.Vports[i].LoggedIn)
		}
	}
	if n := h.world.DuplicateLogins(); n != 0 {
		t.Fatalf("%d duplicate logins", n)
	}
	// And the same move runs once the fabric agrees.
	m, err = h.svc.StartMigration(MigrationSpec{VM: vmID, DestinationHost: dst})
	if err != nil {
		t.Fatal(err)
	}
	if end, err = h.svc.WaitMigration(ctx, m.ID); err != nil || end.Phase != "succeeded" {
		t.Fatalf("second move: %+v, %v", end, err)
	}
}

// blockingMover is the lab's hypervisor whose Move blocks until its context
// ends while block is set: a daemon killed in the middle of the move.
type blockingMover struct {
	*lab.Hypervisor
	block   atomic.Bool
	entered chan struct{}
}

func (b *blockingMover) Move(ctx context.Context, vm, host string, mode compute.MoveMode) error {
	if b.block.Load() {
		b.entered <- struct{}{}
		<-ctx.Done()
		return ctx.Err()
	}
	return b.Hypervisor.Move(ctx, vm, host, mode)
}

// TestMigrationResumesAfterACrash: the daemon dies while the hypervisor is
// moving the VM; after the restart the run resumes from its record and the
// move ends succeeded, with the VM's vports where the move puts them.
func TestMigrationResumesAfterACrash(t *testing.T) {
	w, err := lab.New(lab.Small())
	if err != nil {
		t.Fatal(err)
	}
	bm := &blockingMover{Hypervisor: w.Compute(), entered: make(chan struct{}, 1)}
	h := &harness{world: w, dir: t.TempDir(), hv: bm}
	h.open(t, nil)
	ctx := context.Background()
	const vmID = "east-vm007"
	vm, _ := h.svc.VM(vmID)
	dst := "east-esx02"
	if vm.Host == dst {
		dst = "east-esx03"
	}
	bm.block.Store(true)
	m, err := h.svc.StartMigration(MigrationSpec{VM: vmID, DestinationHost: dst})
	if err != nil {
		t.Fatal(err)
	}
	<-bm.entered
	h.stop() // the kill: the executor writes nothing more
	bm.block.Store(false)
	h.reopen(t)
	end, err := h.svc.WaitMigration(ctx, m.ID)
	if err != nil || end.Phase != "succeeded" {
		t.Fatalf("migration after the restart: %+v, %v", end, err)
	}
	h.svc.Refresh(ctx)
	after, _ := h.svc.VM(vmID)
	if after.Host != dst {
		t.Fatalf("vm on %s, want %s", after.Host, dst)
	}
	for _, p := range after.Vports {
		if p.Active != p.LoggedIn {
			t.Fatalf("vport %s active %v, logged in %v", p.WWPN, p.Active, p.LoggedIn)
		}
	}
	if n := w.DuplicateLogins(); n != 0 {
		t.Fatalf("%d duplicate logins", n)
	}
}
