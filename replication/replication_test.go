package replication

import (
	"testing"
	"time"

	"github.com/sanmob/sanmob/array"
)

// TestView: the achieved RPO is how long ago the target last held every
// write — 0 while it lags by nothing, unknown (-1) before the first sync —
// and each pair carries its group's mode, state and last sync.
func TestView(t *testing.T) {
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name     string
		g        array.ReplicationGroup
		groupRPO float64
		pairRPO  []float64
	}{
		{"in sync", array.ReplicationGroup{State: array.GroupSynchronized, LastSyncAt: now.Add(-time.Hour),
			Pairs: []array.ReplicaPair{{SourceVolume: "a"}}}, 0, []float64{0}},
		{"lagging", array.ReplicationGroup{State: array.GroupSuspended, LagBytes: 10, LastSyncAt: now.Add(-90 * time.Second),
			Pairs: []array.ReplicaPair{{SourceVolume: "a", LagBytes: 10}, {SourceVolume: "b"}}}, 90, []float64{90, 0}},
		{"initial copy", array.ReplicationGroup{State: array.GroupSyncInProgress, LagBytes: 5,
			Pairs: []array.ReplicaPair{{SourceVolume: "a", LagBytes: 5}}}, -1, []float64{-1}},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.g.ID, c.g.SourceArray, c.g.TargetArray, c.g.Mode = "g", "e", "w", array.ReplicaAsync
			v := View(c.g, now)
			if v.RPOSeconds != c.groupRPO || len(v.Pairs) != len(c.pairRPO) {
				t.Fatalf("view %+v: rpo %v, want %v", v, v.RPOSeconds, c.groupRPO)
			}
			for i, p := range v.Pairs {
				if p.RPOSeconds != c.pairRPO[i] || p.Group != "g" || p.Mode != array.ReplicaAsync || p.State != c.g.State ||
					p.Source.Array != "e" || p.Target.Array != "w" || p.ID != "g/"+p.Source.Volume {
					t.Errorf("pair %d: %+v", i, p)
				}
			}
			if (v.LastSyncAt == nil) != c.g.LastSyncAt.IsZero() {
				t.Errorf("lastSyncAt %v for %v", v.LastSyncAt, c.g.LastSyncAt)
			}
		})
	}
}

// TestEmptyListsAreEmpty: before any group is read the lists are empty,
// not nil, so that the API answers {"items": []}.
func TestEmptyListsAreEmpty(t *testing.T) {
	w := New(Config{})
	if g, p := w.Groups(), w.Pairs(); g == nil || p == nil || len(g)+len(p) != 0 {
		t.Fatalf("groups %#v pairs %#v", g, p)
	}
}
