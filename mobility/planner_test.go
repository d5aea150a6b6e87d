package mobility

import (
	"encoding/json"
	"maps"
	"math"
	"strings"
	"testing"

	"github.com/sanmob/sanmob/array"
	"github.com/sanmob/sanmob/inventory"
)

func planHost(id, site string, hbas ...inventory.HBA) inventory.Host {
	return inventory.Host{ID: id, Site: site, HBAs: hbas}
}

func planHBA(fabric string, maxV, inUse int) inventory.HBA {
	return inventory.HBA{Fabric: fabric, MaxVports: maxV, VportsInUse: inUse}
}

// planBase is a VM at site east on fabrics east-a and east-b (one vport
// pair on each) with two thin volumes on east-arr, moving live to host e2
// (same fabrics). Link east–west: 80 Mbps = 1e7 bytes/s; with efficiency
// 0.5 and share 1 a copy runs at 5e6 bytes/s, numbers that stay exact.
func planBase() PlanInput {
	vm := inventory.VM{ID: "vm1", Host: "e1", Site: "east",
		Vports: []inventory.Vport{
			{Fabric: "east-a", Set: "a", Active: true}, {Fabric: "east-a", Set: "b"},
			{Fabric: "east-b", Set: "a", Active: true}, {Fabric: "east-b", Set: "b"}},
		Volumes: []inventory.VolumeRef{{ID: "v1", LUN: 1}, {ID: "v2", LUN: 2}}}
	return PlanInput{
		VM:         vm,
		SourceHost: planHost("e1", "east", planHBA("east-a", 255, 10), planHBA("east-b", 255, 10)),
		DestHost:   planHost("e2", "east", planHBA("east-a", 255, 10), planHBA("east-b", 255, 10)),
		Volumes: []inventory.Volume{
			{ID: "v1", Array: "east-arr", Pool: "p1", SizeBytes: 100e6, UsedBytes: 30e6, Thin: true},
			{ID: "v2", Array: "east-arr", Pool: "p1", SizeBytes: 50e6, UsedBytes: 20e6, Thin: true}},
		Links: []inventory.Link{{From: "east", To: "west", RTTMs: 2, BandwidthMbps: 80, DistanceKm: 150}},
		Arrays: map[string]PlanArray{
			"east-arr": {Site: "east", Pools: []array.Pool{{ID: "p1", PhysicalBytes: 1e9}}},
			"west-arr": {Site: "west", Pools: []array.Pool{
				{ID: "wp1", PhysicalBytes: 1e9}, {ID: "wp2", PhysicalBytes: 2e9}}},
			"west-small": {Site: "west", Pools: []array.Pool{{ID: "ws1", PhysicalBytes: 2e8}}},
		},
		Mode:       ModeLive,
		Efficiency: 0.5,
	}
}

// toWest makes the move cross-site, to host w1 on fabrics west-a and west-b.
func toWest(in *PlanInput) {
	in.DestHost = planHost("w1", "west", planHBA("west-a", 255, 0), planHBA("west-b", 255, 0))
}

func TestPlanMigration(t *testing.T) {
	type want struct {
		kind       string
		reasons    []string // substrings, one per reason, in order
		conflict   bool
		bytes      int64
		seconds    float64
		downtime   float64
		trombone   bool
		destArray  string
		pools      map[string]string
		notes      []string // substrings some note must hold
		noteAbsent []string
	}
	cases := []struct {
		name string
		edit func(*PlanInput)
		want want
	}{
		{"same-fabric live", func(*PlanInput) {},
			want{kind: KindSameFabric, seconds: 1, downtime: 0.3, notes: []string{"re-presented, not copied"}}},
		{"same-fabric cold", func(in *PlanInput) { in.Mode = ModeCold },
			want{kind: KindSameFabric, seconds: 30, downtime: 30}},
		{"same-fabric ignores a destination array", func(in *PlanInput) { in.DestArray = "west-arr" },
			want{kind: KindSameFabric, seconds: 1, downtime: 0.3, notes: []string{"destination array west-arr ignored"}}},
		{"cross-fabric", func(in *PlanInput) {
			in.DestHost = planHost("e3", "east", planHBA("east-c", 255, 0), planHBA("east-d", 8, 0))
		}, want{kind: KindCrossFabric, seconds: 1, downtime: 0.3,
			notes: []string{"fabric east-a log in on fabric east-c", "fabric east-b log in on fabric east-d"}}},
		{"cross-fabric keeps a shared fabric", func(in *PlanInput) {
			in.DestHost = planHost("e3", "east", planHBA("east-a", 255, 0), planHBA("east-c", 255, 0))
		}, want{kind: KindCrossFabric, seconds: 1, downtime: 0.3, notes: []string{"fabric east-b log in on fabric east-c"},
			noteAbsent: []string{"fabric east-a log in"}}},
		{"cross-fabric to fabrics the array is not on", func(in *PlanInput) {
			in.DestHost = planHost("e3", "east", planHBA("east-c", 255, 0), planHBA("east-d", 8, 0))
			a := in.Arrays["east-arr"]
			a.Fabrics = []string{"east-a", "east-b", "east-c"}
			in.Arrays["east-arr"] = a
		}, want{kind: KindCrossFabric, seconds: 1, downtime: 0.3,
			reasons: []string{"array east-arr has no target port logged in on fabric east-d"}}},
		{"cross-fabric to fabrics the array is on", func(in *PlanInput) {
			in.DestHost = planHost("e3", "east", planHBA("east-c", 255, 0), planHBA("east-d", 8, 0))
			a := in.Arrays["east-arr"]
			a.Fabrics = []string{"east-a", "east-b", "east-c", "east-d"}
			in.Arrays["east-arr"] = a
		}, want{kind: KindCrossFabric, seconds: 1, downtime: 0.3}},
		// 45e6 bytes (30e6 + 20e6 used) at 5e6 B/s = 9 s; nothing written: no tail; + 1 s cutover.
		{"cross-site live, unknown write rate", toWest,
			want{kind: KindCrossSite, bytes: 50e6, seconds: 11, downtime: 0.3, destArray: "west-arr",
				pools: map[string]string{"v1": "wp2", "v2": "wp2"}, notes: []string{"no sync tail", "the array at site west with the most room"}}},
		// 50e6 at 5e6 B/s = 10 s; tail 1e6 B/s × 10 s ÷ 5e6 = 2 s; + 1 s.
		{"cross-site live with writes", func(in *PlanInput) {
			toWest(in)
			in.WriteRateBps = map[string]float64{"v1": 1e6, "v2": 0}
		}, want{kind: KindCrossSite, bytes: 50e6, seconds: 13, downtime: 0.3, destArray: "west-arr",
			pools: map[string]string{"v1": "wp2", "v2": "wp2"}, notes: []string{"sync tail"}}},
		// 50e6 − 5e6 held by v2's replica = 45e6: 9 s + tail 1e6×9÷5e6 = 1.8 s + 30 s cold cutover.
		{"cross-site cold, replica bytes subtracted", func(in *PlanInput) {
			toWest(in)
			in.Mode = ModeCold
			in.WriteRateBps = map[string]float64{"v1": 1e6}
			in.ReplicaBytes = map[string]int64{"v2": 5e6}
		}, want{kind: KindCrossSite, bytes: 45e6, seconds: 40.8, downtime: 30, destArray: "west-arr",
			pools: map[string]string{"v1": "wp2"}, notes: []string{"holds 5000000 bytes already; 15000000 left"}}},
		{"replica larger than used never goes negative", func(in *PlanInput) {
			toWest(in)
			in.ReplicaBytes = map[string]int64{"v1": 90e6}
		}, want{kind: KindCrossSite, bytes: 20e6, seconds: 5, downtime: 0.3, destArray: "west-arr",
			pools: map[string]string{"v2": "wp2"}}},
		// Defaults: efficiency 0.8, share 1 → 8e6 B/s; 50e6 ÷ 8e6 = 6.25 s + 1 s.
		{"defaults", func(in *PlanInput) {
			toWest(in)
			in.Efficiency, in.Mode = 0, ""
		}, want{kind: KindCrossSite, bytes: 50e6, seconds: 7.25, downtime: 0.3, destArray: "west-arr",
			pools: map[string]string{"v1": "wp2", "v2": "wp2"}}},
		// Share 0.5 halves the rate: 2.5e6 B/s; 50e6 → 20 s; tail 1e6×20÷2.5e6 = 8 s.
		{"bandwidth share", func(in *PlanInput) {
			toWest(in)
			in.BandwidthShare = 0.5
			in.WriteRateBps = map[string]float64{"v2": 1e6}
		}, want{kind: KindCrossSite, bytes: 50e6, seconds: 29, downtime: 0.3, destArray: "west-arr",
			pools: map[string]string{"v1": "wp2", "v2": "wp2"}}},
		{"chosen destination array", func(in *PlanInput) { toWest(in); in.DestArray = "west-small" },
			want{kind: KindCrossSite, bytes: 50e6, seconds: 11, downtime: 0.3, destArray: "west-small",
				pools: map[string]string{"v1": "ws1", "v2": "ws1"}}},
		{"cross-site without a copy trombones", func(in *PlanInput) { toWest(in); in.DestArray = "east-arr" },
			want{kind: KindCrossSite, seconds: 1, downtime: 0.3, trombone: true, destArray: "east-arr",
				notes: []string{"nothing to copy", "tromboning: volume v1 stays on array east-arr at site east"}}},

		// Each reason alone.
		{"already moving", func(in *PlanInput) { in.Moving = true },
			want{kind: KindSameFabric, conflict: true, reasons: []string{"already moving"}, seconds: 1, downtime: 0.3}},
		{"too few vport slots", func(in *PlanInput) {
			in.DestHost.HBAs[0] = planHBA("east-a", 64, 64)
		}, want{kind: KindSameFabric, reasons: []string{"fabric east-a: destination host e2 has 0 free vport slot(s)"}, seconds: 1, downtime: 0.3}},
		{"no NPIV", func(in *PlanInput) {
			in.DestHost.HBAs[1] = planHBA("east-b", 0, 0)
		}, want{kind: KindSameFabric, reasons: []string{"fabric east-b: destination host e2's HBAs do not support NPIV"}, seconds: 1, downtime: 0.3}},
		{"too few destination fabrics", func(in *PlanInput) {
			in.DestHost = planHost("e3", "east", planHBA("east-c", 255, 0))
		}, want{kind: KindCrossFabric, reasons: []string{"fabric east-b: destination host e3 has no HBA on another fabric"}, seconds: 1, downtime: 0.3}},
		{"no capacity at the destination pool", func(in *PlanInput) {
			toWest(in)
			in.DestArray = "west-small"
			in.Volumes[0].SizeBytes = 3e8
		}, want{kind: KindCrossSite, reasons: []string{"volume v1: no room at the destination: pool ws1 (array west-small) cannot take 300000000"},
			bytes: 50e6, seconds: 11, downtime: 0.3, destArray: "west-small", pools: map[string]string{"v2": "ws1"}}},
		{"no replication path", func(in *PlanInput) { toWest(in); in.Links = nil },
			want{kind: KindCrossSite, reasons: []string{"no replication path: no link between sites east and west"},
				bytes: 50e6, seconds: 1, downtime: 0.3, destArray: "west-arr", pools: map[string]string{"v1": "wp2", "v2": "wp2"}}},
		{"RTT above the synchronous limit", func(in *PlanInput) { toWest(in); in.Links[0].RTTMs = 12 },
			want{kind: KindCrossSite, reasons: []string{"RTT 12 ms is above the synchronous limit 5 ms"},
				bytes: 50e6, seconds: 11, downtime: 0.3, destArray: "west-arr", pools: map[string]string{"v1": "wp2", "v2": "wp2"}}},
		{"RTT within a raised limit", func(in *PlanInput) { toWest(in); in.Links[0].RTTMs = 12; in.SyncRTTLimitMs = 15 },
			want{kind: KindCrossSite, bytes: 50e6, seconds: 11, downtime: 0.3, destArray: "west-arr", pools: map[string]string{"v1": "wp2", "v2": "wp2"}}},
		{"cold ignores RTT", func(in *PlanInput) { toWest(in); in.Links[0].RTTMs = 12; in.Mode = ModeCold },
			want{kind: KindCrossSite, bytes: 50e6, seconds: 40, downtime: 30, destArray: "west-arr", pools: map[string]string{"v1": "wp2", "v2": "wp2"}}},
		// 50e6 at 5e6 = 10 s; tail 3e6+3e6=6e6 × 10 ÷ 5e6 = 12 s.
		{"write rate above the link", func(in *PlanInput) {
			toWest(in)
			in.WriteRateBps = map[string]float64{"v1": 3e6, "v2": 3e6}
		}, want{kind: KindCrossSite, reasons: []string{"5000000 bytes/s usable (80 Mbps × share 1 × efficiency 0.5) does not exceed the VM's write rate 6000000"},
			bytes: 50e6, seconds: 23, downtime: 0.3, destArray: "west-arr", pools: map[string]string{"v1": "wp2", "v2": "wp2"}}},
		{"cold with a write rate above the link", func(in *PlanInput) {
			toWest(in)
			in.Mode = ModeCold
			in.WriteRateBps = map[string]float64{"v1": 3e6, "v2": 3e6}
		}, want{kind: KindCrossSite, bytes: 50e6, seconds: 52, downtime: 30, destArray: "west-arr",
			pools: map[string]string{"v1": "wp2", "v2": "wp2"}, notes: []string{"does not converge"}}},
		{"no array at the destination site", func(in *PlanInput) {
			toWest(in)
			delete(in.Arrays, "west-arr")
			delete(in.Arrays, "west-small")
		}, want{kind: KindCrossSite, reasons: []string{"no known array at site west"}, seconds: 1, downtime: 0.3, trombone: true,
			notes: []string{"without a copy"}}},
		{"unknown destination array", func(in *PlanInput) { toWest(in); in.DestArray = "nowhere" },
			want{kind: KindCrossSite, reasons: []string{"destination array nowhere: unknown"}, seconds: 1, downtime: 0.3, trombone: true}},
		{"unknown and missing volumes", func(in *PlanInput) {
			in.Volumes = in.Volumes[:1]
			in.Volumes[0].Missing = true
		}, want{kind: KindSameFabric, reasons: []string{"volume v1: missing from array east-arr", "volume v2: unknown"}, seconds: 1, downtime: 0.3}},
		{"bad mode", func(in *PlanInput) { in.Mode = "warp" },
			want{kind: KindSameFabric, reasons: []string{`mode "warp"`}, seconds: 1, downtime: 0.3}},
		{"destination is the source host", func(in *PlanInput) { in.DestHost.ID = "e1" },
			want{kind: KindSameFabric, reasons: []string{"destination host e1 is the VM's current host"}, seconds: 1, downtime: 0.3}},

		// Every cross-site reason at once, none hiding another.
		{"all reasons at once", func(in *PlanInput) {
			in.Moving = true
			in.DestHost = planHost("w1", "west", planHBA("west-a", 4, 4), planHBA("west-b", 0, 0))
			in.DestArray = "west-small"
			in.Volumes[0].SizeBytes, in.Volumes[1].SizeBytes = 3e8, 4e8
			in.Links[0].RTTMs = 20
			in.WriteRateBps = map[string]float64{"v1": 9e6}
		}, want{kind: KindCrossSite, conflict: true, reasons: []string{
			"already moving",
			"fabric west-a (for the VM's fabric east-a): destination host w1 has 0 free vport slot(s)",
			"fabric west-b (for the VM's fabric east-b): destination host w1's HBAs do not support NPIV",
			"volume v1: no room at the destination",
			"volume v2: no room at the destination",
			"RTT 20 ms is above the synchronous limit 5 ms",
			"does not exceed the VM's write rate 9000000",
		}, bytes: 50e6, seconds: 1 + 10 + 18, downtime: 0.3, destArray: "west-small"}},
		{"all reasons at once without a link", func(in *PlanInput) {
			in.Moving = true
			in.DestHost = planHost("w1", "west", planHBA("west-a", 0, 0))
			in.DestArray = "west-small"
			in.Volumes[0].SizeBytes = 3e8
			in.Links = nil
		}, want{kind: KindCrossSite, conflict: true, reasons: []string{
			"already moving",
			"fabric west-a (for the VM's fabric east-a): destination host w1's HBAs do not support NPIV",
			"fabric east-b: destination host w1 has no HBA on another fabric",
			"volume v1: no room at the destination",
			"no replication path",
		}, bytes: 50e6, seconds: 1, downtime: 0.3, destArray: "west-small", pools: map[string]string{"v2": "ws1"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := planBase()
			c.edit(&in)
			got := PlanMigration(in)
			w := c.want
			if got.Kind != w.kind {
				t.Errorf("kind = %q, want %q", got.Kind, w.kind)
			}
			if got.Feasible != (len(w.reasons) == 0) {
				t.Errorf("feasible = %v with reasons %q", got.Feasible, got.Reasons)
			}
			if got.Conflict != w.conflict {
				t.Errorf("conflict = %v, want %v", got.Conflict, w.conflict)
			}
			if len(got.Reasons) != len(w.reasons) {
				t.Errorf("reasons = %q, want %d matching %q", got.Reasons, len(w.reasons), w.reasons)
			} else {
				for i, r := range w.reasons {
					if !strings.Contains(got.Reasons[i], r) {
						t.Errorf("reason %d = %q, want it to hold %q", i, got.Reasons[i], r)
					}
				}
			}
			e := got.Estimate
			if e.BytesToCopy != w.bytes {
				t.Errorf("bytesToCopy = %d, want %d", e.BytesToCopy, w.bytes)
			}
			if math.Abs(e.Seconds-w.seconds) > 1e-9 {
				t.Errorf("seconds = %v, want %v", e.Seconds, w.seconds)
			}
			if e.DowntimeSeconds != w.downtime {
				t.Errorf("downtime = %v, want %v", e.DowntimeSeconds, w.downtime)
			}
			if e.Tromboning != w.trombone {
				t.Errorf("tromboning = %v, want %v (notes %q)", e.Tromboning, w.trombone, e.Notes)
			}
			if got.DestArray != w.destArray {
				t.Errorf("destArray = %q, want %q", got.DestArray, w.destArray)
			}
			if w.pools != nil && !maps.Equal(got.DestPools, w.pools) {
				t.Errorf("destPools = %v, want %v", got.DestPools, w.pools)
			}
			all := strings.Join(e.Notes, "\n")
			for _, n := range w.notes {
				if !strings.Contains(all, n) {
					t.Errorf("no note holds %q; notes:\n%s", n, all)
				}
			}
			for _, n := range w.noteAbsent {
				if strings.Contains(all, n) {
					t.Errorf("a note holds %q; notes:\n%s", n, all)
				}
			}
		})
	}
}

// TestPlanEstimateJSON: the estimate carries API.md's field names, notes
// an array even when empty.
func TestPlanEstimateJSON(t *testing.T) {
	b, err := json.Marshal(Estimate{})
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"seconds":0,"bytesToCopy":0,"downtimeSeconds":0,"tromboning":false,"notes":null}`
	if string(b) != want {
		t.Errorf("estimate JSON = %s, want %s", b, want)
	}
	p := PlanMigration(planBase())
	b, err = json.Marshal(p.Estimate)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"notes":["`) {
		t.Errorf("plan estimate JSON = %s, want notes as an array", b)
	}
}

// TestPlanPure: the planner neither changes its input nor depends on
// anything else: the same input plans the same way twice.
func TestPlanPure(t *testing.T) {
	in := planBase()
	toWest(&in)
	in.WriteRateBps = map[string]float64{"v1": 1e6}
	before, _ := json.Marshal(in)
	a, b := PlanMigration(in), PlanMigration(in)
	after, _ := json.Marshal(in)
	if string(before) != string(after) {
		t.Errorf("input changed:\n%s\n%s", before, after)
	}
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if string(ja) != string(jb) {
		t.Errorf("two plans differ:\n%s\n%s", ja, jb)
	}
}
