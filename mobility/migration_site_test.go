package mobility

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/sanmob/sanmob/array"
	"github.com/sanmob/sanmob/fabric/wwn"
	"github.com/sanmob/sanmob/lab"
)

// fastLab is the small lab on a clock ten times faster than its default:
// a cross-site copy of a lab VM (hundreds of GB over 10 Gbps) then takes
// well under a second.
func fastLab() lab.Config {
	c := lab.Small()
	c.Speed = 600
	return c
}

// siteOf is the site a lab device id starts with ("west-a" → "west").
func siteOf(id string) string { return id[:strings.IndexByte(id, '-')] }

// vmFootprint is where a VM's storage is on the lab's devices, as the
// devices themselves say (not sanmob's model).
type vmFootprint struct {
	zonedOn    map[string]bool // fabrics with a zone naming one of its WWPNs
	loggedOn   map[string]int  // fabric → how many of its vports are logged in there
	mappedAt   map[string]int  // array → maps of its volumes to its vports
	writableAt map[string]int  // array → writable ones
	// presentedOn: fabrics of the target ports those maps present through
	// ("" for a port logged in nowhere).
	presentedOn map[string]bool
}

func footprint(t *testing.T, w *lab.World, wwpns []wwn.WWN) vmFootprint {
	t.Helper()
	fp := vmFootprint{zonedOn: map[string]bool{}, loggedOn: map[string]int{}, mappedAt: map[string]int{}, writableAt: map[string]int{},
		presentedOn: map[string]bool{}}
	mine := func(ws []wwn.WWN) bool {
		return slices.ContainsFunc(ws, func(x wwn.WWN) bool { return slices.Contains(wwpns, x) })
	}
	portFabric := map[wwn.WWN]string{}
	for _, f := range w.Fabrics() {
		for _, z := range f.Switch.TruthZoneDB().Zones {
			if mine(z.Members) || mine(z.Principals) {
				fp.zonedOn[f.ID] = true
			}
		}
		for _, l := range f.Switch.TruthLogins() {
			portFabric[l.WWPN] = f.ID
			if slices.Contains(wwpns, l.WWPN) {
				fp.loggedOn[f.ID]++
			}
		}
	}
	for _, a := range w.Arrays() {
		for _, m := range a.Array.TruthMappings() {
			if mine(m.Initiators) {
				for _, tp := range m.TargetPorts {
					fp.presentedOn[portFabric[tp]] = true
				}
				fp.mappedAt[a.ID]++
				if m.Writable {
					fp.writableAt[a.ID]++
				}
			}
		}
	}
	return fp
}

// checkInvariants checks what must hold after every move, whatever its end:
// no WWPN logged in twice, no volume writable at two sites, no drift on any
// fabric (a zone missing, changed or orphaned).
func checkInvariants(t *testing.T, h *harness) {
	t.Helper()
	if n := h.world.DuplicateLogins(); n != 0 {
		t.Errorf("%d duplicate logins", n)
	}
	writable := map[string][]string{} // volume → sites where a map of it is writable
	for _, a := range h.world.Arrays() {
		for _, m := range a.Array.TruthMappings() {
			if m.Writable && !slices.Contains(writable[m.Volume], a.Site) {
				writable[m.Volume] = append(writable[m.Volume], a.Site)
			}
		}
	}
	for v, sites := range writable {
		if len(sites) > 1 {
			t.Errorf("volume %s is writable at %v", v, sites)
		}
	}
	ctx := context.Background()
	for _, f := range h.world.Fabrics() {
		d, err := h.svc.Reconcile(ctx, f.ID, false)
		if err != nil {
			t.Fatal(err)
		}
		if !d.Empty() {
			t.Errorf("fabric %s drifted: missing %d changed %d orphans %v", f.ID, len(d.Missing), len(d.Changed), d.Orphans)
		}
	}
}

func vmWWPNs(t *testing.T, h *harness, id string) []wwn.WWN {
	t.Helper()
	vm, err := h.svc.VM(id)
	if err != nil {
		t.Fatal(err)
	}
	var out []wwn.WWN
	for _, p := range vm.Vports {
		out = append(out, p.WWPN)
	}
	return out
}

// TestCrossSiteLiveMove: the first "done when": a live cross-site
// move of a lab VM ends succeeded with every path, zone, login and
// writable LUN only at the destination; the source keeps a read-only
// replica (reversed replication), and the model says what the devices do.
func TestCrossSiteLiveMove(t *testing.T) {
	t.Parallel()
	h := newHarnessLab(t, fastLab(), nil)
	ctx := context.Background()
	const vmID = "east-vm003"
	wwpns := vmWWPNs(t, h, vmID)
	before := footprint(t, h.world, wwpns)
	if len(before.mappedAt) == 0 || !before.zonedOn["east-a"] {
		t.Fatalf("the lab VM has no storage to move: %+v", before)
	}
	// A snapshot taken before the move stays at the source.
	before1, err := h.svc.SnapshotVM(ctx, vmID, SnapshotSpec{Name: "before-move"})
	if err != nil {
		t.Fatal(err)
	}
	m, err := h.svc.StartMigration(MigrationSpec{VM: vmID, DestinationHost: "west-esx02"})
	if err != nil {
		t.Fatal(err)
	}
	if m.Kind != KindCrossSite || m.Phase != "running" {
		t.Fatalf("started %+v", m)
	}
	end, err := h.svc.WaitMigration(ctx, m.ID)
	if err != nil {
		t.Fatal(err)
	}
	if end.Phase != "succeeded" {
		t.Fatalf("migration ended %s: %s (steps %+v)", end.Phase, end.Error, end.Steps)
	}
	after := footprint(t, h.world, wwpns)
	for f := range after.zonedOn {
		if siteOf(f) != "west" {
			t.Errorf("a zone of the VM is left on %s", f)
		}
	}
	for f, n := range after.loggedOn {
		if siteOf(f) != "west" && n > 0 {
			t.Errorf("%d vports of the VM are logged in on %s", n, f)
		}
	}
	for a, n := range after.mappedAt {
		if siteOf(a) != "west" && n > 0 {
			t.Errorf("%d maps of the VM's volumes are left on %s", n, a)
		}
	}
	if after.writableAt["west-arr1"] == 0 || len(after.writableAt) != 1 {
		t.Errorf("writable maps after the move: %v, want only at west-arr1", after.writableAt)
	}
	if after.loggedOn["west-a"] == 0 || after.loggedOn["west-b"] == 0 {
		t.Errorf("the VM's active set is not logged in at the destination: %v", after.loggedOn)
	}
	vm, err := h.svc.VM(vmID)
	if err != nil {
		t.Fatal(err)
	}
	if vm.Host != "west-esx02" || vm.Site != "west" {
		t.Fatalf("vm record after the move: host %s site %s", vm.Host, vm.Site)
	}
	for _, ref := range vm.Volumes {
		v, err := h.svc.Volume(ref.ID)
		if err != nil {
			t.Fatal(err)
		}
		if v.Array != "west-arr1" || v.Replica == nil || v.Replica.Array != "east-arr1" {
			t.Errorf("volume %s after the move: array %s replica %+v", v.ID, v.Array, v.Replica)
		}
	}
	// Snapshots follow: the old ones are listed where they live (the
	// source array, the replica's), a new one is taken at the active site.
	after1, err := h.svc.SnapshotVM(ctx, vmID, SnapshotSpec{Name: "after-move"})
	if err != nil {
		t.Fatal(err)
	}
	h.svc.Refresh(ctx)
	topo, err := h.svc.Topology(ctx, vmID, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(before1) == 0 || len(after1) != len(before1) || len(topo.Volumes) != len(before1) {
		t.Fatalf("snapshots %d before, %d after, %d topology volumes", len(before1), len(after1), len(topo.Volumes))
	}
	where := map[string]string{}
	for _, tv := range topo.Volumes {
		if tv.Array != "west-arr1" || tv.Replica == nil || tv.Replica.Array != "east-arr1" || tv.Replica.State != "SYNCHRONIZED" {
			t.Errorf("topology volume %s: array %s replica %+v", tv.ID, tv.Array, tv.Replica)
		}
		for _, sn := range tv.Snapshots {
			where[sn.ID] = sn.Array
		}
	}
	for _, sn := range before1 {
		if where[sn.ID] != "east-arr1" {
			t.Errorf("snapshot %s taken before the move listed at %q, want east-arr1", sn.ID, where[sn.ID])
		}
	}
	for _, sn := range after1 {
		if sn.Array != "west-arr1" || where[sn.ID] != "west-arr1" {
			t.Errorf("snapshot %s taken after the move at %s (listed at %q), want west-arr1", sn.ID, sn.Array, where[sn.ID])
		}
	}
	checkInvariants(t, h)
	// A restart keeps it so: the placed zoning replaces the adopted one.
	h.reopen(t)
	checkInvariants(t, h)
}

// TestCrossSiteMoveRollsBackOnRefusedCommits: the issue's second "done
// when": the same move against destination fabrics that refuse every
// commit ends rolled-back, the VM's source paths intact and nothing left
// at the destination (no replica, no map, no zone, no login).
func TestCrossSiteMoveRollsBackOnRefusedCommits(t *testing.T) {
	t.Parallel()
	h := newHarnessLab(t, fastLab(), nil)
	ctx := context.Background()
	const vmID = "east-vm004"
	wwpns := vmWWPNs(t, h, vmID)
	before := footprint(t, h.world, wwpns)
	vmBefore, err := h.svc.VM(vmID)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"west-a", "west-b"} {
		if err := h.world.InjectFault(lab.Fault{Target: f, Op: lab.OpCommit, Count: 1000, Kind: lab.KindFinal}); err != nil {
			t.Fatal(err)
		}
	}
	m, err := h.svc.StartMigration(MigrationSpec{VM: vmID, DestinationHost: "west-esx01"})
	if err != nil {
		t.Fatal(err)
	}
	end, err := h.svc.WaitMigration(ctx, m.ID)
	if err != nil {
		t.Fatal(err)
	}
	if end.Phase != "rolled-back" || !strings.Contains(end.Error, "commit") {
		t.Fatalf("migration ended %s: %q", end.Phase, end.Error)
	}
	h.world.ClearFaults()
	after := footprint(t, h.world, wwpns)
	if fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("footprint after the rollback\n%+v\nwant as before\n%+v", after, before)
	}
	for _, a := range h.world.Arrays() {
		if a.Site != "west" {
			continue
		}
		vols, _ := a.Array.Volumes(ctx)
		for _, ref := range vmBefore.Volumes {
			for _, v := range vols {
				if v.ID == ref.ID {
					t.Errorf("replica %s left on %s", v.ID, a.ID)
				}
			}
		}
	}
	vm, err := h.svc.VM(vmID)
	if err != nil {
		t.Fatal(err)
	}
	if vm.Host != vmBefore.Host {
		t.Errorf("vm on %s after the rollback, was on %s", vm.Host, vmBefore.Host)
	}
	checkInvariants(t, h)
}

// TestCrossSiteMoveRemovesReplication: with replication "remove" the group
// is gone after the move and so are the source volumes; the VM's storage
// is at the destination only, and its records say no replica.
func TestCrossSiteMoveRemovesReplication(t *testing.T) {
	t.Parallel()
	h := newHarnessLab(t, fastLab(), nil)
	ctx := context.Background()
	const vmID = "east-vm008"
	vm, err := h.svc.VM(vmID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.PlanMove(MigrationSpec{VM: vmID, DestinationHost: "west-esx01", Replication: "mirror"}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("replication mirror: %v, want invalid", err)
	}
	m, err := h.svc.StartMigration(MigrationSpec{VM: vmID, DestinationHost: "west-esx01", Mode: ModeCold, Replication: PolicyRemove})
	if err != nil {
		t.Fatal(err)
	}
	if end, err := h.svc.WaitMigration(ctx, m.ID); err != nil || end.Phase != "succeeded" {
		t.Fatalf("move: %+v %v", end, err)
	}
	east, _ := h.world.Array("east-arr1")
	vols, err := east.Volumes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	gs, err := east.ReplicationGroups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(gs) != 0 {
		t.Errorf("groups left: %+v", gs)
	}
	for _, ref := range vm.Volumes {
		if slices.ContainsFunc(vols, func(v array.Volume) bool { return v.ID == ref.ID }) {
			t.Errorf("source volume %s left on east-arr1", ref.ID)
		}
		v, err := h.svc.Volume(ref.ID)
		if err != nil || v.Array != "west-arr1" || v.Replica != nil {
			t.Errorf("volume %s: %+v %v", ref.ID, v, err)
		}
	}
	checkInvariants(t, h)
}

// TestStartMigrationHoldsPoolsAtOnce: a cross-site move holds its
// replicas' room in the destination pools from the moment StartMigration
// returns, not only once the executor has run its reserve step, so that
// moves started together (an evacuation's, or several evacuations') never
// admit the same room twice. The executor does not run here: only the
// start can have taken the hold. A start that is refused takes none.
func TestStartMigrationHoldsPoolsAtOnce(t *testing.T) {
	t.Parallel()
	w, err := lab.New(fastLab())
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{world: w, dir: t.TempDir(), noSagas: true}
	h.open(t, nil)
	held := func() int64 {
		var n int64
		for _, p := range h.svc.arrays["west-arr1"].Obs.Load().Pools {
			n += h.svc.heldBytes("west-arr1", p.ID)
		}
		return n
	}
	const vmID = "east-vm003"
	vm, err := h.svc.VM(vmID)
	if err != nil {
		t.Fatal(err)
	}
	var want int64
	for _, ref := range vm.Volumes {
		v, err := h.svc.Volume(ref.ID)
		if err != nil {
			t.Fatal(err)
		}
		want += v.SizeBytes
	}
	if _, err := h.svc.StartMigration(MigrationSpec{VM: vmID, DestinationHost: "west-esx02"}); err != nil {
		t.Fatal(err)
	}
	if got := held(); got != want || want == 0 {
		t.Fatalf("after the start, %d bytes are held on west-arr1's pools, want the replicas' %d", got, want)
	}
	if _, err := h.svc.StartMigration(MigrationSpec{VM: vmID, DestinationHost: "west-esx03"}); err == nil {
		t.Fatal("a second move of a moving VM started")
	}
	if got := held(); got != want {
		t.Fatalf("after a refused start, %d bytes are held, want %d", got, want)
	}
}
