package mobility

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/sanmob/sanmob/errclass"
	"github.com/sanmob/sanmob/inventory"
	"github.com/sanmob/sanmob/lab"
	"github.com/sanmob/sanmob/saga"
)

// TestAttachDetachUnderFaultsAndRestarts drives random concurrent attaches
// and detaches of a few volumes to hosts and VMs under random lab faults
// (busy, final, applied-timeout; masking, zoning, commits, logins) and
// random kills of the executor followed by a restart on the same store and
// the same (persisting) devices. When it all settles, every sanmob mapping
// and zone on the devices is explained by an attachment, and every
// attachment by the devices: each test volume is masked exactly to the host
// groups of its attachments, every fabric's drift is empty, and no WWPN was
// ever logged in twice. SANMOB_SEED replays a run.
func TestAttachDetachUnderFaultsAndRestarts(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("SANMOB_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	t.Logf("seed %d (SANMOB_SEED replays it)", seed)
	rng := rand.New(rand.NewPCG(seed, 7))
	h := newHarness(t, nil)
	ctx := context.Background()
	baseline := drifts(t, h)

	var nodes []string
	for _, x := range h.svc.Hosts(inventory.HostFilter{Site: "east"})[:3] {
		nodes = append(nodes, x.ID)
	}
	for _, x := range h.svc.VMs(inventory.VMFilter{Site: "east"})[:3] {
		nodes = append(nodes, x.ID)
	}
	var vols []string
	for i := range 5 {
		v, err := h.svc.CreateVolume(ctx, VolumeSpec{Name: fmt.Sprintf("prop-%d", i), SizeBytes: gib, Site: "east", MultiNode: i%2 == 0})
		if err != nil {
			t.Fatal(err)
		}
		vols = append(vols, v.ID)
	}
	faults := []lab.Fault{
		{Target: "east-arr1", Op: lab.OpMask, Count: 1, Kind: lab.KindAppliedTimeout},
		{Target: "east-arr1", Op: lab.OpMask, Count: 1},
		{Target: "east-arr1", Op: lab.OpMask, Count: 1, Kind: lab.KindFinal},
		{Target: "east-arr1", Op: lab.OpMask, Rate: 0.3, Kind: lab.KindAppliedTimeout},
		{Target: "east-a", Op: lab.OpZone, Count: 1, Kind: lab.KindFinal},
		{Target: "east-b", Op: lab.OpCommit, Count: 1, Kind: lab.KindAppliedTimeout},
		{Target: "east-a", Op: lab.OpCommit, Rate: 0.3},
		{Target: "east-b", Op: lab.OpLogin, Count: 1, Kind: lab.KindFinal},
		{Target: "east-a", Op: lab.OpLogin, Count: 1, Kind: lab.KindAppliedTimeout},
	}
	rounds := 8
	if testing.Short() {
		rounds = 3
	}
	for round := range rounds {
		for range rng.IntN(3) {
			if err := h.world.InjectFault(faults[rng.IntN(len(faults))]); err != nil {
				t.Fatal(err)
			}
		}
		crash := rng.IntN(3) == 0
		var wg sync.WaitGroup
		for range 6 {
			vol, nd, attach := vols[rng.IntN(len(vols))], nodes[rng.IntN(len(nodes))], rng.IntN(3) > 0
			wg.Go(func() {
				c, cancel := context.WithTimeout(ctx, 20*time.Second)
				defer cancel()
				var err error
				if attach {
					_, err = h.svc.Attach(c, AttachmentSpec{Volume: vol, Node: nd})
				} else {
					err = h.svc.Detach(c, vol, nd)
				}
				checkClassed(t, err)
			})
		}
		if crash {
			// Kill the executor while the operations are on the devices.
			time.Sleep(time.Duration(rng.IntN(30)) * time.Millisecond)
			h.stop()
		}
		wg.Wait()
		if crash {
			h.reopen(t)
		}
		h.world.ClearFaults()
		if round%3 == 2 {
			settle(t, h)
			checkExplained(t, h, vols, baseline)
		}
	}
	h.world.ClearFaults()
	settle(t, h)
	checkExplained(t, h, vols, baseline)
	if n := h.world.DuplicateLogins(); n != 0 {
		t.Fatalf("%d duplicate WWPN logins", n)
	}
}

// checkClassed: whatever failed says in which class.
func checkClassed(t *testing.T, err error) {
	if err == nil || errors.Is(err, ErrConflict) {
		return
	}
	var re *saga.RunError
	switch {
	case errors.As(err, &re), errclass.Of(err) == errclass.Transient, FromDevice(err):
	default:
		t.Errorf("an unclassified error reached the caller: %v", err)
	}
}

// settle waits until no attachment run is in progress, retrying (undoing)
// the failed ones now that the faults are gone.
func settle(t *testing.T, h *harness) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for {
		runs, err := h.svc.Operations(sagaAttachment)
		if err != nil {
			t.Fatal(err)
		}
		busy := false
		for _, r := range runs {
			switch {
			case r.State == saga.StateFailed:
				busy = true
				if _, err := h.svc.sagas.Retry(r.ID); err != nil && !errors.Is(err, saga.ErrNotFailed) {
					t.Fatal(err)
				}
				fallthrough
			case r.State.Unfinished():
				busy = true
				if _, err := h.svc.sagas.Wait(ctx, r.ID); ctx.Err() != nil {
					t.Fatalf("run %s did not settle within a minute: %v", r.ID, err)
				}
			}
		}
		if !busy {
			return
		}
	}
}

func drifts(t *testing.T, h *harness) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, f := range h.world.Fabrics() {
		h.svc.readFabricNow(context.Background(), h.svc.fabrics[f.ID])
		d, err := h.svc.Reconcile(context.Background(), f.ID, false)
		if err != nil {
			t.Fatal(err)
		}
		out[f.ID] = fmt.Sprintf("missing %v changed %v orphans %v", d.Missing, d.Changed, d.Orphans)
	}
	return out
}

// checkExplained is the invariant: at rest, the devices and the records
// agree on every test volume and every sanmob zone.
func checkExplained(t *testing.T, h *harness, vols []string, baseline map[string]string) {
	t.Helper()
	for _, vol := range vols {
		var want, got []string
		for _, at := range h.svc.Attachments(vol) {
			if at.State != StateAttached {
				t.Fatalf("attachment %s/%s is %s at rest (%s)", at.Volume, at.Node, at.State, at.LastError)
			}
			want = append(want, at.Array+"/"+at.HostGroup+"/"+strconv.Itoa(at.LUN))
		}
		for _, a := range h.world.Arrays() {
			for _, m := range a.Array.TruthMappings() {
				if m.Volume == vol {
					got = append(got, a.ID+"/"+m.HostGroup+"/"+strconv.Itoa(m.LUN))
				}
			}
		}
		slices.Sort(want)
		slices.Sort(got)
		if !slices.Equal(want, got) {
			t.Fatalf("volume %s: attachments say %v, the arrays map %v", vol, want, got)
		}
	}
	if got := drifts(t, h); !equalMaps(got, baseline) {
		dumpState(t, h)
		t.Fatalf("zoning drift at rest: %v, before the test: %v", got, baseline)
	}
	for _, vm := range h.svc.VMs(inventory.VMFilter{Site: "east"}) {
		if len(vm.Volumes) == 0 {
			continue
		}
		for _, p := range vm.Vports {
			if p.Active && !p.LoggedIn {
				t.Fatalf("vm %s has volumes but its active vport %s is not logged in", vm.ID, p.WWPN)
			}
		}
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// dumpState logs who holds each zone and every attachment run, to explain
// a broken invariant.
func dumpState(t *testing.T, h *harness) {
	for _, fid := range []string{"east-a", "east-b"} {
		u := h.svc.zoner.Users(fid)
		for z, us := range u {
			t.Logf("%s %s users %v", fid, z, us)
		}
	}
	runs, _ := h.svc.Operations(sagaAttachment)
	for _, r := range runs {
		s := ""
		for _, st := range r.Steps {
			s += fmt.Sprintf("%s:%s(%d/%d) ", st.Name, st.State, st.Attempts, st.UndoAttempts)
		}
		t.Logf("run %s %s %s resumed=%d steps=%s err=%s", r.ID[len(r.ID)-8:], r.Key, r.State, r.Resumed, s, r.LastError)
	}
}
