package mobility

import (
	"context"
	"testing"

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
