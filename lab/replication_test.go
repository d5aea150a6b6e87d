package lab

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/sanmob/sanmob/array"
	"github.com/sanmob/sanmob/fabric/wwn"
)

// frozen is a Speed at which real time moves the virtual clock by
// nanoseconds: the replication tests move it with Clock.skip, exactly.
const frozen = 1e-9

// linkBps is what the default link carries for replication: 10 Gbps at
// 75 % efficiency.
const linkBps = 10000e6 / 8 * 0.75

type replFixture struct {
	w          *World
	east, west *Array
	ctx        context.Context
}

func newReplFixture(t *testing.T, cfg Config) *replFixture {
	t.Helper()
	if cfg.Speed == 0 {
		cfg.Speed = frozen
	}
	if cfg.Seed == 0 {
		cfg.Seed = 7
	}
	w := newWorld(t, cfg)
	if cfg.Dir != "" {
		t.Cleanup(func() { _ = w.Close() })
	}
	return newReplFixtureOf(w)
}

func newReplFixtureOf(w *World) *replFixture {
	e, _ := w.Array("east-arr1")
	x, _ := w.Array("west-arr1")
	return &replFixture{w: w, east: e, west: x, ctx: context.Background()}
}

// vol creates a volume in whichever pool of a takes it.
func (f *replFixture) vol(t *testing.T, a *Array, id string, size int64, thin bool) array.Volume {
	t.Helper()
	var err error
	for _, p := range []string{poolID(a.id, 0), poolID(a.id, 1)} {
		var v array.Volume
		if v, err = a.CreateVolume(f.ctx, array.VolumeSpec{ID: id, Pool: p, SizeBytes: size, Thin: thin}); err == nil {
			return v
		}
	}
	t.Fatalf("CreateVolume %s on %s: %v", id, a.id, err)
	return array.Volume{}
}

// pair makes a thick source (used = size) on src and a thin target of the
// same size on dst, both with no writes.
func (f *replFixture) pairOn(t *testing.T, src, dst *Array, id string, size int64) array.ReplicaPairSpec {
	t.Helper()
	f.vol(t, src, id+"-s", size, false)
	f.vol(t, dst, id+"-t", size, true)
	f.rate(t, src, id+"-s", 0)
	f.rate(t, dst, id+"-t", 0)
	return array.ReplicaPairSpec{SourceVolume: id + "-s", TargetVolume: id + "-t"}
}

func (f *replFixture) pair(t *testing.T, id string, size int64) array.ReplicaPairSpec {
	return f.pairOn(t, f.east, f.west, id, size)
}

func (f *replFixture) rate(t *testing.T, a *Array, vol string, bps float64) {
	t.Helper()
	if err := f.w.SetWriteRate(a.id, vol, bps); err != nil {
		t.Fatalf("SetWriteRate %s %s: %v", a.id, vol, err)
	}
}

func (f *replFixture) create(t *testing.T, id, mode string, pairs ...array.ReplicaPairSpec) array.ReplicationGroup {
	t.Helper()
	g, err := f.east.CreateReplicationGroup(f.ctx, array.ReplicationGroupSpec{ID: id, SourceArray: f.east.id,
		TargetArray: f.west.id, Mode: mode, Pairs: pairs})
	if err != nil {
		t.Fatalf("CreateReplicationGroup %s: %v", id, err)
	}
	return g
}

// group reads a group off a; it fails the test when a does not list it.
func (f *replFixture) group(t *testing.T, a *Array, id string) array.ReplicationGroup {
	t.Helper()
	gs, err := a.ReplicationGroups(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range gs {
		if g.ID == id {
			return g
		}
	}
	t.Fatalf("array %s lists no group %s: %+v", a.id, id, gs)
	return array.ReplicationGroup{}
}

func (f *replFixture) skip(d time.Duration) { f.w.clock.skip(d) }

func secs(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

func near(got, want, rel float64) bool { return math.Abs(got-want) <= rel*math.Abs(want) }

func TestReplicationCopyTime(t *testing.T) {
	tests := []struct {
		name  string
		cfg   Config
		sizes []int64
		bps   float64 // the link's replication bandwidth
	}{
		{"one pair", Config{}, []int64{20 * gib}, linkBps},
		{"two pairs share the link", Config{}, []int64{8 * gib, 8 * gib}, linkBps},
		{"three unequal pairs", Config{}, []int64{2 * gib, 5 * gib, 9 * gib}, linkBps},
		{"slow link, 80 % efficiency", Config{LinkBandwidthMbps: 1000, LinkEfficiency: 0.8}, []int64{3 * gib}, 1000e6 / 8 * 0.8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newReplFixture(t, tt.cfg)
			var pairs []array.ReplicaPairSpec
			var total float64
			for i, s := range tt.sizes {
				pairs = append(pairs, f.pair(t, fmt.Sprint("v", i), s))
				total += float64(s)
			}
			g := f.create(t, "g1", array.ReplicaAsync, pairs...)
			if g.State != array.GroupSyncInProgress || g.Writable != array.SideSource || g.LagBytes != int64(total) || !g.LastSyncAt.IsZero() {
				t.Fatalf("new group %+v", g)
			}
			for i, p := range g.Pairs {
				if p.TotalBytes != tt.sizes[i] || p.CopiedBytes != 0 || p.LagBytes != tt.sizes[i] {
					t.Fatalf("pair %d at start: %+v", i, p)
				}
			}
			// Equal shares: the smallest pair finishes first, at
			// n·smallest/bps; every pair copies until the total is
			// carried, at total/bps.
			first := float64(len(tt.sizes)) * float64(tt.sizes[0]) / tt.bps
			f.skip(secs(first / 2))
			g = f.group(t, f.west, "g1")
			want := tt.bps / float64(len(tt.sizes)) * first / 2
			for i, p := range g.Pairs {
				if !near(float64(p.CopiedBytes), want, 0.01) || p.TotalBytes != tt.sizes[i] || p.LagBytes != p.TotalBytes-p.CopiedBytes {
					t.Fatalf("pair %d half way to the first finish: %+v, want %.0f copied", i, p, want)
				}
			}
			end := total / tt.bps
			f.skip(secs(end*0.99) - secs(first/2))
			if g = f.group(t, f.east, "g1"); g.State != array.GroupSyncInProgress || g.LagBytes <= 0 {
				t.Fatalf("at 99 %% of %.2fs: %+v", end, g)
			}
			f.skip(secs(end * 0.02))
			g = f.group(t, f.east, "g1")
			if g.State != array.GroupSynchronized || g.LagBytes != 0 || g.LastSyncAt.IsZero() {
				t.Fatalf("at 101 %% of %.2fs: %+v", end, g)
			}
			for i, p := range g.Pairs {
				if p.CopiedBytes != tt.sizes[i] && p.CopiedBytes != tt.sizes[i]-1 || p.TotalBytes != p.CopiedBytes || p.LagBytes != 0 {
					t.Fatalf("pair %d done: %+v", i, p)
				}
			}
		})
	}
}

func TestReplicationGroupsShareALink(t *testing.T) {
	f := newReplFixture(t, Config{ArraysPerSite: 2})
	small, big := 4*gib, 10*gib
	f.create(t, "a", array.ReplicaSync, f.pair(t, "a", int64(small)))
	f.create(t, "b", array.ReplicaAsync, f.pair(t, "b", int64(big)))
	// A group within a site uses its local link, not the inter-site one.
	east2, _ := f.w.Array("east-arr2")
	local := 6 * gib
	lp := f.pairOn(t, f.east, east2, "l", int64(local))
	lg, err := east2.CreateReplicationGroup(f.ctx, array.ReplicationGroupSpec{ID: "l", SourceArray: f.east.id, TargetArray: east2.id,
		Mode: array.ReplicaSync, Pairs: []array.ReplicaPairSpec{lp}})
	if err != nil || lg.State != array.GroupSyncInProgress {
		t.Fatalf("local group: %+v, %v", lg, err)
	}
	// Both copy at half the link until the small one is done...
	tSmall := 2 * float64(small) / linkBps
	f.skip(secs(tSmall * 0.999))
	if g := f.group(t, f.east, "a"); g.State != array.GroupSyncInProgress {
		t.Fatalf("a before %.2fs: %+v", tSmall, g)
	}
	f.skip(secs(tSmall * 0.002))
	if g := f.group(t, f.east, "a"); g.State != array.GroupSynchronized {
		t.Fatalf("a after %.2fs: %+v", tSmall, g)
	}
	// ...then the big one gets all of it.
	extra := 1.5
	f.skip(secs(extra - tSmall*0.001))
	g := f.group(t, f.west, "b")
	if want := float64(small) + linkBps*extra; !near(float64(g.Pairs[0].CopiedBytes), want, 0.001) {
		t.Fatalf("b copied %d, want %.0f", g.Pairs[0].CopiedBytes, want)
	}
	if end := float64(small+big) / linkBps; g.State != array.GroupSyncInProgress || tSmall+extra >= end {
		t.Fatalf("b at %.2fs (done at %.2fs): %+v", tSmall+extra, end, g)
	}
	// The local group had its own 16 Gbps all along.
	tLocal := float64(local) / (16000e6 / 8 * 0.75)
	if tLocal > tSmall || f.group(t, east2, "l").State != array.GroupSynchronized {
		t.Fatalf("local group after %.2fs (done at %.2fs): %+v", tSmall+extra, tLocal, f.group(t, east2, "l"))
	}
	// Each array lists the groups it is a side of.
	west, _ := f.west.ReplicationGroups(f.ctx)
	e2, _ := east2.ReplicationGroups(f.ctx)
	e1, _ := f.east.ReplicationGroups(f.ctx)
	if len(west) != 2 || len(e2) != 1 || len(e1) != 3 || e1[0].ID != "a" || e1[2].ID != "l" {
		t.Fatalf("listed: east %d, west %d, east2 %d", len(e1), len(west), len(e2))
	}
}

// TestReplicationTransferCap: with Config.TransferCapBytesPerSec, a group
// copies at most the cap, its pairs sharing it, and the link is shared
// max-min fairly among the groups.
func TestReplicationTransferCap(t *testing.T) {
	t.Run("one group under its cap", func(t *testing.T) {
		const capBps = 64 << 20
		f := newReplFixture(t, Config{TransferCapBytesPerSec: capBps})
		f.create(t, "g", array.ReplicaAsync, f.pair(t, "a", 8*gib), f.pair(t, "b", 8*gib))
		f.skip(100 * time.Second)
		g := f.group(t, f.west, "g")
		for i, p := range g.Pairs {
			if want := capBps / 2 * 100.0; !near(float64(p.CopiedBytes), want, 0.001) {
				t.Fatalf("pair %d after 100 s: copied %d, want %.0f (half the cap each)", i, p.CopiedBytes, want)
			}
		}
		// 16 GiB at 64 MiB/s: 256 s.
		f.skip(155 * time.Second)
		if g := f.group(t, f.west, "g"); g.State != array.GroupSyncInProgress {
			t.Fatalf("at 255 s: %+v", g)
		}
		f.skip(2 * time.Second)
		if g := f.group(t, f.west, "g"); g.State != array.GroupSynchronized {
			t.Fatalf("at 257 s: %+v", g)
		}
	})
	t.Run("water-filling", func(t *testing.T) {
		// Cap 0.3 of the link: group a has two pairs (0.15 each), b and c
		// one each. Equal shares would be 0.25 a pair; a's pairs are held
		// to 0.15, and the 0.7 left would give b and c 0.35 each, above
		// their cap: they get 0.3. The link carries 0.9 of its rate.
		capBps := 0.3 * linkBps
		f := newReplFixture(t, Config{TransferCapBytesPerSec: capBps})
		f.create(t, "a", array.ReplicaAsync, f.pair(t, "a1", 50*gib), f.pair(t, "a2", 50*gib))
		f.create(t, "b", array.ReplicaAsync, f.pair(t, "b", 50*gib))
		f.create(t, "c", array.ReplicaAsync, f.pair(t, "c", 50*gib))
		f.skip(10 * time.Second)
		for _, tc := range []struct {
			id   string
			want float64 // per pair, share of the link
		}{{"a", 0.15}, {"b", 0.3}, {"c", 0.3}} {
			for _, p := range f.group(t, f.west, tc.id).Pairs {
				if want := tc.want * linkBps * 10; !near(float64(p.CopiedBytes), want, 0.001) {
					t.Errorf("group %s pair %s after 10 s: copied %d, want %.0f", tc.id, p.SourceVolume, p.CopiedBytes, want)
				}
			}
		}
		// Without a cap binding (a generous one), the shares are equal.
		f = newReplFixture(t, Config{TransferCapBytesPerSec: linkBps})
		f.create(t, "a", array.ReplicaAsync, f.pair(t, "a1", 50*gib), f.pair(t, "a2", 50*gib))
		f.create(t, "b", array.ReplicaAsync, f.pair(t, "b", 50*gib))
		f.skip(10 * time.Second)
		for _, id := range []string{"a", "b"} {
			for _, p := range f.group(t, f.west, id).Pairs {
				if want := linkBps / 3 * 10; !near(float64(p.CopiedBytes), want, 0.001) {
					t.Errorf("group %s pair %s after 10 s: copied %d, want %.0f", id, p.SourceVolume, p.CopiedBytes, want)
				}
			}
		}
	})
}

func TestReplicationConvergesWithWrites(t *testing.T) {
	size := int64(6 * gib)
	tests := []struct {
		name    string
		mode    string
		rate    float64
		wantLag float64 // once in step
	}{
		{"async, writes at a quarter of the link", array.ReplicaAsync, linkBps / 4, linkBps / 4 * 1.004},
		{"sync, writes at half of the link", array.ReplicaSync, linkBps / 2, 0},
		{"async, no writes", array.ReplicaAsync, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newReplFixture(t, Config{})
			p := f.pair(t, "v", size)
			f.rate(t, f.east, p.SourceVolume, tt.rate)
			f.create(t, "g", tt.mode, p)
			// U + r·T = B·T.
			end := float64(size) / (linkBps - tt.rate)
			f.skip(secs(end * 0.99))
			g := f.group(t, f.east, "g")
			if g.State != array.GroupSyncInProgress {
				t.Fatalf("at 99 %%: %+v", g)
			}
			if want := float64(size) + tt.rate*end*0.99; !near(float64(g.Pairs[0].TotalBytes), want, 0.001) {
				t.Fatalf("total %d, want %.0f: the writes are shipped too", g.Pairs[0].TotalBytes, want)
			}
			f.skip(secs(end * 0.02))
			g = f.group(t, f.east, "g")
			if g.State != array.GroupSynchronized || !near(float64(g.LagBytes), tt.wantLag, 0.001) {
				t.Fatalf("at 101 %%: %+v, want lag %.0f", g, tt.wantLag)
			}
			now := f.w.clock.Now()
			if want := now.Add(-secs(1.004)); tt.wantLag > 0 && !g.LastSyncAt.Equal(want) && now.Sub(g.LastSyncAt) > secs(1.005) {
				t.Fatalf("LastSyncAt %v, want about a cycle before %v", g.LastSyncAt, now)
			}
			if tt.wantLag == 0 && now.Sub(g.LastSyncAt) > time.Millisecond {
				t.Fatalf("LastSyncAt %v, want now %v", g.LastSyncAt, now)
			}
		})
	}
}

func TestReplicationNeverConvergesWhenWritesOutrunTheLink(t *testing.T) {
	f := newReplFixture(t, Config{})
	// A built volume: thin, partly used, so that the dirty bytes grow to
	// its size.
	vols, _ := f.east.Volumes(f.ctx)
	src := vols[0]
	if src.UsedBytes >= src.SizeBytes {
		t.Fatalf("volume %+v is full", src)
	}
	f.vol(t, f.west, "t", src.SizeBytes, true)
	f.rate(t, f.east, src.ID, 2*linkBps)
	f.create(t, "g", array.ReplicaAsync, array.ReplicaPairSpec{SourceVolume: src.ID, TargetVolume: "t"})
	f.skip(time.Hour)
	g := f.group(t, f.east, "g")
	p := g.Pairs[0]
	if g.State != array.GroupSyncInProgress || p.LagBytes != src.SizeBytes || !near(float64(p.CopiedBytes), linkBps*3600, 0.001) ||
		p.TotalBytes != p.CopiedBytes+p.LagBytes {
		t.Fatalf("after an hour of writes at twice the link: %+v", g)
	}
}

// mapVolume presents a volume to a host group so that its writability shows.
func mapVolume(t *testing.T, a *Array, vol, hg string, initiator uint64) {
	t.Helper()
	ports, _ := a.TargetPorts(context.Background())
	err := a.Map(context.Background(), array.MapSpec{Volume: vol, HostGroup: hg, LUN: 7,
		Initiators: []wwn.WWN{wwn.FromUint64(initiator)}, TargetPorts: []wwn.WWN{ports[0].WWPN}})
	if err != nil {
		t.Fatal(err)
	}
}

// writable is how a's LUN maps present vol: true, false, or mixed.
func writable(t *testing.T, a *Array, vol string) string {
	t.Helper()
	ms, err := a.Mappings(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	seen := map[bool]bool{}
	for _, m := range ms {
		if m.Volume == vol {
			seen[m.Writable] = true
		}
	}
	truth := map[bool]bool{}
	for _, m := range a.TruthMappings() {
		if m.Volume == vol {
			truth[m.Writable] = true
		}
	}
	switch {
	case len(seen) != 1 || fmt.Sprint(seen) != fmt.Sprint(truth):
		return fmt.Sprintf("mixed %v, truth %v", seen, truth)
	case seen[true]:
		return "rw"
	}
	return "ro"
}

func TestReplicationDemotePromote(t *testing.T) {
	f := newReplFixture(t, Config{})
	p := f.pair(t, "v", 2*gib)
	mapVolume(t, f.east, p.SourceVolume, "hg-east", 0x10000000c9000001)
	mapVolume(t, f.west, p.TargetVolume, "hg-west", 0x10000000c9000002)
	if writable(t, f.west, p.TargetVolume) != "rw" {
		t.Fatal("an unreplicated volume is read-only")
	}
	rate := 100e6
	f.rate(t, f.east, p.SourceVolume, rate)
	f.create(t, "g", array.ReplicaAsync, p)
	if w, e := writable(t, f.west, p.TargetVolume), writable(t, f.east, p.SourceVolume); w != "ro" || e != "rw" {
		t.Fatalf("after create: source %s, target %s", e, w)
	}
	f.skip(time.Minute)
	if g := f.group(t, f.east, "g"); g.State != array.GroupSynchronized || !near(float64(g.LagBytes), rate*1.004, 0.001) {
		t.Fatalf("in step: %+v", g)
	}

	promote := func(side *Array) error { return f.east.PromoteReplicationGroup(f.ctx, "g", side.id) }
	if err := promote(f.west); !errors.Is(err, array.ErrConflict) {
		t.Fatalf("promote while the source is writable = %v, want ErrConflict", err)
	}
	if err := promote(f.east); err != nil {
		t.Fatalf("promote of the writable side = %v, want a no-op", err)
	}
	if err := f.west.DemoteReplicationGroup(f.ctx, "g"); err != nil {
		t.Fatal(err)
	}
	g := f.group(t, f.west, "g")
	if g.Writable != array.SideNone || g.State != array.GroupSuspended || !strings.Contains(g.Error, "final sync") || !near(float64(g.LagBytes), rate*1.004, 0.001) {
		t.Fatalf("demoted: %+v", g)
	}
	if e := writable(t, f.east, p.SourceVolume); e != "ro" {
		t.Fatalf("demoted source presents %s", e)
	}
	err := promote(f.west)
	if !errors.Is(err, array.ErrUnavailable) || !array.IsTransient(err) || !strings.Contains(err.Error(), "final sync in progress") {
		t.Fatalf("promote during the final sync = %v, want transient", err)
	}
	if err := f.west.DemoteReplicationGroup(f.ctx, "g"); err != nil {
		t.Fatalf("demote again = %v, want a no-op", err)
	}
	// The lag drains at the whole link.
	f.skip(secs(rate * 1.004 / linkBps * 1.01))
	if g := f.group(t, f.west, "g"); g.State != array.GroupSynchronized || g.LagBytes != 0 {
		t.Fatalf("drained: %+v", g)
	}
	if err := promote(f.west); err != nil {
		t.Fatalf("promote after the final sync = %v", err)
	}
	g = f.group(t, f.west, "g")
	if g.State != array.GroupFailedOver || g.Writable != array.SideTarget {
		t.Fatalf("promoted: %+v", g)
	}
	if w, e := writable(t, f.west, p.TargetVolume), writable(t, f.east, p.SourceVolume); w != "rw" || e != "ro" {
		t.Fatalf("after failover: source %s, target %s", e, w)
	}
	if err := promote(f.east); !errors.Is(err, array.ErrConflict) {
		t.Fatalf("promote of the source while the target is writable = %v", err)
	}
	// The target's writes since the failover are what the source misses.
	f.rate(t, f.west, p.TargetVolume, 1e6)
	f.skip(10 * time.Second)
	if g := f.group(t, f.west, "g"); !near(float64(g.LagBytes), 10e6, 0.001) {
		t.Fatalf("failed over for 10s at 1 MB/s: %+v", g)
	}
	if err := f.west.DemoteReplicationGroup(f.ctx, "g"); err != nil {
		t.Fatal(err)
	}
	if err := promote(f.east); !errors.Is(err, array.ErrConflict) || !strings.Contains(err.Error(), "reverse") {
		t.Fatalf("promote of the source after the target took writes = %v, want ErrConflict", err)
	}
	if err := f.east.PromoteReplicationGroup(f.ctx, "g", "nowhere"); !errors.Is(err, array.ErrNotFound) {
		t.Fatalf("promote of no side = %v", err)
	}
	if err := f.east.DemoteReplicationGroup(f.ctx, "nope"); !errors.Is(err, array.ErrNotFound) {
		t.Fatalf("demote of no group = %v", err)
	}
	// A sync group demoted in step has nothing left to ship.
	q := f.pair(t, "s", gib)
	f.rate(t, f.east, q.SourceVolume, rate)
	f.create(t, "sync", array.ReplicaSync, q)
	f.skip(time.Minute)
	if err := f.east.DemoteReplicationGroup(f.ctx, "sync"); err != nil {
		t.Fatal(err)
	}
	if g := f.group(t, f.east, "sync"); g.State != array.GroupSynchronized || g.LagBytes != 0 {
		t.Fatalf("sync group demoted: %+v", g)
	}
	if err := f.east.PromoteReplicationGroup(f.ctx, "sync", f.west.id); err != nil {
		t.Fatalf("promote of a demoted sync group = %v", err)
	}
}

func TestReplicationReverse(t *testing.T) {
	for _, tgtRate := range []float64{0, 50e6} {
		t.Run(fmt.Sprint("target writes ", tgtRate), func(t *testing.T) {
			f := newReplFixture(t, Config{})
			p := f.pair(t, "v", gib)
			f.create(t, "g", array.ReplicaAsync, p)
			if err := f.east.ReverseReplicationGroup(f.ctx, "g"); err != nil {
				t.Fatalf("reverse of a group whose source is writable = %v, want a no-op", err)
			}
			f.skip(time.Minute)
			if err := f.east.DemoteReplicationGroup(f.ctx, "g"); err != nil {
				t.Fatal(err)
			}
			if err := f.east.ReverseReplicationGroup(f.ctx, "g"); !errors.Is(err, array.ErrConflict) {
				t.Fatalf("reverse with no writable side = %v, want ErrConflict", err)
			}
			if err := f.west.PromoteReplicationGroup(f.ctx, "g", f.west.id); err != nil {
				t.Fatal(err)
			}
			f.rate(t, f.west, p.TargetVolume, tgtRate)
			f.skip(20 * time.Second)
			if err := f.west.ReverseReplicationGroup(f.ctx, "g"); err != nil {
				t.Fatal(err)
			}
			g := f.group(t, f.east, "g")
			if g.SourceArray != f.west.id || g.TargetArray != f.east.id || g.Writable != array.SideSource ||
				g.Pairs[0].SourceVolume != p.TargetVolume || g.Pairs[0].TargetVolume != p.SourceVolume {
				t.Fatalf("reversed: %+v", g)
			}
			if w, e := writable(t, f.west, p.TargetVolume), writable(t, f.east, p.SourceVolume); w != "rw" || e != "ro" {
				mapVolume(t, f.east, p.SourceVolume, "hg-east", 0x10000000c9000001)
				mapVolume(t, f.west, p.TargetVolume, "hg-west", 0x10000000c9000002)
				if w, e := writable(t, f.west, p.TargetVolume), writable(t, f.east, p.SourceVolume); w != "rw" || e != "ro" {
					t.Fatalf("reversed: new source %s, new target %s", w, e)
				}
			}
			if tgtRate == 0 {
				if g.State != array.GroupSynchronized || g.LagBytes != 0 {
					t.Fatalf("reversed with nothing to ship: %+v", g)
				}
				return
			}
			if want := tgtRate * 20; g.State != array.GroupSyncInProgress || !near(float64(g.Pairs[0].TotalBytes), want, 0.001) || g.Pairs[0].CopiedBytes != 0 {
				t.Fatalf("reversed with %.0f bytes written at the old target: %+v", want, g)
			}
			// The backlog and the writes since, at the whole link.
			end := tgtRate * 20 / (linkBps - tgtRate)
			f.skip(secs(end * 0.99))
			if g := f.group(t, f.east, "g"); g.State != array.GroupSyncInProgress {
				t.Fatalf("reversed, at 99 %% of %.2fs: %+v", end, g)
			}
			f.skip(secs(end * 0.02))
			if g := f.group(t, f.east, "g"); g.State != array.GroupSynchronized {
				t.Fatalf("reversed, at 101 %% of %.2fs: %+v", end, g)
			}
		})
	}
}

func TestReplicationDelete(t *testing.T) {
	tests := []struct {
		name        string
		steps       func(f *replFixture) error
		wantS, want string // writability of the source and target volumes after
	}{
		{"source writable", func(*replFixture) error { return nil }, "rw", "ro"},
		{"demoted", func(f *replFixture) error { return f.east.DemoteReplicationGroup(f.ctx, "g") }, "rw", "ro"},
		{"failed over", func(f *replFixture) error {
			f.skip(time.Minute)
			return errors.Join(f.east.DemoteReplicationGroup(f.ctx, "g"), f.east.PromoteReplicationGroup(f.ctx, "g", f.west.id))
		}, "ro", "rw"},
		{"failed over then demoted", func(f *replFixture) error {
			f.skip(time.Minute)
			return errors.Join(f.east.DemoteReplicationGroup(f.ctx, "g"), f.east.PromoteReplicationGroup(f.ctx, "g", f.west.id),
				f.west.DemoteReplicationGroup(f.ctx, "g"))
		}, "ro", "rw"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newReplFixture(t, Config{})
			p := f.pair(t, "v", gib)
			mapVolume(t, f.east, p.SourceVolume, "hg-east", 0x10000000c9000001)
			mapVolume(t, f.west, p.TargetVolume, "hg-west", 0x10000000c9000002)
			f.create(t, "g", array.ReplicaAsync, p)
			if err := tt.steps(f); err != nil {
				t.Fatal(err)
			}
			if err := f.west.DeleteVolume(f.ctx, p.TargetVolume); !errors.Is(err, array.ErrConflict) {
				t.Fatalf("delete of a mapped replicated volume = %v", err)
			}
			if err := f.west.DeleteReplicationGroup(f.ctx, "g"); err != nil {
				t.Fatal(err)
			}
			if s, x := writable(t, f.east, p.SourceVolume), writable(t, f.west, p.TargetVolume); s != tt.wantS || x != tt.want {
				t.Fatalf("after delete: source %s, target %s; want %s, %s", s, x, tt.wantS, tt.want)
			}
			for _, a := range []*Array{f.east, f.west} {
				if gs, _ := a.ReplicationGroups(f.ctx); len(gs) != 0 {
					t.Fatalf("%s still lists %+v", a.id, gs)
				}
			}
			if err := f.west.DeleteReplicationGroup(f.ctx, "g"); err != nil {
				t.Fatalf("delete of a missing group = %v", err)
			}
			// The read-only side cannot source a new group; it can be a target.
			ro, rw, roA, rwA := p.TargetVolume, p.SourceVolume, f.west, f.east
			if tt.wantS == "ro" {
				ro, rw, roA, rwA = rw, ro, rwA, roA
			}
			_, err := roA.CreateReplicationGroup(f.ctx, array.ReplicationGroupSpec{ID: "h", SourceArray: roA.id, TargetArray: rwA.id,
				Mode: array.ReplicaSync, Pairs: []array.ReplicaPairSpec{{SourceVolume: ro, TargetVolume: rw}}})
			if !errors.Is(err, array.ErrConflict) {
				t.Fatalf("a read-only source = %v, want ErrConflict", err)
			}
			if _, err := rwA.CreateReplicationGroup(f.ctx, array.ReplicationGroupSpec{ID: "h", SourceArray: rwA.id, TargetArray: roA.id,
				Mode: array.ReplicaSync, Pairs: []array.ReplicaPairSpec{{SourceVolume: rw, TargetVolume: ro}}}); err != nil {
				t.Fatal(err)
			}
		})
	}
	f := newReplFixture(t, Config{})
	p := f.pair(t, "v", gib)
	f.create(t, "g", array.ReplicaAsync, p)
	if err := f.east.DeleteVolume(f.ctx, p.SourceVolume); !errors.Is(err, array.ErrConflict) {
		t.Fatalf("delete of a replicated volume = %v, want ErrConflict", err)
	}
	if err := f.east.DeleteReplicationGroup(f.ctx, "g"); err != nil {
		t.Fatal(err)
	}
	if err := f.east.DeleteVolume(f.ctx, p.SourceVolume); err != nil {
		t.Fatalf("delete once the group is gone = %v", err)
	}
}

func TestCreateReplicationGroupErrors(t *testing.T) {
	f := newReplFixture(t, Config{Sites: []string{"east", "west", "north"}})
	p := f.pair(t, "v", gib)
	q := f.pair(t, "w", gib)
	f.vol(t, f.west, "small", gib/2, true)
	f.create(t, "g", array.ReplicaSync, p)
	spec := func(mod func(*array.ReplicationGroupSpec)) array.ReplicationGroupSpec {
		s := array.ReplicationGroupSpec{ID: "h", SourceArray: f.east.id, TargetArray: f.west.id, Mode: array.ReplicaAsync,
			Pairs: []array.ReplicaPairSpec{q}}
		mod(&s)
		return s
	}
	north, _ := f.w.Array("north-arr1")
	tests := []struct {
		name  string
		asker *Array
		spec  array.ReplicationGroupSpec
		want  error
	}{
		{"bad mode", f.east, spec(func(s *array.ReplicationGroupSpec) { s.Mode = "semi" }), array.ErrInvalid},
		{"no pairs", f.east, spec(func(s *array.ReplicationGroupSpec) { s.Pairs = nil }), array.ErrInvalid},
		{"no id", f.east, spec(func(s *array.ReplicationGroupSpec) { s.ID = "" }), array.ErrInvalid},
		{"one array", f.east, spec(func(s *array.ReplicationGroupSpec) { s.TargetArray = f.east.id }), array.ErrInvalid},
		{"a volume twice", f.east, spec(func(s *array.ReplicationGroupSpec) { s.Pairs = append(s.Pairs, q) }), array.ErrInvalid},
		{"target too small", f.east, spec(func(s *array.ReplicationGroupSpec) { s.Pairs[0].TargetVolume = "small" }), array.ErrInvalid},
		{"asked of a third array", north, spec(func(*array.ReplicationGroupSpec) {}), array.ErrInvalid},
		{"no source array", f.east, spec(func(s *array.ReplicationGroupSpec) { s.SourceArray = "nowhere" }), array.ErrNotFound},
		{"no source volume", f.east, spec(func(s *array.ReplicationGroupSpec) { s.Pairs[0].SourceVolume = "nope" }), array.ErrNotFound},
		{"no target volume", f.east, spec(func(s *array.ReplicationGroupSpec) { s.Pairs[0].TargetVolume = "nope" }), array.ErrNotFound},
		{"id of another group", f.east, spec(func(s *array.ReplicationGroupSpec) { s.ID = "g" }), array.ErrConflict},
		{"source replicated already", f.east, spec(func(s *array.ReplicationGroupSpec) { s.Pairs[0].SourceVolume = p.SourceVolume }), array.ErrConflict},
		{"target replicated already", f.east, spec(func(s *array.ReplicationGroupSpec) { s.Pairs[0].TargetVolume = p.TargetVolume }), array.ErrConflict},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := tt.asker.CreateReplicationGroup(f.ctx, tt.spec); !errors.Is(err, tt.want) {
				t.Fatalf("create = %v, want %v", err, tt.want)
			}
		})
	}
	// Nothing was created, and the same spec again is the group as it is.
	if gs, _ := f.west.ReplicationGroups(f.ctx); len(gs) != 1 {
		t.Fatalf("groups %+v", gs)
	}
	f.skip(time.Minute)
	g, err := f.west.CreateReplicationGroup(f.ctx, array.ReplicationGroupSpec{ID: "g", SourceArray: f.east.id, TargetArray: f.west.id,
		Mode: array.ReplicaSync, Pairs: []array.ReplicaPairSpec{p}})
	if err != nil || g.State != array.GroupSynchronized {
		t.Fatalf("create again = %+v, %v", g, err)
	}
}

func TestReplicationFaults(t *testing.T) {
	ops := []struct {
		name string
		do   func(f *replFixture) error
	}{
		{"create", func(f *replFixture) error {
			_, err := f.east.CreateReplicationGroup(f.ctx, array.ReplicationGroupSpec{ID: "h", SourceArray: f.east.id, TargetArray: f.west.id,
				Mode: array.ReplicaAsync, Pairs: []array.ReplicaPairSpec{{SourceVolume: "x-s", TargetVolume: "x-t"}}})
			return err
		}},
		{"demote", func(f *replFixture) error { return f.east.DemoteReplicationGroup(f.ctx, "g") }},
		{"promote", func(f *replFixture) error { return f.east.PromoteReplicationGroup(f.ctx, "g", f.east.id) }},
		{"reverse", func(f *replFixture) error { return f.east.ReverseReplicationGroup(f.ctx, "g") }},
		{"delete", func(f *replFixture) error { return f.east.DeleteReplicationGroup(f.ctx, "g") }},
	}
	faults := []Fault{
		{Target: "link:west-east", Op: OpReplicate, Count: 2},
		{Target: "link:east-west", Op: OpReplicate, Count: 2, Kind: KindFinal},
		{Target: "west-arr1", Op: OpReplicate, Count: 2},
		{Target: "east-arr1", Op: OpAny, Count: 2},
	}
	for _, op := range ops {
		for _, fl := range faults {
			t.Run(op.name+"/"+fl.Target+"/"+fl.Op+fl.Kind, func(t *testing.T) {
				f := newReplFixture(t, Config{})
				f.create(t, "g", array.ReplicaAsync, f.pair(t, "v", gib))
				f.pair(t, "x", gib)
				if err := f.w.InjectFault(fl); err != nil {
					t.Fatal(err)
				}
				if op.name == "delete" && strings.HasPrefix(fl.Target, "link:") {
					// Splitting a group needs no link: its faults do not touch it.
					if err := op.do(f); err != nil {
						t.Fatalf("delete over a faulty link = %v, want done", err)
					}
					return
				}
				for i := range 2 {
					err := op.do(f)
					if !errors.Is(err, ErrInjected) || array.IsTransient(err) != (fl.Kind == "") || !strings.Contains(err.Error(), "replicate on") {
						t.Fatalf("try %d = %v, want the injected failure", i+1, err)
					}
				}
				if err := op.do(f); err != nil {
					t.Fatalf("third try = %v", err)
				}
			})
		}
	}
	t.Run("rate", func(t *testing.T) {
		f := newReplFixture(t, Config{})
		f.create(t, "g", array.ReplicaAsync, f.pair(t, "v", gib))
		if err := f.w.InjectFault(Fault{Target: "link:east-west", Op: OpReplicate, Rate: 1}); err != nil {
			t.Fatal(err)
		}
		for range 5 {
			if err := f.east.DemoteReplicationGroup(f.ctx, "g"); !array.IsTransient(err) {
				t.Fatalf("demote = %v", err)
			}
		}
		if g := f.group(t, f.east, "g"); g.Writable != array.SideSource {
			t.Fatalf("a failed demote changed the group: %+v", g)
		}
		// A read of the groups is the array's read, not the link's.
		if err := f.w.InjectFault(Fault{Target: "east-arr1", Op: OpRead, Count: 1}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.east.ReplicationGroups(f.ctx); !array.IsTransient(err) {
			t.Fatalf("read = %v", err)
		}
	})
	t.Run("applied timeout", func(t *testing.T) {
		f := newReplFixture(t, Config{})
		f.create(t, "g", array.ReplicaAsync, f.pair(t, "v", gib))
		if err := f.w.InjectFault(Fault{Target: "link:east-west", Op: OpReplicate, Count: 1, Kind: KindAppliedTimeout}); err != nil {
			t.Fatal(err)
		}
		if err := f.east.DemoteReplicationGroup(f.ctx, "g"); !array.IsTransient(err) {
			t.Fatalf("demote = %v", err)
		}
		if g := f.group(t, f.east, "g"); g.Writable != array.SideNone {
			t.Fatalf("the demote was not applied: %+v", g)
		}
	})
	t.Run("latency", func(t *testing.T) {
		f := newReplFixture(t, Config{Speed: 600})
		f.create(t, "g", array.ReplicaAsync, f.pair(t, "v", gib))
		if err := f.w.InjectFault(Fault{Target: "link:east-west", Op: OpReplicate, Count: 1, Latency: 30 * time.Second}); err != nil {
			t.Fatal(err)
		}
		start := f.w.clock.Now()
		if err := f.east.DemoteReplicationGroup(f.ctx, "g"); err != nil {
			t.Fatal(err)
		}
		if d := f.w.clock.Since(start); d < 30*time.Second {
			t.Fatalf("demote took %v of virtual time, want at least 30s", d)
		}
	})
}

func TestReplicationLinkDown(t *testing.T) {
	f := newReplFixture(t, Config{})
	p, q := f.pair(t, "v", 4*gib), f.pair(t, "w", gib)
	rate := 10e6
	f.rate(t, f.east, q.SourceVolume, rate)
	f.create(t, "copying", array.ReplicaAsync, p)
	f.create(t, "steady", array.ReplicaAsync, q)
	f.skip(3 * time.Second)
	if g := f.group(t, f.east, "steady"); g.State != array.GroupSynchronized {
		t.Fatalf("steady: %+v", g)
	}
	before := f.group(t, f.east, "copying").Pairs[0].CopiedBytes
	if err := f.w.InjectFault(Fault{Target: "link:west-east", Op: OpAny, Rate: 1}); err != nil {
		t.Fatal(err)
	}
	f.skip(time.Minute)
	c, s := f.group(t, f.east, "copying"), f.group(t, f.west, "steady")
	if c.State != array.GroupSuspended || c.Error != "link east-west down" || c.Pairs[0].CopiedBytes != before {
		t.Fatalf("copying group, link down: %+v (copied %d before)", c, before)
	}
	// The in-flight cycle and a minute of writes.
	if want := rate * (60 + 1.004); s.State != array.GroupSuspended || !near(float64(s.LagBytes), want, 0.001) {
		t.Fatalf("steady group, link down: %+v, want lag %.0f", s, want)
	}
	if err := f.east.DemoteReplicationGroup(f.ctx, "steady"); !errors.Is(err, ErrInjected) {
		t.Fatalf("demote over a down link = %v", err)
	}
	f.w.ClearFaults()
	if g := f.group(t, f.west, "steady"); g.State != array.GroupSyncInProgress || g.Error != "" {
		t.Fatalf("steady group, link back: %+v", g)
	}
	// Both copy again, sharing the link.
	f.skip(time.Duration(float64(5*gib+rate*70) / linkBps * 1.01 * float64(time.Second)))
	for _, id := range []string{"copying", "steady"} {
		if g := f.group(t, f.east, id); g.State != array.GroupSynchronized {
			t.Fatalf("%s after the link came back: %+v", id, g)
		}
	}
	// A count fault takes the link down until replication ops use it up.
	if err := f.w.InjectFault(Fault{Target: "link:east-west", Op: OpAny, Count: 1}); err != nil {
		t.Fatal(err)
	}
	f.skip(time.Second)
	if g := f.group(t, f.east, "steady"); g.State != array.GroupSuspended {
		t.Fatalf("count fault: %+v", g)
	}
	if err := f.east.DemoteReplicationGroup(f.ctx, "copying"); !array.IsTransient(err) {
		t.Fatalf("demote = %v", err)
	}
	if g := f.group(t, f.east, "steady"); g.State != array.GroupSyncInProgress {
		t.Fatalf("count fault used up: %+v", g)
	}
	// A latency fault slows the link's operations but does not take it down.
	if err := f.w.InjectFault(Fault{Target: "link:east-west", Op: OpAny, Count: 1, Latency: time.Nanosecond}); err != nil {
		t.Fatal(err)
	}
	if g := f.group(t, f.east, "steady"); g.State == array.GroupSuspended {
		t.Fatalf("latency fault: %+v", g)
	}
}

// TestReplicationNeverTwoWritableSides drives random operations and checks,
// after each, that no pair is writable on both sides and that the masking
// agrees with what the groups say.
func TestReplicationNeverTwoWritableSides(t *testing.T) {
	for seed := range uint64(4) {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			f := newReplFixture(t, Config{ArraysPerSite: 2})
			rng := rand.New(rand.NewPCG(seed, 1))
			east2, _ := f.w.Array("east-arr2")
			okOps := map[string]int{}
			type vol struct {
				a  *Array
				id string
			}
			// Two groups: one across the link, one within east.
			groups := map[string][2]vol{}
			for k, dst := range []*Array{f.west, east2} {
				id := fmt.Sprint("g", k)
				p := f.pairOn(t, f.east, dst, id, gib)
				mapVolume(t, f.east, p.SourceVolume, id+"-he", 0x10000000c9000010+uint64(k))
				mapVolume(t, dst, p.TargetVolume, id+"-hd", 0x10000000c9000020+uint64(k))
				f.rate(t, f.east, p.SourceVolume, float64(rng.IntN(50))*1e6)
				f.rate(t, dst, p.TargetVolume, float64(rng.IntN(50))*1e6)
				if _, err := f.east.CreateReplicationGroup(f.ctx, array.ReplicationGroupSpec{ID: id, SourceArray: f.east.id, TargetArray: dst.id,
					Mode: []string{array.ReplicaSync, array.ReplicaAsync}[k], Pairs: []array.ReplicaPairSpec{p}}); err != nil {
					t.Fatal(err)
				}
				groups[id] = [2]vol{{f.east, p.SourceVolume}, {dst, p.TargetVolume}}
			}
			exists := map[string]bool{"g0": true, "g1": true}
			check := func(step int, what string) {
				t.Helper()
				for id, vs := range groups {
					ws := [2]string{writable(t, vs[0].a, vs[0].id), writable(t, vs[1].a, vs[1].id)}
					if ws[0] == "rw" && ws[1] == "rw" || strings.HasPrefix(ws[0], "mixed") || strings.HasPrefix(ws[1], "mixed") {
						t.Fatalf("step %d (%s): group %s's volumes present %v", step, what, id, ws)
					}
					if !exists[id] {
						continue
					}
					g := f.group(t, vs[0].a, id)
					if o := f.group(t, vs[1].a, id); o.Writable != g.Writable || o.State != g.State {
						t.Fatalf("step %d: the two arrays disagree: %+v, %+v", step, g, o)
					}
					side := map[string]string{}
					side[g.SourceArray], side[g.TargetArray] = array.SideSource, array.SideTarget
					for k, v := range vs {
						want := "ro"
						if side[v.a.id] == g.Writable {
							want = "rw"
						}
						if ws[k] != want {
							t.Fatalf("step %d (%s): group %+v, volume %s on %s presents %s", step, what, g, v.id, v.a.id, ws[k])
						}
					}
				}
			}
			check(0, "create")
			ids := []string{"g0", "g1"}
			for step := 1; step <= 200; step++ {
				id := ids[rng.IntN(2)]
				vs := groups[id]
				asker := vs[rng.IntN(2)].a
				var err error
				var what string
				switch k := rng.IntN(9); k {
				case 0:
					what, err = "demote", asker.DemoteReplicationGroup(f.ctx, id)
				case 1, 2:
					side := vs[rng.IntN(2)].a
					what, err = "promote "+side.id, asker.PromoteReplicationGroup(f.ctx, id, side.id)
				case 3:
					what, err = "reverse", asker.ReverseReplicationGroup(f.ctx, id)
				case 4:
					what, err = "delete", asker.DeleteReplicationGroup(f.ctx, id)
					if err == nil {
						exists[id] = false
					}
				case 5:
					// Recreate from whichever side is writable.
					src, dst := vs[0], vs[1]
					if writable(t, src.a, src.id) != "rw" {
						src, dst = dst, src
					}
					what = "create from " + src.a.id
					_, err = src.a.CreateReplicationGroup(f.ctx, array.ReplicationGroupSpec{ID: id, SourceArray: src.a.id, TargetArray: dst.a.id,
						Mode: array.ReplicaAsync, Pairs: []array.ReplicaPairSpec{{SourceVolume: src.id, TargetVolume: dst.id}}})
					if err == nil {
						exists[id] = true
					}
				case 6:
					what = "link fault"
					if rng.IntN(2) == 0 {
						err = f.w.InjectFault(Fault{Target: "link:east-west", Op: OpAny, Rate: 1})
					} else {
						f.w.ClearFaults()
					}
				case 7:
					v := vs[rng.IntN(2)]
					what, err = "rate", f.w.SetWriteRate(v.a.id, v.id, float64(rng.IntN(50))*1e6)
				default:
					what = "time"
					f.skip(time.Duration(rng.IntN(30_000)) * time.Millisecond)
				}
				if err != nil && !errors.Is(err, array.ErrConflict) && !errors.Is(err, array.ErrUnavailable) &&
					!(errors.Is(err, array.ErrNotFound) && !exists[id]) {
					t.Fatalf("step %d (%s on %s): %v", step, what, id, err)
				}
				check(step, what)
				if err == nil {
					okOps[strings.Fields(what)[0]]++
				}
			}
			// The walk went through every kind of change.
			for _, k := range []string{"demote", "promote", "reverse", "delete", "create"} {
				if okOps[k] == 0 {
					t.Fatalf("no %s succeeded: %v", k, okOps)
				}
			}
			t.Logf("changes made: %v", okOps)
		})
	}
}

func TestReplicationPersists(t *testing.T) {
	for _, crash := range []bool{false, true} {
		t.Run(fmt.Sprint("crash ", crash), func(t *testing.T) {
			dir := t.TempDir()
			cfg := persistConfig(dir)
			cfg.Speed = frozen
			w, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			f := newReplFixtureOf(w)
			src, _ := f.east.Volumes(f.ctx)
			naa := src[0].WWN
			if _, err := f.west.CreateVolume(f.ctx, array.VolumeSpec{ID: "replica", Pool: poolID(f.west.id, 0), SizeBytes: src[0].SizeBytes,
				Thin: true, WWN: naa}); err != nil {
				t.Fatal(err)
			}
			f.rate(t, f.east, src[0].ID, 3e6)
			f.rate(t, f.west, "replica", 0)
			p := f.pair(t, "v", 3*gib)
			mapVolume(t, f.west, p.TargetVolume, "hg-west", 0x10000000c9000002)
			f.create(t, "big", array.ReplicaAsync, array.ReplicaPairSpec{SourceVolume: src[0].ID, TargetVolume: "replica"})
			f.create(t, "small", array.ReplicaSync, p)
			f.skip(10 * time.Second)
			if err := f.east.DemoteReplicationGroup(f.ctx, "small"); err != nil {
				t.Fatal(err)
			}
			if err := f.west.PromoteReplicationGroup(f.ctx, "small", f.west.id); err != nil {
				t.Fatal(err)
			}
			f.skip(20 * time.Second)
			want := map[string]array.ReplicationGroup{"big": f.group(t, f.east, "big"), "small": f.group(t, f.west, "small")}
			wantMaps := f.west.TruthMappings()
			if want["big"].State != array.GroupSyncInProgress || want["small"].State != array.GroupFailedOver {
				t.Fatalf("before the restart: %+v", want)
			}
			if crash {
				w.crash()
			} else if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			w2 := openWorld(t, cfg)
			f2 := newReplFixtureOf(w2)
			if crash {
				// The clock resumes at the last change: catch up.
				f2.skip(w.clock.Since(w2.clock.Now()))
			}
			for id, g := range want {
				got := f2.group(t, f2.west, id)
				if got.State != g.State || got.Writable != g.Writable || got.SourceArray != g.SourceArray || got.Mode != g.Mode ||
					got.LastSyncAt.Sub(g.LastSyncAt).Abs() > time.Millisecond || len(got.Pairs) != len(g.Pairs) {
					t.Fatalf("group %s after the restart:\n%+v\nbefore:\n%+v", id, got, g)
				}
				for i := range g.Pairs {
					a, b := got.Pairs[i], g.Pairs[i]
					if !near(float64(a.CopiedBytes), float64(b.CopiedBytes), 1e-6) || !near(float64(a.TotalBytes), float64(b.TotalBytes), 1e-6) {
						t.Fatalf("group %s pair %d after the restart: %+v, before %+v", id, i, a, b)
					}
				}
			}
			if got := truthMappingsOf(t, w2, "west-arr1"); fmt.Sprint(got) != fmt.Sprint(wantMaps) {
				t.Fatalf("masking after the restart:\n%v\nbefore:\n%v", got, wantMaps)
			}
			vols, _ := f2.west.Volumes(f2.ctx)
			found := false
			for _, v := range vols {
				found = found || v.ID == "replica" && v.WWN == naa
			}
			if !found {
				t.Fatal("the replica's WWN was not kept")
			}
			// Progress goes on from where it was.
			f2.skip(time.Hour)
			if g := f2.group(t, f2.east, "big"); g.State != array.GroupSynchronized || !near(float64(g.LagBytes), 3e6*1.004, 0.001) {
				t.Fatalf("an hour later: %+v", g)
			}
		})
	}
}

// truthMappingsOf is an array's masking.
func truthMappingsOf(t *testing.T, w *World, id string) []array.Mapping {
	a, ok := w.Array(id)
	if !ok {
		t.Fatalf("no array %s", id)
	}
	return a.TruthMappings()
}
