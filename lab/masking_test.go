package lab

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"

	"github.com/sanmob/sanmob/array"
	"github.com/sanmob/sanmob/fabric/wwn"
)

func mappingsOf(t testing.TB, a *Array, group string) []array.Mapping {
	t.Helper()
	maps, err := a.Mappings(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []array.Mapping
	for _, m := range maps {
		if m.HostGroup == group {
			out = append(out, m)
		}
	}
	return out
}

// mapFixture is east-arr1 with two new volumes, v1 and v2, unmapped, and
// the array's ports at hand.
type mapFixture struct {
	a     *Array
	ports []wwn.WWN // a's, fabric a's first
	other wwn.WWN   // a port of west-arr1
	vm1   []wwn.WWN // east-vm001's initiators, in host group east-vm001
}

func newMapFixture(t *testing.T) *mapFixture {
	t.Helper()
	ctx := context.Background()
	w, a := eastArray(t, Small())
	f := &mapFixture{a: a}
	for _, id := range []string{"v1", "v2"} {
		_, err := a.CreateVolume(ctx, array.VolumeSpec{ID: id, Pool: pool1, SizeBytes: gib, Thin: true})
		must(t, err)
	}
	ports, _ := a.TargetPorts(ctx)
	for _, p := range ports {
		f.ports = append(f.ports, p.WWPN)
	}
	west, _ := w.Array("west-arr1")
	wp, _ := west.TargetPorts(ctx)
	f.other = wp[0].WWPN
	f.vm1 = mappingsOf(t, a, "east-vm001")[0].Initiators
	return f
}

func TestMap(t *testing.T) {
	ctx := context.Background()
	ini1, ini2, ini3 := hostIni(1), hostIni(2), hostIni(3)
	tests := []struct {
		name    string
		setup   []func(f *mapFixture) array.MapSpec // applied first, each must succeed
		spec    func(f *mapFixture) array.MapSpec
		wantErr error
		// want is the host group's maps after a successful Map, by volume.
		want map[string]int
	}{
		{name: "new host group",
			spec: func(f *mapFixture) array.MapSpec {
				return array.MapSpec{Volume: "v1", HostGroup: "h", Initiators: []wwn.WWN{ini1, ini2}, LUN: 0, TargetPorts: f.ports[:2]}
			},
			want: map[string]int{"v1": 0}},
		{name: "the same map again",
			setup: []func(f *mapFixture) array.MapSpec{func(f *mapFixture) array.MapSpec {
				return array.MapSpec{Volume: "v1", HostGroup: "h", Initiators: []wwn.WWN{ini1, ini2}, LUN: 7, TargetPorts: f.ports[:2]}
			}},
			spec: func(f *mapFixture) array.MapSpec {
				return array.MapSpec{Volume: "v1", HostGroup: "h", Initiators: []wwn.WWN{ini2, ini1, ini2}, LUN: 7, TargetPorts: f.ports[:2]}
			},
			want: map[string]int{"v1": 7}},
		{name: "a second volume, the initiators replaced",
			setup: []func(f *mapFixture) array.MapSpec{func(f *mapFixture) array.MapSpec {
				return array.MapSpec{Volume: "v1", HostGroup: "h", Initiators: []wwn.WWN{ini1, ini2}, LUN: 0, TargetPorts: f.ports[:2]}
			}},
			spec: func(f *mapFixture) array.MapSpec {
				return array.MapSpec{Volume: "v2", HostGroup: "h", Initiators: []wwn.WWN{ini3}, LUN: 1, TargetPorts: f.ports[2:4]}
			},
			want: map[string]int{"v1": 0, "v2": 1}},
		{name: "highest LUN id",
			spec: func(f *mapFixture) array.MapSpec {
				return array.MapSpec{Volume: "v1", HostGroup: "h", Initiators: []wwn.WWN{ini1}, LUN: array.MaxLUN, TargetPorts: f.ports[:1]}
			},
			want: map[string]int{"v1": array.MaxLUN}},
		{name: "a built volume to a second host group",
			spec: func(f *mapFixture) array.MapSpec {
				return array.MapSpec{Volume: "east-vm001-d0", HostGroup: "h", Initiators: []wwn.WWN{ini1}, LUN: 0, TargetPorts: f.ports[:1]}
			},
			want: map[string]int{"east-vm001-d0": 0}},
		{name: "into a built host group",
			spec: func(f *mapFixture) array.MapSpec {
				g := mappingsOf(t, f.a, "east-vm001")[0]
				return array.MapSpec{Volume: "v1", HostGroup: "east-vm001", Initiators: g.Initiators, LUN: 2, TargetPorts: g.TargetPorts}
			},
			want: map[string]int{"east-vm001-d0": 0, "east-vm001-d1": 1, "v1": 2}},
		{name: "LUN id taken by another volume",
			setup: []func(f *mapFixture) array.MapSpec{func(f *mapFixture) array.MapSpec {
				return array.MapSpec{Volume: "v1", HostGroup: "h", Initiators: []wwn.WWN{ini1}, LUN: 4, TargetPorts: f.ports[:1]}
			}},
			spec: func(f *mapFixture) array.MapSpec {
				return array.MapSpec{Volume: "v2", HostGroup: "h", Initiators: []wwn.WWN{ini1}, LUN: 4, TargetPorts: f.ports[:1]}
			},
			wantErr: array.ErrConflict},
		{name: "volume mapped there under another LUN id",
			setup: []func(f *mapFixture) array.MapSpec{func(f *mapFixture) array.MapSpec {
				return array.MapSpec{Volume: "v1", HostGroup: "h", Initiators: []wwn.WWN{ini1}, LUN: 4, TargetPorts: f.ports[:1]}
			}},
			spec: func(f *mapFixture) array.MapSpec {
				return array.MapSpec{Volume: "v1", HostGroup: "h", Initiators: []wwn.WWN{ini1}, LUN: 5, TargetPorts: f.ports[:1]}
			},
			wantErr: array.ErrConflict},
		{name: "initiator of another host group",
			spec: func(f *mapFixture) array.MapSpec {
				return array.MapSpec{Volume: "v1", HostGroup: "h", Initiators: []wwn.WWN{ini1, f.vm1[2]}, LUN: 0, TargetPorts: f.ports[:1]}
			},
			wantErr: array.ErrConflict},
		{name: "no such volume",
			spec: func(f *mapFixture) array.MapSpec {
				return array.MapSpec{Volume: "nothing", HostGroup: "h", Initiators: []wwn.WWN{ini1}, TargetPorts: f.ports[:1]}
			},
			wantErr: array.ErrNotFound},
		{name: "another array's target port",
			spec: func(f *mapFixture) array.MapSpec {
				return array.MapSpec{Volume: "v1", HostGroup: "h", Initiators: []wwn.WWN{ini1}, TargetPorts: []wwn.WWN{f.ports[0], f.other}}
			},
			wantErr: array.ErrNotFound},
		{name: "negative LUN id",
			spec: func(f *mapFixture) array.MapSpec {
				return array.MapSpec{Volume: "v1", HostGroup: "h", Initiators: []wwn.WWN{ini1}, LUN: -1, TargetPorts: f.ports[:1]}
			},
			wantErr: array.ErrInvalid},
		{name: "LUN id past 14 bits",
			spec: func(f *mapFixture) array.MapSpec {
				return array.MapSpec{Volume: "v1", HostGroup: "h", Initiators: []wwn.WWN{ini1}, LUN: array.MaxLUN + 1, TargetPorts: f.ports[:1]}
			},
			wantErr: array.ErrInvalid},
		{name: "no initiators",
			spec: func(f *mapFixture) array.MapSpec {
				return array.MapSpec{Volume: "v1", HostGroup: "h", TargetPorts: f.ports[:1]}
			},
			wantErr: array.ErrInvalid},
		{name: "no target ports",
			spec: func(f *mapFixture) array.MapSpec {
				return array.MapSpec{Volume: "v1", HostGroup: "h", Initiators: []wwn.WWN{ini1}}
			},
			wantErr: array.ErrInvalid},
		{name: "zero initiator",
			spec: func(f *mapFixture) array.MapSpec {
				return array.MapSpec{Volume: "v1", HostGroup: "h", Initiators: []wwn.WWN{{}}, TargetPorts: f.ports[:1]}
			},
			wantErr: array.ErrInvalid},
		{name: "no host group",
			spec: func(f *mapFixture) array.MapSpec {
				return array.MapSpec{Volume: "v1", Initiators: []wwn.WWN{ini1}, TargetPorts: f.ports[:1]}
			},
			wantErr: array.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newMapFixture(t)
			for _, s := range tt.setup {
				must(t, f.a.Map(ctx, s(f)))
			}
			spec := tt.spec(f)
			before := f.a.TruthMappings()
			err := f.a.Map(ctx, spec)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || array.IsTransient(err) {
					t.Fatalf("Map = %v, want %v", err, tt.wantErr)
				}
				if after := f.a.TruthMappings(); !slices.EqualFunc(before, after, sameMapping) {
					t.Fatal("a refused Map changed the masking")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			maps := mappingsOf(t, f.a, spec.HostGroup)
			got := map[string]int{}
			for _, m := range maps {
				got[m.Volume] = m.LUN
				if !sameSet(m.Initiators, distinct(spec.Initiators)) || !sameSet(m.TargetPorts, spec.TargetPorts) || !m.Writable {
					t.Fatalf("mapping %+v from %+v", m, spec)
				}
			}
			if len(got) != len(tt.want) || len(maps) != len(tt.want) {
				t.Fatalf("host group %s maps %v, want %v", spec.HostGroup, got, tt.want)
			}
			for v, l := range tt.want {
				if got[v] != l {
					t.Fatalf("host group %s maps %v, want %v", spec.HostGroup, got, tt.want)
				}
			}
			// Idempotent.
			before = f.a.TruthMappings()
			if err := f.a.Map(ctx, spec); err != nil || !slices.EqualFunc(before, f.a.TruthMappings(), sameMapping) {
				t.Fatalf("Map again = %v, or it changed the masking", err)
			}
		})
	}
}

func sameMapping(x, y array.Mapping) bool {
	return x.Volume == y.Volume && x.LUN == y.LUN && x.HostGroup == y.HostGroup && x.Writable == y.Writable &&
		slices.Equal(x.Initiators, y.Initiators) && slices.Equal(x.TargetPorts, y.TargetPorts)
}

func TestUnmap(t *testing.T) {
	ctx := context.Background()
	f := newMapFixture(t)
	a := f.a
	ini := []wwn.WWN{hostIni(1), hostIni(2)}
	must(t, a.Map(ctx, array.MapSpec{Volume: "v1", HostGroup: "h", Initiators: ini, LUN: 0, TargetPorts: f.ports[:1]}))
	must(t, a.Map(ctx, array.MapSpec{Volume: "v2", HostGroup: "h", Initiators: ini, LUN: 1, TargetPorts: f.ports[:1]}))
	n0 := len(a.TruthMappings())

	for _, tt := range []struct {
		name, volume, group string
		wantErr             error
		wantMaps            int // maps left in h
	}{
		{"one of two", "v1", "h", nil, 1},
		{"again", "v1", "h", nil, 1},
		{"volume not in the group", "east-vm001-d0", "h", nil, 1},
		{"no such group", "v2", "nothing", nil, 1},
		{"no such volume", "nothing", "h", nil, 1},
		{"bad volume", "", "h", array.ErrInvalid, 1},
		{"bad group", "v2", "h\x7f", array.ErrInvalid, 1},
		{"the last", "v2", "h", nil, 0},
	} {
		err := a.Unmap(ctx, tt.volume, tt.group)
		if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
			t.Fatalf("%s: Unmap = %v, want %v", tt.name, err, tt.wantErr)
		}
		if got := len(mappingsOf(t, a, "h")); got != tt.wantMaps {
			t.Fatalf("%s: %d maps left in h, want %d", tt.name, got, tt.wantMaps)
		}
	}
	if got := len(a.TruthMappings()); got != n0-2 {
		t.Fatalf("%d maps, want %d", got, n0-2)
	}
	// The host group went with its last map, and its initiators with it:
	// another host group may take them now, under any LUN id.
	must(t, a.Map(ctx, array.MapSpec{Volume: "v2", HostGroup: "h2", Initiators: ini[:1], LUN: 1, TargetPorts: f.ports[:1]}))
	must(t, a.Map(ctx, array.MapSpec{Volume: "v1", HostGroup: "h", Initiators: ini[1:], LUN: 1, TargetPorts: f.ports[:1]}))
	// Unmapped volumes can be deleted; mapped ones cannot.
	if err := a.DeleteVolume(ctx, "v1"); !errors.Is(err, array.ErrConflict) {
		t.Fatalf("deleting mapped v1 = %v", err)
	}
	must(t, a.Unmap(ctx, "v1", "h"))
	must(t, a.DeleteVolume(ctx, "v1"))

	// A built VM's volumes: its host group goes with the second. The maps
	// moved into the gaps are intact.
	keys := func() map[string]bool {
		out := map[string]bool{}
		for _, m := range a.TruthMappings() {
			out[fmt.Sprint(m.HostGroup, m.Volume, m.LUN, m.Initiators, m.TargetPorts)] = true
		}
		return out
	}
	want := keys()
	for _, m := range mappingsOf(t, a, "east-vm001") {
		if m.Volume == "east-vm001-d0" {
			delete(want, fmt.Sprint(m.HostGroup, m.Volume, m.LUN, m.Initiators, m.TargetPorts))
		}
	}
	must(t, a.Unmap(ctx, "east-vm001-d0", "east-vm001"))
	if got := keys(); !maps.Equal(got, want) {
		t.Fatalf("after an unmap the maps are %v, want %v", got, want)
	}
	if got := mappingsOf(t, a, "east-vm001"); len(got) != 1 || got[0].Volume != "east-vm001-d1" {
		t.Fatalf("east-vm001 maps %+v", got)
	}
	must(t, a.Unmap(ctx, "east-vm001-d1", "east-vm001"))
	must(t, a.Map(ctx, array.MapSpec{Volume: "east-vm001-d1", HostGroup: "h3", Initiators: f.vm1, LUN: 9, TargetPorts: f.ports}))
}

// writeOp is one write of the array's driver, set up so that it changes
// something, with a way to tell whether it did.
type writeOp struct {
	name    string
	op      string
	setup   func(t *testing.T, a *Array, ports []wwn.WWN)
	do      func(ctx context.Context, a *Array, ports []wwn.WWN) error
	applied func(t *testing.T, a *Array) bool
}

var writeOps = []writeOp{
	{"create volume", OpVolume, nil,
		func(ctx context.Context, a *Array, _ []wwn.WWN) error {
			_, err := a.CreateVolume(ctx, array.VolumeSpec{ID: "v", Pool: pool1, SizeBytes: gib, Thin: true})
			return err
		},
		func(t *testing.T, a *Array) bool { _, ok := volumeOf(t, a, "v"); return ok }},
	{"delete volume", OpVolume, createV,
		func(ctx context.Context, a *Array, _ []wwn.WWN) error { return a.DeleteVolume(ctx, "v") },
		func(t *testing.T, a *Array) bool { _, ok := volumeOf(t, a, "v"); return !ok }},
	{"expand volume", OpVolume, createV,
		func(ctx context.Context, a *Array, _ []wwn.WWN) error {
			_, err := a.ExpandVolume(ctx, "v", 2*gib)
			return err
		},
		func(t *testing.T, a *Array) bool { v, _ := volumeOf(t, a, "v"); return v.SizeBytes == 2*gib }},
	{"create snapshots", OpVolume, createV,
		func(ctx context.Context, a *Array, _ []wwn.WWN) error {
			_, err := a.CreateSnapshots(ctx, "g", []array.SnapshotSpec{{ID: "s1", Volume: "v"}, {ID: "s2", Volume: "east-vm003-d1"}})
			return err
		},
		func(t *testing.T, a *Array) bool {
			_, ok1 := snapshotOf(t, a, "s1")
			_, ok2 := snapshotOf(t, a, "s2")
			if ok1 != ok2 {
				t.Fatal("half a consistency group")
			}
			return ok1
		}},
	{"delete snapshot", OpVolume, nil,
		func(ctx context.Context, a *Array, _ []wwn.WWN) error {
			return a.DeleteSnapshot(ctx, "east-vm001-d0-snap1")
		},
		func(t *testing.T, a *Array) bool { _, ok := snapshotOf(t, a, "east-vm001-d0-snap1"); return !ok }},
	{"map", OpMask, createV,
		func(ctx context.Context, a *Array, ports []wwn.WWN) error {
			return a.Map(ctx, array.MapSpec{Volume: "v", HostGroup: "h", Initiators: []wwn.WWN{hostIni(1)}, LUN: 0, TargetPorts: ports[:1]})
		},
		func(t *testing.T, a *Array) bool { return len(mappingsOf(t, a, "h")) == 1 }},
	{"unmap", OpMask, nil,
		func(ctx context.Context, a *Array, _ []wwn.WWN) error {
			return a.Unmap(ctx, "east-vm002-d0", "east-vm002")
		},
		func(t *testing.T, a *Array) bool { return len(mappingsOf(t, a, "east-vm002")) == 1 }},
}

func createV(t *testing.T, a *Array, _ []wwn.WWN) {
	_, err := a.CreateVolume(context.Background(), array.VolumeSpec{ID: "v", Pool: pool1, SizeBytes: gib, Thin: true})
	must(t, err)
}

func TestArrayWriteFaults(t *testing.T) {
	ctx := context.Background()
	kinds := []struct {
		kind                       string
		wantApplied, wantTransient bool
	}{
		{KindUnavailable, false, true},
		{KindFinal, false, false},
		{KindAppliedTimeout, true, true},
	}
	for _, op := range writeOps {
		for _, k := range kinds {
			for _, fop := range []string{op.op, OpAny} {
				t.Run(op.name+"/"+k.kind+"/"+fop, func(t *testing.T) {
					w, a := eastArray(t, Small())
					var ports []wwn.WWN
					tps, _ := a.TargetPorts(ctx)
					for _, p := range tps {
						ports = append(ports, p.WWPN)
					}
					if op.setup != nil {
						op.setup(t, a, ports)
					}
					must(t, w.InjectFault(Fault{Target: a.id, Op: fop, Count: 1, Kind: k.kind}))
					err := op.do(ctx, a, ports)
					if !errors.Is(err, ErrInjected) || array.IsTransient(err) != k.wantTransient {
						t.Fatalf("%s = %v; want an injected failure, transient %v", op.name, err, k.wantTransient)
					}
					if got := op.applied(t, a); got != k.wantApplied {
						t.Fatalf("applied %v, want %v", got, k.wantApplied)
					}
					// The fault is spent: the retry succeeds, idempotently.
					if err := op.do(ctx, a, ports); err != nil || !op.applied(t, a) {
						t.Fatalf("retry = %v", err)
					}
				})
			}
		}
	}
}

func TestArrayWriteFaultTargets(t *testing.T) {
	ctx := context.Background()
	w, a := eastArray(t, Small())
	for _, f := range []Fault{
		{Target: "west-arr1", Op: OpAny, Count: 1},     // another array
		{Target: "east-arr1", Op: OpMask, Count: 1},    // masking, not volumes
		{Target: "east-arr1", Op: OpRead, Count: 1},    // reads only
		{Target: "east-a", Op: OpAny, Count: 1},        // a fabric
		{Target: "east-esx01", Op: OpAny, Count: 1},    // a host
		{Target: "east-arr1", Op: OpVolume, Rate: 0.5}, // half of them...
	} {
		must(t, w.InjectFault(f))
	}
	failed := 0
	for i := range 40 {
		_, err := a.CreateVolume(ctx, array.VolumeSpec{ID: "v", Pool: pool1, SizeBytes: gib, Thin: true})
		if err != nil {
			if !errors.Is(err, ErrInjected) || !array.IsTransient(err) {
				t.Fatalf("create %d = %v", i, err)
			}
			failed++
		}
	}
	if failed < 5 || failed > 35 {
		t.Fatalf("%d of 40 failed at rate 0.5", failed)
	}
	// A volume fault on a fabric could never fire: refused.
	for _, f := range []Fault{{Target: "east-a", Op: OpVolume, Count: 1}, {Target: "east-esx01", Op: OpVolume, Count: 1}} {
		if err := w.InjectFault(f); !errors.Is(err, ErrInvalidFault) {
			t.Fatalf("InjectFault %+v = %v", f, err)
		}
	}
}
