package mobility

import (
	"context"
	"strings"
	"testing"

	"github.com/sanmob/sanmob/lab"
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
