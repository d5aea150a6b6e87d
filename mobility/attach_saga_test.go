package mobility

import (
	"context"
	"errors"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sanmob/sanmob/alert"
	"github.com/sanmob/sanmob/array"
	"github.com/sanmob/sanmob/errclass"
	"github.com/sanmob/sanmob/internal/clockwait"
	"github.com/sanmob/sanmob/lab"
	"github.com/sanmob/sanmob/saga"
)

// TestAttachAfterAppliedTimeout is the case that made attach a saga: the
// array applies the mask and then times out. Before, the attach answered
// 503, the array kept the mapping and sanmob recorded nothing. Now the
// mask step is retried, finds the mask there (Map is idempotent on the
// device) and the attach completes: every mapping is explained.
func TestAttachAfterAppliedTimeout(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	v, err := h.svc.CreateVolume(ctx, VolumeSpec{Name: "applied", SizeBytes: gib, Site: "east"})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.world.InjectFault(lab.Fault{Target: "east-arr1", Op: lab.OpMask, Count: 1, Kind: lab.KindAppliedTimeout}); err != nil {
		t.Fatal(err)
	}
	at, err := h.svc.Attach(ctx, AttachmentSpec{Volume: v.ID, Node: "east-esx03"})
	if err != nil {
		t.Fatalf("attach after an applied timeout: %v", err)
	}
	if at.State != StateAttached || at.Operation == "" {
		t.Fatalf("attachment %+v", at)
	}
	if _, ok := mappingOf(h.world, "east-arr1", v.ID, "sm-host-east-esx03"); !ok {
		t.Fatal("no mapping")
	}
	run := mustRun(t, h, at.Operation)
	if run.State != saga.StateDone || run.Steps[0].Name != "mask" || run.Steps[0].Attempts != 2 {
		t.Fatalf("run %+v: want done, the mask step tried twice", run)
	}
	if err := h.svc.Detach(ctx, v.ID, "east-esx03"); err != nil {
		t.Fatal(err)
	}
	if _, ok := mappingOf(h.world, "east-arr1", v.ID, "sm-host-east-esx03"); ok {
		t.Fatal("mapping left after the detach")
	}
	if got := h.svc.Attachments(v.ID); len(got) != 0 {
		t.Fatalf("attachments after the detach: %+v", got)
	}
}

func mustRun(t *testing.T, h *harness, id string) saga.Run {
	t.Helper()
	runs, err := h.svc.Operations(sagaAttachment)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range runs {
		if r.ID == id {
			return r
		}
	}
	t.Fatalf("no run %s", id)
	return saga.Run{}
}

// TestAttachFinalFaultIsUndoneAndKeepsTheDevicesWords: a switch that
// refuses for good undoes the mask; the error keeps the switch's words and
// its class; nothing is left on any device and no attachment is recorded.
func TestAttachFinalFaultIsUndoneAndKeepsTheDevicesWords(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	v, err := h.svc.CreateVolume(ctx, VolumeSpec{Name: "refused", SizeBytes: gib, Site: "east"})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.world.InjectFault(lab.Fault{Target: "east-a", Op: lab.OpZone, Count: 1, Kind: lab.KindFinal}); err != nil {
		t.Fatal(err)
	}
	_, err = h.svc.Attach(ctx, AttachmentSpec{Volume: v.ID, Node: "east-esx03"})
	if err == nil || !strings.Contains(err.Error(), "failed for good") || errclass.Of(err) != errclass.Final || !FromDevice(err) {
		t.Fatalf("err %v (class %v, from device %v): want the switch's final refusal", err, errclass.Of(err), FromDevice(err))
	}
	var re *saga.RunError
	if !errors.As(err, &re) || re.State != saga.StateUndone || re.Step != "zone" {
		t.Fatalf("err %#v: want a run undone at its zone step", err)
	}
	if _, ok := mappingOf(h.world, "east-arr1", v.ID, "sm-host-east-esx03"); ok {
		t.Fatal("mask left after the undo")
	}
	if got := h.svc.Attachments(v.ID); len(got) != 0 {
		t.Fatalf("attachments: %+v", got)
	}
	if _, err := h.svc.Attach(ctx, AttachmentSpec{Volume: v.ID, Node: "east-esx03"}); err != nil {
		t.Fatalf("attach once the switch agrees: %v", err)
	}
}

// flakyUnmap is an array whose Unmap refuses while broken is set.
type flakyUnmap struct {
	array.Driver
	mu     sync.Mutex
	broken bool
}

func (f *flakyUnmap) Unmap(ctx context.Context, volume, hostGroup string) error {
	f.mu.Lock()
	broken := f.broken
	f.mu.Unlock()
	if broken {
		return errors.Join(array.ErrConflict, errors.New("controller B: host group is locked by another session"))
	}
	return f.Driver.Unmap(ctx, volume, hostGroup)
}

func (f *flakyUnmap) set(b bool) {
	f.mu.Lock()
	f.broken = b
	f.mu.Unlock()
}

// TestUndoThatFailsLeavesAFailedAttachmentAndAnAlert: when even the undo
// fails, the attachment shows failed with what a person must do, an
// OperationFailed alert fires, a new attach is refused until the undo
// succeeds, and a DELETE retries the undo and cleans up.
func TestUndoThatFailsLeavesAFailedAttachmentAndAnAlert(t *testing.T) {
	var arr *flakyUnmap
	h := newHarness(t, func(d array.Driver) array.Driver {
		if arr == nil {
			arr = &flakyUnmap{Driver: d}
			return arr
		}
		return d
	})
	ctx := context.Background()
	v, err := h.svc.CreateVolume(ctx, VolumeSpec{Name: "stuck", SizeBytes: gib, Site: "east", Array: "east-arr1"})
	if err != nil {
		t.Fatal(err)
	}
	arr.set(true)
	if err := h.world.InjectFault(lab.Fault{Target: "east-a", Op: lab.OpZone, Count: 1, Kind: lab.KindFinal}); err != nil {
		t.Fatal(err)
	}
	_, err = h.svc.Attach(ctx, AttachmentSpec{Volume: v.ID, Node: "east-esx03"})
	var re *saga.RunError
	if !errors.As(err, &re) || re.State != saga.StateFailed || re.Action == "" {
		t.Fatalf("err %v: want a failed run with an action", err)
	}
	// The array refuses the undo for good: a person must act first, so the
	// answer is a conflict (409), not "try again soon".
	if !errors.Is(err, ErrConflict) || errclass.Of(err) != errclass.Final {
		t.Fatalf("err %v (class %v): want a final conflict", err, errclass.Of(err))
	}
	ats := h.svc.Attachments(v.ID)
	if len(ats) != 1 || ats[0].State != StateFailed || ats[0].Action == "" || !strings.Contains(ats[0].LastError, "failed for good") {
		t.Fatalf("attachments %+v: want one failed, with the zone's error and an action", ats)
	}
	if !firing(h, alert.OperationFailed) {
		t.Fatal("no OperationFailed alert")
	}
	// The mask is on the array and explained: by the failed run.
	if _, ok := mappingOf(h.world, "east-arr1", v.ID, "sm-host-east-esx03"); !ok {
		t.Fatal("the mask the undo could not remove is not there")
	}
	if err := h.svc.DeleteVolume(ctx, v.ID); !errors.Is(err, ErrConflict) {
		t.Fatalf("delete of a volume with a failed attachment: %v", err)
	}
	if err := h.svc.Detach(ctx, v.ID, "east-esx03"); err == nil || !strings.Contains(err.Error(), "could not be undone") {
		t.Fatalf("detach while the array still refuses: %v", err)
	}
	arr.set(false)
	if err := h.svc.Detach(ctx, v.ID, "east-esx03"); err != nil {
		t.Fatalf("detach once the array agrees: %v", err)
	}
	if got := h.svc.Attachments(v.ID); len(got) != 0 {
		t.Fatalf("attachments after the detach: %+v", got)
	}
	if _, ok := mappingOf(h.world, "east-arr1", v.ID, "sm-host-east-esx03"); ok {
		t.Fatal("mask left after the detach")
	}
	if firing(h, alert.OperationFailed) {
		t.Fatal("OperationFailed still firing")
	}
}

func firing(h *harness, name string) bool {
	for _, a := range h.svc.Alerts() {
		if a.Labels["alertname"] == name && a.Status == "firing" {
			return true
		}
	}
	return false
}

// blockingMap is an array whose Map blocks until its context ends while
// block is set, as a daemon killed in the middle of a device call.
type blockingMap struct {
	array.Driver
	mu      sync.Mutex
	block   bool
	entered chan struct{}
}

func (b *blockingMap) Map(ctx context.Context, spec array.MapSpec) error {
	b.mu.Lock()
	block := b.block
	b.mu.Unlock()
	if block {
		b.entered <- struct{}{}
		<-ctx.Done()
		return ctx.Err()
	}
	return b.Driver.Map(ctx, spec)
}

// TestAttachResumesAfterACrash: the daemon dies while the array is being
// asked to mask. The caller hears the attach is still in progress; after
// the restart the run resumes from its record, masks and completes.
func TestAttachResumesAfterACrash(t *testing.T) {
	bm := &blockingMap{entered: make(chan struct{}, 1)}
	h := newHarness(t, func(d array.Driver) array.Driver {
		if bm.Driver == nil {
			bm.Driver = d
		}
		if d == bm.Driver {
			return bm
		}
		return d
	})
	ctx := context.Background()
	v, err := h.svc.CreateVolume(ctx, VolumeSpec{Name: "resumed", SizeBytes: gib, Site: "east", Array: "east-arr1"})
	if err != nil {
		t.Fatal(err)
	}
	bm.mu.Lock()
	bm.block = true
	bm.mu.Unlock()
	errc := make(chan error, 1)
	go func() {
		c, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		_, err := h.svc.Attach(c, AttachmentSpec{Volume: v.ID, Node: "east-esx03"})
		errc <- err
	}()
	<-bm.entered
	if ats := h.svc.Attachments(v.ID); len(ats) != 1 || ats[0].State != StateAttaching {
		t.Fatalf("attachments while masking: %+v", ats)
	}
	h.stop() // the kill: the executor writes nothing more
	if err := <-errc; errclass.Of(err) != errclass.Transient {
		t.Fatalf("attach cut off by the crash: %v, want a transient error", err)
	}
	bm.mu.Lock()
	bm.block = false
	bm.mu.Unlock()
	h.reopen(t)
	// The client asks again, as a CSI sidecar would: the answer waits for
	// the resumed run.
	at, err := h.svc.Attach(ctx, AttachmentSpec{Volume: v.ID, Node: "east-esx03"})
	if err != nil || at.State != StateAttached {
		t.Fatalf("attach after the restart: %+v, %v", at, err)
	}
	if _, ok := mappingOf(h.world, "east-arr1", v.ID, "sm-host-east-esx03"); !ok {
		t.Fatal("no mapping after the resumed attach")
	}
	run := mustRun(t, h, at.Operation)
	if run.Resumed != 1 {
		t.Fatalf("run resumed %d times, want 1", run.Resumed)
	}
}

// TestDetachOfAnAttachmentRecordedBeforeSagas: an attachment recorded by an
// older build (no state, no initiators or target ports in the record) is
// loaded as attached and detaches cleanly; its map is rebuilt for the undo.
func TestDetachOfAnAttachmentRecordedBeforeSagas(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	v, err := h.svc.CreateVolume(ctx, VolumeSpec{Name: "old-record", SizeBytes: gib, Site: "east"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.Attach(ctx, AttachmentSpec{Volume: v.ID, Node: "east-esx03"}); err != nil {
		t.Fatal(err)
	}
	// Rewrite the record as the older build wrote it.
	var rec attachRecord
	key := attachKey(v.ID, "east-esx03")
	if err := h.st.Get(kindAttachment, key, &rec); err != nil {
		t.Fatal(err)
	}
	want := rec
	rec.State, rec.Operation, rec.Initiators, rec.TargetPorts = "", "", nil, nil
	if err := h.st.Put(kindAttachment, key, rec); err != nil {
		t.Fatal(err)
	}
	h.reopen(t)
	ats := h.svc.Attachments(v.ID)
	if len(ats) != 1 || ats[0].State != StateAttached {
		t.Fatalf("old record loaded as %+v", ats)
	}
	h.svc.RLock()
	got := h.svc.attachments[key]
	h.svc.RUnlock()
	inits, targets := h.svc.mapOfOldRecord(got)
	if !slices.Equal(inits, want.Initiators) || !slices.Equal(targets, want.TargetPorts) {
		t.Fatalf("rebuilt map %v %v, the attach made %v %v", inits, targets, want.Initiators, want.TargetPorts)
	}
	if err := h.svc.Detach(ctx, v.ID, "east-esx03"); err != nil {
		t.Fatal(err)
	}
	if _, ok := mappingOf(h.world, "east-arr1", v.ID, "sm-host-east-esx03"); ok {
		t.Fatal("mapping left after the detach")
	}
}

// TestOldRunsArePruned: the record of a run that ended more than keepRuns
// ago goes when the executor starts (and daily after), so what a start
// reads does not grow with every attach ever made; the attachment stays.
func TestOldRunsArePruned(t *testing.T) {
	cfg := lab.Small()
	cfg.Speed = 2e6 // a week of lab time in about 0.3 s
	h := newHarnessLab(t, cfg, nil)
	ctx := context.Background()
	v, err := h.svc.CreateVolume(ctx, VolumeSpec{Name: "pruned", SizeBytes: gib, Site: "east"})
	if err != nil {
		t.Fatal(err)
	}
	at, err := h.svc.Attach(ctx, AttachmentSpec{Volume: v.ID, Node: "east-esx03"})
	if err != nil {
		t.Fatal(err)
	}
	if err := clockwait.Sleep(ctx, h.world.Clock(), keepRuns+time.Hour); err != nil {
		t.Fatal(err)
	}
	h.reopen(t) // a start: RunSagas prunes first
	deadline := time.Now().Add(10 * time.Second)
	for {
		runs, err := h.svc.Operations(sagaAttachment)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.ContainsFunc(runs, func(r saga.Run) bool { return r.ID == at.Operation }) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("run %s of %v old still kept", at.Operation, keepRuns)
		}
		runtime.Gosched()
	}
	if ats := h.svc.Attachments(v.ID); len(ats) != 1 || ats[0].State != StateAttached {
		t.Fatalf("attachment after the prune: %+v", ats)
	}
}
