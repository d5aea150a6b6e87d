package mobility

import (
	"context"
	"errors"
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
