package mobility

import (
	"context"
	"strings"
	"testing"
)

// TestAdoptedZoningSurvivesRestart: the zones found at discovery are the
// VMs' intents, kept across restarts; a VM forgotten before the restart
// does not come back as a user, so its zones are orphans.
func TestAdoptedZoningSurvivesRestart(t *testing.T) {
	h := newHarness(t, nil)
	// Each VM: 2 fabrics × sets a and b × 2 target ports.
	if got := h.svc.Zoner().Holds("vm/east-vm001"); len(got) != 8 {
		t.Fatalf("east-vm001 holds %d intents after discovery, want 8: %+v", len(got), got)
	}
	if err := h.svc.DeleteVM("east-vm003"); err != nil {
		t.Fatal(err)
	}
	if got := h.svc.Zoner().Holds("vm/east-vm003"); len(got) != 0 {
		t.Fatalf("a forgotten VM still holds %+v", got)
	}
	h.reopen(t)
	if got := h.svc.Zoner().Holds("vm/east-vm001"); len(got) != 8 {
		t.Fatalf("east-vm001 holds %d intents after a restart, want 8", len(got))
	}
	if got := h.svc.Zoner().Holds("vm/east-vm003"); len(got) != 0 {
		t.Fatalf("the forgotten VM holds %+v after a restart", got)
	}
	d, err := h.svc.Reconcile(context.Background(), "east-a", false)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Missing) != 0 || len(d.Changed) != 0 || len(d.Orphans) != 4 {
		t.Fatalf("drift %+v, want the 4 zones of east-vm003 on east-a as orphans", d)
	}
	for _, n := range d.Orphans {
		if !strings.HasPrefix(n, "sm_east-vm003_") {
			t.Fatalf("orphan %s", n)
		}
	}
}
