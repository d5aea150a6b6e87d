package mobility

import (
	"context"
	"encoding/json"
	"sync"
	"testing"

	"github.com/sanmob/sanmob/compute"
	"github.com/sanmob/sanmob/lab"
)

// powerOnHook is the lab hypervisor with a hook after a VM's power-on: the
// last compute call of a cold cutover.
type powerOnHook struct {
	*lab.Hypervisor
	mu    sync.Mutex
	vm    string
	after func()
}

func (p *powerOnHook) PowerOn(ctx context.Context, vm string) error {
	if err := p.Hypervisor.PowerOn(ctx, vm); err != nil {
		return err
	}
	p.mu.Lock()
	f := p.after
	if vm == p.vm {
		p.after = nil
	}
	p.mu.Unlock()
	if f != nil && vm == p.vm {
		f()
	}
	return nil
}

var _ compute.Mover = (*powerOnHook)(nil)

// TestCrashBetweenActivateAndItsRecord: activate is a local step, so its
// done is written with the next step's doing. A daemon that dies after
// activate's transaction and before that write restarts with the records
// at the destination and the run at cutover. The source zones must still
// be released by clean-source: the fresh Zoner has to hold them although
// no record names them any more (the failure the property test found).
func TestCrashBetweenActivateAndItsRecord(t *testing.T) {
	w, err := lab.New(fastLab())
	if err != nil {
		t.Fatal(err)
	}
	hook := &powerOnHook{Hypervisor: w.Compute(), vm: "east-vm003"}
	h := &harness{world: w, dir: t.TempDir(), hv: hook, noSagas: true}
	h.open(t, nil)
	ctx, kill := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		if err := h.svc.RunSagas(ctx); err != nil {
			t.Errorf("saga executor: %v", err)
		}
	}()
	const vmID = "east-vm003"
	wwpns := vmWWPNs(t, h, vmID)
	if before := footprint(t, h.world, wwpns); !before.zonedOn["east-a"] {
		t.Fatalf("the lab VM is not zoned at its site: %+v", before)
	}
	svc := h.svc
	var activated error
	hook.after = func() {
		// The cutover's compute work is done: run activate's
		// transaction as the executor would next, then die before any
		// record says so.
		runs, err := svc.sagas.List(sagaMigration)
		if err != nil || len(runs) != 1 {
			activated = err
			kill()
			return
		}
		var p migrationPlan
		if activated = json.Unmarshal(runs[0].Data, &p); activated == nil {
			activated = svc.activateSite(p, true)(context.Background(), nil)
		}
		kill()
	}
	m, err := h.svc.StartMigration(MigrationSpec{VM: vmID, DestinationHost: "west-esx02", Mode: "cold"})
	if err != nil {
		t.Fatal(err)
	}
	<-stopped
	if activated != nil {
		t.Fatalf("activate before the crash: %v", activated)
	}
	got, err := h.svc.Migration(m.ID)
	if err != nil {
		t.Fatal(err)
	}
	if step := runningStep(got); step != "cutover" {
		t.Fatalf("the run was left at %q, want cutover (steps %+v)", step, got.Steps)
	}
	h.stop = func() {}
	h.noSagas = false
	h.reopen(t)
	end, err := h.svc.WaitMigration(context.Background(), m.ID)
	if err != nil {
		t.Fatal(err)
	}
	if end.Phase != "succeeded" {
		t.Fatalf("migration ended %s: %s", end.Phase, end.Error)
	}
	after := footprint(t, h.world, wwpns)
	for f := range after.zonedOn {
		if siteOf(f) != "west" {
			t.Errorf("a zone of the VM is left on %s", f)
		}
	}
	for a, n := range after.mappedAt {
		if siteOf(a) != "west" && n > 0 {
			t.Errorf("%d maps of the VM's volumes are left on %s", n, a)
		}
	}
	checkInvariants(t, h)
}

// TestRollbackRestoresThePowerTheVMHad: the planner's observation of a
// VM's power can be old (a refresh that saw it off, then it was powered
// on). The cutover reads it again before it powers the VM off, so a
// rollback powers the VM on again.
func TestRollbackRestoresThePowerTheVMHad(t *testing.T) {
	h := newHarnessLab(t, fastLab(), nil)
	ctx := context.Background()
	const vmID = "east-vm003"
	hv := h.world.Compute()
	if err := hv.PowerOff(ctx, vmID); err != nil {
		t.Fatal(err)
	}
	h.svc.Refresh(ctx)
	if err := hv.PowerOn(ctx, vmID); err != nil { // not seen yet
		t.Fatal(err)
	}
	// The move to the destination host fails for good after the hand-over.
	if err := h.world.InjectFault(lab.Fault{Target: "west-esx02", Op: lab.OpMove, Count: 1, Kind: lab.KindFinal}); err != nil {
		t.Fatal(err)
	}
	m, err := h.svc.StartMigration(MigrationSpec{VM: vmID, DestinationHost: "west-esx02", Mode: "cold"})
	if err != nil {
		t.Fatal(err)
	}
	end, err := h.svc.WaitMigration(ctx, m.ID)
	if err != nil {
		t.Fatal(err)
	}
	if end.Phase != "rolled-back" {
		t.Fatalf("migration ended %s: %s", end.Phase, end.Error)
	}
	vms, err := hv.VMs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vms {
		if v.ID == vmID && (v.Host != m.SourceHost || v.Power == compute.PowerOff) {
			t.Fatalf("after the rollback the VM is %+v, want on at %s", v, m.SourceHost)
		}
	}
	checkInvariants(t, h)
}

// TestColdMoveKeepsAPoweredOffVMOff: a cold move powers the VM on at the
// destination only if it was on — same-fabric and cross-site alike.
func TestColdMoveKeepsAPoweredOffVMOff(t *testing.T) {
	h := newHarnessLab(t, fastLab(), nil)
	ctx := context.Background()
	hv := h.world.Compute()
	for _, mv := range []struct{ vm, to string }{{"east-vm003", "east-esx04"}, {"east-vm005", "west-esx02"}} {
		if err := hv.PowerOff(ctx, mv.vm); err != nil {
			t.Fatal(err)
		}
		m, err := h.svc.StartMigration(MigrationSpec{VM: mv.vm, DestinationHost: mv.to, Mode: "cold"})
		if err != nil {
			t.Fatal(err)
		}
		end, err := h.svc.WaitMigration(ctx, m.ID)
		if err != nil || end.Phase != "succeeded" {
			t.Fatalf("%s move of %s ended %s: %v %s", m.Kind, mv.vm, end.Phase, err, end.Error)
		}
		vms, err := hv.VMs(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range vms {
			if v.ID == mv.vm && (v.Host != mv.to || v.Power != compute.PowerOff) {
				t.Errorf("after a %s cold move the VM is at %s powered %s, want at %s powered off", m.Kind, v.Host, v.Power, mv.to)
			}
		}
	}
	checkInvariants(t, h)
}
