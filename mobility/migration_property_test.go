package mobility

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sanmob/sanmob/alert"
	"github.com/sanmob/sanmob/array"
	"github.com/sanmob/sanmob/compute"
	"github.com/sanmob/sanmob/fabric/wwn"
	"github.com/sanmob/sanmob/inventory"
	"github.com/sanmob/sanmob/lab"
	"github.com/sanmob/sanmob/saga"
)

// TestMigrationsUnderFaultsAndRestarts is the property test of VM moves.
// Each iteration builds a fresh fast lab (a third of them with a 20 ms
// link: asynchronous replication, cold cross-site moves only) and, over
// one or two rounds, moves one to three VMs at once — same-fabric or
// cross-site, live or cold, a VM moved cross-site possibly moved back
// over its reversed group or moved again within its new site — while
// random faults (busy, final, applied-timeout, latency; commits, zones,
// masking, logins, replication, moves, power, reads; the east-west link
// down) are injected at random moments, and the executor is killed —
// after a random delay, at a given step, or in the middle of an array or
// hypervisor call before or after the device acted — and restarted on
// the same store and devices. Then the faults are cleared, every
// migration is waited for (a failed one must say what a person should do
// and alert; it is then retried), and at rest every invariant of the
// issue is checked on the devices themselves (checkMovesAtRest), again
// after a last restart; meanwhile no volume may ever be writable at two
// sites (watchWritable).
//
// SANMOB_SEED replays a run's choices (the timing of kills and faults
// against the moves may differ); each iteration logs its own seed, which
// SANMOB_SEED with SANMOB_MIGRATION_ITERS=1 replays alone.
// SANMOB_MIGRATION_ITERS sets the number of iterations (default 20, about
// 25 s under -race on two cores; 4 with -short).
func TestMigrationsUnderFaultsAndRestarts(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("SANMOB_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	iters := 20
	if testing.Short() {
		iters = 4
	}
	if s := os.Getenv("SANMOB_MIGRATION_ITERS"); s != "" {
		iters, _ = strconv.Atoi(s)
	}
	t.Logf("seed %d, %d iterations (SANMOB_SEED and SANMOB_MIGRATION_ITERS replay it)", seed, iters)
	rng := rand.New(rand.NewPCG(seed, 11))
	for i := range iters {
		s := seed
		if i > 0 {
			s = rng.Uint64()
		}
		ok := t.Run(fmt.Sprintf("iter%d", i), func(t *testing.T) {
			t.Logf("iteration seed %d (SANMOB_SEED=%d SANMOB_MIGRATION_ITERS=1 replays it)", s, s)
			migrationIteration(t, s)
		})
		if !ok {
			t.Fatalf("iteration %d failed: replay with SANMOB_SEED=%d SANMOB_MIGRATION_ITERS=1", i, s)
		}
	}
}

// propMove is one migration the property test started.
type propMove struct {
	id, vm, from, to, mode, kind string
}

func migrationIteration(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 13))
	cfg := fastLab()
	cfg.Seed = int64(seed % (1 << 62))
	if rng.IntN(3) == 0 {
		// Beyond the synchronous RTT limit: asynchronous replication,
		// whose target lags by the writes in flight.
		cfg.LinkRTTMs = 20
	}
	if rng.IntN(2) == 0 {
		// Two fabric pairs per site: a move to a host of the other
		// pair is cross-fabric.
		cfg.FabricPairsPerSite = 2
	}
	t.Logf("link RTT %v ms, %d fabric pair(s) per site", cfg.LinkRTTMs, max(cfg.FabricPairsPerSite, 1))
	h, ks := newKillHarness(t, cfg)
	base := baselineOf(t, h)
	defer watchWritable(t, h)()

	var vms []string
	for _, site := range []string{"east", "west"} {
		for _, v := range h.svc.VMs(inventory.VMFilter{Site: site}) {
			vms = append(vms, v.ID)
		}
	}
	rng.Shuffle(len(vms), func(i, j int) { vms[i], vms[j] = vms[j], vms[i] })
	vms = vms[:1+rng.IntN(3)]
	// Some VMs also have a volume attached through the API: its
	// attachment record and zones move with the VM.
	for _, id := range vms {
		if rng.IntN(2) == 0 {
			attachExtraVolume(t, h, id)
		}
	}

	var moves []propMove
	rounds := 1 + rng.IntN(2)
	for round := range rounds {
		// Host faults land on the hosts these VMs run on (their
		// destinations are known once the moves start).
		var hosts []string
		for _, id := range vms {
			vm, err := h.svc.VM(id)
			if err != nil {
				t.Fatal(err)
			}
			hosts = append(hosts, vm.Host)
		}
		for range rng.IntN(3) {
			injectRandomFault(t, h, rng, hosts)
		}
		first := len(moves)
		for _, vm := range vms {
			if m, ok := startRandomMove(t, h, rng, vm); ok {
				moves = append(moves, m)
				hosts = append(hosts, m.to)
			}
		}
		// A second move of a VM that is moving is refused — unless the
		// first ended in between (a same-fabric move takes milliseconds):
		// then the second is a move like any other.
		if len(moves) > first {
			if got, err := h.svc.Migration(moves[len(moves)-1].id); err == nil && got.Phase == "running" {
				m2, err := h.svc.StartMigration(MigrationSpec{VM: got.VM, DestinationHost: got.SourceHost})
				if !errors.Is(err, ErrConflict) {
					if now, _ := h.svc.Migration(got.ID); now.Phase == "running" {
						t.Errorf("a second move of %s while it moves: %v, want a conflict", got.VM, err)
					}
				}
				if err == nil {
					moves = append(moves, propMove{id: m2.ID, vm: got.VM, from: got.DestinationHost, to: got.SourceHost, mode: m2.Mode, kind: m2.Kind})
				}
			}
		}
		// Faults at random moments, then kills at random moments.
		for range rng.IntN(3) {
			time.Sleep(time.Duration(rng.IntN(400)) * time.Millisecond)
			if rng.IntN(4) == 0 {
				// A device that does not answer a few reads.
				targets := append([]string{"east-a", "east-b", "west-a", "west-b", "east-arr1", "west-arr1"}, hosts...)
				f := lab.Fault{Target: targets[rng.IntN(len(targets))], Op: lab.OpRead, Count: 1 + rng.IntN(3)}
				if err := h.world.InjectFault(f); err != nil {
					t.Fatal(err)
				}
				t.Logf("fault %+v", f)
				continue
			}
			injectRandomFault(t, h, rng, hosts)
		}
		for range rng.IntN(3) {
			switch rng.IntN(3) {
			case 0:
				time.Sleep(time.Duration(rng.IntN(600)) * time.Millisecond)
			case 1:
				awaitStep(h, moves[first:], siteStepNames[rng.IntN(len(siteStepNames))])
			case 2:
				// In the middle of a device call, before or after it acted.
				ks.arm(1+rng.IntN(8), rng.IntN(2) == 0)
				if what := awaitHit(h, ks, moves[first:]); what != "" {
					t.Logf("round %d: killed during a call: %s", round, what)
				}
				ks.disarm()
			}
			var at []string
			for _, m := range moves[first:] {
				if got, err := h.svc.Migration(m.id); err == nil {
					at = append(at, m.vm+":"+got.Phase+"@"+runningStep(got))
				}
			}
			t.Logf("round %d: kill and restart (%v)", round, at)
			h.reopen(t)
		}
		// Round over: clear the faults, let everything settle, check.
		h.world.ClearFaults()
		settleMoves(t, h, moves)
		checkMovesAtRest(t, h, vms, moves, base)
		if t.Failed() {
			dumpMoves(t, h)
			return
		}
	}
	// A restart at rest changes nothing.
	h.reopen(t)
	checkMovesAtRest(t, h, vms, moves, base)
	if t.Failed() {
		dumpMoves(t, h)
	}
}

// attachExtraVolume creates a volume at the VM's site and attaches it to
// the VM.
func attachExtraVolume(t *testing.T, h *harness, vmID string) {
	t.Helper()
	ctx := context.Background()
	vm, err := h.svc.VM(vmID)
	if err != nil {
		t.Fatal(err)
	}
	v, err := h.svc.CreateVolume(ctx, VolumeSpec{Name: vmID + "-extra", SizeBytes: gib, Site: vm.Site})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.Attach(ctx, AttachmentSpec{Volume: v.ID, Node: vmID}); err != nil {
		t.Fatalf("attaching %s to %s: %v", v.ID, vmID, err)
	}
	t.Logf("attached %s to %s", v.ID, vmID)
}

// startRandomMove starts a move of vm to a random host: at its site (a
// same-fabric move, or cross-fabric to a host of another fabric pair) or at
// the other (cross-site), live or cold.
func startRandomMove(t *testing.T, h *harness, rng *rand.Rand, vmID string) (propMove, bool) {
	t.Helper()
	vm, err := h.svc.VM(vmID)
	if err != nil {
		t.Fatal(err)
	}
	site := vm.Site
	if rng.IntN(3) > 0 {
		site = map[string]string{"east": "west", "west": "east"}[site]
	}
	var hosts []string
	for _, x := range h.svc.Hosts(inventory.HostFilter{Site: site}) {
		if x.ID != vm.Host {
			hosts = append(hosts, x.ID)
		}
	}
	mode := []string{ModeLive, ModeCold}[rng.IntN(2)]
	dst := hosts[rng.IntN(len(hosts))]
	var m Migration
	for range 3 {
		m, err = h.svc.StartMigration(MigrationSpec{VM: vmID, DestinationHost: dst, Mode: mode})
		switch {
		case errors.Is(err, ErrUnavailable):
			// A device unread since a restart (a read fault then): read
			// them all, as the daemon's refresh loop would, and ask again.
			t.Logf("starting the move of %s: %v: refreshed", vmID, err)
			h.svc.Refresh(context.Background())
			continue
		case errors.Is(err, ErrNotFeasible) && strings.Contains(err.Error(), "no observed"):
			t.Logf("starting the move of %s: %v: refreshed", vmID, err)
			h.svc.Refresh(context.Background())
			continue
		case errors.Is(err, ErrNotFeasible) && mode == ModeLive && site != vm.Site:
			// A live move needs synchronous distances: over a longer
			// link only a cold one may run.
			mode = ModeCold
			continue
		}
		break
	}
	if err != nil {
		// Faults are on the devices, not in front of the planner: every
		// move the test asks for is feasible and must start.
		t.Fatalf("starting the %s move of %s from %s to %s: %v", mode, vmID, vm.Host, dst, err)
	}
	t.Logf("started %s %s move %s of %s: %s → %s", m.Kind, mode, m.ID, vmID, vm.Host, dst)
	return propMove{id: m.ID, vm: vmID, from: vm.Host, to: dst, mode: mode, kind: m.Kind}, true
}

// siteStepNames are the steps of a cross-site move (siteSteps), and the
// same-fabric ones among them.
var siteStepNames = []string{"reserve", "create-replicas", "replicate", "await-sync", "zone-dest", "present",
	"login-idle", "cutover", "move", "activate", "logout-old", "clean-source", "settle-replication", "verify"}

// awaitStep waits, for at most 1.5 s, until one of moves is
// running (or undoing) step, or none is running any more.
func awaitStep(h *harness, moves []propMove, step string) {
	deadline := time.Now().Add(1500 * time.Millisecond)
	for time.Now().Before(deadline) {
		busy := false
		for _, m := range moves {
			got, err := h.svc.Migration(m.id)
			if err != nil {
				continue
			}
			if got.Phase == "running" || got.Phase == "rolling-back" {
				busy = true
			}
			if runningStep(got) == step {
				return
			}
		}
		if !busy {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// awaitHit waits, for at most 1.5 s, until the kill switch
// fires, or none of moves is running any more.
func awaitHit(h *harness, ks *killSwitch, moves []propMove) string {
	deadline := time.After(1500 * time.Millisecond)
	for {
		select {
		case what := <-ks.hit:
			return what
		case <-deadline:
			return ""
		case <-time.After(5 * time.Millisecond):
		}
		busy := false
		for _, m := range moves {
			if got, err := h.svc.Migration(m.id); err == nil && (got.Phase == "running" || got.Phase == "rolling-back") {
				busy = true
			}
		}
		if !busy {
			return ""
		}
	}
}

// watchWritable checks, every few milliseconds until the returned stop
// is called, that no volume is writable at two sites at any moment, not
// only at rest.
func watchWritable(t *testing.T, h *harness) (stop func()) {
	done, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		for {
			select {
			case <-done:
				return
			case <-time.After(2 * time.Millisecond):
			}
			writable := map[string]string{} // volume → a site where it is writable
			all := h.world.TruthMappingsAll()
			for _, a := range h.world.Arrays() {
				for _, m := range all[a.ID] {
					if !m.Writable {
						continue
					}
					if s, ok := writable[m.Volume]; ok && s != a.Site {
						t.Errorf("volume %s is writable at %s and %s at once", m.Volume, s, a.Site)
						return
					}
					writable[m.Volume] = a.Site
				}
			}
		}
	}()
	return func() { close(done); <-stopped }
}

// runningStep is the step a migration is in, "" when none.
func runningStep(m Migration) string {
	for _, s := range m.Steps {
		if s.State == "running" {
			return s.Name
		}
	}
	return ""
}

// injectRandomFault adds one fault on a device the moves use: a fabric,
// an array, one of hosts or the east-west link (a link-down one among
// them), failing (busy, final, applied-timeout) or slowing (latency) a
// count or a share of the matching operations.
func injectRandomFault(t *testing.T, h *harness, rng *rand.Rand, hosts []string) {
	t.Helper()
	var f lab.Fault
	switch rng.IntN(5) {
	case 0:
		f.Target = []string{"east-a", "east-b", "west-a", "west-b"}[rng.IntN(4)]
		f.Op = []string{lab.OpCommit, lab.OpZone, lab.OpLogin}[rng.IntN(3)]
	case 1:
		f.Target = []string{"east-arr1", "west-arr1"}[rng.IntN(2)]
		f.Op = []string{lab.OpVolume, lab.OpMask, lab.OpReplicate}[rng.IntN(3)]
	case 2:
		f.Target = hosts[rng.IntN(len(hosts))]
		f.Op = []string{lab.OpMove, lab.OpPower, lab.OpLogin}[rng.IntN(3)]
	case 3:
		f.Target, f.Op = "link:east-west", lab.OpReplicate
	case 4:
		// The link down: replication stops while the fault is active.
		f.Target, f.Op = "link:east-west", lab.OpAny
	}
	switch {
	case rng.IntN(6) == 0 && f.Op != lab.OpAny:
		f.Latency = time.Duration(5+rng.IntN(60)) * time.Second
	default:
		f.Kind = []string{lab.KindUnavailable, lab.KindFinal, lab.KindAppliedTimeout}[rng.IntN(3)]
	}
	if rng.IntN(2) == 0 {
		f.Count = 1 + rng.IntN(3)
	} else {
		f.Rate = 0.2 + 0.8*rng.Float64()
	}
	if f.Op == lab.OpAny && rng.IntN(2) == 0 {
		f.Count, f.Rate = 0, 1 // down until the faults are cleared
	}
	if err := h.world.InjectFault(f); err != nil {
		t.Fatal(err)
	}
	t.Logf("fault %+v", f)
}

// settleMoves waits for every move to end. A failed one must carry an
// action for a person; the test then does what the service offers, a
// retry of its undo now that the faults are gone, and waits again.
func settleMoves(t *testing.T, h *harness, moves []propMove) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, m := range moves {
		for retries := 0; ; retries++ {
			end, err := h.svc.WaitMigration(ctx, m.id)
			if ctx.Err() != nil {
				dumpMoves(t, h)
				t.Fatalf("migration %s of %s did not end within two minutes: %v", m.id, m.vm, err)
			}
			if end.Phase != "failed" {
				break
			}
			if end.Action == "" {
				t.Errorf("migration %s of %s failed without an action: %s", m.id, m.vm, end.Error)
			}
			if !slices.ContainsFunc(h.svc.Alerts(), func(a alert.Alert) bool {
				return a.Status == "firing" && a.Labels["alertname"] == alert.OperationFailed && a.Annotations["run"] == m.id
			}) {
				t.Errorf("migration %s of %s failed and no OperationFailed alert fires", m.id, m.vm)
			}
			if retries == 3 {
				t.Fatalf("migration %s of %s still failed after %d retries: %s (%s)", m.id, m.vm, retries, end.Error, end.Action)
			}
			t.Logf("migration %s failed (%s; action: %s): retried", m.id, end.Error, end.Action)
			if _, err := h.svc.sagas.Retry(m.id); err != nil && !errors.Is(err, saga.ErrNotFailed) {
				t.Fatal(err)
			}
		}
	}
}

// moveBaseline is what the devices held before any move: the replication
// groups (none in a fresh lab) and each fabric's drift.
type moveBaseline struct {
	groups map[string]bool
	luns   map[string]int // volume → the LUN id it is presented under
}

func baselineOf(t *testing.T, h *harness) moveBaseline {
	t.Helper()
	b := moveBaseline{groups: map[string]bool{}, luns: map[string]int{}}
	for _, g := range labGroups(t, h) {
		b.groups[g.ID] = true
	}
	for _, a := range h.world.Arrays() {
		for _, m := range a.Array.TruthMappings() {
			b.luns[m.Volume] = m.LUN
		}
	}
	return b
}

// labGroups lists every replication group on the lab's arrays, once.
func labGroups(t *testing.T, h *harness) map[string]array.ReplicationGroup {
	t.Helper()
	out := map[string]array.ReplicationGroup{}
	for _, a := range h.world.Arrays() {
		gs, err := a.Array.ReplicationGroups(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range gs {
			out[g.ID] = g
		}
	}
	return out
}

// checkMovesAtRest checks, once every move has ended, the issue's
// invariants on the devices:
//   - every migration succeeded or rolled back;
//   - no pool hold and no OperationFailed alert of a migration left;
//   - every volume presented under the LUN id it had before;
//   - no WWPN logged in twice, no volume writable at two sites, no zone
//     missing or orphaned (checkInvariants);
//   - each moved VM as its record says (checkVMAtRest);
//   - no replication group that no VM's volumes explain.
func checkMovesAtRest(t *testing.T, h *harness, vms []string, moves []propMove, base moveBaseline) {
	t.Helper()
	for _, m := range moves {
		got, err := h.svc.Migration(m.id)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("migration %s of %s (%s %s %s → %s): %s %s", m.id, m.vm, m.kind, m.mode, m.from, m.to, got.Phase, got.Error)
		if got.Phase != "succeeded" && got.Phase != "rolled-back" {
			t.Errorf("migration %s of %s is %s at rest: %s", m.id, m.vm, got.Phase, got.Error)
		}
	}
	checkInvariants(t, h)
	// A move over lets go of its pool holds and of its alert.
	h.svc.poolMu.Lock()
	if len(h.svc.poolHolds) != 0 {
		t.Errorf("pool holds left at rest: %v", h.svc.poolHolds)
	}
	h.svc.poolMu.Unlock()
	for _, a := range h.svc.Alerts() {
		if a.Status == "firing" && a.Labels["alertname"] == alert.OperationFailed && a.Labels["operation"] == "migration" {
			t.Errorf("alert firing at rest: %v %v", a.Labels, a.Annotations)
		}
	}
	// A move presents the volumes under the LUN ids they had, wherever.
	for _, a := range h.world.Arrays() {
		for _, m := range a.Array.TruthMappings() {
			if lun, ok := base.luns[m.Volume]; ok && m.LUN != lun {
				t.Errorf("volume %s is presented on %s under LUN %d, was %d", m.Volume, a.ID, m.LUN, lun)
			}
		}
	}
	explained := map[string]bool{}
	for g := range base.groups {
		explained[g] = true
	}
	for _, vm := range vms {
		if g := checkVMAtRest(t, h, vm); g != "" {
			explained[g] = true
		}
	}
	for id := range labGroups(t, h) {
		if !explained[id] {
			t.Errorf("replication group %s is left behind: no VM's volume has a replica through it", id)
		}
	}
}

// checkVMAtRest checks one VM on the devices against its record: it runs,
// powered on, on the host the record names; its active vports are logged
// in, on that site's fabrics only, and its idle ones nowhere; each volume
// is mapped, writable, only on the array the record names, at the VM's
// site; the replica the record names (after a cross-site move that
// reversed replication) is on its array, read-only and mapped to nothing,
// in a group whose writable side is the volume's array; no other array
// holds the volume. It returns the replication group that the VM's
// volumes explain, if any.
func checkVMAtRest(t *testing.T, h *harness, vmID string) (group string) {
	t.Helper()
	ctx := context.Background()
	vm, err := h.svc.VM(vmID)
	if err != nil {
		t.Fatal(err)
	}
	host, err := h.svc.Host(vm.Host)
	if err != nil {
		t.Fatal(err)
	}
	if host.Site != vm.Site {
		t.Errorf("vm %s: record says host %s (site %s) but site %s", vmID, vm.Host, host.Site, vm.Site)
	}
	cvms, err := h.world.Compute().VMs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, cv := range cvms {
		if cv.ID != vmID {
			continue
		}
		if cv.Host != vm.Host {
			t.Errorf("vm %s runs on %s, its record says %s", vmID, cv.Host, vm.Host)
		}
		if cv.Power != compute.PowerOn {
			t.Errorf("vm %s is powered %s at rest", vmID, cv.Power)
		}
	}
	// Logins, as the fabrics say.
	loggedOn := map[string][]string{}
	for _, f := range h.world.Fabrics() {
		for _, l := range f.Switch.TruthLogins() {
			loggedOn[l.WWPN.String()] = append(loggedOn[l.WWPN.String()], f.ID)
		}
	}
	var mine []string
	for _, vp := range vm.Vports {
		mine = append(mine, vp.WWPN.String())
		on := loggedOn[vp.WWPN.String()]
		switch {
		case vp.Active && (len(on) != 1 || on[0] != vp.Fabric):
			t.Errorf("vm %s: active vport %s (fabric %s) is logged in on %v", vmID, vp.WWPN, vp.Fabric, on)
		case !vp.Active && len(on) != 0:
			t.Errorf("vm %s: idle vport %s is logged in on %v", vmID, vp.WWPN, on)
		}
		if siteOf(vp.Fabric) != vm.Site {
			t.Errorf("vm %s at %s: vport %s is on fabric %s", vmID, vm.Site, vp.WWPN, vp.Fabric)
		}
	}
	// Zones and maps naming its vports, as the devices say: only at its
	// site.
	var wwpns []wwn.WWN
	for _, vp := range vm.Vports {
		wwpns = append(wwpns, vp.WWPN)
	}
	fp := footprint(t, h.world, wwpns)
	myFabrics := map[string]bool{}
	for _, vp := range vm.Vports {
		myFabrics[vp.Fabric] = true
	}
	for f := range fp.zonedOn {
		if !myFabrics[f] {
			t.Errorf("vm %s at %s (fabrics %v): a zone of its vports is left on %s", vmID, vm.Site, slices.Sorted(maps.Keys(myFabrics)), f)
		}
	}
	// Its maps present through target ports on its fabrics only.
	for f := range fp.presentedOn {
		if !myFabrics[f] {
			t.Errorf("vm %s: its volumes are presented through a target port on fabric %q, not one of the VM's %v", vmID, f, slices.Sorted(maps.Keys(myFabrics)))
		}
	}
	for a, n := range fp.mappedAt {
		if siteOf(a) != vm.Site && n > 0 {
			t.Errorf("vm %s at %s: %d maps to its vports are left on %s", vmID, vm.Site, n, a)
		}
	}
	if len(vm.Volumes) > 0 && !fp.zonedOn[vm.Vports[0].Fabric] {
		t.Errorf("vm %s at %s has volumes but no zone on %s", vmID, vm.Site, vm.Vports[0].Fabric)
		t.Logf("vm %s's zone holds: %+v", vmID, h.svc.zoner.Holds(inventory.VMZoningUser(vmID)))
	}
	// Its attachments, as the records say: attached, on the volume's
	// array, over its site's fabrics.
	for _, ref := range vm.Volumes {
		for _, at := range h.svc.Attachments(ref.ID) {
			if at.Node != vmID {
				continue
			}
			v, err := h.svc.Volume(ref.ID)
			if err != nil {
				t.Fatal(err)
			}
			if at.State != StateAttached || at.Array != v.Array || slices.ContainsFunc(at.Fabrics, func(f string) bool { return !myFabrics[f] }) {
				t.Errorf("vm %s at %s: attachment of %s is %s on %s over %v (the volume is on %s)", vmID, vm.Site, ref.ID, at.State, at.Array, at.Fabrics, v.Array)
			}
		}
	}
	// Volumes, as the arrays say.
	groups := labGroups(t, h)
	for _, ref := range vm.Volumes {
		v, err := h.svc.Volume(ref.ID)
		if err != nil {
			t.Fatal(err)
		}
		if siteOf(v.Array) != vm.Site {
			t.Errorf("vm %s at %s: volume %s is on array %s", vmID, vm.Site, v.ID, v.Array)
		}
		for _, a := range h.world.Arrays() {
			vols, err := a.Array.Volumes(ctx)
			if err != nil {
				t.Fatal(err)
			}
			held := slices.ContainsFunc(vols, func(x array.Volume) bool { return x.ID == v.ID })
			var maps, writable int
			for _, m := range a.Array.TruthMappings() {
				if m.Volume != v.ID {
					continue
				}
				maps++
				if m.Writable {
					writable++
				}
				if !slices.ContainsFunc(m.Initiators, func(w wwn.WWN) bool { return slices.Contains(mine, w.String()) }) {
					t.Errorf("volume %s is mapped on %s to %v, not to vm %s's vports", v.ID, a.ID, m.Initiators, vmID)
				}
			}
			switch {
			case a.ID == v.Array:
				if !held || maps == 0 || writable != maps {
					t.Errorf("vm %s: volume %s on its array %s: held %t, %d maps, %d writable; want held, mapped, writable", vmID, v.ID, a.ID, held, maps, writable)
				}
			case v.Replica != nil && a.ID == v.Replica.Array:
				if !held || maps != 0 {
					t.Errorf("vm %s: replica of %s on %s: held %t, %d maps; want held and mapped to nothing", vmID, v.ID, a.ID, held, maps)
				}
			default:
				if held || maps != 0 {
					t.Errorf("vm %s: array %s holds volume %s (%t) with %d maps, the record says it is on %s, replica %+v", vmID, a.ID, v.ID, held, maps, v.Array, v.Replica)
				}
			}
		}
		if v.Replica == nil {
			if g, ok := groups["vm-"+vmID]; ok {
				t.Errorf("vm %s: volume %s has no replica but group %+v is left", vmID, v.ID, g)
			}
			continue
		}
		g, ok := groups[v.Replica.Group]
		switch {
		case !ok:
			t.Errorf("vm %s: volume %s's replica group %s is missing", vmID, v.ID, v.Replica.Group)
		case g.SourceArray != v.Array || g.TargetArray != v.Replica.Array || g.Writable != array.SideSource || g.State == array.GroupFailedOver:
			// The writable side is the source, which holds every write:
			// an acknowledged write is never only on the read-only side.
			t.Errorf("vm %s: volume %s (on %s, replica on %s) in group %s %s→%s writable %s state %s", vmID, v.ID, v.Array, v.Replica.Array, g.ID, g.SourceArray, g.TargetArray, g.Writable, g.State)
		case !slices.ContainsFunc(g.Pairs, func(p array.ReplicaPair) bool { return p.SourceVolume == v.ID }):
			t.Errorf("vm %s: group %s does not replicate volume %s", vmID, g.ID, v.ID)
		}
		group = v.Replica.Group
	}
	return group
}

// dumpMoves logs every migration run, to explain a broken invariant.
func dumpMoves(t *testing.T, h *harness) {
	runs, _ := h.svc.Operations(sagaMigration)
	for _, r := range runs {
		var b strings.Builder
		for _, st := range r.Steps {
			fmt.Fprintf(&b, "%s:%s(%d/%d) ", st.Name, st.State, st.Attempts, st.UndoAttempts)
		}
		t.Logf("run %s %s %s resumed=%d steps=%s err=%s action=%s", r.ID, r.Key, r.State, r.Resumed, b.String(), r.LastError, r.Action)
	}
	for id, g := range labGroups(t, h) {
		t.Logf("group %s %s→%s writable %s state %s", id, g.SourceArray, g.TargetArray, g.Writable, g.State)
	}
}

// killSwitch kills the daemon in the middle of a device call: armed with
// a countdown, the call of an array or the hypervisor that brings it to
// zero — before or after the device acted, as chosen — signals hit and
// blocks until its context ends, which the kill (the executor's stop)
// brings about. Only calls that change a device count; armed with a
// call's name, only calls of that name. Armed with then, the call that
// brings it to zero runs then (before or after the device acts) instead
// of blocking: a scenario's fault at an exact moment.
type killSwitch struct {
	mu    sync.Mutex
	left  int    // calls to go; 0: disarmed
	name  string // the calls that count; "" for all
	after bool   // the device acts before the call blocks (or then runs)
	then  func()
	hit   chan string
}

func newKillSwitch() *killSwitch { return &killSwitch{hit: make(chan string, 1)} }

func (k *killSwitch) arm(n int, after bool) { k.armOn("", n, after, nil) }

func (k *killSwitch) armOn(name string, n int, after bool, then func()) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.left, k.name, k.after, k.then = n, name, after, then
}

func (k *killSwitch) disarm() { k.arm(0, false) }

// call runs do, unless this is the call the switch waits for.
func (k *killSwitch) call(ctx context.Context, what string, do func() error) error {
	k.mu.Lock()
	fire := false
	if k.left > 0 && (k.name == "" || k.name == what) {
		k.left--
		fire = k.left == 0
	}
	after, then := k.after, k.then
	k.mu.Unlock()
	if !fire {
		return do()
	}
	if then != nil {
		var err error
		if after {
			err = do()
		}
		then()
		if !after {
			err = do()
		}
		select {
		case k.hit <- what:
		default:
		}
		return err
	}
	if after {
		_ = do()
	}
	select {
	case k.hit <- what:
	default:
	}
	<-ctx.Done()
	return ctx.Err()
}

// newKillHarness is newHarnessLab with the arrays and the hypervisor
// behind one kill switch.
func newKillHarness(t *testing.T, cfg lab.Config) (*harness, *killSwitch) {
	t.Helper()
	w, err := lab.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ks := newKillSwitch()
	h := &harness{world: w, dir: t.TempDir(), hv: killMover{w.Compute(), ks},
		wrap: func(d array.Driver) array.Driver { return killArray{d.(*lab.Array), ks} }}
	h.open(t, h.wrap)
	return h, ks
}

// killArray is a lab array behind a kill switch.
type killArray struct {
	*lab.Array
	k *killSwitch
}

func (a killArray) CreateVolume(ctx context.Context, spec array.VolumeSpec) (v array.Volume, err error) {
	err = a.k.call(ctx, "create volume", func() error { v, err = a.Array.CreateVolume(ctx, spec); return err })
	return v, err
}

func (a killArray) DeleteVolume(ctx context.Context, id string) error {
	return a.k.call(ctx, "delete volume", func() error { return a.Array.DeleteVolume(ctx, id) })
}

func (a killArray) Map(ctx context.Context, spec array.MapSpec) error {
	return a.k.call(ctx, "map", func() error { return a.Array.Map(ctx, spec) })
}

func (a killArray) Unmap(ctx context.Context, volume, hostGroup string) error {
	return a.k.call(ctx, "unmap", func() error { return a.Array.Unmap(ctx, volume, hostGroup) })
}

func (a killArray) CreateReplicationGroup(ctx context.Context, spec array.ReplicationGroupSpec) (g array.ReplicationGroup, err error) {
	err = a.k.call(ctx, "create group", func() error { g, err = a.Array.CreateReplicationGroup(ctx, spec); return err })
	return g, err
}

func (a killArray) DemoteReplicationGroup(ctx context.Context, id string) error {
	return a.k.call(ctx, "demote", func() error { return a.Array.DemoteReplicationGroup(ctx, id) })
}

func (a killArray) PromoteReplicationGroup(ctx context.Context, id, arrayID string) error {
	return a.k.call(ctx, "promote", func() error { return a.Array.PromoteReplicationGroup(ctx, id, arrayID) })
}

func (a killArray) ReverseReplicationGroup(ctx context.Context, id string) error {
	return a.k.call(ctx, "reverse", func() error { return a.Array.ReverseReplicationGroup(ctx, id) })
}

func (a killArray) DeleteReplicationGroup(ctx context.Context, id string) error {
	return a.k.call(ctx, "delete group", func() error { return a.Array.DeleteReplicationGroup(ctx, id) })
}

// killMover is the lab's hypervisor behind a kill switch.
type killMover struct {
	*lab.Hypervisor
	k *killSwitch
}

func (m killMover) Move(ctx context.Context, vm, host string, mode compute.MoveMode) error {
	return m.k.call(ctx, "move", func() error { return m.Hypervisor.Move(ctx, vm, host, mode) })
}

func (m killMover) PowerOn(ctx context.Context, vm string) error {
	return m.k.call(ctx, "power on", func() error { return m.Hypervisor.PowerOn(ctx, vm) })
}

func (m killMover) PowerOff(ctx context.Context, vm string) error {
	return m.k.call(ctx, "power off", func() error { return m.Hypervisor.PowerOff(ctx, vm) })
}
