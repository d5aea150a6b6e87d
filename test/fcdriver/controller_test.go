package fcdriver

import (
	"context"
	"errors"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
)

func TestCreateVolumeIdempotentByName(t *testing.T) {
	d, _ := newTestDriver(t)
	ctx := context.Background()
	req := &csi.CreateVolumeRequest{Name: "pvc-1", VolumeCapabilities: []*csi.VolumeCapability{capOf(rwo)},
		CapacityRange: &csi.CapacityRange{RequiredBytes: 2 << 30}}
	a, err := d.CreateVolume(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	b, err := d.CreateVolume(ctx, req)
	if err != nil || b.GetVolume().GetVolumeId() != a.GetVolume().GetVolumeId() || b.GetVolume().GetCapacityBytes() != 2<<30 {
		t.Fatalf("create again: %v, %v; want %v", b, err, a)
	}
	req.CapacityRange = &csi.CapacityRange{RequiredBytes: 3 << 30}
	_, err = d.CreateVolume(ctx, req)
	wantCode(t, err, codes.AlreadyExists, "same name, other size")

	_, err = d.CreateVolume(ctx, &csi.CreateVolumeRequest{VolumeCapabilities: []*csi.VolumeCapability{capOf(rwo)}})
	wantCode(t, err, codes.InvalidArgument, "no name")
	_, err = d.CreateVolume(ctx, &csi.CreateVolumeRequest{Name: "x"})
	wantCode(t, err, codes.InvalidArgument, "no capabilities")
	_, err = d.CreateVolume(ctx, &csi.CreateVolumeRequest{Name: "x", VolumeCapabilities: []*csi.VolumeCapability{capOf(rwo)},
		Parameters: map[string]string{"pool": "gold"}})
	wantCode(t, err, codes.InvalidArgument, "unknown parameter")
	_, err = d.CreateVolume(ctx, &csi.CreateVolumeRequest{Name: "x", VolumeCapabilities: []*csi.VolumeCapability{capOf(rwo)},
		CapacityRange: &csi.CapacityRange{RequiredBytes: DefaultCapacity}})
	wantCode(t, err, codes.ResourceExhausted, "bigger than the free space")

	cp, err := d.GetCapacity(ctx, &csi.GetCapacityRequest{})
	if err != nil || cp.GetAvailableCapacity() != DefaultCapacity-2<<30 {
		t.Errorf("capacity %v, %v; want %d", cp, err, DefaultCapacity-2<<30)
	}

	if _, err := d.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: a.GetVolume().GetVolumeId()}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: a.GetVolume().GetVolumeId()}); err != nil {
		t.Errorf("delete again: %v", err)
	}
	_, err = d.DeleteVolume(ctx, &csi.DeleteVolumeRequest{})
	wantCode(t, err, codes.InvalidArgument, "delete without id")
}

func TestListVolumesPages(t *testing.T) {
	d, _ := newTestDriver(t)
	ctx := context.Background()
	var ids []string
	for _, n := range []string{"a", "b", "c", "d", "e"} {
		ids = append(ids, mustCreate(t, d, n, rwo))
	}
	if _, err := d.ControllerPublishVolume(ctx, pubReq(ids[1], "node-b")); err != nil {
		t.Fatal(err)
	}
	var got []string
	token := ""
	for range 10 {
		resp, err := d.ListVolumes(ctx, &csi.ListVolumesRequest{MaxEntries: 2, StartingToken: token})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range resp.GetEntries() {
			got = append(got, e.GetVolume().GetVolumeId())
			if nodes := e.GetStatus().GetPublishedNodeIds(); (e.GetVolume().GetVolumeId() == ids[1]) != (len(nodes) == 1 && nodes[0] == "node-b") {
				t.Errorf("%s published to %v", e.GetVolume().GetVolumeId(), nodes)
			}
		}
		if token = resp.GetNextToken(); token == "" {
			break
		}
		// A volume of the page just read goes: nothing is skipped.
		if _, err := d.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: got[len(got)-1]}); err != nil && got[len(got)-1] != ids[1] {
			t.Fatal(err)
		}
	}
	if len(got) != len(ids) {
		t.Errorf("listed %v, want %v", got, ids)
	}
	_, err := d.ListVolumes(ctx, &csi.ListVolumesRequest{StartingToken: "invalid-token"})
	wantCode(t, err, codes.Aborted, "a token the driver did not give")
}

func TestArrayLUNsPerNode(t *testing.T) {
	a := NewArray(testTargets, 1<<40)
	var vols []string
	for _, n := range []string{"a", "b", "c"} {
		v, _, err := a.Create(n, 1<<30, false)
		if err != nil {
			t.Fatal(err)
		}
		vols = append(vols, v.ID)
	}
	lun := func(vol, node string) int {
		t.Helper()
		m, _, err := a.Map(vol, node, []string{"i"}, false)
		if err != nil {
			t.Fatal(err)
		}
		return m.LUN
	}
	if l := []int{lun(vols[0], "n1"), lun(vols[1], "n1"), lun(vols[2], "n2")}; l[0] != 0 || l[1] != 1 || l[2] != 0 {
		t.Errorf("LUNs %v, want [0 1 0]", l)
	}
	if m, created, _ := a.Map(vols[0], "n1", []string{"i"}, false); created || m.LUN != 0 {
		t.Errorf("map again: created %t, LUN %d", created, m.LUN)
	}
	a.Unmap(vols[0], "n1")
	if l := lun(vols[2], "n1"); l != 0 {
		t.Errorf("LUN %d after LUN 0 was freed, want 0", l)
	}
	if err := a.Delete(vols[2]); !errors.Is(err, ErrMapped) {
		t.Errorf("delete a mapped volume: %v", err)
	}
	if _, _, err := a.Map("fcv-nope", "n1", nil, false); !errors.Is(err, ErrNoVolume) {
		t.Errorf("map an unknown volume: %v", err)
	}
}
