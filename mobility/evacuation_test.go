package mobility

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sanmob/sanmob/array"
	"github.com/sanmob/sanmob/compute"
	"github.com/sanmob/sanmob/internal/clockwait"
	"github.com/sanmob/sanmob/inventory"
	"github.com/sanmob/sanmob/lab"
)

func opt(host string, bytes int64, slots map[string]int, vols ...placeVolume) placeOption {
	return placeOption{Host: host, Bytes: bytes, Slots: slots, Volumes: vols}
}

func hostsOf(ps []placement) map[string]string {
	out := map[string]string{}
	for _, p := range ps {
		out[p.VM] = p.Host
	}
	return out
}

// TestPlaceVMsOrderAndBalance: the largest copy is placed (and listed)
// first, and VMs spread over the destinations by how many each got.
func TestPlaceVMsOrderAndBalance(t *testing.T) {
	f := map[string]int{"fa": 1}
	var vms []placeVM
	for i, b := range []int64{10, 40, 20, 30} {
		name := string(rune('a' + i))
		vms = append(vms, placeVM{VM: name, Bytes: b, Options: []placeOption{opt("h1", b, f), opt("h2", b, f)}})
	}
	free := map[string]map[string]int{"h1": {"fa": 10}, "h2": {"fa": 10}}
	got := placeVMs(vms, free, nil)
	var order []string
	per := map[string]int{}
	for _, p := range got {
		order = append(order, p.VM)
		per[p.Host]++
	}
	if want := []string{"b", "d", "c", "a"}; !slices.Equal(order, want) {
		t.Fatalf("order %v, want %v (largest copy first)", order, want)
	}
	if per["h1"] != 2 || per["h2"] != 2 {
		t.Fatalf("placements per host %v, want 2 and 2", per)
	}
	if free["h1"]["fa"] != 10 || free["h2"]["fa"] != 10 {
		t.Fatalf("placeVMs changed its input: %v", free)
	}
}

// TestPlaceVMsSlots: the vport slots earlier placements take are not
// offered again; with equal counts the host with more slots left wins; a VM
// that fits nowhere any more is left unplaced, with why.
func TestPlaceVMsSlots(t *testing.T) {
	need := map[string]int{"fa": 1, "fb": 1}
	var vms []placeVM
	for _, n := range []string{"v1", "v2", "v3", "v4", "v5"} {
		vms = append(vms, placeVM{VM: n, Options: []placeOption{opt("small", 0, need), opt("big", 0, need)}})
	}
	free := map[string]map[string]int{"small": {"fa": 1, "fb": 4}, "big": {"fa": 3, "fb": 3}}
	got := placeVMs(vms, free, nil)
	h := hostsOf(got)
	// v1: counts equal, big has more room → big. v2: small has fewer →
	// small. v3: small has no fa slot left → big. v4 → big (its last
	// slot). v5: nowhere.
	want := map[string]string{"v1": "big", "v2": "small", "v3": "big", "v4": "big", "v5": ""}
	if !maps.Equal(h, want) {
		t.Fatalf("placements %v, want %v", h, want)
	}
	last := got[len(got)-1]
	if last.VM != "v5" || len(last.Reasons) != 2 || !strings.Contains(strings.Join(last.Reasons, ";"), "vport slot") {
		t.Fatalf("unplaced vm %+v: want a reason per host about vport slots", last)
	}
}

// TestPlaceVMsPoolCapacity: replicas earlier placements put in a pool count
// against it, so a second VM whose replica would overfill it goes to the
// destination whose pool has room, or nowhere.
func TestPlaceVMsPoolCapacity(t *testing.T) {
	pools := map[string]array.Pool{
		"arr1/p": {ID: "p", PhysicalBytes: 100, MaxOvercommit: 1},
		"arr2/q": {ID: "q", PhysicalBytes: 100, MaxOvercommit: 1},
	}
	vol := func(pool string, size int64) placeVolume { return placeVolume{Pool: pool, SizeBytes: size} }
	vms := []placeVM{
		{VM: "big", Bytes: 60, Options: []placeOption{opt("h1", 60, nil, vol("arr1/p", 60)), opt("h2", 60, nil, vol("arr1/p", 60))}},
		{VM: "mid", Bytes: 50, Options: []placeOption{opt("h1", 50, nil, vol("arr1/p", 50)), opt("h3", 50, nil, vol("arr2/q", 50))}},
		{VM: "also", Bytes: 45, Options: []placeOption{opt("h2", 45, nil, vol("arr1/p", 45))}},
	}
	got := placeVMs(vms, nil, pools)
	h := hostsOf(got)
	if h["big"] == "" || h["mid"] != "h3" || h["also"] != "" {
		t.Fatalf("placements %v: want big placed, mid on h3 (arr1/p is full after big), also nowhere", h)
	}
	if r := strings.Join(got[2].Reasons, ";"); !strings.Contains(r, "arr1/p") {
		t.Fatalf("also's reasons %q: want the full pool named", r)
	}
	if pools["arr1/p"].ProvisionedBytes != 0 {
		t.Fatalf("placeVMs changed its input pools")
	}
	// Two volumes of one VM in one pool count together.
	two := []placeVM{{VM: "x", Options: []placeOption{opt("h1", 0, nil, vol("arr2/q", 60), vol("arr2/q", 60))}}}
	if p := placeVMs(two, nil, pools); p[0].Host != "" {
		t.Fatalf("two 60-byte replicas placed in a 100-byte pool: %+v", p)
	}
}

// TestPlaceVMsInfeasible: a VM without a feasible destination keeps the
// planner's reasons.
func TestPlaceVMsInfeasible(t *testing.T) {
	got := placeVMs([]placeVM{{VM: "x", Reasons: []string{"host h1: no HBAs"}}}, nil, nil)
	if got[0].Host != "" || !slices.Equal(got[0].Reasons, []string{"host h1: no HBAs"}) {
		t.Fatalf("%+v", got)
	}
}

// evacHosts picks a host of the small lab's east site with at least min
// VMs, and the other east hosts.
func evacHosts(t *testing.T, svc *Service, min int) (string, []string, []inventory.VM) {
	t.Helper()
	hosts := svc.Hosts(inventory.HostFilter{Site: "east"})
	for _, h := range hosts {
		vms := svc.VMs(inventory.VMFilter{Host: h.ID})
		if len(vms) < min {
			continue
		}
		var dests []string
		for _, o := range hosts {
			if o.ID != h.ID {
				dests = append(dests, o.ID)
			}
		}
		return h.ID, dests, vms
	}
	t.Fatalf("no east host with %d VMs", min)
	return "", nil, nil
}

// countingMover is the lab's hypervisor that counts the moves in flight
// and holds each for a while of lab time, so that moves allowed to overlap
// do. While block is set, Move waits for its context instead (a kill in
// the middle of the move).
type countingMover struct {
	*lab.Hypervisor
	hold    func(ctx context.Context) error
	now     atomic.Int32
	peak    atomic.Int32
	block   atomic.Bool
	entered chan string
	mu      sync.Mutex
	moved   map[string]int
}

func (c *countingMover) Move(ctx context.Context, vm, host string, mode compute.MoveMode) error {
	n := c.now.Add(1)
	defer c.now.Add(-1)
	for {
		p := c.peak.Load()
		if n <= p || c.peak.CompareAndSwap(p, n) {
			break
		}
	}
	if c.block.Load() {
		select {
		case c.entered <- vm:
		default:
		}
		<-ctx.Done()
		return ctx.Err()
	}
	if err := c.hold(ctx); err != nil {
		return err
	}
	c.mu.Lock()
	c.moved[vm]++
	c.mu.Unlock()
	return c.Hypervisor.Move(ctx, vm, host, mode)
}

func newCountingHarness(t *testing.T) (*harness, *countingMover) {
	w, err := lab.New(lab.Small())
	if err != nil {
		t.Fatal(err)
	}
	cm := &countingMover{Hypervisor: w.Compute(), entered: make(chan string, 8), moved: map[string]int{}}
	cm.hold = func(ctx context.Context) error { return clockwait.Sleep(ctx, w.Clock(), 5*time.Second) }
	h := &harness{world: w, dir: t.TempDir(), hv: cm}
	h.open(t, nil)
	return h, cm
}

func waitEvac(t *testing.T, svc *Service, id string) Evacuation {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	e, err := svc.WaitEvacuation(ctx, id)
	if err != nil {
		t.Fatalf("waiting for evacuation %s: %v (%+v)", id, err, e)
	}
	return e
}

// checkEvacuated: every VM of the host is on the destination the
// evacuation recorded, one of dests, and the record says so.
func checkEvacuated(t *testing.T, svc *Service, e Evacuation, vms []inventory.VM, dests []string) {
	t.Helper()
	if e.Phase != EvacuationSucceeded || e.Progress.Done != len(vms) || e.Progress.Total != len(vms) || len(e.Migrations) != len(vms) {
		t.Fatalf("evacuation %+v: want succeeded with %d VMs done", e, len(vms))
	}
	for _, m := range e.Migrations {
		if m.State != MoveStateSucceeded || m.Migration == "" || !slices.Contains(dests, m.DestinationHost) {
			t.Fatalf("move %+v", m)
		}
		vm, err := svc.VM(m.VM)
		if err != nil || vm.Host != m.DestinationHost {
			t.Fatalf("vm %s on %s (%v), want %s", m.VM, vm.Host, err, m.DestinationHost)
		}
		mg, err := svc.Migration(m.Migration)
		if err != nil || mg.Phase != "succeeded" || mg.VM != m.VM {
			t.Fatalf("migration %s: %+v, %v", m.Migration, mg, err)
		}
	}
	if left := svc.VMs(inventory.VMFilter{Host: e.Host}); len(left) != 0 {
		t.Fatalf("%d VMs left on %s", len(left), e.Host)
	}
}

// TestEvacuationRunsAtMostMaxParallel evacuates a host of the small lab to
// the other hosts of its site with maxParallel 2: never more than two moves
// run at once (but two do), every VM ends on a destination, spread over
// them, and the evacuation ends succeeded.
func TestEvacuationRunsAtMostMaxParallel(t *testing.T) {
	h, cm := newCountingHarness(t)
	host, dests, vms := evacHosts(t, h.svc, 3)
	e, err := h.svc.StartEvacuation(EvacuationSpec{ID: "evac-1", Host: host, DestinationHosts: dests, MaxParallel: 2})
	if err != nil {
		t.Fatal(err)
	}
	if e.ID != "evac-1" || e.Phase != EvacuationRunning || e.Mode != ModeLive || len(e.Migrations) != len(vms) || e.Progress.Total != len(vms) {
		t.Fatalf("started evacuation %+v", e)
	}
	if _, err := h.svc.StartEvacuation(EvacuationSpec{Host: host, DestinationHosts: dests}); !errors.Is(err, ErrConflict) {
		t.Fatalf("a second evacuation of %s while one runs: %v, want ErrConflict", host, err)
	}
	// Nor may a destination be drained meanwhile, nor VMs go onto the host.
	if _, err := h.svc.StartEvacuation(EvacuationSpec{Host: dests[0], DestinationHosts: []string{host}}); !errors.Is(err, ErrConflict) {
		t.Fatalf("evacuating destination %s onto the host being evacuated: %v, want ErrConflict", dests[0], err)
	}
	e = waitEvac(t, h.svc, e.ID)
	checkEvacuated(t, h.svc, e, vms, dests)
	if p := cm.peak.Load(); p != 2 {
		t.Fatalf("at most %d moves ran at once, want exactly 2", p)
	}
	// And by the migrations' own times: no instant with three running.
	var ms []Migration
	for _, m := range e.Migrations {
		mg, _ := h.svc.Migration(m.Migration)
		ms = append(ms, mg)
	}
	for _, a := range ms {
		at := *a.Steps[0].StartedAt
		n := 0
		for _, b := range ms {
			if !b.Steps[0].StartedAt.After(at) && b.Steps[len(b.Steps)-1].EndedAt.After(at) {
				n++
			}
		}
		if n > 2 {
			t.Fatalf("%d migrations running at %v", n, at)
		}
	}
	per := map[string]int{}
	for _, m := range e.Migrations {
		per[m.DestinationHost]++
	}
	if len(vms) <= len(dests) && len(per) != len(vms) {
		t.Fatalf("%d VMs over %d destinations placed %v: want one each", len(vms), len(dests), per)
	}
	// The host is empty now: evacuating it again succeeds at once.
	again, err := h.svc.StartEvacuation(EvacuationSpec{Host: host, DestinationHosts: dests})
	if err != nil || again.Phase != EvacuationSucceeded || again.Progress.Total != 0 {
		t.Fatalf("evacuating an empty host: %+v, %v", again, err)
	}
	if _, err := h.svc.StartEvacuation(EvacuationSpec{ID: "evac-1", Host: dests[0], DestinationHosts: dests[1:]}); !errors.Is(err, ErrConflict) {
		t.Fatalf("an id taken: %v, want ErrConflict", err)
	}
	list, err := h.svc.Evacuations()
	if err != nil || len(list) != 2 || list[0].ID != "evac-1" {
		t.Fatalf("evacuations %+v, %v", list, err)
	}
}

// TestEvacuationResumesAfterRestart: the daemon dies while the first moves
// are under way; after the restart the evacuation finds its started
// migrations by id and waits for them, starts the rest, and ends succeeded,
// with one move per VM.
func TestEvacuationResumesAfterRestart(t *testing.T) {
	h, cm := newCountingHarness(t)
	host, dests, vms := evacHosts(t, h.svc, 3)
	cm.block.Store(true)
	e, err := h.svc.StartEvacuation(EvacuationSpec{Host: host, DestinationHosts: dests, MaxParallel: 1, Mode: ModeCold})
	if err != nil {
		t.Fatal(err)
	}
	first := <-cm.entered
	// The record names the started migration before the kill.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		got, err := h.svc.Evacuation(e.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Migrations[0].Migration != "" {
			if got.Migrations[0].VM != first || got.Migrations[0].State != MoveStateRunning || got.Migrations[1].State != MoveStatePending {
				t.Fatalf("before the kill: %+v", got.Migrations)
			}
			break
		}
		if clockwait.Sleep(ctx, h.world.Clock(), time.Second) != nil {
			t.Fatal("the first move was never recorded")
		}
	}
	h.stop() // the kill
	cm.block.Store(false)
	h.reopen(t)
	e = waitEvac(t, h.svc, e.ID)
	checkEvacuated(t, h.svc, e, vms, dests)
	ms, err := h.svc.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	per := map[string]int{}
	for _, m := range ms {
		per[m.VM]++
	}
	for _, vm := range vms {
		if per[vm.ID] != 1 || cm.moved[vm.ID] != 1 {
			t.Fatalf("vm %s: %d migrations, moved %d times; want one", vm.ID, per[vm.ID], cm.moved[vm.ID])
		}
	}
	if e.Mode != ModeCold {
		t.Fatalf("mode %s", e.Mode)
	}
}

// TestEvacuationSpec: bad specs are refused before anything is written.
func TestEvacuationSpec(t *testing.T) {
	h := newHarness(t, nil)
	host, dests, _ := evacHosts(t, h.svc, 1)
	for _, c := range []struct {
		spec EvacuationSpec
		want error
	}{
		{EvacuationSpec{DestinationHosts: dests}, ErrInvalid},
		{EvacuationSpec{Host: host}, ErrInvalid},
		{EvacuationSpec{Host: host, DestinationHosts: []string{dests[0], dests[0]}}, ErrInvalid},
		{EvacuationSpec{Host: host, DestinationHosts: []string{host}}, ErrInvalid},
		{EvacuationSpec{Host: host, DestinationHosts: dests, Mode: "warp"}, ErrInvalid},
		{EvacuationSpec{Host: host, DestinationHosts: dests, MaxParallel: 65}, ErrInvalid},
		{EvacuationSpec{Host: host, DestinationHosts: dests, MaxParallel: -1}, ErrInvalid},
		{EvacuationSpec{ID: "Bad_ID", Host: host, DestinationHosts: dests}, ErrInvalid},
		{EvacuationSpec{Host: "nope", DestinationHosts: dests}, ErrNotFound},
		{EvacuationSpec{Host: host, DestinationHosts: []string{dests[0], "nope"}}, ErrNotFound},
	} {
		if _, err := h.svc.StartEvacuation(c.spec); !errors.Is(err, c.want) {
			t.Errorf("%+v: %v, want %v", c.spec, err, c.want)
		}
	}
	if l, _ := h.svc.Evacuations(); len(l) != 0 {
		t.Fatalf("refused specs wrote %d evacuations", len(l))
	}
	if _, err := h.svc.Evacuation("nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown evacuation: %v", err)
	}
}

// TestEvacuationSkipsWhatCannotRun: a cross-site destination is planned
// but not run by this build: each VM is recorded as skipped with the
// reason, and, none moved, the evacuation ends failed.
func TestEvacuationSkipsWhatCannotRun(t *testing.T) {
	w, err := lab.New(lab.Small())
	if err != nil {
		t.Fatal(err)
	}
	// A hypervisor manager sanmob can read but not drive: every move is
	// planned, and refused as not implemented when it starts.
	h := &harness{world: w, dir: t.TempDir(), hv: readOnlyCompute{w.Compute()}}
	h.open(t, nil)
	host, dests, vms := evacHosts(t, h.svc, 1)
	e, err := h.svc.StartEvacuation(EvacuationSpec{Host: host, DestinationHosts: dests, Mode: ModeCold})
	if err != nil {
		t.Fatal(err)
	}
	e = waitEvac(t, h.svc, e.ID)
	if e.Phase != EvacuationFailed || e.Progress.Done != len(vms) || e.Progress.BytesCopied != 0 {
		t.Fatalf("evacuation %+v: want failed, all done, none copied", e)
	}
	for i, m := range e.Migrations {
		if m.State != MoveStateSkipped || m.Migration != "" || len(m.Reasons) == 0 {
			t.Fatalf("move %+v: want skipped with its reason", m)
		}
		if i > 0 && m.BytesToCopy > e.Migrations[i-1].BytesToCopy {
			t.Fatalf("moves not largest copy first: %+v", e.Migrations)
		}
	}
	for _, vm := range vms {
		if v, _ := h.svc.VM(vm.ID); v.Host != host {
			t.Fatalf("vm %s moved to %s", vm.ID, v.Host)
		}
	}
}

// TestEvacuationAdoptsAStartedMigration: the daemon died after a move's
// migration started but before the evacuation's record named it; after the
// restart the evacuation finds that migration (the VM, from the host, to
// its destination, since the evacuation began) and waits for it rather than
// starting — or skipping — the VM again.
func TestEvacuationAdoptsAStartedMigration(t *testing.T) {
	w, err := lab.New(lab.Small())
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{world: w, dir: t.TempDir(), noSagas: true}
	h.open(t, nil)
	host, dests, vms := evacHosts(t, h.svc, 2)
	e, err := h.svc.StartEvacuation(EvacuationSpec{Host: host, DestinationHosts: dests, MaxParallel: 1})
	if err != nil {
		t.Fatal(err)
	}
	first := e.Migrations[0]
	mg, err := h.svc.StartMigration(MigrationSpec{VM: first.VM, DestinationHost: first.DestinationHost})
	if err != nil {
		t.Fatal(err)
	}
	h.noSagas = false
	h.reopen(t)
	e = waitEvac(t, h.svc, e.ID)
	checkEvacuated(t, h.svc, e, vms, dests)
	if e.Migrations[0].Migration != mg.ID {
		t.Fatalf("first move ran as migration %s, want the one started before the crash, %s", e.Migrations[0].Migration, mg.ID)
	}
	ms, err := h.svc.Migrations()
	if err != nil || len(ms) != len(vms) {
		t.Fatalf("%d migrations for %d VMs (%v)", len(ms), len(vms), err)
	}
}

// readOnlyCompute hides the lab hypervisor's Mover: a driver that only reads.
type readOnlyCompute struct{ d compute.Driver }

func (r readOnlyCompute) Hosts(ctx context.Context) ([]compute.Host, error) { return r.d.Hosts(ctx) }
func (r readOnlyCompute) VMs(ctx context.Context) ([]compute.VM, error)     { return r.d.VMs(ctx) }
