package lab

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sanmob/sanmob/array"
	"github.com/sanmob/sanmob/fabric/wwn"
	"github.com/sanmob/sanmob/internal/clockwait"
)

// checkPools checks that the pools agree with the volumes: provisioned is
// the sum of their sizes, usage within physical.
func checkPools(t testing.TB, a *Array) {
	t.Helper()
	ctx := context.Background()
	// One read lock for both reads, so that they see one state.
	pools, vols := func() ([]array.Pool, []array.Volume) {
		a.mu.Lock() // no writer, no accrual in between
		defer a.mu.Unlock()
		var vols []array.Volume
		for i := range a.vols {
			if !a.vols[i].deleted {
				vols = append(vols, a.volumeOut(int32(i)))
			}
		}
		var pools []array.Pool
		for _, p := range a.pools {
			pools = append(pools, array.Pool{ID: p.id, PhysicalBytes: p.physical, UsedBytes: p.usedBytes(), ProvisionedBytes: p.prov})
		}
		return pools, vols
	}()
	prov := map[string]int64{}
	for _, v := range vols {
		prov[v.Pool] += v.SizeBytes
		if v.UsedBytes < 0 || v.UsedBytes > v.SizeBytes || (!v.Thin && v.UsedBytes != v.SizeBytes) {
			t.Fatalf("volume %+v", v)
		}
	}
	for _, p := range pools {
		if p.ProvisionedBytes != prov[p.ID] || p.UsedBytes < 0 || p.UsedBytes > p.PhysicalBytes {
			t.Fatalf("pool %+v, its volumes provision %d", p, prov[p.ID])
		}
	}
	if _, err := a.Pools(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestThinGrowth(t *testing.T) {
	ctx := context.Background()
	_, a := eastArray(t, Small())
	ports, _ := a.TargetPorts(ctx)
	_, err := a.CreateVolume(ctx, array.VolumeSpec{ID: "idle", Pool: pool1, SizeBytes: 100 * gib, Thin: true})
	must(t, err)
	_, err = a.CreateVolume(ctx, array.VolumeSpec{ID: "thick", Pool: pool1, SizeBytes: 10 * gib})
	must(t, err)
	must(t, a.Map(ctx, array.MapSpec{Volume: "thick", HostGroup: "h", Initiators: []wwn.WWN{hostIni(1)}, TargetPorts: []wwn.WWN{ports[0].WWPN}}))
	vols0, _ := a.Volumes(ctx)
	pools0, _ := a.Pools(ctx)

	const hours = 24
	accrueTo(a, hours)
	vols, _ := a.Volumes(ctx)
	pools, _ := a.Pools(ctx)
	gain := map[string]int64{}
	for i, v := range vols {
		v0 := vols0[i]
		r := a.vols[i].writeRate()
		want := v0.UsedBytes
		switch {
		case v.ID == "idle": // not mapped
		case !v.Thin:
			want = v.SizeBytes
		default:
			if r < v.SizeBytes/10000 || r > v.SizeBytes/1000 {
				t.Fatalf("%s writes %d bytes an hour, %.4f%% of its size", v.ID, r, 100*float64(r)/float64(v.SizeBytes))
			}
			want = min(v.SizeBytes, v0.UsedBytes+hours*r)
		}
		if v.UsedBytes != want {
			t.Fatalf("%s used %d after %d hours, want %d (was %d)", v.ID, v.UsedBytes, hours, want, v0.UsedBytes)
		}
		gain[v.Pool] += v.UsedBytes - v0.UsedBytes
	}
	for i, p := range pools {
		p0 := pools0[i]
		red := a.pools[i].reduction
		if want := float64(gain[p.ID]) / red; gain[p.ID] == 0 || math.Abs(float64(p.UsedBytes-p0.UsedBytes)-want) > 1 {
			t.Fatalf("pool %s grew %d physical bytes for %d logical at ratio %.2f", p.ID, p.UsedBytes-p0.UsedBytes, gain[p.ID], red)
		}
	}
	checkPools(t, a)

	// Mapped, the idle volume is written to from then on; unmapped, a
	// built one stops.
	must(t, a.Map(ctx, array.MapSpec{Volume: "idle", HostGroup: "h", Initiators: []wwn.WWN{hostIni(1)}, LUN: 1, TargetPorts: []wwn.WWN{ports[0].WWPN}}))
	must(t, a.Unmap(ctx, "east-vm001-d0", "east-vm001"))
	before, _ := volumeOf(t, a, "east-vm001-d0")
	accrueTo(a, hours+10)
	idle, _ := volumeOf(t, a, "idle")
	if r := a.vols[a.ix.vols["idle"]].writeRate(); idle.UsedBytes != 10*r {
		t.Fatalf("idle used %d after 10 mapped hours at %d an hour", idle.UsedBytes, r)
	}
	if after, _ := volumeOf(t, a, "east-vm001-d0"); after != before {
		t.Fatalf("an unmapped volume grew: %+v, was %+v", after, before)
	}

	// The present is never undone: an earlier hour accrues nothing.
	accrueTo(a, 3)
	if again, _ := volumeOf(t, a, "idle"); again != idle {
		t.Fatal("accruing an earlier hour changed usage")
	}
}

// Usage depends on the hour, not on how often the array was read.
func TestThinGrowthIsStepFree(t *testing.T) {
	ctx := context.Background()
	_, a := eastArray(t, Small())
	_, b := eastArray(t, Small())
	for h := range int64(30) {
		accrueTo(a, h+1)
	}
	accrueTo(b, 30)
	va, _ := a.Volumes(ctx)
	vb, _ := b.Volumes(ctx)
	pa, _ := a.Pools(ctx)
	pb, _ := b.Pools(ctx)
	if !slices.Equal(va, vb) || !slices.Equal(pa, pb) {
		t.Fatal("30 hours one by one differ from 30 at once")
	}
}

// Left long enough, volumes fill or the pool does, never past either.
func TestThinGrowthStopsWhenFull(t *testing.T) {
	ctx := context.Background()
	_, a := eastArray(t, Config{Seed: 11})
	accrueTo(a, 1_000_000)
	checkPools(t, a)
	vols, _ := a.Volumes(ctx)
	pools, _ := a.Pools(ctx)
	for _, p := range pools {
		t.Logf("pool %s: %d of %d physical bytes used", p.ID, p.UsedBytes, p.PhysicalBytes)
		if free := p.PhysicalBytes - p.UsedBytes; free > 1<<20 {
			// The pool has room: then every volume in it is full.
			for _, v := range vols {
				if v.Pool == p.ID && v.UsedBytes != v.SizeBytes {
					t.Fatalf("pool %+v has room, volume %+v is not full", p, v)
				}
			}
		}
	}
	// A full pool still takes thin volumes up to its overcommit limit, and
	// no thick ones.
	p := poolOf(t, a, pool1)
	if _, err := a.CreateVolume(ctx, array.VolumeSpec{ID: "t", Pool: pool1, SizeBytes: thinLimit(p), Thin: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.CreateVolume(ctx, array.VolumeSpec{ID: "k", Pool: pool1, SizeBytes: 1 << 20}); p.PhysicalBytes-p.UsedBytes < 1<<20 && err == nil {
		t.Fatalf("a thick volume in the full pool %+v", p)
	}
}

// On the virtual clock: at an hour per real millisecond, usage grows
// between two reads a few milliseconds apart.
func TestThinGrowthOnTheClock(t *testing.T) {
	ctx := context.Background()
	w, a := eastArray(t, Config{Speed: float64(time.Hour / time.Millisecond)})
	v0, _ := a.Volumes(ctx)
	p0, _ := a.Pools(ctx)
	must(t, clockwait.Sleep(ctx, w.Clock(), 3*time.Hour))
	v1, _ := a.Volumes(ctx)
	p1, _ := a.Pools(ctx)
	for i := range v1 {
		if v1[i].UsedBytes <= v0[i].UsedBytes && v1[i].UsedBytes < v1[i].SizeBytes {
			t.Fatalf("%s: used %d, was %d", v1[i].ID, v1[i].UsedBytes, v0[i].UsedBytes)
		}
	}
	for i := range p1 {
		if p1[i].UsedBytes <= p0[i].UsedBytes {
			t.Fatalf("pool %s: used %d, was %d", p1[i].ID, p1[i].UsedBytes, p0[i].UsedBytes)
		}
	}
	checkPools(t, a)
}

// Creating and deleting leaves the pools exactly as they were: usage is
// derived, so it cannot drift.
func TestPoolsDoNotDrift(t *testing.T) {
	ctx := context.Background()
	_, a := eastArray(t, Small())
	pools0, _ := a.Pools(ctx)
	for i := range 50 {
		id := fmt.Sprint("v", i)
		_, err := a.CreateVolume(ctx, array.VolumeSpec{ID: id, Pool: pools0[i%2].ID, SizeBytes: int64(i+1)*gib + 12345, Thin: i%3 != 0})
		must(t, err)
		_, err = a.ExpandVolume(ctx, id, int64(i+2)*gib)
		must(t, err)
		_, err = a.CreateSnapshots(ctx, "", []array.SnapshotSpec{{ID: id + "-s", Volume: id}})
		must(t, err)
		checkPools(t, a)
	}
	for i := range 50 {
		id := fmt.Sprint("v", i)
		must(t, a.DeleteVolume(ctx, id))
		must(t, a.DeleteSnapshot(ctx, id+"-s"))
	}
	if pools, _ := a.Pools(ctx); !slices.Equal(pools, pools0) {
		t.Fatalf("pools %+v, were %+v", pools, pools0)
	}
}

// Readers read while writers write, and the clock crosses an hour every
// millisecond so that readers accrue too; run with -race.
func TestArrayReadsDuringWrites(t *testing.T) {
	ctx := context.Background()
	_, a := eastArray(t, Config{Speed: float64(time.Hour / time.Millisecond)})
	ports, _ := a.TargetPorts(ctx)
	stop := make(chan struct{})
	var readers, writers sync.WaitGroup
	for r := range 3 {
		readers.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				var err error
				switch r {
				case 0:
					var pools []array.Pool
					pools, err = a.Pools(ctx)
					for _, p := range pools {
						if p.UsedBytes > p.PhysicalBytes {
							t.Errorf("pool %+v", p)
						}
					}
				case 1:
					var vols []array.Volume
					vols, err = a.Volumes(ctx)
					for _, v := range vols {
						if v.UsedBytes > v.SizeBytes {
							t.Errorf("volume %+v", v)
						}
					}
				default:
					_, err = a.Mappings(ctx)
					if err == nil {
						_, err = a.Snapshots(ctx)
					}
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	for wr := range 2 {
		writers.Go(func() {
			for i := range 100 {
				id := fmt.Sprintf("w%d-%d", wr, i)
				host := fmt.Sprintf("h%d", wr)
				steps := []error{
					func() error {
						_, err := a.CreateVolume(ctx, array.VolumeSpec{ID: id, Pool: pool1, SizeBytes: gib, Thin: true})
						return err
					}(),
					a.Map(ctx, array.MapSpec{Volume: id, HostGroup: host, Initiators: []wwn.WWN{hostIni(uint64(wr))}, LUN: i, TargetPorts: []wwn.WWN{ports[wr].WWPN}}),
					func() error {
						_, err := a.CreateSnapshots(ctx, id, []array.SnapshotSpec{{ID: id, Volume: id}, {ID: id + "b", Volume: "east-vm001-d0"}})
						return err
					}(),
					a.Unmap(ctx, id, host),
					a.DeleteVolume(ctx, id),
				}
				for _, err := range steps {
					if err != nil {
						t.Error(err)
						return
					}
				}
			}
		})
	}
	writers.Wait()
	close(stop)
	readers.Wait()
	checkPools(t, a)
	if snaps, _ := a.Snapshots(ctx); len(snaps) < 400 {
		t.Fatalf("%d snapshots", len(snaps))
	}
}

// BenchmarkArrayLarge writes to a 100,000-volume array: the Large world with
// one array a site. Each op is undone by the next, so the array keeps its
// size; the first write's index build is reported apart (index-ms).
func BenchmarkArrayLarge(b *testing.B) {
	cfg := Large()
	cfg.ArraysPerSite = 1
	cfg.Epoch = testEpoch
	w := newWorld(b, cfg)
	a, _ := w.Array("east-arr1")
	ctx := context.Background()
	if vols, _ := a.Volumes(ctx); len(vols) != 100000 {
		b.Fatalf("%d volumes", len(vols))
	}
	ports, _ := a.TargetPorts(ctx)
	start := time.Now()
	_, err := a.CreateVolume(ctx, array.VolumeSpec{ID: "bench", Pool: "east-arr1-pool1", SizeBytes: gib, Thin: true})
	if err != nil {
		b.Fatal(err)
	}
	indexMs := float64(time.Since(start)) / float64(time.Millisecond)
	spec := array.MapSpec{Volume: "bench", HostGroup: "bench", Initiators: []wwn.WWN{hostIni(1), hostIni(2)},
		LUN: 0, TargetPorts: []wwn.WWN{ports[0].WWPN, ports[8].WWPN}}
	g := mappingsOfGroup(a, "east-vm25000")
	built := array.MapSpec{Volume: "bench", HostGroup: "east-vm25000", Initiators: g.Initiators, LUN: 2, TargetPorts: g.TargetPorts}
	ops := []struct {
		name string
		op   func(i int) error
	}{
		{"create+delete", func(i int) error {
			if _, err := a.CreateVolume(ctx, array.VolumeSpec{ID: "bench2", Pool: "east-arr1-pool2", SizeBytes: gib, Thin: true}); err != nil {
				return err
			}
			return a.DeleteVolume(ctx, "bench2")
		}},
		{"map+unmap", func(i int) error {
			if err := a.Map(ctx, spec); err != nil {
				return err
			}
			return a.Unmap(ctx, spec.Volume, spec.HostGroup)
		}},
		{"map+unmap in a built group", func(i int) error {
			if err := a.Map(ctx, built); err != nil {
				return err
			}
			return a.Unmap(ctx, built.Volume, built.HostGroup)
		}},
		{"expand", func(i int) error {
			_, err := a.ExpandVolume(ctx, "bench", gib+int64(i+1)*4096)
			return err
		}},
		{"snapshot+delete", func(i int) error {
			if _, err := a.CreateSnapshots(ctx, "cg", []array.SnapshotSpec{{ID: "bs1", Volume: "bench"}, {ID: "bs2", Volume: "east-vm00001-d0"}}); err != nil {
				return err
			}
			if err := a.DeleteSnapshot(ctx, "bs1"); err != nil {
				return err
			}
			return a.DeleteSnapshot(ctx, "bs2")
		}},
	}
	for _, o := range ops {
		b.Run(o.name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if err := o.op(i); err != nil {
					b.Fatal(err)
				}
				i++
			}
			b.ReportMetric(indexMs, "index-ms")
		})
	}
}

// mappingsOfGroup is the first map of a host group, read without faults.
func mappingsOfGroup(a *Array, group string) array.Mapping {
	a.mu.RLock()
	defer a.mu.RUnlock()
	for _, l := range a.luns {
		if a.groups[l.group].name == group {
			g := &a.groups[l.group]
			return array.Mapping{Initiators: g.wwpns[:g.nInit], TargetPorts: g.wwpns[g.nInit:]}
		}
	}
	return array.Mapping{}
}
