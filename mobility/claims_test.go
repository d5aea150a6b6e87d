package mobility

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sanmob/sanmob/errclass"
	"github.com/sanmob/sanmob/fabric"
	"github.com/sanmob/sanmob/fabric/wwn"
	"github.com/sanmob/sanmob/inventory"
	"github.com/sanmob/sanmob/saga"
)

// claimPorts returns a host's HBAs by fabric and an array's target ports
// by the fabric they are logged in on, as the lab has them.
func claimPorts(t *testing.T, h *harness, host, arrayID string) (inits, tgts map[string][]string) {
	t.Helper()
	inits, tgts = map[string][]string{}, map[string][]string{}
	h.svc.RLock()
	hh, ok := h.svc.HostLocked(host)
	h.svc.RUnlock()
	if !ok {
		t.Fatalf("no host %s", host)
	}
	for _, b := range hh.HBAs {
		inits[b.Fabric] = append(inits[b.Fabric], b.WWPN.String())
	}
	o := h.svc.arrays[arrayID].Obs.Load()
	for _, p := range o.Ports {
		for fid, f := range h.svc.fabrics {
			if f.Obs.Load().LoggedIn(p.WWPN) {
				tgts[fid] = append(tgts[fid], p.WWPN.String())
			}
		}
	}
	if len(inits) == 0 || len(tgts) == 0 {
		t.Fatalf("host %s initiators %v, array %s targets %v", host, inits, arrayID, tgts)
	}
	return inits, tgts
}

// claimed is a harness with one claim made: host's HBAs to east-arr1's
// target ports, as owner csi.example, key v/n.
func claimed(t *testing.T, host string) (*harness, ClaimSpec, Claim) {
	t.Helper()
	h := newHarness(t, nil)
	inits, tgts := claimPorts(t, h, host, "east-arr1")
	spec := ClaimSpec{Initiators: flat(inits), Targets: flat(tgts)}
	c, _, err := h.svc.PutClaim(context.Background(), "csi.example", "v/n", spec)
	if err != nil {
		t.Fatal(err)
	}
	return h, spec, c
}

func flat(m map[string][]string) []string {
	var out []string
	for _, fid := range sortedKeys(m) {
		out = append(out, m[fid]...)
	}
	return out
}

// switchZonesWith lists the zones on the lab switches (their own truth)
// that admit any of the WWPNs, by fabric.
func switchZonesWith(h *harness, wwpns []string) map[string][]fabric.Zone {
	out := map[string][]fabric.Zone{}
	for _, f := range h.world.Fabrics() {
		for _, z := range f.Switch.TruthZoneDB().Zones {
			if slices.ContainsFunc(slices.Concat(z.Members, z.Principals), func(m wwn.WWN) bool { return slices.Contains(wwpns, m.String()) }) {
				out[f.ID] = append(out[f.ID], z)
			}
		}
	}
	return out
}

func reversed(s []string) []string {
	r := slices.Clone(s)
	slices.Reverse(r)
	return r
}

func commitsOf(h *harness) int {
	n := 0
	for _, f := range h.world.Fabrics() {
		n += f.Switch.Commits()
	}
	return n
}

func TestClaimLifecycle(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	inits, tgts := claimPorts(t, h, "east-esx01", "east-arr1")
	spec := ClaimSpec{Initiators: flat(inits), Targets: flat(tgts)}

	c, created, err := h.svc.PutClaim(ctx, "csi.vendor.example", "pvc-1/node-a", spec)
	if err != nil || !created {
		t.Fatalf("put: created %v, %v", created, err)
	}
	if c.State != ClaimReady || len(c.Unreached) != 0 || !slices.Equal(c.Fabrics, sortedKeys(inits)) {
		t.Fatalf("claim %+v", c)
	}
	want := 0
	for fid := range inits {
		want += len(inits[fid]) * len(tgts[fid])
	}
	if len(c.Zones) != want {
		t.Fatalf("claim zones %d, want %d: %+v", len(c.Zones), want, c.Zones)
	}
	got := switchZonesWith(h, spec.Initiators)
	for fid := range inits {
		if len(got[fid]) != len(inits[fid])*len(tgts[fid]) {
			t.Fatalf("fabric %s: %d zones with the host's HBAs on the switch, want %d: %+v", fid, len(got[fid]), len(inits[fid])*len(tgts[fid]), got[fid])
		}
		for _, z := range got[fid] {
			if !fabric.Owned(z.Name) {
				t.Fatalf("zone %s is not sanmob's", z.Name)
			}
		}
	}
	users := h.svc.Zoner().Users(c.Zones[0].Fabric)
	if !slices.Contains(users[c.Zones[0].Name], "claim:csi.vendor.example/pvc-1/node-a") {
		t.Fatalf("users of %s: %v", c.Zones[0].Name, users[c.Zones[0].Name])
	}

	// The same request again: a no-op, no commit.
	before := commitsOf(h)
	c2, created, err := h.svc.PutClaim(ctx, "csi.vendor.example", "pvc-1/node-a", ClaimSpec{Initiators: reversed(spec.Initiators), Targets: spec.Targets})
	if err != nil || created || c2.Operation != c.Operation {
		t.Fatalf("repeat: created %v op %s (first %s), %v", created, c2.Operation, c.Operation, err)
	}
	if n := commitsOf(h); n != before {
		t.Fatalf("a repeated claim committed %d times", n-before)
	}

	// Another body replaces: one target port per fabric less.
	var fewer []string
	for _, fid := range sortedKeys(tgts) {
		fewer = append(fewer, tgts[fid][0])
	}
	c3, created, err := h.svc.PutClaim(ctx, "csi.vendor.example", "pvc-1/node-a", ClaimSpec{Initiators: spec.Initiators, Targets: fewer})
	if err != nil || created {
		t.Fatalf("replace: created %v, %v", created, err)
	}
	if !c3.CreatedAt.Equal(c.CreatedAt) || len(c3.Zones) >= len(c.Zones) {
		t.Fatalf("replaced claim %+v", c3)
	}
	dropped := slices.DeleteFunc(flat(tgts), func(w string) bool { return slices.Contains(fewer, w) })
	for fid, zs := range switchZonesWith(h, spec.Initiators) {
		for _, z := range zs {
			if slices.ContainsFunc(z.Members, func(m wwn.WWN) bool { return slices.Contains(dropped, m.String()) }) {
				t.Fatalf("fabric %s: zone %s of a dropped target left", fid, z.Name)
			}
		}
	}
	if l := h.svc.Claims("csi.vendor.example"); len(l) != 1 || l[0].Key != "pvc-1/node-a" {
		t.Fatalf("claims %+v", l)
	}
	if l := h.svc.Claims("other"); len(l) != 0 {
		t.Fatalf("claims of another owner: %+v", l)
	}

	if err := h.svc.DeleteClaim(ctx, "csi.vendor.example", "pvc-1/node-a"); err != nil {
		t.Fatal(err)
	}
	if z := switchZonesWith(h, spec.Initiators); len(z) != 0 {
		t.Fatalf("zones left after the release: %+v", z)
	}
	if _, err := h.svc.GetClaim("csi.vendor.example", "pvc-1/node-a"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("get after delete: %v", err)
	}
	if err := h.svc.DeleteClaim(ctx, "csi.vendor.example", "pvc-1/node-a"); err != nil {
		t.Fatalf("a second delete: %v", err)
	}
}

// TestClaimsShareZones: two claims and an attachment on the same paths
// share the zones; each release leaves them while another user holds them.
func TestClaimsShareZones(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	inits, tgts := claimPorts(t, h, "east-esx02", "east-arr1")
	spec := ClaimSpec{Initiators: flat(inits), Targets: flat(tgts)}
	a, _, err := h.svc.PutClaim(ctx, "a.example", "v1/n", spec)
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := h.svc.PutClaim(ctx, "b.example", "v1/n", spec)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.EqualFunc(a.Zones, b.Zones, func(x, y ClaimZone) bool { return x.Name == y.Name }) {
		t.Fatalf("the same paths, other zones: %+v vs %+v", a.Zones, b.Zones)
	}
	n := len(switchZonesWith(h, spec.Initiators)[a.Fabrics[0]])
	if err := h.svc.DeleteClaim(ctx, "a.example", "v1/n"); err != nil {
		t.Fatal(err)
	}
	if got := len(switchZonesWith(h, spec.Initiators)[a.Fabrics[0]]); got != n {
		t.Fatalf("after one of two claims went: %d zones, want %d", got, n)
	}
	if err := h.svc.DeleteClaim(ctx, "b.example", "v1/n"); err != nil {
		t.Fatal(err)
	}
	if z := switchZonesWith(h, spec.Initiators); len(z) != 0 {
		t.Fatalf("zones left: %+v", z)
	}
}

func TestClaimRefusals(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	inits, tgts := claimPorts(t, h, "east-esx01", "east-arr1")
	fids := sortedKeys(inits)
	if len(fids) < 2 {
		t.Fatalf("want a host on two fabrics: %v", inits)
	}
	ok := ClaimSpec{Initiators: flat(inits), Targets: flat(tgts)}
	other, _ := claimPorts(t, h, "east-esx02", "east-arr1")
	for _, tc := range []struct {
		name, owner, key string
		spec             ClaimSpec
		want             error
	}{
		{"no owner", "", "k", ok, ErrInvalid},
		{"owner ends in a dot", "csi.", "k", ok, ErrInvalid},
		{"owner with a slash", "a/b", "k", ok, ErrInvalid},
		{"long owner", string(make([]byte, 64)), "k", ok, ErrInvalid},
		{"no key", "o", "", ok, ErrInvalid},
		{"key with a space", "o", "a b", ok, ErrInvalid},
		{"key with ..", "o", "v/../n", ok, ErrInvalid},
		{"key with an empty segment", "o", "v//n", ok, ErrInvalid},
		{"no initiators", "o", "k", ClaimSpec{Targets: ok.Targets}, ErrInvalid},
		{"no targets", "o", "k", ClaimSpec{Initiators: ok.Initiators}, ErrInvalid},
		{"bad wwpn", "o", "k", ClaimSpec{Initiators: []string{"10:00:zz"}, Targets: ok.Targets}, ErrInvalid},
		{"bad policy", "o", "k", ClaimSpec{Initiators: ok.Initiators, Targets: ok.Targets, Policy: "fancy"}, ErrInvalid},
		{"target also an initiator", "o", "k", ClaimSpec{Initiators: ok.Initiators, Targets: ok.Initiators[:1]}, ErrInvalid},
		{"logged in nowhere", "o", "k", ClaimSpec{Initiators: []string{"10:00:00:00:c9:de:ad:01"}, Targets: ok.Targets}, ErrNotFeasible},
		{"no shared fabric", "o", "k", ClaimSpec{Initiators: inits[fids[0]], Targets: tgts[fids[1]]}, ErrConflict},
		{"another policy", "o", "k", ClaimSpec{Initiators: ok.Initiators, Targets: ok.Targets, Policy: "peer"}, ErrConflict},
		{"roles swapped", "o", "k", ClaimSpec{Initiators: tgts[fids[0]], Targets: inits[fids[0]]}, ErrConflict},
		{"two initiators", "o", "k", ClaimSpec{Initiators: inits[fids[0]], Targets: other[fids[0]]}, ErrConflict},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := h.svc.PutClaim(ctx, tc.owner, tc.key, tc.spec)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	if l := h.svc.Claims(""); len(l) != 0 {
		t.Fatalf("refused claims left records: %+v", l)
	}
	if n := commitsOf(h); n != 0 {
		t.Fatalf("refused claims committed %d times", n)
	}
	// A partly reachable claim succeeds and says what it does not reach.
	c, _, err := h.svc.PutClaim(ctx, "o", "partial", ClaimSpec{Initiators: flat(inits), Targets: tgts[fids[0]]})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Fabrics, fids[:1]) || len(c.Unreached) != len(inits[fids[1]]) || c.Unreached[0].Role != "initiator" {
		t.Fatalf("partial claim %+v", c)
	}
}

// TestClaimsConcurrent: the same claim asked by many callers at once is
// one claim; claims of many keys at once share commits.
func TestClaimsConcurrent(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	inits, tgts := claimPorts(t, h, "east-esx03", "east-arr1")
	spec := ClaimSpec{Initiators: flat(inits), Targets: flat(tgts)}
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	var created sync.Map
	for i := range 40 {
		key := "same/node"
		if i%2 == 1 {
			key = "vol-" + string(rune('a'+i/2)) + "/node"
		}
		wg.Go(func() {
			_, c, err := h.svc.PutClaim(ctx, "csi.example", key, spec)
			if c {
				if _, dup := created.LoadOrStore(key, true); dup {
					errs <- errors.New("created twice: " + key)
				}
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if l := h.svc.Claims("csi.example"); len(l) != 21 {
		t.Fatalf("%d claims, want 21", len(l))
	}
	for _, c := range h.svc.Claims("csi.example") {
		if err := h.svc.DeleteClaim(ctx, c.Owner, c.Key); err != nil {
			t.Fatal(err)
		}
	}
	if z := switchZonesWith(h, spec.Initiators); len(z) != 0 {
		t.Fatalf("zones left: %+v", z)
	}
}

// TestClaimSurvivesRestart: a claim is a record; after a restart it holds
// its zones (a drift check does not take them for orphans), and its
// release removes them.
func TestClaimSurvivesRestart(t *testing.T) {
	h, spec, c := claimed(t, "east-esx01")
	ctx := context.Background()
	h.reopen(t)
	got, err := h.svc.GetClaim("csi.example", "v/n")
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Zones) != len(c.Zones) || got.State != ClaimReady {
		t.Fatalf("after the restart: %+v", got)
	}
	for _, fid := range c.Fabrics {
		d, err := h.svc.Reconcile(ctx, fid, false)
		if err != nil {
			t.Fatal(err)
		}
		if !d.Empty() {
			t.Fatalf("fabric %s drift after the restart: %+v", fid, d)
		}
	}
	if err := h.svc.DeleteClaim(ctx, "csi.example", "v/n"); err != nil {
		t.Fatal(err)
	}
	if z := switchZonesWith(h, spec.Initiators); len(z) != 0 {
		t.Fatalf("zones left: %+v", z)
	}
}

// TestClaimDriftNamesTheClaim: a claim's zone removed behind sanmob's back
// is drift, and the report says whose zone it is.
func TestClaimDriftNamesTheClaim(t *testing.T) {
	h, _, c := claimed(t, "east-esx01")
	ctx := context.Background()
	z := c.Zones[0]
	sw, _ := h.world.Switch(z.Fabric)
	if err := sw.DeleteZone(z.Name); err != nil {
		t.Fatal(err)
	}
	d, err := h.svc.Reconcile(ctx, z.Fabric, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Missing) != 1 || d.Missing[0].Name != z.Name || !slices.Equal(d.Users[z.Name], []string{"claim:csi.example/v/n"}) {
		t.Fatalf("drift %+v", d)
	}
}

// TestClaimResumesAfterACrash: the daemon dies after the claim's run is
// written and before any commit; the caller hears "still in progress", and
// after the restart the run resumes and the claim holds its zones.
func TestClaimResumesAfterACrash(t *testing.T) {
	h := newHarness(t, nil)
	inits, tgts := claimPorts(t, h, "east-esx02", "east-arr1")
	spec := ClaimSpec{Initiators: flat(inits), Targets: flat(tgts)}
	h.noSagas = true // the daemon dies before its executor runs anything
	h.reopen(t)
	c, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, _, err := h.svc.PutClaim(c, "csi.example", "v/n", spec)
	if errclass.Of(err) != errclass.Transient {
		t.Fatalf("put with no executor: %v, want a transient error", err)
	}
	if n := commitsOf(h); n != 0 {
		t.Fatalf("%d commits before the run ran", n)
	}
	// Its run explains what it may do: the claim shows, pending, before
	// it has a record.
	if got, err := h.svc.GetClaim("csi.example", "v/n"); err != nil || got.State != ClaimPending {
		t.Fatalf("claim while its run waits: %+v, %v", got, err)
	}
	if l := h.svc.Claims("csi.example"); len(l) != 1 || l[0].State != ClaimPending {
		t.Fatalf("claims while the run waits: %+v", l)
	}
	h.noSagas = false
	h.reopen(t)
	ops, err := h.svc.Operations(sagaClaim)
	if err != nil || len(ops) != 1 {
		t.Fatalf("claim runs %+v, %v", ops, err)
	}
	r, err := h.svc.sagas.Wait(context.Background(), ops[0].ID)
	if err != nil || r.State != saga.StateDone {
		t.Fatalf("resumed run %+v, %v", r, err)
	}
	got, err := h.svc.GetClaim("csi.example", "v/n")
	if err != nil || len(got.Zones) == 0 {
		t.Fatalf("claim after the resume %+v, %v", got, err)
	}
	if z := switchZonesWith(h, spec.Initiators); len(z) != len(got.Fabrics) {
		t.Fatalf("switch zones after the resume: %+v", z)
	}
}

// TestClaimZoneNamesFollowTheSwitch: a zone keeps the name it was committed
// with (after its first user's label) while the desired state, after that
// user left and a restart, names it after another. The claim, the zone
// list and drift all go by the zone on the switch.
func TestClaimZoneNamesFollowTheSwitch(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	inits, _ := claimPorts(t, h, "east-esx01", "east-arr1")
	fid := sortedKeys(inits)[0]
	tgt := wwn.MustParse("50:0a:09:81:00:00:0e:01")
	if _, err := h.world.PlugPort(fid, tgt, wwn.MustParse("50:0a:09:80:00:00:0e:00"), true); err != nil {
		t.Fatal(err)
	}
	spec := ClaimSpec{Initiators: inits[fid], Targets: []string{tgt.String()}}
	a, _, err := h.svc.PutClaim(ctx, "aaa.example", "v/n", spec)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := h.svc.PutClaim(ctx, "zzz.example", "v/n", spec); err != nil {
		t.Fatal(err)
	}
	if err := h.svc.DeleteClaim(ctx, "aaa.example", "v/n"); err != nil {
		t.Fatal(err)
	}
	h.reopen(t)
	h.svc.Refresh(ctx)
	onSwitch := switchZonesWith(h, []string{tgt.String()})[fid]
	if len(onSwitch) != 1 || onSwitch[0].Name != a.Zones[0].Name {
		t.Fatalf("switch zones %+v, want the one committed as %s", onSwitch, a.Zones[0].Name)
	}
	z := h.svc.Zoner().ZonesFor(fid, h.svc.Zoner().Holds(claimUser("zzz.example", "v/n")))[0]
	if z.Name == a.Zones[0].Name {
		t.Fatalf("the desired state kept the first user's name %s: the test does not test what it says", z.Name)
	}
	b, err := h.svc.GetClaim("zzz.example", "v/n")
	if err != nil || len(b.Zones) != 1 || b.Zones[0].Name != a.Zones[0].Name || b.State != ClaimReady {
		t.Fatalf("claim after the restart %+v, %v: want its zone as the switch names it, %s", b, err, a.Zones[0].Name)
	}
	views, _, err := h.svc.Zones(fid)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(views, func(v inventory.ZoneView) bool { return v.Name == a.Zones[0].Name })
	if i < 0 || !slices.Contains(views[i].Users, "claim:zzz.example/v/n") {
		t.Fatalf("zone list: %+v", views)
	}
	d, err := h.svc.Reconcile(ctx, fid, false)
	if err != nil || !d.Empty() {
		t.Fatalf("drift %+v, %v", d, err)
	}
}

// TestClaimRepeatRepairs: a claim's zone removed behind sanmob's back makes
// the claim degraded; the same PUT again puts the zone back.
func TestClaimRepeatRepairs(t *testing.T) {
	h, spec, c := claimed(t, "east-esx02")
	ctx := context.Background()
	z := c.Zones[0]
	sw, _ := h.world.Switch(z.Fabric)
	if err := sw.DeleteZone(z.Name); err != nil {
		t.Fatal(err)
	}
	h.svc.Refresh(ctx)
	got, err := h.svc.GetClaim("csi.example", "v/n")
	if err != nil || got.State != ClaimDegraded || !strings.Contains(got.LastError, z.Name) {
		t.Fatalf("claim after its zone went: %+v, %v", got, err)
	}
	again, created, err := h.svc.PutClaim(ctx, "csi.example", "v/n", spec)
	if err != nil || created || again.State != ClaimReady {
		t.Fatalf("repeat: %+v, %v, %v", again, created, err)
	}
	if !slices.ContainsFunc(sw.TruthZoneDB().Zones, func(x fabric.Zone) bool { return x.Name == z.Name }) {
		t.Fatalf("zone %s not put back", z.Name)
	}
}

// TestClaimPortDown: a port down that the claim placed before keeps its
// zones (a repeated PUT stays a no-op); a port logged in nowhere and never
// placed does not fail a claim that reaches something — it is unreached.
func TestClaimPortDown(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	inits, _ := claimPorts(t, h, "east-esx01", "east-arr1")
	fid := sortedKeys(inits)[0]
	t1, t2 := wwn.MustParse("50:0a:09:81:00:00:0f:01"), wwn.MustParse("50:0a:09:81:00:00:0f:02")
	for _, w := range []wwn.WWN{t1, t2} {
		if _, err := h.world.PlugPort(fid, w, wwn.MustParse("50:0a:09:80:00:00:0f:00"), true); err != nil {
			t.Fatal(err)
		}
	}
	spec := ClaimSpec{Initiators: inits[fid], Targets: []string{t1.String(), t2.String()}}
	c, _, err := h.svc.PutClaim(ctx, "csi.example", "v/n", spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.world.UnplugPort(fid, t2); err != nil { // the controller with t2 fails over
		t.Fatal(err)
	}
	h.svc.Refresh(ctx)
	again, created, err := h.svc.PutClaim(ctx, "csi.example", "v/n", spec)
	if err != nil || created || again.Operation != c.Operation || len(again.Zones) != len(c.Zones) {
		t.Fatalf("repeat while %s is down: %+v, %v, %v; want the same claim, no change", t2, again, created, err)
	}
	if z := switchZonesWith(h, []string{t2.String()}); len(z[fid]) != len(inits[fid]) {
		t.Fatalf("zones of the port that is down: %+v", z)
	}
	// A new claim naming a port never seen: it reaches what it can.
	ghost := "50:0a:09:81:00:00:0f:99"
	p, _, err := h.svc.PutClaim(ctx, "csi.example", "v2/n", ClaimSpec{Initiators: inits[fid], Targets: []string{t1.String(), ghost}})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Unreached) != 1 || p.Unreached[0].WWPN.String() != ghost || !strings.Contains(p.Unreached[0].Reason, "no fabric") {
		t.Fatalf("claim with a port logged in nowhere: unreached %+v", p.Unreached)
	}
}
