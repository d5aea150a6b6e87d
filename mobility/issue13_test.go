package mobility

import (
	"context"
	"strings"
	"testing"
)

// deleteZoneOf removes, on the lab switch behind sanmob's back, the first
// sanmob zone of vm on fabric, and returns its name.
func deleteZoneOf(t *testing.T, h *harness, fabricID, vm string) string {
	t.Helper()
	sw, ok := h.world.Switch(fabricID)
	if !ok {
		t.Fatalf("no switch %s", fabricID)
	}
	for _, z := range sw.TruthZoneDB().Zones {
		if strings.HasPrefix(z.Name, "sm_"+vm+"_") {
			if err := sw.DeleteZone(z.Name); err != nil {
				t.Fatal(err)
			}
			return z.Name
		}
	}
	t.Fatalf("no zone of %s on %s", vm, fabricID)
	return ""
}

// TestReconcileApplyAnswersTheStateAfter: reconcile?apply answers the drift
// as the repair left it — the checksum of the zone DB after the commit,
// nothing missing — not the report from before.
func TestReconcileApplyAnswersTheStateAfter(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	victim := deleteZoneOf(t, h, "east-a", "east-vm002")
	before, err := h.svc.Reconcile(ctx, "east-a", false)
	if err != nil {
		t.Fatal(err)
	}
	if len(before.Missing) != 1 || before.Missing[0].Name != victim || before.Repaired {
		t.Fatalf("drift before %+v, want %s missing", before, victim)
	}
	d, err := h.svc.Reconcile(ctx, "east-a", true)
	if err != nil {
		t.Fatal(err)
	}
	sw, _ := h.world.Switch("east-a")
	truth := sw.TruthZoneDB()
	if d.Checksum != truth.Checksum || d.Checksum == before.Checksum {
		t.Errorf("repair answered checksum %s; the zone DB after it is %s, before it was %s", d.Checksum, truth.Checksum, before.Checksum)
	}
	if !d.Repaired || len(d.Missing)+len(d.Changed)+len(d.Orphans) != 0 || d.Fabric != "east-a" {
		t.Errorf("repair answered %+v, want repaired and nothing left", d)
	}
	again, err := h.svc.Reconcile(ctx, "east-a", false)
	if err != nil {
		t.Fatal(err)
	}
	if again.Checksum != d.Checksum || !again.Empty() {
		t.Errorf("a reconcile after the repair says %+v; the repair said %+v", again, d)
	}
}
