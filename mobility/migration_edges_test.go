package mobility

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sanmob/sanmob/compute/external"
	"github.com/sanmob/sanmob/inventory"
	"github.com/sanmob/sanmob/lab"
	"github.com/sanmob/sanmob/saga"
)

// otherEastHost is an east host the VM does not run on.
func otherEastHost(t *testing.T, h *harness, vmID string) (src, dst string) {
	t.Helper()
	vm, err := h.svc.VM(vmID)
	if err != nil {
		t.Fatal(err)
	}
	dst = "east-esx02"
	if vm.Host == dst {
		dst = "east-esx03"
	}
	return vm.Host, dst
}

// until reads events until one satisfies ok, and returns those read; it
// fails the test if the channel closes first or nothing comes in time.
func until(t *testing.T, ch <-chan MigrationEvent, ok func(MigrationEvent) bool) []MigrationEvent {
	t.Helper()
	var got []MigrationEvent
	timeout := time.After(30 * time.Second)
	for {
		select {
		case e, open := <-ch:
			if !open {
				t.Fatalf("the stream closed before the awaited event; got %+v", got)
			}
			got = append(got, e)
			if ok(e) {
				return got
			}
		case <-timeout:
			t.Fatalf("no awaited event in time; got %+v", got)
		}
	}
}

// drain reads the events until the channel closes.
func drain(t *testing.T, ch <-chan MigrationEvent) []MigrationEvent {
	t.Helper()
	var got []MigrationEvent
	timeout := time.After(30 * time.Second)
	for {
		select {
		case e, open := <-ch:
			if !open {
				return got
			}
			got = append(got, e)
		case <-timeout:
			t.Fatalf("the stream did not close in time; got %+v", got)
		}
	}
}

func isPhase(p string) func(MigrationEvent) bool {
	return func(e MigrationEvent) bool { return e.Type == EventPhase && e.State == p }
}

func stepRunning(name string) func(MigrationEvent) bool {
	return func(e MigrationEvent) bool { return e.Type == EventStep && e.Step == name && e.State == "running" }
}

// checkBackAtSource: the VM runs on src with its vports as before, and no
// WWPN was ever logged in twice.
func checkBackAtSource(t *testing.T, h *harness, before inventory.VM) {
	t.Helper()
	h.svc.Refresh(context.Background())
	after, err := h.svc.VM(before.ID)
	if err != nil {
		t.Fatal(err)
	}
	if after.Host != before.Host {
		t.Fatalf("vm on %s after the rollback, was on %s", after.Host, before.Host)
	}
	for i, p := range after.Vports {
		if p.Active != before.Vports[i].Active || p.LoggedIn != before.Vports[i].LoggedIn {
			t.Fatalf("vport %s: active %v logged in %v after the rollback; before %v %v",
				p.WWPN, p.Active, p.LoggedIn, before.Vports[i].Active, before.Vports[i].LoggedIn)
		}
	}
	if n := h.world.DuplicateLogins(); n != 0 {
		t.Fatalf("%d duplicate logins", n)
	}
}

func checkSeq(t *testing.T, evs []MigrationEvent) {
	t.Helper()
	for i, e := range evs {
		if e.Seq != uint64(i+1) {
			t.Fatalf("event %d has seq %d: %+v", i, e.Seq, evs)
		}
	}
}

// TestAbortSameFabricMigration: the hypervisor is slow to move the VM (an
// injected latency); an abort while the move step runs rolls the migration
// back: the VM stays on its host with the same vports active and logged
// in, and the event stream shows the rollback to its end.
func TestAbortSameFabricMigration(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	const vmID = "east-vm004"
	src, _ := otherEastHost(t, h, vmID)
	before, m, snap, ch := slowEastMove(t, h, vmID)
	if snap.ID != m.ID || snap.VM != vmID || snap.Phase != "running" {
		t.Fatalf("snapshot %+v", snap)
	}
	var evs []MigrationEvent
	if i := slices.IndexFunc(snap.Steps, func(s MigrationStep) bool { return s.Name == "move" }); snap.Steps[i].State != "running" {
		evs = until(t, ch, stepRunning("move"))
	}
	a, err := h.svc.AbortMigration(m.ID)
	if err != nil {
		t.Fatal(err)
	}
	if a.Phase != "rolling-back" || !strings.Contains(a.Error, "aborted by request") {
		t.Fatalf("AbortMigration returned %+v", a)
	}
	evs = append(evs, drain(t, ch)...)
	checkSeq(t, evs)
	last := evs[len(evs)-1]
	if last.Type != EventPhase || last.State != "rolled-back" || !strings.Contains(last.Error, "aborted by request") {
		t.Fatalf("last event %+v, want phase rolled-back", last)
	}
	if !slices.ContainsFunc(evs, isPhase("rolling-back")) {
		t.Errorf("no rolling-back phase in %+v", evs)
	}
	for _, step := range []string{"login-idle", "move"} {
		if !slices.ContainsFunc(evs, func(e MigrationEvent) bool { return e.Step == step && e.State == "undone" }) {
			t.Errorf("no %s undone event in %+v", step, evs)
		}
	}
	end, err := h.svc.Migration(m.ID)
	if err != nil || end.Phase != "rolled-back" {
		t.Fatalf("migration after the abort: %+v, %v", end, err)
	}
	checkBackAtSource(t, h, before)
	if before.Host != src {
		t.Fatalf("source %s, vm was on %s", src, before.Host)
	}
	if _, err := h.svc.AbortMigration(m.ID); !errors.Is(err, ErrConflict) {
		t.Errorf("abort of a rolled-back migration: %v", err)
	}
	if _, err := h.svc.AbortMigration("no-such-migration"); !errors.Is(err, ErrNotFound) {
		t.Errorf("abort of an unknown migration: %v", err)
	}
	// A stream of an ended migration closes at once, after its snapshot.
	snap, ch, err = h.svc.MigrationEvents(ctx, m.ID)
	if err != nil || snap.Phase != "rolled-back" {
		t.Fatalf("events of an ended migration: %+v, %v", snap, err)
	}
	if evs := drain(t, ch); len(evs) != 0 {
		t.Errorf("events after the end: %+v", evs)
	}
	if _, _, err := h.svc.MigrationEvents(ctx, "no-such-migration"); !errors.Is(err, ErrNotFound) {
		t.Errorf("events of an unknown migration: %v", err)
	}
	// The VM can move again.
	m, err = h.svc.StartMigration(MigrationSpec{VM: vmID, DestinationHost: m.DestinationHost})
	if err != nil {
		t.Fatal(err)
	}
	if end, err = h.svc.WaitMigration(ctx, m.ID); err != nil || end.Phase != "succeeded" {
		t.Fatalf("second move: %+v, %v", end, err)
	}
}

// externalHarness is the small lab whose hypervisor is driven by an
// external manager: the test reports the moves.
func externalHarness(t *testing.T, timeout time.Duration) (*harness, *external.Driver) {
	t.Helper()
	w, err := lab.New(lab.Small())
	if err != nil {
		t.Fatal(err)
	}
	ext := external.New(w.Compute(), timeout, w.Clock())
	h := &harness{world: w, dir: t.TempDir(), hv: ext}
	h.open(t, nil)
	return h, ext
}

// slowEastMove starts a move of vmID to another host of site east whose
// hypervisor move takes an hour (an injected latency: an abort lands in the
// move step), and subscribes to its events.
func slowEastMove(t *testing.T, h *harness, vmID string) (inventory.VM, Migration, Migration, <-chan MigrationEvent) {
	t.Helper()
	_, dst := otherEastHost(t, h, vmID)
	if err := h.world.InjectFault(lab.Fault{Target: dst, Op: lab.OpMove, Count: 1, Latency: time.Hour}); err != nil {
		t.Fatal(err)
	}
	before, m := startEastMove(t, h, vmID)
	snap, ch, err := h.svc.MigrationEvents(context.Background(), m.ID)
	if err != nil {
		t.Fatal(err)
	}
	return before, m, snap, ch
}

// startEastMove starts a move of the lab VM vmID to another host of site
// east, and returns the VM as it was before.
func startEastMove(t *testing.T, h *harness, vmID string) (inventory.VM, Migration) {
	t.Helper()
	_, dst := otherEastHost(t, h, vmID)
	before, err := h.svc.VM(vmID)
	if err != nil {
		t.Fatal(err)
	}
	m, err := h.svc.StartMigration(MigrationSpec{VM: vmID, DestinationHost: dst})
	if err != nil {
		t.Fatal(err)
	}
	return before, m
}

// TestExternalComputeSwitched: with the external driver the migration
// waits for the manager (phase waiting-compute, in the stream and in
// migrationPhase); a switched report lets it finish.
func TestExternalComputeSwitched(t *testing.T) {
	h, ext := externalHarness(t, time.Hour)
	ctx := context.Background()
	const vmID = "east-vm006"
	_, m := startEastMove(t, h, vmID)
	snap, ch, err := h.svc.MigrationEvents(ctx, m.ID)
	if err != nil {
		t.Fatal(err)
	}
	var evs []MigrationEvent
	if snap.Phase != PhaseWaitingCompute {
		evs = until(t, ch, isPhase(PhaseWaitingCompute))
	}
	if !ext.Waiting(vmID) {
		t.Fatal("the driver does not wait for the manager")
	}
	got, err := h.svc.Migration(m.ID)
	if err != nil {
		t.Fatal(err)
	}
	if p := h.svc.migrationPhase(got); p != PhaseWaitingCompute {
		t.Fatalf("migrationPhase %q, want %s", p, PhaseWaitingCompute)
	}
	if _, err := h.svc.ReportCompute(m.ID, ComputeReport{State: "done"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("bad state: %v", err)
	}
	if _, err := h.svc.ReportCompute("no-such-migration", ComputeReport{State: ComputeSwitched}); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown migration: %v", err)
	}
	r, err := h.svc.ReportCompute(m.ID, ComputeReport{State: ComputeSwitched})
	if err != nil {
		t.Fatal(err)
	}
	if r.Phase == PhaseWaitingCompute {
		t.Errorf("still waiting-compute after the report: %+v", r)
	}
	evs = append(evs, drain(t, ch)...)
	checkSeq(t, evs)
	if last := evs[len(evs)-1]; last.Type != EventPhase || last.State != "succeeded" {
		t.Fatalf("last event %+v", last)
	}
	// waiting-compute came and went: running follows it.
	i := slices.IndexFunc(evs, isPhase(PhaseWaitingCompute))
	if i < 0 || !slices.ContainsFunc(evs[i:], isPhase("running")) {
		t.Errorf("events %+v: want waiting-compute then running", evs)
	}
	h.svc.Refresh(ctx)
	if vm, _ := h.svc.VM(vmID); vm.Host != m.DestinationHost {
		t.Fatalf("vm on %s, want %s", vm.Host, m.DestinationHost)
	}
	if _, err := h.svc.ReportCompute(m.ID, ComputeReport{State: ComputeSwitched}); !errors.Is(err, ErrConflict) {
		t.Errorf("report after the end: %v", err)
	}
}

// TestExternalComputeFailedRollsBack: a failed report rolls the migration
// back with the manager's detail.
func TestExternalComputeFailedRollsBack(t *testing.T) {
	h, _ := externalHarness(t, time.Hour)
	ctx := context.Background()
	const vmID = "east-vm008"
	before, m := startEastMove(t, h, vmID)
	waitPhase(t, h, m.ID, PhaseWaitingCompute)
	if _, err := h.svc.ReportCompute(m.ID, ComputeReport{State: ComputeFailed, Detail: "DRS refused: host in maintenance"}); err != nil {
		t.Fatal(err)
	}
	end, err := h.svc.WaitMigration(ctx, m.ID)
	if err != nil || end.Phase != "rolled-back" || !strings.Contains(end.Error, "host in maintenance") {
		t.Fatalf("migration %+v, %v: want rolled back with the manager's detail", end, err)
	}
	checkBackAtSource(t, h, before)
}

// TestExternalComputeTimeoutRollsBack: no report within the timeout rolls
// the migration back.
func TestExternalComputeTimeoutRollsBack(t *testing.T) {
	h, ext := externalHarness(t, 2*time.Minute) // 2 s of real time at the lab's speed
	ctx := context.Background()
	const vmID = "east-vm009"
	before, m := startEastMove(t, h, vmID)
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	end, err := h.svc.WaitMigration(wctx, m.ID)
	if err != nil || end.Phase != "rolled-back" || !strings.Contains(end.Error, "no report from the hypervisor manager within 2m0s") {
		t.Fatalf("migration %+v, %v: want rolled back for want of a report", end, err)
	}
	if ext.Waiting(vmID) {
		t.Error("the driver still waits after the timeout")
	}
	checkBackAtSource(t, h, before)
	if _, err := h.svc.ReportCompute(m.ID, ComputeReport{State: ComputeSwitched}); !errors.Is(err, ErrConflict) {
		t.Errorf("late report: %v", err)
	}
}

// TestAbortWhileWaitingCompute: an abort while the manager has not
// reported rolls back and leaves nothing pending.
func TestAbortWhileWaitingCompute(t *testing.T) {
	h, ext := externalHarness(t, time.Hour)
	ctx := context.Background()
	const vmID = "east-vm010"
	before, m := startEastMove(t, h, vmID)
	waitPhase(t, h, m.ID, PhaseWaitingCompute)
	a, err := h.svc.AbortMigration(m.ID)
	if err != nil {
		t.Fatal(err)
	}
	// The move the abort left pending is not waited for.
	if a.Phase != "rolling-back" {
		t.Errorf("abort answered phase %q, want rolling-back", a.Phase)
	}
	end, err := h.svc.WaitMigration(ctx, m.ID)
	if err != nil || end.Phase != "rolled-back" {
		t.Fatalf("migration %+v, %v", end, err)
	}
	if ext.Waiting(vmID) {
		t.Error("a move is still pending after the rollback")
	}
	if _, err := h.svc.ReportCompute(m.ID, ComputeReport{State: ComputeSwitched}); !errors.Is(err, ErrConflict) {
		t.Errorf("report after the abort: %v", err)
	}
	checkBackAtSource(t, h, before)
}

// TestReportComputeNotExternal: sanmob's own hypervisor driver waits for
// no report.
func TestReportComputeNotExternal(t *testing.T) {
	h := newHarness(t, nil)
	const vmID = "east-vm011"
	_, m := startEastMove(t, h, vmID)
	if _, err := h.svc.ReportCompute(m.ID, ComputeReport{State: ComputeSwitched}); !errors.Is(err, ErrConflict) ||
		!strings.Contains(err.Error(), "not external") {
		t.Errorf("report to the lab driver: %v", err)
	}
	if _, err := h.svc.WaitMigration(context.Background(), m.ID); err != nil {
		t.Fatal(err)
	}
}

func waitPhase(t *testing.T, h *harness, id, phase string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		m, err := h.svc.Migration(id)
		if err != nil {
			t.Fatal(err)
		}
		if h.svc.migrationPhase(m) == phase {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("migration %s never reached %s: %+v", id, phase, m)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// fakeMigrationRun is a running migration run of vm with four steps.
func fakeMigrationRun(id, vm string) saga.Run {
	data, _ := json.Marshal(migrationPlan{VM: vm})
	r := saga.Run{ID: id, Kind: sagaMigration, Key: vm, State: saga.StateRunning, Data: data}
	for _, n := range []string{"login-idle", "move", "activate", "logout-old"} {
		r.Steps = append(r.Steps, saga.StepRecord{Name: n, State: saga.StepPending})
	}
	return r
}

// TestMigrationEventsSlowSubscriber: a subscriber that does not read never
// blocks the executor's Observe; once its buffer is full it gets a resync
// event and its channel closes. Another one that reads gets everything.
func TestMigrationEventsSlowSubscriber(t *testing.T) {
	h := newHarness(t, nil)
	ev := h.svc.events
	ctx := context.Background()
	r := fakeMigrationRun("fake-run", "vm-x")
	ev.mu.Lock()
	_, slow := ev.subscribeLocked(ctx, r)
	_, fast := ev.subscribeLocked(ctx, r)
	ev.mu.Unlock()
	var fastGot []MigrationEvent
	const writes = 200
	for i := range writes {
		r.Steps[1].State = saga.StepDoing
		r.Steps[1].LastError = fmt.Sprintf("busy %d", i) // one step event per write
		ev.observe(r)                                    // must not block
		fastGot = append(fastGot, <-fast)                // the reader that keeps up
	}
	got := drain(t, slow)
	if len(got) != eventBuffer {
		t.Fatalf("slow subscriber got %d events, want %d", len(got), eventBuffer)
	}
	if last := got[len(got)-1]; last.Type != EventResync || last.Seq != eventBuffer {
		t.Fatalf("last event %+v, want a resync", last)
	}
	for i, e := range got[:len(got)-1] {
		if e.Type != EventStep || e.Seq != uint64(i+1) || e.Error != fmt.Sprintf("busy %d", i) {
			t.Fatalf("slow subscriber's event %d: %+v", i, e)
		}
	}
	// The one that kept up got every event, and ends with the terminal phase.
	r.State, r.Steps[1].State = saga.StateUndone, saga.StepUndone
	ev.observe(r)
	fastGot = append(fastGot, drain(t, fast)...)
	if n := len(fastGot); n != writes+2 { // a step event per write, the step undone, the phase
		t.Fatalf("fast subscriber got %d events", n)
	}
	checkSeq(t, fastGot)
	if last := fastGot[len(fastGot)-1]; last.Type != EventPhase || last.State != "rolled-back" {
		t.Fatalf("fast subscriber's last event %+v", last)
	}
	ev.mu.Lock()
	n := len(ev.subs)
	ev.mu.Unlock()
	if n != 0 {
		t.Errorf("%d runs keep subscribers", n)
	}
}

// TestMigrationEventsContextEnds: a subscriber whose context ends is
// dropped and its channel closed.
func TestMigrationEventsContextEnds(t *testing.T) {
	h := newHarness(t, nil)
	ev := h.svc.events
	ctx, cancel := context.WithCancel(context.Background())
	ev.mu.Lock()
	_, ch := ev.subscribeLocked(ctx, fakeMigrationRun("fake-run", "vm-x"))
	ev.mu.Unlock()
	cancel()
	if got := drain(t, ch); len(got) != 0 {
		t.Errorf("events %+v", got)
	}
	ev.observe(fakeMigrationRun("fake-run", "vm-x")) // no subscriber left: no panic on a closed channel
}

// TestAbortThenCrash: the daemon dies right after an abort; the next start
// rolls the migration back (never forward) and the VM stays at its source.
func TestAbortThenCrash(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	const vmID = "east-vm012"
	before, m, _, ch := slowEastMove(t, h, vmID)
	if cur, _ := h.svc.Migration(m.ID); cur.Steps[1].State != "running" {
		until(t, ch, stepRunning("move"))
	}
	if _, err := h.svc.AbortMigration(m.ID); err != nil {
		t.Fatal(err)
	}
	h.stop() // the kill, racing the rollback
	h.reopen(t)
	end, err := h.svc.WaitMigration(ctx, m.ID)
	if err != nil || end.Phase != "rolled-back" || !strings.Contains(end.Error, "aborted by request") {
		t.Fatalf("migration after the restart: %+v, %v", end, err)
	}
	for _, st := range end.Steps {
		if st.Name == "activate" || st.Name == "logout-old" {
			if st.State != "pending" {
				t.Errorf("step %s is %s: the aborted run went forward", st.Name, st.State)
			}
		}
	}
	checkBackAtSource(t, h, before)
}
