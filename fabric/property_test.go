package fabric_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/sanmob/sanmob/fabric"
	"github.com/sanmob/sanmob/fabric/wwn"
	"github.com/sanmob/sanmob/lab"
)

// TestPropertyZoningUnderFaults drives random ensure, release, vport login
// and logout requests from concurrent clients over both fabrics of a site
// while the lab fails commits, edits, reads and logins at random — busy
// replies, definite failures, and commits that apply but time out. Each
// client keeps a model of what it holds from the answers it got. After the
// faults stop:
//   - the switch's sanmob zones for the test's initiators are exactly the
//     pairs some client holds, on every fabric;
//   - every zone that is not sanmob's is as it was, and so are the lab's own
//     sanmob zones nobody asked about;
//   - no WWPN was ever logged in twice, and none is logged in twice now.
func TestPropertyZoningUnderFaults(t *testing.T) {
	seeds := []uint64{1, 2, 3, 4, 5}
	if testing.Short() {
		seeds = seeds[:1]
	}
	for _, seed := range seeds {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) { zoningUnderFaults(t, seed) })
	}
}

const (
	propClients    = 6
	propOps        = 60
	propInitiators = 24
	propVports     = 4
)

func zoningUnderFaults(t *testing.T, seed uint64) {
	r := newRig(t, lab.Config{Seed: int64(seed)}, fabric.ZonerConfig{Attempts: 4})
	ctx := context.Background()
	fabrics := sorted(r.sw)
	before := r.adminZones()
	labOwned := map[string]int{}
	for _, id := range fabrics {
		for _, z := range r.sw[id].TruthZoneDB().Zones {
			if fabric.Owned(z.Name) {
				labOwned[id]++
			}
		}
	}
	vports := fabric.NewVports(r.drivers)
	for _, id := range fabrics {
		for _, f := range []lab.Fault{
			{Target: id, Op: lab.OpCommit, Rate: 0.2},
			{Target: id, Op: lab.OpCommit, Rate: 0.05, Kind: lab.KindFinal},
			{Target: id, Op: lab.OpCommit, Rate: 0.1, Kind: lab.KindAppliedTimeout},
			{Target: id, Op: lab.OpZone, Rate: 0.1},
			{Target: id, Op: lab.OpRead, Rate: 0.05},
			{Target: id, Op: lab.OpLogin, Rate: 0.1},
			{Target: id, Op: lab.OpLogin, Rate: 0.05, Kind: lab.KindAppliedTimeout},
		} {
			if err := r.w.InjectFault(f); err != nil {
				t.Fatal(err)
			}
		}
	}

	models := make([]map[string]map[fabric.Intent]bool, propClients)
	var failed [3]atomic.Int64 // ensure, release, vport requests that failed
	// uncertain: users with an Ensure that failed and whose undo failed too,
	// as its error said; only they may hold more than they count on.
	uncertain := make([]map[string]bool, propClients)
	var wg sync.WaitGroup
	for c := range propClients {
		models[c] = map[string]map[fabric.Intent]bool{}
		uncertain[c] = map[string]bool{}
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(seed, uint64(c)))
			model := models[c]
			for range propOps {
				user := fmt.Sprintf("c%d-u%d", c, rng.IntN(2))
				if model[user] == nil {
					model[user] = map[fabric.Intent]bool{}
				}
				ini := rng.IntN(propInitiators)
				switch op := rng.IntN(10); {
				case op < 4: // ensure on both fabrics
					in := r.intents(ini, 1+rng.IntN(2))
					if err := r.z.Ensure(ctx, user, in); err == nil {
						for _, i := range in {
							model[user][i] = true
						}
					} else {
						failed[0].Add(1)
						if strings.Contains(err.Error(), "putting back") {
							uncertain[c][user] = true
						}
					}
				case op < 9: // release on one fabric
					in := r.intents(ini, 2)
					fab := fabrics[rng.IntN(len(fabrics))]
					var one []fabric.Intent
					for _, i := range in {
						if i.Fabric == fab {
							one = append(one, i)
						}
					}
					if err := r.z.Release(ctx, user, one); err == nil {
						for _, i := range one {
							delete(model[user], i)
						}
					} else {
						failed[1].Add(1)
					}
				default: // a vport logs in or out somewhere
					fab := fabrics[rng.IntN(len(fabrics))]
					v := wwn.FromUint64(0x5000c0ffee100000 | uint64(rng.IntN(propVports)))
					var err error
					if rng.IntN(2) == 0 {
						hba := r.hbas[fab][rng.IntN(len(r.hbas[fab]))]
						err = vports.Login(ctx, fab, hba, v, wwn.FromUint64(v.Uint64()|1<<56), 0)
					} else {
						err = vports.Logout(ctx, fab, v)
					}
					if err != nil {
						failed[2].Add(1)
					}
				}
			}
		})
	}
	wg.Wait()
	r.w.ClearFaults()

	// Settle: a failed request whose undo also failed leaves references the
	// caller does not count on, as its error said; release them as a
	// controller retrying would.
	want := map[string]map[string]bool{} // fabric -> zone name
	for c, model := range models {
		for user, intents := range model {
			extra := []fabric.Intent{}
			for _, h := range r.z.Holds(user) {
				if !intents[h] {
					extra = append(extra, h)
				}
			}
			if len(extra) > 0 && !uncertain[c][user] {
				t.Errorf("%s holds %v though every failed request of it was put back", user, extra)
			}
			if len(extra) > 0 {
				if err := r.z.Release(ctx, user, extra); err != nil {
					t.Fatalf("settling %s: %v", user, err)
				}
			}
			held := r.z.Holds(user)
			if len(held) != len(intents) {
				t.Fatalf("%s: the zoner holds %d intents, the client counts on %d", user, len(held), len(intents))
			}
			for i := range intents {
				if want[i.Fabric] == nil {
					want[i.Fabric] = map[string]bool{}
				}
				want[i.Fabric][fabric.SISTZoneName(i.InitiatorLabel, i.Initiator, i.TargetLabel, i.Target)] = true
			}
		}
	}
	ours := func(z fabric.Zone) bool {
		for n := range propInitiators {
			if z.Has(initiator(n)) {
				return true
			}
		}
		return false
	}
	for _, id := range fabrics {
		have := map[string]bool{}
		owned := 0
		for _, z := range r.sw[id].TruthZoneDB().Zones {
			switch {
			case fabric.Owned(z.Name) && ours(z):
				have[z.Name] = true
			case fabric.Owned(z.Name):
				owned++
			}
		}
		for n := range want[id] {
			if !have[n] {
				t.Errorf("%s: zone %s is held but not on the switch", id, n)
			}
		}
		for n := range have {
			if !want[id][n] {
				t.Errorf("%s: zone %s is on the switch but nobody holds it", id, n)
			}
		}
		if owned != labOwned[id] {
			t.Errorf("%s: the lab's own sanmob zones went from %d to %d", id, labOwned[id], owned)
		}
	}
	if !mapsEqual(before, r.adminZones()) {
		t.Error("an admin zone changed")
	}
	if n := r.w.DuplicateLogins(); n != 0 {
		t.Errorf("%d duplicate logins were attempted", n)
	}
	seen := map[wwn.WWN]string{}
	for _, id := range fabrics {
		for _, l := range r.sw[id].TruthLogins() {
			if other, dup := seen[l.WWPN]; dup {
				t.Errorf("%s logged in on %s and %s", l.WWPN, other, id)
			}
			seen[l.WWPN] = id
		}
	}
	t.Logf("seed %d: %d zones held on %s after %d commits; failed: %d ensure, %d release, %d vport requests",
		seed, len(want[fabrics[0]]), strings.Join(fabrics, ","), r.commits(), failed[0].Load(), failed[1].Load(), failed[2].Load())
}
