package lab

import (
	"bytes"
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sanmob/sanmob/array"
	"github.com/sanmob/sanmob/fabric/wwn"
)

const gib = 1 << 30

// eastArray is the Small world's east-arr1, with 12 VMs, 24 volumes in two
// pools, all mapped.
func eastArray(t testing.TB, cfg Config) (*World, *Array) {
	t.Helper()
	w := newWorld(t, cfg)
	a, _ := w.Array("east-arr1")
	return w, a
}

func poolOf(t testing.TB, a *Array, id string) array.Pool {
	t.Helper()
	pools, err := a.Pools(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pools {
		if p.ID == id {
			return p
		}
	}
	t.Fatalf("no pool %s", id)
	return array.Pool{}
}

func volumeOf(t testing.TB, a *Array, id string) (array.Volume, bool) {
	t.Helper()
	vols, err := a.Volumes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vols {
		if v.ID == id {
			return v, true
		}
	}
	return array.Volume{}, false
}

func snapshotOf(t testing.TB, a *Array, id string) (array.Snapshot, bool) {
	t.Helper()
	snaps, err := a.Snapshots(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range snaps {
		if s.ID == id {
			return s, true
		}
	}
	return array.Snapshot{}, false
}

// accrueTo applies the writes up to virtual hour h, as a read at that hour
// would: the tests' way to age an array without waiting.
func accrueTo(a *Array, h int64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.accrue(h)
}

// thinLimit is the most a thin volume can be in pool p, by Cinder's rule.
func thinLimit(p array.Pool) int64 {
	net := p.PhysicalBytes - p.PhysicalBytes*int64(p.ReservedPercent)/100
	return int64(float64(net)*p.MaxOvercommit) - p.ProvisionedBytes
}

// thickLimit is the most a thick volume can be in pool p.
func thickLimit(p array.Pool) int64 {
	return p.PhysicalBytes - p.PhysicalBytes*int64(p.ReservedPercent)/100 - p.UsedBytes
}

const pool1 = "east-arr1-pool1"

var naa6 = regexp.MustCompile(`^naa\.6[0-9a-f]{31}$`)

func TestCreateVolume(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		spec    func(p array.Pool) array.VolumeSpec
		wantErr error
	}{
		{"thin", func(array.Pool) array.VolumeSpec {
			return array.VolumeSpec{ID: "v1", Pool: pool1, SizeBytes: 10 * gib, Thin: true}
		}, nil},
		{"thick", func(array.Pool) array.VolumeSpec { return array.VolumeSpec{ID: "v1", Pool: pool1, SizeBytes: 10 * gib} }, nil},
		{"named", func(array.Pool) array.VolumeSpec {
			return array.VolumeSpec{ID: "pvc-6f1c2d3e-0000-4000-8000-000000000001", Name: "data of vm 7", Pool: pool1, SizeBytes: 1, Thin: true}
		}, nil},
		{"id of 128 bytes", func(array.Pool) array.VolumeSpec {
			return array.VolumeSpec{ID: strings.Repeat("x", 128), Pool: pool1, SizeBytes: gib, Thin: true}
		}, nil},
		{"unicode id", func(array.Pool) array.VolumeSpec {
			return array.VolumeSpec{ID: "Datenträger 1", Pool: pool1, SizeBytes: gib, Thin: true}
		}, nil},
		{"thin up to the overcommit limit", func(p array.Pool) array.VolumeSpec {
			return array.VolumeSpec{ID: "big", Pool: pool1, SizeBytes: thinLimit(p), Thin: true}
		}, nil},
		{"thin past the overcommit limit", func(p array.Pool) array.VolumeSpec {
			return array.VolumeSpec{ID: "big", Pool: pool1, SizeBytes: thinLimit(p) + 1, Thin: true}
		}, array.ErrNoCapacity},
		{"thick up to the free space", func(p array.Pool) array.VolumeSpec {
			return array.VolumeSpec{ID: "big", Pool: pool1, SizeBytes: thickLimit(p)}
		}, nil},
		{"thick past the free space", func(p array.Pool) array.VolumeSpec {
			return array.VolumeSpec{ID: "big", Pool: pool1, SizeBytes: thickLimit(p) + 1}
		}, array.ErrNoCapacity},
		{"existing id, other size", func(array.Pool) array.VolumeSpec {
			return array.VolumeSpec{ID: "east-vm001-d0", Pool: pool1, SizeBytes: 1, Thin: true}
		}, array.ErrConflict},
		{"no such pool", func(array.Pool) array.VolumeSpec {
			return array.VolumeSpec{ID: "v1", Pool: "west-arr1-pool1", SizeBytes: 1}
		}, array.ErrNotFound},
		{"zero size", func(array.Pool) array.VolumeSpec { return array.VolumeSpec{ID: "v1", Pool: pool1} }, array.ErrInvalid},
		{"negative size", func(array.Pool) array.VolumeSpec { return array.VolumeSpec{ID: "v1", Pool: pool1, SizeBytes: -1} }, array.ErrInvalid},
		{"no id", func(array.Pool) array.VolumeSpec { return array.VolumeSpec{Pool: pool1, SizeBytes: 1} }, array.ErrInvalid},
		{"id of 129 bytes", func(array.Pool) array.VolumeSpec {
			return array.VolumeSpec{ID: strings.Repeat("x", 129), Pool: pool1, SizeBytes: 1}
		}, array.ErrInvalid},
		{"control character", func(array.Pool) array.VolumeSpec { return array.VolumeSpec{ID: "v\n1", Pool: pool1, SizeBytes: 1} }, array.ErrInvalid},
		{"not UTF-8", func(array.Pool) array.VolumeSpec { return array.VolumeSpec{ID: "v\xff", Pool: pool1, SizeBytes: 1} }, array.ErrInvalid},
		{"bad name", func(array.Pool) array.VolumeSpec {
			return array.VolumeSpec{ID: "v1", Name: "a\tb", Pool: pool1, SizeBytes: 1}
		}, array.ErrInvalid},
		{"no pool", func(array.Pool) array.VolumeSpec { return array.VolumeSpec{ID: "v1", SizeBytes: 1} }, array.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, a := eastArray(t, Small())
			before := poolOf(t, a, pool1)
			spec := tt.spec(before)
			v, err := a.CreateVolume(ctx, spec)
			after := poolOf(t, a, pool1)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || array.IsTransient(err) {
					t.Fatalf("CreateVolume = %v, want %v", err, tt.wantErr)
				}
				if after != before {
					t.Fatalf("a refused create changed the pool: %+v, was %+v", after, before)
				}
				if _, ok := volumeOf(t, a, spec.ID); ok && spec.ID != "east-vm001-d0" {
					t.Fatalf("a refused create made volume %s", spec.ID)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			wantName, wantUsed := spec.ID, int64(0)
			if spec.Name != "" {
				wantName = spec.Name
			}
			if !spec.Thin {
				wantUsed = spec.SizeBytes
			}
			if v.ID != spec.ID || v.Name != wantName || v.Pool != pool1 || v.SizeBytes != spec.SizeBytes || v.Thin != spec.Thin ||
				v.UsedBytes != wantUsed || !naa6.MatchString(v.WWN) || v.CreatedAt.Before(w.Config().Epoch) || v.CreatedAt.After(w.Clock().Now()) {
				t.Fatalf("volume %+v from %+v", v, spec)
			}
			if got, ok := volumeOf(t, a, spec.ID); !ok || got != v {
				t.Fatalf("Volumes has %+v, CreateVolume returned %+v", got, v)
			}
			wantPhys := before.UsedBytes
			if !spec.Thin {
				wantPhys += spec.SizeBytes
			}
			if after.ProvisionedBytes != before.ProvisionedBytes+spec.SizeBytes || after.UsedBytes != wantPhys {
				t.Fatalf("pool %+v after creating %+v on %+v", after, spec, before)
			}
			// Idempotent: the same request returns the volume as it is.
			again, err := a.CreateVolume(ctx, spec)
			if err != nil || again != v || poolOf(t, a, pool1) != after {
				t.Fatalf("CreateVolume again = %+v, %v; want %+v, pool unchanged", again, err, v)
			}
			// The same id with other attributes conflicts.
			for _, other := range []array.VolumeSpec{
				{ID: spec.ID, Pool: pool1, SizeBytes: spec.SizeBytes + 1, Thin: spec.Thin},
				{ID: spec.ID, Pool: pool1, SizeBytes: spec.SizeBytes, Thin: !spec.Thin},
				{ID: spec.ID, Pool: "east-arr1-pool2", SizeBytes: spec.SizeBytes, Thin: spec.Thin},
			} {
				if _, err := a.CreateVolume(ctx, other); !errors.Is(err, array.ErrConflict) {
					t.Fatalf("CreateVolume %+v over %+v = %v, want conflict", other, spec, err)
				}
			}
		})
	}
}

func TestVolumeWWNsAreUniqueAndNeverReused(t *testing.T) {
	ctx := context.Background()
	_, a := eastArray(t, Small())
	vols, _ := a.Volumes(ctx)
	seen := map[string]string{}
	for _, v := range vols {
		seen[v.WWN] = v.ID
	}
	// The same id three times over, deleted in between: a new device each time.
	for i := range 3 {
		v, err := a.CreateVolume(ctx, array.VolumeSpec{ID: "again", Pool: pool1, SizeBytes: gib, Thin: true})
		if err != nil {
			t.Fatal(err)
		}
		if prev, dup := seen[v.WWN]; dup || !naa6.MatchString(v.WWN) || v.WWN[:21] != vols[0].WWN[:21] {
			t.Fatalf("round %d: WWN %s (of %s before), built ones like %s", i, v.WWN, prev, vols[0].WWN)
		}
		seen[v.WWN] = v.ID
		if err := a.DeleteVolume(ctx, "again"); err != nil {
			t.Fatal(err)
		}
	}
}

// TestWritesAreDeterministic drives two worlds of one seed alike: they end
// byte for byte alike, WWNs and timestamps' hours included.
func TestWritesAreDeterministic(t *testing.T) {
	script := func(w *World) []byte {
		ctx := context.Background()
		a, _ := w.Array("west-arr1")
		ports, _ := a.TargetPorts(ctx)
		for i, id := range []string{"x1", "x2", "x3"} {
			if _, err := a.CreateVolume(ctx, array.VolumeSpec{ID: id, Pool: "west-arr1-pool2", SizeBytes: int64(i+1) * gib, Thin: i != 1}); err != nil {
				t.Fatal(err)
			}
		}
		must(t, a.DeleteVolume(ctx, "x2"))
		must(t, a.Map(ctx, array.MapSpec{Volume: "x1", HostGroup: "h", Initiators: []wwn.WWN{hostIni(1)}, LUN: 3, TargetPorts: []wwn.WWN{ports[0].WWPN}}))
		accrueTo(a, 5)
		if _, err := a.CreateSnapshots(ctx, "cg", []array.SnapshotSpec{{ID: "s1", Volume: "x1"}, {ID: "s3", Volume: "x3"}}); err != nil {
			t.Fatal(err)
		}
		b := dump(t, w)
		// Timestamps differ by the real time between the two runs: drop them.
		return regexp.MustCompile(`"createdAt":"2026-03-01T12:[^"]*"`).ReplaceAll(b, nil)
	}
	c := Config{Seed: 9}
	if !bytes.Equal(script(newWorld(t, c)), script(newWorld(t, c))) {
		t.Fatal("two worlds of one seed, driven alike, differ")
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// hostIni is an initiator the lab has never named.
func hostIni(n uint64) wwn.WWN { return wwn.NAA5(0xabcdef, n) }

func TestDeleteVolume(t *testing.T) {
	ctx := context.Background()
	create := func(thin bool) func(t *testing.T, a *Array) {
		return func(t *testing.T, a *Array) {
			_, err := a.CreateVolume(ctx, array.VolumeSpec{ID: "v", Pool: pool1, SizeBytes: 5 * gib, Thin: thin})
			must(t, err)
		}
	}
	tests := []struct {
		name     string
		setup    func(t *testing.T, a *Array)
		id       string
		wantErr  error
		restores bool // the pools end as they began
	}{
		{"thin", create(true), "v", nil, true},
		{"thick", create(false), "v", nil, true},
		{"absent", func(*testing.T, *Array) {}, "nothing", nil, true},
		{"built, unmapped first", func(t *testing.T, a *Array) {
			must(t, a.Unmap(ctx, "east-vm002-d1", "east-vm002"))
		}, "east-vm002-d1", nil, false},
		{"mapped", func(*testing.T, *Array) {}, "east-vm002-d1", array.ErrConflict, true},
		{"bad id", func(*testing.T, *Array) {}, "", array.ErrInvalid, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, a := eastArray(t, Small())
			pools0, _ := a.Pools(ctx)
			tt.setup(t, a)
			vol, existed := volumeOf(t, a, tt.id)
			snaps0, _ := a.Snapshots(ctx)
			err := a.DeleteVolume(ctx, tt.id)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("DeleteVolume = %v, want %v", err, tt.wantErr)
			}
			_, exists := volumeOf(t, a, tt.id)
			if exists != (existed && err != nil) {
				t.Fatalf("volume %s exists %v after DeleteVolume = %v", tt.id, exists, err)
			}
			if snaps, _ := a.Snapshots(ctx); len(snaps) != len(snaps0) {
				t.Fatalf("%d snapshots, were %d: they must outlive their volume", len(snaps), len(snaps0))
			}
			pools, _ := a.Pools(ctx)
			for i, p := range pools {
				p0 := pools0[i]
				switch {
				case tt.restores:
					if p != p0 {
						t.Fatalf("pool %+v, was %+v", p, p0)
					}
				case p.ID == vol.Pool:
					if p.ProvisionedBytes != p0.ProvisionedBytes-vol.SizeBytes || p.UsedBytes >= p0.UsedBytes {
						t.Fatalf("pool %+v after deleting %+v, was %+v", p, vol, p0)
					}
				}
			}
			if err == nil {
				if err := a.DeleteVolume(ctx, tt.id); err != nil {
					t.Fatalf("deleting again = %v", err)
				}
			}
		})
	}
}

func TestExpandVolume(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		thin    bool
		size    func(v array.Volume, p array.Pool) int64
		wantErr error
	}{
		{"thin grows", true, func(v array.Volume, _ array.Pool) int64 { return v.SizeBytes + gib }, nil},
		{"thick grows", false, func(v array.Volume, _ array.Pool) int64 { return v.SizeBytes + gib }, nil},
		{"same size", true, func(v array.Volume, _ array.Pool) int64 { return v.SizeBytes }, nil},
		{"thin to the limit", true, func(v array.Volume, p array.Pool) int64 { return v.SizeBytes + thinLimit(p) }, nil},
		{"thin past the limit", true, func(v array.Volume, p array.Pool) int64 { return v.SizeBytes + thinLimit(p) + 1 }, array.ErrNoCapacity},
		{"thick to the free space", false, func(v array.Volume, p array.Pool) int64 { return v.SizeBytes + thickLimit(p) }, nil},
		{"thick past the free space", false, func(v array.Volume, p array.Pool) int64 { return v.SizeBytes + thickLimit(p) + 1 }, array.ErrNoCapacity},
		{"shrink", true, func(v array.Volume, _ array.Pool) int64 { return v.SizeBytes - 1 }, array.ErrInvalid},
		{"zero", true, func(array.Volume, array.Pool) int64 { return 0 }, array.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, a := eastArray(t, Small())
			v, err := a.CreateVolume(ctx, array.VolumeSpec{ID: "v", Pool: pool1, SizeBytes: 10 * gib, Thin: tt.thin})
			must(t, err)
			p := poolOf(t, a, pool1)
			size := tt.size(v, p)
			got, err := a.ExpandVolume(ctx, "v", size)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("ExpandVolume = %v, want %v", err, tt.wantErr)
				}
				if now, _ := volumeOf(t, a, "v"); now != v || poolOf(t, a, pool1) != p {
					t.Fatalf("a refused expand changed %+v to %+v", v, now)
				}
				return
			}
			want := v
			want.SizeBytes = size
			if !tt.thin {
				want.UsedBytes = size
			}
			if err != nil || got != want {
				t.Fatalf("ExpandVolume = %+v, %v; want %+v", got, err, want)
			}
			wantPool := p
			wantPool.ProvisionedBytes += size - v.SizeBytes
			if !tt.thin {
				wantPool.UsedBytes += size - v.SizeBytes
			}
			if now := poolOf(t, a, pool1); now != wantPool {
				t.Fatalf("pool %+v, want %+v", now, wantPool)
			}
		})
	}
	_, a := eastArray(t, Small())
	if _, err := a.ExpandVolume(ctx, "nothing", gib); !errors.Is(err, array.ErrNotFound) {
		t.Fatalf("expanding a missing volume = %v", err)
	}
}

func TestCreateSnapshots(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		group   string
		specs   []array.SnapshotSpec
		wantErr error
		want    int // snapshots made
	}{
		{"one", "", []array.SnapshotSpec{{ID: "s1", Volume: "east-vm001-d0", Name: "before move"}}, nil, 1},
		{"consistency group", "east-vm001-move1", []array.SnapshotSpec{
			{ID: "s1", Volume: "east-vm001-d0"}, {ID: "s2", Volume: "east-vm001-d1"}, {ID: "s3", Volume: "new"}}, nil, 3},
		{"built id again, same volume", "", []array.SnapshotSpec{{ID: "east-vm001-d0-snap1", Volume: "east-vm001-d0"}, {ID: "s2", Volume: "east-vm001-d1"}}, nil, 1},
		{"built id, other volume", "g", []array.SnapshotSpec{{ID: "s2", Volume: "east-vm001-d1"}, {ID: "east-vm001-d0-snap1", Volume: "east-vm001-d1"}}, array.ErrConflict, 0},
		{"missing volume", "g", []array.SnapshotSpec{{ID: "s1", Volume: "east-vm001-d0"}, {ID: "s2", Volume: "nothing"}}, array.ErrNotFound, 0},
		{"none", "g", nil, array.ErrInvalid, 0},
		{"twice in one request", "g", []array.SnapshotSpec{{ID: "s1", Volume: "east-vm001-d0"}, {ID: "s1", Volume: "east-vm001-d0"}}, array.ErrInvalid, 0},
		{"bad id", "g", []array.SnapshotSpec{{ID: "s1", Volume: "east-vm001-d0"}, {ID: "", Volume: "east-vm001-d0"}}, array.ErrInvalid, 0},
		{"bad group", "g\x00", []array.SnapshotSpec{{ID: "s1", Volume: "east-vm001-d0"}}, array.ErrInvalid, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, a := eastArray(t, Small())
			_, err := a.CreateVolume(ctx, array.VolumeSpec{ID: "new", Pool: pool1, SizeBytes: gib, Thin: true})
			must(t, err)
			before, _ := a.Snapshots(ctx)
			pools0, _ := a.Pools(ctx)
			got, err := a.CreateSnapshots(ctx, tt.group, tt.specs)
			after, _ := a.Snapshots(ctx)
			if len(after)-len(before) != tt.want {
				t.Fatalf("%d snapshots made, want %d (all or none)", len(after)-len(before), tt.want)
			}
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || got != nil {
					t.Fatalf("CreateSnapshots = %v, %v; want %v", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || len(got) != len(tt.specs) {
				t.Fatalf("CreateSnapshots = %v, %v", got, err)
			}
			if pools, _ := a.Pools(ctx); pools[0] != pools0[0] || pools[1] != pools0[1] {
				t.Fatalf("new snapshots changed the pools: %+v, were %+v", pools, pools0)
			}
			var at time.Time
			for k, s := range got {
				spec := tt.specs[k]
				if l, ok := snapshotOf(t, a, spec.ID); !ok || l != s || s.Volume != spec.Volume {
					t.Fatalf("snapshot %+v, listed %+v, for %+v", s, l, spec)
				}
				if strings.HasSuffix(spec.ID, "-snap1") {
					continue // taken at build
				}
				wantName := spec.ID
				if spec.Name != "" {
					wantName = spec.Name
				}
				if s.Group != tt.group || s.Name != wantName || s.UsedBytes != 0 || s.CreatedAt.After(w.Clock().Now()) {
					t.Fatalf("snapshot %+v for %+v in group %q", s, spec, tt.group)
				}
				if !at.IsZero() && !s.CreatedAt.Equal(at) {
					t.Fatalf("snapshots of one request at %v and %v", at, s.CreatedAt)
				}
				at = s.CreatedAt
			}
			// Idempotent by id.
			again, err := a.CreateSnapshots(ctx, tt.group, tt.specs)
			if n, _ := a.Snapshots(ctx); err != nil || len(n) != len(after) || len(again) != len(got) || again[0] != got[0] {
				t.Fatalf("CreateSnapshots again = %v, %v", again, err)
			}
		})
	}
}

func TestDeleteSnapshot(t *testing.T) {
	ctx := context.Background()
	_, a := eastArray(t, Small())
	p0 := poolOf(t, a, pool1)
	s, ok := snapshotOf(t, a, "east-vm001-d0-snap1")
	if !ok || s.UsedBytes == 0 {
		t.Fatalf("built snapshot %+v", s)
	}
	must(t, a.DeleteSnapshot(ctx, s.ID))
	if _, ok := snapshotOf(t, a, s.ID); ok {
		t.Fatal("the snapshot is still listed")
	}
	if p := poolOf(t, a, pool1); p.UsedBytes >= p0.UsedBytes || p.ProvisionedBytes != p0.ProvisionedBytes {
		t.Fatalf("pool %+v after deleting a snapshot of %d bytes, was %+v", p, s.UsedBytes, p0)
	}
	for _, id := range []string{s.ID, "never"} {
		if err := a.DeleteSnapshot(ctx, id); err != nil {
			t.Fatalf("deleting absent %s = %v", id, err)
		}
	}
	if err := a.DeleteSnapshot(ctx, ""); !errors.Is(err, array.ErrInvalid) {
		t.Fatalf("deleting snapshot \"\" = %v", err)
	}
	// The id is free again, for any volume.
	got, err := a.CreateSnapshots(ctx, "", []array.SnapshotSpec{{ID: s.ID, Volume: "east-vm001-d1"}})
	if err != nil || got[0].Volume != "east-vm001-d1" {
		t.Fatalf("reusing the id = %v, %v", got, err)
	}
}

// A snapshot's volume may go; the snapshot stays and still names it.
func TestSnapshotOutlivesVolume(t *testing.T) {
	ctx := context.Background()
	_, a := eastArray(t, Small())
	_, err := a.CreateVolume(ctx, array.VolumeSpec{ID: "v", Pool: pool1, SizeBytes: gib, Thin: true})
	must(t, err)
	_, err = a.CreateSnapshots(ctx, "", []array.SnapshotSpec{{ID: "s", Volume: "v"}})
	must(t, err)
	must(t, a.DeleteVolume(ctx, "v"))
	if s, ok := snapshotOf(t, a, "s"); !ok || s.Volume != "v" {
		t.Fatalf("snapshot %+v, listed %v", s, ok)
	}
	if _, err := a.CreateSnapshots(ctx, "", []array.SnapshotSpec{{ID: "s", Volume: "v"}}); err != nil {
		t.Fatalf("the same snapshot again = %v", err)
	}
	if _, err := a.CreateSnapshots(ctx, "", []array.SnapshotSpec{{ID: "s2", Volume: "v"}}); !errors.Is(err, array.ErrNotFound) {
		t.Fatalf("a snapshot of the deleted volume = %v", err)
	}
}

func TestCreateVolumeFromSnapshot(t *testing.T) {
	w := newWorld(t, Config{Sites: []string{"east"}})
	a, _ := w.Array("east-arr1")
	ctx := context.Background()
	src, err := a.CreateVolume(ctx, array.VolumeSpec{ID: "src", Pool: "east-arr1-pool1", SizeBytes: 1 << 30, Thin: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.CreateSnapshots(ctx, "", []array.SnapshotSpec{{ID: "src-s1", Volume: "src"}}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		spec array.VolumeSpec
		want error
	}{
		{"copy", array.VolumeSpec{ID: "copy", Pool: "east-arr1-pool1", SizeBytes: src.SizeBytes, Thin: true, FromSnapshot: "src-s1"}, nil},
		{"larger copy", array.VolumeSpec{ID: "copy2", Pool: "east-arr1-pool2", SizeBytes: 2 * src.SizeBytes, Thin: true, FromSnapshot: "src-s1"}, nil},
		{"smaller than the source", array.VolumeSpec{ID: "copy3", Pool: "east-arr1-pool1", SizeBytes: src.SizeBytes / 2, Thin: true, FromSnapshot: "src-s1"}, array.ErrInvalid},
		{"no such snapshot", array.VolumeSpec{ID: "copy4", Pool: "east-arr1-pool1", SizeBytes: src.SizeBytes, Thin: true, FromSnapshot: "nope"}, array.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := a.CreateVolume(ctx, tt.spec)
			if !errors.Is(err, tt.want) || (err == nil && v.ID != tt.spec.ID) {
				t.Fatalf("%+v, %v; want %v", v, err, tt.want)
			}
		})
	}
}

func TestCreateVolumeWWN(t *testing.T) {
	w := newWorld(t, Config{Seed: 7})
	ctx := context.Background()
	east, _ := w.Array("east-arr1")
	west, _ := w.Array("west-arr1")
	src, _ := east.Volumes(ctx)
	naa := src[0].WWN
	pool := poolID(west.ID(), 0)
	spec := array.VolumeSpec{ID: "replica", Pool: pool, SizeBytes: src[0].SizeBytes, Thin: true, WWN: naa}
	v, err := west.CreateVolume(ctx, spec)
	if err != nil || v.WWN != naa {
		t.Fatalf("create with %s = %+v, %v", naa, v, err)
	}
	if again, err := west.CreateVolume(ctx, spec); err != nil || again != v {
		t.Fatalf("same spec again = %+v, %v", again, err)
	}
	upper := spec
	upper.WWN = "naa." + strings.ToUpper(naa[4:])
	if again, err := west.CreateVolume(ctx, upper); err != nil || again.WWN != naa {
		t.Fatalf("the same WWN in capitals = %+v, %v", again, err)
	}
	other := spec
	other.WWN = "naa.6" + strings.Repeat("0", 30) + "1"
	if _, err := west.CreateVolume(ctx, other); !errors.Is(err, array.ErrConflict) {
		t.Fatalf("same id, another WWN = %v", err)
	}
	none := spec
	none.WWN = ""
	if _, err := west.CreateVolume(ctx, none); !errors.Is(err, array.ErrConflict) {
		t.Fatalf("same id, the array's own WWN = %v", err)
	}
	own, err := west.CreateVolume(ctx, array.VolumeSpec{ID: "own", Pool: pool, SizeBytes: gib, Thin: true})
	if err != nil {
		t.Fatal(err)
	}
	if again, err := west.CreateVolume(ctx, array.VolumeSpec{ID: "own", Pool: pool, SizeBytes: gib, Thin: true, WWN: own.WWN}); err != nil || again != own {
		t.Fatalf("naming the WWN the array made = %+v, %v", again, err)
	}
	dup := spec
	dup.ID = "replica2"
	if _, err := west.CreateVolume(ctx, dup); !errors.Is(err, array.ErrConflict) {
		t.Fatalf("a second volume presenting %s = %v", naa, err)
	}
	for _, bad := range []string{"6" + naa[5:], "naa.5" + naa[5:], "naa.6" + naa[5:34], naa + "0", "naa.6" + strings.Repeat("g", 31), "eui.6" + naa[5:]} {
		s := spec
		s.ID, s.WWN = "bad", bad
		if _, err := west.CreateVolume(ctx, s); !errors.Is(err, array.ErrInvalid) {
			t.Fatalf("WWN %q = %v, want ErrInvalid", bad, err)
		}
	}
	vols, _ := west.Volumes(ctx)
	for _, x := range vols {
		if x.ID == "bad" {
			t.Fatal("a bad WWN made a volume")
		}
	}
}
