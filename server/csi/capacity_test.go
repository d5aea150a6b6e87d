package csi

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sanmob/sanmob/array"
	"github.com/sanmob/sanmob/thin"
)

// labPool is one of the lab's pools as its array reports it now.
func labPool(t *testing.T, h *harness, id string) array.Pool {
	t.Helper()
	for _, a := range h.lab.Arrays() {
		ps, err := a.Array.Pools(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range ps {
			if p.ID == id {
				return p
			}
		}
	}
	t.Fatalf("the lab has no pool %s", id)
	return array.Pool{}
}

// TestCapacityAdmission: CreateVolume and ControllerExpandVolume past a
// pool's room are RESOURCE_EXHAUSTED with thin's numbers in the message;
// an expand past what the pool could ever hold is INVALID_ARGUMENT.
func TestCapacityAdmission(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	const pool = "west-arr1-pool2"
	caps := []*csi.VolumeCapability{mountCap(snw)}
	create := func(name string, size int64) (*csi.CreateVolumeResponse, error) {
		return h.ctl.CreateVolume(ctx, &csi.CreateVolumeRequest{Name: name, VolumeCapabilities: caps,
			CapacityRange: &csi.CapacityRange{RequiredBytes: size}, Parameters: map[string]string{"pool": pool}})
	}
	wantExhausted := func(t *testing.T, err error, requested int64, p array.Pool) {
		t.Helper()
		if status.Code(err) != codes.ResourceExhausted {
			t.Fatalf("%v, want RESOURCE_EXHAUSTED", err)
		}
		msg := status.Convert(err).Message()
		for _, n := range []string{
			fmt.Sprintf("pool %s", pool),
			fmt.Sprintf("cannot take %d more bytes thin", requested),
			fmt.Sprintf("%d provisioned of %d physical", p.ProvisionedBytes, p.PhysicalBytes),
			fmt.Sprintf("%d%% reserved, max overcommit %g", p.ReservedPercent, p.MaxOvercommit),
			fmt.Sprintf("room for %d bytes", thin.Room(p, true)),
		} {
			if !strings.Contains(msg, n) {
				t.Errorf("message %q does not say %q", msg, n)
			}
		}
	}

	p := labPool(t, h, pool)
	_, err := create("full", thin.Room(p, true)+1)
	wantExhausted(t, err, thin.Room(p, true)+1, p)

	r, err := create("grows", 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	id := r.GetVolume().GetVolumeId()
	p = labPool(t, h, pool)
	room := thin.Room(p, true)
	expand := func(size int64) (*csi.ControllerExpandVolumeResponse, error) {
		return h.ctl.ControllerExpandVolume(ctx, &csi.ControllerExpandVolumeRequest{VolumeId: id, CapacityRange: &csi.CapacityRange{RequiredBytes: size}})
	}
	_, err = expand(1<<30 + room + 1)
	wantExhausted(t, err, room+1, p)
	if _, err := expand(thin.Ceiling(p, true) + 1); status.Code(err) != codes.InvalidArgument {
		t.Errorf("expand past what the pool could ever hold: %v, want INVALID_ARGUMENT", err)
	}
	if got, err := expand(1<<30 + room); err != nil || got.GetCapacityBytes() != 1<<30+room {
		t.Errorf("expand to exactly the room: %v, %v", got, err)
	}
}

// TestThickPastFullOverCSI: CreateVolume of a thick volume that would take
// its pool past the full threshold (90 %) is RESOURCE_EXHAUSTED with the
// numbers, as over REST; one byte less is created.
func TestThickPastFullOverCSI(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	const pool = "east-arr1-pool1"
	p := labPool(t, h, pool)
	size := int64(0.9*float64(p.PhysicalBytes)) - p.UsedBytes + 1
	if size <= 0 || size > thin.Room(p, false) {
		t.Fatalf("pool %+v: no size between 90 %% and its thick room %d", p, thin.Room(p, false))
	}
	create := func(name string, size int64) error {
		_, err := h.ctl.CreateVolume(ctx, &csi.CreateVolumeRequest{Name: name, VolumeCapabilities: []*csi.VolumeCapability{mountCap(snw)},
			CapacityRange: &csi.CapacityRange{RequiredBytes: size}, Parameters: map[string]string{"pool": pool, "thin": "false"}})
		return err
	}
	err := create("fat", size)
	if status.Code(err) != codes.ResourceExhausted || !strings.Contains(status.Convert(err).Message(), "past the full threshold of 90%") ||
		!strings.Contains(status.Convert(err).Message(), fmt.Sprintf("cannot take %d more bytes thick", size)) {
		t.Fatalf("%v, want RESOURCE_EXHAUSTED with the numbers", err)
	}
	if err := create("fits", size-1); err != nil {
		t.Fatalf("up to 90 %%: %v", err)
	}
}
