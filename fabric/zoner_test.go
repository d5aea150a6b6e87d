package fabric_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sanmob/sanmob/fabric"
	"github.com/sanmob/sanmob/fabric/wwn"
	"github.com/sanmob/sanmob/lab"
)

var testEpoch = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// rig is a one-site lab world with a Zoner over both its fabrics.
type rig struct {
	w       *lab.World
	z       *fabric.Zoner
	drivers map[string]fabric.Driver
	sw      map[string]*lab.Switch
	targets map[string][]wwn.WWN // target ports logged in, by fabric
	hbas    map[string][]wwn.WWN // physical initiator ports, by fabric
}

func newRig(t testing.TB, cfg lab.Config, zc fabric.ZonerConfig) *rig {
	t.Helper()
	if cfg.Sites == nil {
		cfg.Sites = []string{"east"}
	}
	cfg.Epoch = testEpoch
	if cfg.Speed == 0 {
		cfg.Speed = 20000 // a 2 s commit takes 0.1 ms
	}
	w, err := lab.New(cfg)
	if err != nil {
		t.Fatalf("lab.New: %v", err)
	}
	r := &rig{w: w, drivers: map[string]fabric.Driver{}, sw: map[string]*lab.Switch{},
		targets: map[string][]wwn.WWN{}, hbas: map[string][]wwn.WWN{}}
	for _, f := range w.Fabrics() {
		r.drivers[f.ID], r.sw[f.ID] = f.Switch, f.Switch
		for _, l := range f.Switch.TruthLogins() {
			switch {
			case l.Kind == fabric.Target:
				r.targets[f.ID] = append(r.targets[f.ID], l.WWPN)
			case !l.NPIV:
				r.hbas[f.ID] = append(r.hbas[f.ID], l.WWPN)
			}
		}
	}
	zc.Fabrics = r.drivers
	zc.Clock = w.Clock()
	if zc.Backoff == 0 {
		zc.Backoff = 100 * time.Millisecond // virtual
	}
	z, err := fabric.NewZoner(zc)
	if err != nil {
		t.Fatalf("NewZoner: %v", err)
	}
	t.Cleanup(z.Close)
	r.z = z
	return r
}

// initiator n is a fresh NAA-5 WWPN no lab device uses.
func initiator(n int) wwn.WWN { return wwn.FromUint64(0x5000c0ffee000000 | uint64(n)) }

// intents: initiator n to the first k targets of every fabric.
func (r *rig) intents(n, k int) []fabric.Intent {
	var out []fabric.Intent
	for _, id := range sorted(r.targets) {
		for _, tgt := range r.targets[id][:k] {
			out = append(out, fabric.Intent{Fabric: id, Initiator: initiator(n), Target: tgt,
				InitiatorLabel: fmt.Sprintf("vm%d", n), TargetLabel: "east-arr1"})
		}
	}
	return out
}

func sorted[V any](m map[string]V) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// zonesWith returns the switch's zones that admit w, by name.
func (r *rig) zonesWith(fab string, w wwn.WWN) map[string]fabric.Zone {
	out := map[string]fabric.Zone{}
	for _, z := range r.sw[fab].TruthZoneDB().Zones {
		if z.Has(w) {
			out[z.Name] = z
		}
	}
	return out
}

// adminZones is every zone sanmob does not own, with its members.
func (r *rig) adminZones() map[string]string {
	out := map[string]string{}
	for id, sw := range r.sw {
		for _, z := range sw.TruthZoneDB().Zones {
			if !fabric.Owned(z.Name) {
				out[id+"/"+z.Name] = fmt.Sprint(z.Members, z.Principals)
			}
		}
	}
	return out
}

func (r *rig) commits() int {
	n := 0
	for _, sw := range r.sw {
		n += sw.Commits()
	}
	return n
}

func TestEnsureAndReleaseCountUsers(t *testing.T) {
	r := newRig(t, lab.Config{}, fabric.ZonerConfig{})
	ctx := context.Background()
	admin := r.adminZones()
	in := r.intents(1, 2)

	if err := r.z.Ensure(ctx, "attach:vol1", in); err != nil {
		t.Fatalf("Ensure: %v", err)
	}
	for _, i := range in {
		got := r.zonesWith(i.Fabric, i.Initiator)
		name := fabric.SISTZoneName("vm1", i.Initiator, "east-arr1", i.Target)
		z, ok := got[name]
		if !ok || !z.Has(i.Target) || len(z.Members) != 2 {
			t.Fatalf("fabric %s: want zone %s with %s and %s, have %v", i.Fabric, name, i.Initiator, i.Target, got)
		}
	}
	if n := len(r.zonesWith("east-a", initiator(1))); n != 2 {
		t.Fatalf("east-a: %d zones for the initiator, want 2", n)
	}
	c := r.commits()
	// The same user again, and a second user of the same zones: nothing to commit.
	if err := r.z.Ensure(ctx, "attach:vol1", in); err != nil {
		t.Fatal(err)
	}
	if err := r.z.Ensure(ctx, "migration:m1", in); err != nil {
		t.Fatal(err)
	}
	if r.commits() != c {
		t.Fatalf("commits went from %d to %d for zones that exist", c, r.commits())
	}
	if got := r.z.Users("east-a")[fabric.SISTZoneName("vm1", in[0].Initiator, "east-arr1", in[0].Target)]; !slices.Equal(got, []string{"attach:vol1", "migration:m1"}) {
		t.Fatalf("users %v", got)
	}
	// The first user goes: the zones stay for the second.
	if err := r.z.Release(ctx, "attach:vol1", in); err != nil {
		t.Fatal(err)
	}
	if n := len(r.zonesWith("east-b", initiator(1))); n != 2 {
		t.Fatalf("after one of two users released: %d zones, want 2", n)
	}
	if err := r.z.ReleaseAll(ctx, "migration:m1"); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"east-a", "east-b"} {
		if got := r.zonesWith(id, initiator(1)); len(got) != 0 {
			t.Fatalf("%s: zones left after the last user released: %v", id, got)
		}
	}
	if got := r.z.Holds("migration:m1"); len(got) != 0 {
		t.Fatalf("Holds after ReleaseAll: %v", got)
	}
	if !mapsEqual(admin, r.adminZones()) {
		t.Fatal("an admin zone changed")
	}
}

// TestReversedPairKeepsItsZone: a SIST zone has no direction, so the zone
// of (a, b) serves (b, a) too; releasing one of them must not delete it
// while the other is held.
func TestReversedPairKeepsItsZone(t *testing.T) {
	r := newRig(t, lab.Config{}, fabric.ZonerConfig{})
	ctx := context.Background()
	in := r.intents(7, 1)[0]
	rev := fabric.Intent{Fabric: in.Fabric, Initiator: in.Target, Target: in.Initiator, InitiatorLabel: "x", TargetLabel: "y"}
	if err := r.z.Ensure(ctx, "a", []fabric.Intent{in}); err != nil {
		t.Fatal(err)
	}
	if err := r.z.Ensure(ctx, "b", []fabric.Intent{rev}); err != nil {
		t.Fatal(err)
	}
	if n := len(r.zonesWith(in.Fabric, initiator(7))); n != 1 {
		t.Fatalf("%d zones of the two ports, want 1", n)
	}
	// Both missing: a repair puts one zone back, not one per direction.
	for name := range r.zonesWith(in.Fabric, initiator(7)) {
		if err := r.sw[in.Fabric].DeleteZone(name); err != nil {
			t.Fatal(err)
		}
	}
	if d, err := r.z.Reconcile(ctx, in.Fabric, true); err != nil || len(d.Missing) != 1 {
		t.Fatalf("repair %+v, %v: want the one zone missing", d.Missing, err)
	}
	if n := len(r.zonesWith(in.Fabric, initiator(7))); n != 1 {
		t.Fatalf("after the repair: %d zones of the two ports, want 1", n)
	}
	if err := r.z.Release(ctx, "b", []fabric.Intent{rev}); err != nil {
		t.Fatal(err)
	}
	if n := len(r.zonesWith(in.Fabric, initiator(7))); n != 1 {
		t.Fatalf("the reversed pair's release left %d zones of the two ports, want the one the other pair holds", n)
	}
	d, err := r.z.Reconcile(ctx, in.Fabric, false)
	if err != nil || len(d.Missing)+len(d.Changed) != 0 {
		t.Fatalf("drift %+v, %v", d, err)
	}
	for name := range r.zonesWith(in.Fabric, initiator(7)) {
		if slices.Contains(d.Orphans, name) {
			t.Fatalf("the zone both pairs need, %s, is taken for an orphan", name)
		}
	}
	if err := r.z.Release(ctx, "a", []fabric.Intent{in}); err != nil {
		t.Fatal(err)
	}
	if n := len(r.zonesWith(in.Fabric, initiator(7))); n != 0 {
		t.Fatalf("%d zones left after both released", n)
	}
}

// TestEnsureAndReleaseAreLevelTriggered: what a request names is brought to
// its end state on the switch, whatever the Zoner believed before — the
// Zoner's state after a restart comes from records, which a crash can leave
// ahead of or behind the steps that made them.
func TestEnsureAndReleaseAreLevelTriggered(t *testing.T) {
	r := newRig(t, lab.Config{}, fabric.ZonerConfig{})
	ctx := context.Background()
	in := r.intents(2, 2)
	count := func() int {
		n := 0
		for _, id := range sorted(r.sw) {
			n += len(r.zonesWith(id, initiator(2)))
		}
		return n
	}
	// Held but not on the switch (adopted from a record): Ensure makes them.
	if err := r.z.Adopt("vm/x", in); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 0 {
		t.Fatalf("Adopt committed %d zones", n)
	}
	if err := r.z.Ensure(ctx, "vm/x", in); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != len(in) {
		t.Fatalf("Ensure of held intents whose zones are missing: %d zones, want %d", n, len(in))
	}
	// Another user holds them: a Release by one that holds nothing leaves them.
	if err := r.z.Release(ctx, "vm/y", in); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != len(in) {
		t.Fatalf("a Release by a user that holds nothing removed zones another holds: %d left", n)
	}
	// On the switch, held by nobody (the holder's record was lost): the
	// Release that names them removes them.
	r.z.Forget("vm/x")
	if err := r.z.Release(ctx, "vm/x", in); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 0 {
		t.Fatalf("Release of zones nobody holds left %d", n)
	}
}

func mapsEqual(a, b map[string]string) bool {
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

func TestEnsureRejectsBadIntents(t *testing.T) {
	r := newRig(t, lab.Config{}, fabric.ZonerConfig{})
	tgt := r.targets["east-a"][0]
	tests := []struct {
		name   string
		user   string
		intent fabric.Intent
		want   error
	}{
		{"no user", "", fabric.Intent{Fabric: "east-a", Initiator: initiator(1), Target: tgt}, fabric.ErrInvalid},
		{"unknown fabric", "u", fabric.Intent{Fabric: "nowhere", Initiator: initiator(1), Target: tgt}, fabric.ErrNotFound},
		{"no initiator", "u", fabric.Intent{Fabric: "east-a", Target: tgt}, fabric.ErrInvalid},
		{"no target", "u", fabric.Intent{Fabric: "east-a", Initiator: initiator(1)}, fabric.ErrInvalid},
		{"same port", "u", fabric.Intent{Fabric: "east-a", Initiator: tgt, Target: tgt}, fabric.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := r.commits()
			if err := r.z.Ensure(context.Background(), tt.user, []fabric.Intent{tt.intent}); !errors.Is(err, tt.want) {
				t.Fatalf("err %v, want %v", err, tt.want)
			}
			if r.commits() != c {
				t.Fatal("a refused request reached the switch")
			}
		})
	}
}

func TestZonerConfigRefused(t *testing.T) {
	w, err := lab.New(lab.Config{Sites: []string{"east"}, Epoch: testEpoch})
	if err != nil {
		t.Fatal(err)
	}
	sw, _ := w.Switch("east-a")
	tests := []struct {
		name string
		cfg  fabric.ZonerConfig
	}{
		{"no fabrics", fabric.ZonerConfig{}},
		{"nil driver", fabric.ZonerConfig{Fabrics: map[string]fabric.Driver{"east-a": nil}}},
		{"policy for unknown fabric", fabric.ZonerConfig{Fabrics: map[string]fabric.Driver{"east-a": sw}, Policies: map[string]fabric.Policy{"x": fabric.SIST}}},
		{"unknown policy", fabric.ZonerConfig{Fabrics: map[string]fabric.Driver{"east-a": sw}, Policies: map[string]fabric.Policy{"east-a": "smart"}}},
		{"peer zones without support", fabric.ZonerConfig{Fabrics: map[string]fabric.Driver{"east-a": sistOnly{sw}}, Policies: map[string]fabric.Policy{"east-a": fabric.PeerZones}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := fabric.NewZoner(tt.cfg); !errors.Is(err, fabric.ErrInvalid) {
				t.Fatalf("err %v, want ErrInvalid", err)
			}
		})
	}
}

// sistOnly hides the lab switch's peer-zone ability, as an old FOS would.
type sistOnly struct{ fabric.Driver }

func TestEnsureRollsBackOtherFabrics(t *testing.T) {
	r := newRig(t, lab.Config{}, fabric.ZonerConfig{})
	if err := r.w.InjectFault(lab.Fault{Target: "east-b", Op: lab.OpCommit, Count: 1, Kind: lab.KindFinal}); err != nil {
		t.Fatal(err)
	}
	err := r.z.Ensure(context.Background(), "attach:v", r.intents(7, 2))
	if err == nil || !strings.Contains(err.Error(), "east-b") || !errors.Is(err, lab.ErrInjected) {
		t.Fatalf("err %v: want the injected failure, naming east-b", err)
	}
	if strings.Contains(err.Error(), "east-a") {
		t.Fatalf("err %v names east-a, which committed and was put back", err)
	}
	for _, id := range []string{"east-a", "east-b"} {
		if got := r.zonesWith(id, initiator(7)); len(got) != 0 {
			t.Fatalf("%s keeps %v after the request failed on east-b", id, got)
		}
	}
	if got := r.z.Holds("attach:v"); len(got) != 0 {
		t.Fatalf("the failed request still holds %v", got)
	}
}

func TestEnsureRetriesTransientAndVerifies(t *testing.T) {
	tests := []struct {
		name  string
		fault lab.Fault
	}{
		{"busy commit", lab.Fault{Target: "east-a", Op: lab.OpCommit, Count: 2}},
		{"busy edit", lab.Fault{Target: "east-a", Op: lab.OpZone, Count: 1}},
		{"busy read", lab.Fault{Target: "east-a", Op: lab.OpRead, Count: 1}},
		{"applied but timed out", lab.Fault{Target: "east-a", Op: lab.OpCommit, Count: 1, Kind: lab.KindAppliedTimeout}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, lab.Config{}, fabric.ZonerConfig{})
			if err := r.w.InjectFault(tt.fault); err != nil {
				t.Fatal(err)
			}
			if err := r.z.Ensure(context.Background(), "u", r.intents(i, 2)); err != nil {
				t.Fatalf("Ensure: %v", err)
			}
			if n := len(r.zonesWith("east-a", initiator(i))); n != 2 {
				t.Fatalf("%d zones, want 2", n)
			}
			if f := r.w.Faults(); len(f) != 0 {
				t.Fatalf("fault not consumed: %v", f)
			}
		})
	}
}

func TestEnsureGivesUpOnPersistentBusy(t *testing.T) {
	r := newRig(t, lab.Config{}, fabric.ZonerConfig{Attempts: 3})
	if err := r.w.InjectFault(lab.Fault{Target: "east-a", Op: lab.OpCommit, Rate: 1}); err != nil {
		t.Fatal(err)
	}
	err := r.z.Ensure(context.Background(), "u", r.intents(3, 1))
	if !fabric.IsTransient(err) || !strings.Contains(err.Error(), "gave up after 3 attempts") {
		t.Fatalf("err %v", err)
	}
	r.w.ClearFaults()
	for _, id := range []string{"east-a", "east-b"} {
		if got := r.zonesWith(id, initiator(3)); len(got) != 0 {
			t.Fatalf("%s keeps %v", id, got)
		}
	}
}

// TestEnsureGivesUpWhenTheZoneDBCannotBeRead: a fabric whose zone DB
// cannot be read at all is given up on after the attempts, like one that
// stays busy on commit — it used to be retried forever, a failed read
// counting as an attempt only the first time.
func TestEnsureGivesUpWhenTheZoneDBCannotBeRead(t *testing.T) {
	r := newRig(t, lab.Config{}, fabric.ZonerConfig{Attempts: 3})
	if err := r.w.InjectFault(lab.Fault{Target: "east-a", Op: lab.OpRead, Rate: 1}); err != nil {
		t.Fatal(err)
	}
	err := r.z.Ensure(context.Background(), "u", r.intents(3, 1))
	if !fabric.IsTransient(err) || !strings.Contains(err.Error(), "gave up after 3 attempts") {
		t.Fatalf("err %v", err)
	}
	r.w.ClearFaults()
	for _, id := range []string{"east-a", "east-b"} {
		if got := r.zonesWith(id, initiator(3)); len(got) != 0 {
			t.Fatalf("%s keeps %v", id, got)
		}
	}
}

// conflicting changes the zone DB behind the Zoner's back — as a second
// administrator would — right before its first commit, which then meets a
// stale checksum.
type conflicting struct {
	*lab.Switch
	once sync.Once
}

func (c *conflicting) Commit(ctx context.Context, txn fabric.Txn) (string, error) {
	c.once.Do(func() {
		for _, z := range c.TruthZoneDB().Zones {
			if !fabric.Owned(z.Name) {
				_ = c.DeleteZone(z.Name)
				return
			}
		}
	})
	return c.Switch.Commit(ctx, txn)
}

func TestEnsureReplansOnStaleChecksum(t *testing.T) {
	r := newRig(t, lab.Config{}, fabric.ZonerConfig{})
	sw := r.sw["east-a"]
	c := &conflicting{Switch: sw}
	z, err := fabric.NewZoner(fabric.ZonerConfig{Fabrics: map[string]fabric.Driver{"east-a": c}, Clock: r.w.Clock()})
	if err != nil {
		t.Fatal(err)
	}
	defer z.Close()
	before := sw.Commits()
	in := r.intents(4, 2)[:2]
	if err := z.Ensure(context.Background(), "u", in); err != nil {
		t.Fatalf("Ensure: %v", err)
	}
	if n := len(r.zonesWith("east-a", initiator(4))); n != 2 {
		t.Fatalf("%d zones, want 2", n)
	}
	if sw.Commits() != before+1 {
		t.Fatalf("%d commits took effect, want 1 (the stale one refused)", sw.Commits()-before)
	}
}

func TestZoneDBLimitRefusedBeforeTheSwitch(t *testing.T) {
	w, err := lab.New(lab.Config{Sites: []string{"east"}, Epoch: testEpoch})
	if err != nil {
		t.Fatal(err)
	}
	sw, _ := w.Switch("east-a")
	size := sw.TruthZoneDB().SizeBytes
	r := newRig(t, lab.Config{ZoneDBMaxBytes: size + 400}, fabric.ZonerConfig{})
	c := r.commits()
	// Two zones fit the room left, twenty do not.
	if err := r.z.Ensure(context.Background(), "small", r.intents(1, 1)); err != nil {
		t.Fatalf("a zone that fits: %v", err)
	}
	err = r.z.Ensure(context.Background(), "big", append(r.intents(2, 4), r.intents(3, 4)...))
	if !errors.Is(err, fabric.ErrFull) || !strings.Contains(err.Error(), "zone database") {
		t.Fatalf("err %v, want ErrFull", err)
	}
	if r.commits() != c+2 {
		t.Fatalf("commits %d, want %d: the refused request must not reach a switch", r.commits()-c, 2)
	}
	if got := r.zonesWith("east-a", initiator(2)); len(got) != 0 {
		t.Fatalf("refused zones on the switch: %v", got)
	}
}

func TestGroupCommitFoldsConcurrentRequests(t *testing.T) {
	for _, mode := range []fabric.Mode{fabric.GroupCommit, fabric.Serial} {
		t.Run(fmt.Sprint(mode), func(t *testing.T) {
			// A commit takes 100 ms of real time: every request is queued while
			// the first one runs, even on a loaded machine.
			// (Serial commits once per request whatever the timing.)
			speed := 20.0
			if mode == fabric.Serial {
				speed = 2000
			}
			r := newRig(t, lab.Config{Speed: speed}, fabric.ZonerConfig{Mode: mode})
			const n = 40
			var wg sync.WaitGroup
			errs := make([]error, n)
			for i := range n {
				wg.Go(func() { errs[i] = r.z.Ensure(context.Background(), fmt.Sprint("u", i), r.intents(100+i, 2)) })
			}
			wg.Wait()
			if err := errors.Join(errs...); err != nil {
				t.Fatal(err)
			}
			for id, sw := range r.sw {
				switch c := sw.Commits(); {
				case mode == fabric.GroupCommit && c > 3:
					t.Errorf("%s: %d commits for %d concurrent requests, want at most 3", id, c, n)
				case mode == fabric.Serial && c != n:
					t.Errorf("%s: %d commits in serial mode, want one per request (%d)", id, c, n)
				}
				if got := len(r.zonesWith(id, initiator(100))); got != 2 {
					t.Errorf("%s: %d zones for the first initiator", id, got)
				}
			}
		})
	}
}

func TestPeerZones(t *testing.T) {
	r := newRig(t, lab.Config{}, fabric.ZonerConfig{Policies: map[string]fabric.Policy{"east-a": fabric.PeerZones}})
	ctx := context.Background()
	tgt := r.targets["east-a"][0]
	one := []fabric.Intent{{Fabric: "east-a", Initiator: initiator(1), Target: tgt, TargetLabel: "east-arr1"}}
	two := []fabric.Intent{{Fabric: "east-a", Initiator: initiator(2), Target: tgt, TargetLabel: "east-arr1"}}
	if err := r.z.Ensure(ctx, "a", one); err != nil {
		t.Fatal(err)
	}
	if err := r.z.Ensure(ctx, "b", two); err != nil {
		t.Fatal(err)
	}
	name := fabric.PeerZoneName("east-arr1", tgt)
	z, ok := r.zonesWith("east-a", tgt)[name]
	if !ok || !slices.Equal(z.Principals, []wwn.WWN{tgt}) || len(z.Members) != 2 {
		t.Fatalf("peer zone %s: %+v", name, z)
	}
	if err := r.z.Release(ctx, "a", one); err != nil {
		t.Fatal(err)
	}
	z = r.zonesWith("east-a", tgt)[name]
	if !slices.Equal(z.Members, []wwn.WWN{initiator(2)}) {
		t.Fatalf("after release: %+v", z)
	}
	if err := r.z.Release(ctx, "b", two); err != nil {
		t.Fatal(err)
	}
	if _, ok := r.zonesWith("east-a", tgt)[name]; ok {
		t.Fatal("peer zone left after its last peer went")
	}
}

func TestReconcileFindsAndRepairsDrift(t *testing.T) {
	r := newRig(t, lab.Config{}, fabric.ZonerConfig{})
	ctx := context.Background()
	in := r.intents(5, 2)
	if err := r.z.Ensure(ctx, "u", in); err != nil {
		t.Fatal(err)
	}
	d, err := r.z.Reconcile(ctx, "east-a", false)
	if err != nil {
		t.Fatal(err)
	}
	// The lab's own sanmob-named zones belong to VMs nobody adopted: orphans.
	preexisting := len(d.Orphans)
	if len(d.Missing) != 0 || len(d.Changed) != 0 {
		t.Fatalf("drift right after a commit: %+v", d)
	}
	gone := fabric.SISTZoneName("vm5", in[0].Initiator, "east-arr1", in[0].Target)
	if err := r.sw["east-a"].DeleteZone(gone); err != nil {
		t.Fatal(err)
	}
	orphan := fabric.Zone{Name: fabric.SISTZoneName("ghost", initiator(99), "east-arr1", in[0].Target), Members: []wwn.WWN{initiator(99), in[0].Target}}
	db := r.sw["east-a"].TruthZoneDB()
	if _, err := r.sw["east-a"].Commit(ctx, fabric.Txn{Checksum: db.Checksum, Put: []fabric.Zone{orphan}}); err != nil {
		t.Fatal(err)
	}
	admin := r.adminZones()
	d, err = r.z.Reconcile(ctx, "east-a", false)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Missing) != 1 || d.Missing[0].Name != gone || !slices.Contains(d.Orphans, orphan.Name) || len(d.Orphans) != preexisting+1 || d.Repaired {
		t.Fatalf("drift %+v", d)
	}
	d, err = r.z.Reconcile(ctx, "east-a", true)
	if err != nil || !d.Repaired || len(d.Missing) != 1 {
		t.Fatalf("repair: %+v, %v", d, err)
	}
	after, err := r.z.Reconcile(ctx, "east-a", false)
	if err != nil || !after.Empty() {
		t.Fatalf("after repair: %+v, %v", after, err)
	}
	if !mapsEqual(admin, r.adminZones()) {
		t.Fatal("repair touched an admin zone")
	}
}

// TestCommitThatHangsIsTimedOutAndReadBack: a commit slower than the
// Zoner's per-call timeout is abandoned as transient; reading back shows
// whether it landed, and the request still succeeds exactly once.
func TestCommitThatHangsIsTimedOutAndReadBack(t *testing.T) {
	r := newRig(t, lab.Config{}, fabric.ZonerConfig{Timeout: 150 * time.Millisecond})
	// A day of lab time is 4.3 s of real time at 20,000x.
	if err := r.w.InjectFault(lab.Fault{Target: "east-a", Op: lab.OpCommit, Count: 1, Latency: 24 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := r.z.Ensure(context.Background(), "u", r.intents(9, 2)); err != nil {
		t.Fatalf("Ensure: %v", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("took %v: the hung commit was waited for", took)
	}
	if n := len(r.zonesWith("east-a", initiator(9))); n != 2 {
		t.Fatalf("%d zones, want 2", n)
	}
}

// TestDriftAsOfOnlyComparesCurrentReads: a zone DB read before sanmob's last
// commit would show that commit's change as drift; DriftAsOf refuses to
// compare it, and compares a read made after.
func TestDriftAsOfOnlyComparesCurrentReads(t *testing.T) {
	r := newRig(t, lab.Config{}, fabric.ZonerConfig{})
	ctx := context.Background()
	in := r.intents(9, 1)
	fab := in[0].Fabric
	before := r.sw[fab].TruthZoneDB()
	readAt := r.w.Clock().Now()
	if err := r.z.Ensure(ctx, "a", in); err != nil {
		t.Fatal(err)
	}
	if _, _, sure, err := r.z.DriftAsOf(fab, before, readAt.Add(-time.Second)); err != nil || sure {
		t.Fatalf("a read older than the commit: sure %v, %v", sure, err)
	}
	if r.z.ReadIsCurrent(fab, readAt.Add(-time.Second)) {
		t.Fatal("ReadIsCurrent for a read older than the commit")
	}
	d, gen, sure, err := r.z.DriftAsOf(fab, r.sw[fab].TruthZoneDB(), r.w.Clock().Now())
	st, _ := r.z.Stats(fab)
	if err != nil || !sure || len(d.Missing) != 0 || gen != st.Generation {
		t.Fatalf("a current read: %+v gen %d (want %d) sure %v, %v", d.Missing, gen, st.Generation, sure, err)
	}
	if _, _, _, err := r.z.DriftAsOf("nope", before, readAt); err == nil {
		t.Fatal("an unknown fabric")
	}
}
