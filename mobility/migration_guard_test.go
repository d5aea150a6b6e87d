package mobility

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sanmob/sanmob/lab"
)

// TestMovingVMCannotBeDeleted: a VM record is what a move's steps read and
// write; deleting it in the middle would leave its logins, zones and
// read-only LUNs behind. The answer is a conflict until the move is over.
func TestMovingVMCannotBeDeleted(t *testing.T) {
	t.Parallel()
	h := newHarnessLab(t, fastLab(), nil)
	const vmID = "east-vm010"
	// Slow the group's creation so the move is surely under way.
	if err := h.world.InjectFault(lab.Fault{Target: "link:east-west", Op: lab.OpReplicate, Count: 1, Latency: 2 * time.Minute}); err != nil {
		t.Fatal(err)
	}
	m, err := h.svc.StartMigration(MigrationSpec{VM: vmID, DestinationHost: "west-esx02"})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.svc.DeleteVM(vmID); !errors.Is(err, ErrConflict) {
		t.Fatalf("delete of a moving vm: %v, want a conflict", err)
	}
	end, err := h.svc.WaitMigration(context.Background(), m.ID)
	if err != nil || end.Phase != "succeeded" {
		t.Fatalf("move: %+v %v", end, err)
	}
	checkInvariants(t, h)
}

// TestFailedMigrationRollbackIsRetried: a rollback that a device refuses
// leaves the migration failed, holding its VM and raising OperationFailed;
// once the device is fixed a retry (RetryMigration, or simply asking to
// move the VM again) finishes the rollback and frees the VM.
func TestFailedMigrationRollbackIsRetried(t *testing.T) {
	t.Parallel()
	h := newHarnessLab(t, fastLab(), nil)
	ctx := context.Background()
	const vmID = "east-vm011"
	// present is slowed, so that the abort lands there; the destination
	// array then refuses to remove the replication group, for good.
	if err := h.world.InjectFault(lab.Fault{Target: "west-arr1", Op: lab.OpMask, Count: 1, Latency: 10 * time.Minute}); err != nil {
		t.Fatal(err)
	}
	m, err := h.svc.StartMigration(MigrationSpec{VM: vmID, DestinationHost: "west-esx03"})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		cur, err := h.svc.Migration(m.ID)
		if err != nil {
			t.Fatal(err)
		}
		if st := stepState(cur, "present"); st == "running" {
			break
		}
		if cur.Phase != "running" || time.Now().After(deadline) {
			t.Fatalf("never reached present: %+v", cur)
		}
		time.Sleep(time.Millisecond)
	}
	if err := h.world.InjectFault(lab.Fault{Target: "west-arr1", Op: lab.OpReplicate, Count: 1000, Kind: lab.KindFinal}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.AbortMigration(m.ID); err != nil {
		t.Fatal(err)
	}
	end, _ := h.svc.WaitMigration(ctx, m.ID)
	if end.Phase != "failed" || end.Action == "" {
		t.Fatalf("rollback against a refusing array: %+v, want failed with an action", end)
	}
	if _, err := h.svc.RetryMigration(m.ID); err != nil {
		t.Fatal(err)
	}
	if end, _ = h.svc.WaitMigration(ctx, m.ID); end.Phase != "failed" {
		t.Fatalf("retried while the array still refuses: %+v", end)
	}
	h.world.ClearFaults()
	// Asking to move the VM again retries the rollback first.
	if _, err := h.svc.StartMigration(MigrationSpec{VM: vmID, DestinationHost: "west-esx03"}); !errors.Is(err, ErrConflict) {
		t.Fatalf("a new move of a VM whose move failed: %v, want a conflict while its rollback is retried", err)
	}
	if end, _ = h.svc.WaitMigration(ctx, m.ID); end.Phase != "rolled-back" {
		t.Fatalf("after the fix: %+v", end)
	}
	if _, err := h.svc.RetryMigration(m.ID); !errors.Is(err, ErrConflict) {
		t.Fatalf("retry of a rolled-back migration: %v, want a conflict", err)
	}
	checkInvariants(t, h)
	m2, err := h.svc.StartMigration(MigrationSpec{VM: vmID, DestinationHost: "west-esx03"})
	if err != nil {
		t.Fatal(err)
	}
	if end, _ = h.svc.WaitMigration(ctx, m2.ID); end.Phase != "succeeded" {
		t.Fatalf("the move after the rollback: %+v", end)
	}
	checkInvariants(t, h)
}

func stepState(m Migration, name string) string {
	for _, s := range m.Steps {
		if s.Name == name {
			return s.State
		}
	}
	return ""
}

// TestMoveBackCopiesOnlyTheLag: after a cross-site move reversed its
// group, the old home holds a synchronized replica: the plan of the move
// back copies only what that replica lacks, to that array, and admits no
// new replica.
func TestMoveBackCopiesOnlyTheLag(t *testing.T) {
	t.Parallel()
	h := newHarnessLab(t, fastLab(), nil)
	ctx := context.Background()
	const vmID = "east-vm012"
	there, err := h.svc.PlanMove(MigrationSpec{VM: vmID, DestinationHost: "west-esx01", DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	m, err := h.svc.StartMigration(MigrationSpec{VM: vmID, DestinationHost: "west-esx01"})
	if err != nil {
		t.Fatal(err)
	}
	if end, _ := h.svc.WaitMigration(ctx, m.ID); end.Phase != "succeeded" {
		t.Fatalf("move: %+v", end)
	}
	h.svc.Refresh(ctx)
	back, err := h.svc.PlanMove(MigrationSpec{VM: vmID, DestinationHost: "east-esx01", DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if back.DestArray != "east-arr1" || back.Estimate.BytesToCopy*100 > there.Estimate.BytesToCopy || len(back.DestPools) != 0 {
		t.Fatalf("plan back: array %s, %d bytes to copy (there: %d), new replicas in %v",
			back.DestArray, back.Estimate.BytesToCopy, there.Estimate.BytesToCopy, back.DestPools)
	}
}

// TestKillDuringAbortedZoning: a move aborted while its destination zones
// were being committed, and the daemon killed right after the abort, must
// after the restart still remove whatever that commit left: the resumed
// undo holds the references its release needs.
func TestKillDuringAbortedZoning(t *testing.T) {
	t.Parallel()
	h := newHarnessLab(t, fastLab(), nil)
	ctx := context.Background()
	const vmID = "east-vm007"
	wwpns := vmWWPNs(t, h, vmID)
	if err := h.world.InjectFault(lab.Fault{Target: "west-b", Op: lab.OpCommit, Count: 1, Latency: 20 * time.Minute}); err != nil {
		t.Fatal(err)
	}
	m, err := h.svc.StartMigration(MigrationSpec{VM: vmID, DestinationHost: "west-esx04"})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		cur, err := h.svc.Migration(m.ID)
		if err != nil {
			t.Fatal(err)
		}
		if stepState(cur, "zone-dest") == "running" {
			break
		}
		if cur.Phase != "running" || time.Now().After(deadline) {
			t.Fatalf("never reached zone-dest: %+v", cur)
		}
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond) // west-a commits; west-b is slowed
	if _, err := h.svc.AbortMigration(m.ID); err != nil {
		t.Fatal(err)
	}
	h.reopen(t)
	h.world.ClearFaults()
	end, err := h.svc.WaitMigration(ctx, m.ID)
	if err != nil || end.Phase != "rolled-back" {
		t.Fatalf("after the restart: %+v %v", end, err)
	}
	for f := range footprint(t, h.world, wwpns).zonedOn {
		if siteOf(f) == "west" {
			t.Errorf("a zone of the VM is left on %s", f)
		}
	}
	checkInvariants(t, h)
}

// TestReplicationLagHighFollowsTheLink: with the inter-site link down a
// moved VM's reversed group is suspended: ReplicationLagHigh fires on the
// next refresh, naming the group, and resolves once the link is back.
func TestReplicationLagHighFollowsTheLink(t *testing.T) {
	t.Parallel()
	h := newHarnessLab(t, fastLab(), nil)
	ctx := context.Background()
	const vmID = "east-vm002"
	m, err := h.svc.StartMigration(MigrationSpec{VM: vmID, DestinationHost: "west-esx01"})
	if err != nil {
		t.Fatal(err)
	}
	if end, _ := h.svc.WaitMigration(ctx, m.ID); end.Phase != "succeeded" {
		t.Fatalf("move: %+v", end)
	}
	firing := func() string {
		for _, a := range h.svc.Alerts() {
			if a.Labels["alertname"] == "ReplicationLagHigh" && a.Labels["group"] == "vm-"+vmID && a.Status == "firing" {
				return a.Annotations["reason"]
			}
		}
		return ""
	}
	h.svc.Refresh(ctx)
	if r := firing(); r != "" {
		t.Fatalf("alert fires with the link up: %s", r)
	}
	if err := h.world.InjectFault(lab.Fault{Target: "link:east-west", Op: lab.OpAny, Count: 1 << 30}); err != nil {
		t.Fatal(err)
	}
	h.svc.Refresh(ctx)
	if r := firing(); !strings.Contains(r, "suspended") {
		t.Fatalf("link down: alert reason %q, want suspended", r)
	}
	g, ok := h.svc.Replication().Group("vm-" + vmID)
	if !ok || g.State != "SUSPENDED" || g.SourceArray != "west-arr1" {
		t.Fatalf("group with the link down: %+v", g)
	}
	h.world.ClearFaults()
	h.svc.Refresh(ctx)
	if r := firing(); r != "" {
		t.Fatalf("alert still fires with the link back: %s", r)
	}
}
