package mobility

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/sanmob/sanmob/alert"
	"github.com/sanmob/sanmob/array"
	"github.com/sanmob/sanmob/lab"
	"github.com/sanmob/sanmob/saga"
)

// TestVMSnapshotIsAllOrNone: a VM whose volumes live on two arrays is
// snapshotted as one saga run, a group per array; when the second array
// refuses, the group already taken on the first is deleted again.
func TestVMSnapshotIsAllOrNone(t *testing.T) {
	cfg := lab.Small()
	cfg.ArraysPerSite = 2
	h := newHarnessLab(t, cfg, nil)
	ctx := context.Background()
	const vmID = "east-vm001"
	vm, err := h.svc.VM(vmID)
	if err != nil {
		t.Fatal(err)
	}
	arrays := map[string]bool{}
	for _, r := range vm.Volumes {
		v, _ := h.svc.Volume(r.ID)
		arrays[v.Array] = true
	}
	for _, id := range []string{"east-arr1", "east-arr2"} {
		if arrays[id] {
			continue
		}
		v, err := h.svc.CreateVolume(ctx, VolumeSpec{Name: "second-" + id, SizeBytes: gib, Array: id})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := h.svc.Attach(ctx, AttachmentSpec{Volume: v.ID, Node: vmID}); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.world.InjectFault(lab.Fault{Target: "east-arr2", Op: lab.OpVolume, Count: 1, Kind: lab.KindFinal}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.SnapshotVM(ctx, vmID, SnapshotSpec{Name: "nightly"}); err == nil || !strings.Contains(err.Error(), "east-arr2") {
		t.Fatalf("snapshot with east-arr2 refusing: %v", err)
	}
	for _, sn := range h.svc.Snapshots("") {
		if strings.HasPrefix(sn.Name, "nightly-") {
			t.Fatalf("snapshot %s (%s) left after the run was undone", sn.Name, sn.Array)
		}
	}
	snaps, err := h.svc.SnapshotVM(ctx, vmID, SnapshotSpec{Name: "nightly"})
	if err != nil {
		t.Fatal(err)
	}
	on := map[string]int{}
	for _, sn := range snaps {
		on[sn.Array]++
	}
	if len(snaps) != len(vmVolumes(t, h, vmID)) || on["east-arr1"] == 0 || on["east-arr2"] == 0 {
		t.Fatalf("snapshots %+v: want one per volume on both arrays", snaps)
	}
}

func vmVolumes(t *testing.T, h *harness, id string) []string {
	vm, err := h.svc.VM(id)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range vm.Volumes {
		out = append(out, r.ID)
	}
	return out
}

// stuckSnapshots is an array whose DeleteSnapshot refuses while broken.
type stuckSnapshots struct {
	array.Driver
	broken atomic.Bool
}

func (a *stuckSnapshots) DeleteSnapshot(ctx context.Context, id string) error {
	if a.broken.Load() {
		return fmt.Errorf("snapshot %s is held by a backup session: %w", id, array.ErrConflict)
	}
	return a.Driver.DeleteSnapshot(ctx, id)
}

// TestVMSnapshotWhoseUndoFails: when the snapshots taken on one array
// cannot be deleted after another array refused, the run is failed, an
// OperationFailed alert fires, and asking for the snapshot again answers a
// conflict until the array lets go; then the undo is retried and the
// snapshot taken.
func TestVMSnapshotWhoseUndoFails(t *testing.T) {
	cfg := lab.Small()
	cfg.ArraysPerSite = 2
	var first *stuckSnapshots
	h := newHarnessLab(t, cfg, func(d array.Driver) array.Driver {
		if first == nil {
			first = &stuckSnapshots{Driver: d}
			return first
		}
		return d
	})
	ctx := context.Background()
	const vmID = "east-vm001"
	for _, id := range []string{"east-arr1", "east-arr2"} {
		v, err := h.svc.CreateVolume(ctx, VolumeSpec{Name: "snap-" + id, SizeBytes: gib, Array: id})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := h.svc.Attach(ctx, AttachmentSpec{Volume: v.ID, Node: vmID}); err != nil {
			t.Fatal(err)
		}
	}
	first.broken.Store(true)
	if err := h.world.InjectFault(lab.Fault{Target: "east-arr2", Op: lab.OpVolume, Count: 1, Kind: lab.KindFinal}); err != nil {
		t.Fatal(err)
	}
	_, err := h.svc.SnapshotVM(ctx, vmID, SnapshotSpec{Name: "weekly"})
	var re *saga.RunError
	if !errors.As(err, &re) || re.State != saga.StateFailed {
		t.Fatalf("snapshot: %v, want a failed run", err)
	}
	if !firing(h, alert.OperationFailed) {
		t.Fatal("no OperationFailed alert")
	}
	if _, err := h.svc.SnapshotVM(ctx, vmID, SnapshotSpec{Name: "weekly"}); !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), "backup session") {
		t.Fatalf("again while the array still refuses: %v", err)
	}
	first.broken.Store(false)
	if _, err := h.svc.SnapshotVM(ctx, vmID, SnapshotSpec{Name: "weekly"}); err != nil {
		t.Fatalf("again once the array lets go: %v", err)
	}
	if firing(h, alert.OperationFailed) {
		t.Fatal("OperationFailed still firing")
	}
}
