package mobility

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/sanmob/sanmob/array"
	"github.com/sanmob/sanmob/thin"
)

// labPools are the lab's pools as the arrays report them now, by id, with
// their array.
func labPools(t *testing.T, h *harness) (map[string]array.Pool, map[string]string) {
	t.Helper()
	pools, arrays := map[string]array.Pool{}, map[string]string{}
	for _, a := range h.world.Arrays() {
		ps, err := a.Array.Pools(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range ps {
			pools[p.ID], arrays[p.ID] = p, a.ID
		}
	}
	return pools, arrays
}

// extremes are, over the lab's pools, the most room and the highest
// ceiling for the kind, and the pools that have them.
func extremes(pools map[string]array.Pool, isThin bool) (room int64, roomPool string, ceiling int64, ceilingPool string) {
	for id, p := range pools {
		if r := thin.Room(p, isThin); r > room {
			room, roomPool = r, id
		}
		if c := thin.Ceiling(p, isThin); c > ceiling {
			ceiling, ceilingPool = c, id
		}
	}
	return room, roomPool, ceiling, ceilingPool
}

func TestCreateVolumeRefusals(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	no := false
	pools, _ := labPools(t, h)
	thinRoom, _, thinCeiling, _ := extremes(pools, true)
	thickRoom, _, thickCeiling, _ := extremes(pools, false)
	if thinRoom >= thinCeiling || thickRoom >= thickCeiling {
		t.Fatalf("the lab's pools leave no size between room and ceiling: thin %d/%d, thick %d/%d", thinRoom, thinCeiling, thickRoom, thickCeiling)
	}
	tests := []struct {
		name string
		spec VolumeSpec
		want error
	}{
		{"no name", VolumeSpec{SizeBytes: gib}, ErrInvalid},
		{"zero size", VolumeSpec{Name: "z", SizeBytes: 0}, ErrInvalid},
		{"control character", VolumeSpec{Name: "a\nb", SizeBytes: gib}, ErrInvalid},
		{"bad id", VolumeSpec{ID: "Not_An_Id", SizeBytes: gib}, ErrInvalid},
		{"unknown site", VolumeSpec{Name: "x", SizeBytes: gib, Site: "north"}, ErrNotFound},
		{"unknown array", VolumeSpec{Name: "x", SizeBytes: gib, Array: "nope"}, ErrNotFound},
		{"unknown pool", VolumeSpec{Name: "x", SizeBytes: gib, Pool: "nope"}, ErrNotFound},
		{"array not at site", VolumeSpec{Name: "x", SizeBytes: gib, Site: "west", Array: "east-arr1"}, ErrInvalid},
		{"unknown pool before an impossible size", VolumeSpec{Name: "x", SizeBytes: 1 << 60, Pool: "nope"}, ErrNotFound},
		{"past every pool's overcommit room", VolumeSpec{Name: "x", SizeBytes: thinRoom + 1}, array.ErrNoCapacity},
		{"thick past every pool's free physical", VolumeSpec{Name: "x", SizeBytes: thickRoom + 1, Thin: &no}, array.ErrNoCapacity},
		{"more than any pool could hold", VolumeSpec{Name: "x", SizeBytes: thinCeiling + 1}, ErrInvalid},
		{"far more than any pool could hold", VolumeSpec{Name: "x", SizeBytes: 1 << 60}, ErrInvalid},
		{"thick more than any pool's physical", VolumeSpec{Name: "x", SizeBytes: thickCeiling + 1, Thin: &no}, ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := h.svc.CreateVolume(ctx, tt.spec)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err %v, want %v", err, tt.want)
			}
			if tt.want == ErrInvalid && errors.Is(err, array.ErrNoCapacity) {
				t.Fatalf("a client's mistake must not read as no capacity: %v", err)
			}
		})
	}
	c, err := h.svc.Capacity(CapacitySpec{Site: "east"})
	if err != nil || c.AvailableBytes <= 0 || c.MaximumVolumeBytes <= 0 || c.MaximumVolumeBytes > c.AvailableBytes {
		t.Fatalf("capacity %+v, %v", c, err)
	}
	if _, err := h.svc.CreateVolume(ctx, VolumeSpec{Name: "fits", SizeBytes: c.MaximumVolumeBytes, Site: "east"}); err != nil {
		t.Fatalf("the largest volume Capacity promises: %v", err)
	}
}

// TestCreateVolumeRefusalSaysTheNumbers: the refusal names the pool with
// the most room and the numbers Cinder's rule took.
func TestCreateVolumeRefusalSaysTheNumbers(t *testing.T) {
	h := newHarness(t, nil)
	pools, arrays := labPools(t, h)
	room, best, _, _ := extremes(pools, true)
	p := pools[best]
	_, err := h.svc.CreateVolume(context.Background(), VolumeSpec{Name: "x", SizeBytes: room + 1})
	var r *thin.Refusal
	if !errors.As(err, &r) {
		t.Fatalf("err %v, want a *thin.Refusal", err)
	}
	if r.Pool != best || r.Array != arrays[best] || r.Room != room || r.Requested != room+1 || !r.Thin {
		t.Errorf("refusal %+v, want pool %s of array %s with room %d", r, best, arrays[best], room)
	}
	for _, n := range []string{fmt.Sprint(room + 1), fmt.Sprint(p.ProvisionedBytes), fmt.Sprint(p.PhysicalBytes),
		fmt.Sprintf("%d%% reserved", p.ReservedPercent), fmt.Sprintf("max overcommit %g", p.MaxOvercommit), fmt.Sprintf("room for %d bytes", room)} {
		if !strings.Contains(err.Error(), n) {
			t.Errorf("%q does not say %q", err, n)
		}
	}
}

// expandCounter counts the expands that reach an array.
type expandCounter struct {
	array.Driver
	n *atomic.Int32
}

func (e expandCounter) ExpandVolume(ctx context.Context, id string, sizeBytes int64) (array.Volume, error) {
	e.n.Add(1)
	return e.Driver.ExpandVolume(ctx, id, sizeBytes)
}

func TestExpandVolumeAdmission(t *testing.T) {
	var calls atomic.Int32
	h := newHarness(t, func(d array.Driver) array.Driver { return expandCounter{d, &calls} })
	ctx := context.Background()
	no := false
	thinVol, err := h.svc.CreateVolume(ctx, VolumeSpec{Name: "grow-thin", SizeBytes: 10 * gib, Pool: "east-arr1-pool2"})
	if err != nil {
		t.Fatal(err)
	}
	thickVol, err := h.svc.CreateVolume(ctx, VolumeSpec{Name: "grow-thick", SizeBytes: 10 * gib, Pool: "east-arr1-pool2", Thin: &no})
	if err != nil {
		t.Fatal(err)
	}
	pools, _ := labPools(t, h)
	p := pools["east-arr1-pool2"]
	tests := []struct {
		name    string
		vol     string
		size    int64
		want    error // nil: grown
		reached bool  // the array was asked
	}{
		{"thin past the pool's room", thinVol.ID, 10*gib + thin.Room(p, true) + 1, array.ErrNoCapacity, false},
		{"thin past what the pool could ever hold", thinVol.ID, thin.Ceiling(p, true) + 1, ErrInvalid, false},
		{"thick past the pool's free physical", thickVol.ID, 10*gib + thin.Room(p, false) + 1, array.ErrNoCapacity, false},
		{"thick past the pool's physical", thickVol.ID, thin.Ceiling(p, false) + 1, ErrInvalid, false},
		{"thin within room", thinVol.ID, 20 * gib, nil, true},
		{"thick within room", thickVol.ID, 20 * gib, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := calls.Load()
			v, err := h.svc.ExpandVolume(ctx, tt.vol, tt.size)
			if tt.want == nil {
				if err != nil || v.SizeBytes != tt.size {
					t.Fatalf("expand: %+v, %v", v, err)
				}
			} else if !errors.Is(err, tt.want) {
				t.Fatalf("err %v, want %v", err, tt.want)
			}
			if reached := calls.Load() != before; reached != tt.reached {
				t.Errorf("the array was asked: %v, want %v", reached, tt.reached)
			}
			if tt.want == array.ErrNoCapacity {
				var r *thin.Refusal
				if !errors.As(err, &r) || r.Pool != "east-arr1-pool2" || r.Requested != tt.size-10*gib {
					t.Errorf("refusal %v: want the growth refused on east-arr1-pool2", err)
				}
			}
		})
	}
}

// TestCopyOfSnapshotAdmittedOnItsPool: a copy goes to its snapshot's pool,
// and is refused there, with that pool's numbers, even when the array's
// other pool has the room.
func TestCopyOfSnapshotAdmittedOnItsPool(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	pools, _ := labPools(t, h)
	small, large := "east-arr1-pool2", "east-arr1-pool1"
	if thin.Room(pools[small], true) >= thin.Room(pools[large], true) {
		small, large = large, small
	}
	v, err := h.svc.CreateVolume(ctx, VolumeSpec{Name: "src", SizeBytes: 10 * gib, Pool: small})
	if err != nil {
		t.Fatal(err)
	}
	sn, err := h.svc.CreateSnapshot(ctx, v.ID, SnapshotSpec{Name: "src-snap"})
	if err != nil {
		t.Fatal(err)
	}
	cp, err := h.svc.CreateVolume(ctx, VolumeSpec{Name: "copy", FromSnapshot: sn.ID})
	if err != nil || cp.Pool != small {
		t.Fatalf("copy: %+v, %v; want it in the snapshot's pool %s", cp, err, small)
	}
	pools, _ = labPools(t, h)
	size := thin.Room(pools[small], true) + 1
	if size > thin.Room(pools[large], true) {
		t.Fatalf("the lab's pools: %s has no room for %d either", large, size)
	}
	_, err = h.svc.CreateVolume(ctx, VolumeSpec{Name: "big-copy", FromSnapshot: sn.ID, SizeBytes: size})
	var r *thin.Refusal
	if !errors.As(err, &r) || r.Pool != small {
		t.Fatalf("err %v: want a refusal on the snapshot's pool %s", err, small)
	}
	if cp, err := h.svc.CreateVolume(ctx, VolumeSpec{Name: "big-copy", FromSnapshot: sn.ID, SizeBytes: size, Pool: large}); err != nil || cp.Pool != large {
		t.Fatalf("a copy in the pool asked for: %+v, %v", cp, err)
	}
}
