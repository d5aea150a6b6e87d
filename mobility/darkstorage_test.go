package mobility

import (
	"context"
	"testing"
	"time"
)

// darkSince is when sanmob first saw a volume dark, kept in the store: a
// restart keeps it, and a volume that stops being dark is forgotten.
func TestDarkSinceSurvivesARestart(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, nil)
	v, err := h.svc.CreateVolume(ctx, VolumeSpec{Name: "dark", SizeBytes: gib, Site: "east"})
	if err != nil {
		t.Fatal(err)
	}
	h.svc.Refresh(ctx)
	since := func() (time.Time, bool) {
		t.Helper()
		rep, err := h.svc.DarkStorage()
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range rep.Items {
			if d.Volume == v.ID {
				return d.DarkSince, true
			}
		}
		return time.Time{}, false
	}
	first, ok := since()
	if !ok {
		t.Fatalf("volume %s is not dark", v.ID)
	}

	h.reopen(t)
	h.svc.Refresh(ctx)
	if again, ok := since(); !ok || !again.Equal(first) {
		t.Fatalf("after a restart darkSince %v (listed %v), want %v", again, ok, first)
	}
	var n int
	if n, err = h.st.Count(kindDarkVolume); err != nil || n != 1 {
		t.Fatalf("%d dark-volume records (%v), want 1", n, err)
	}

	// Deleted, it is no longer dark, and its record goes.
	if err := h.svc.DeleteVolume(ctx, v.ID); err != nil {
		t.Fatal(err)
	}
	h.svc.Refresh(ctx)
	if _, ok := since(); ok {
		t.Fatal("a deleted volume is still dark")
	}
	if n, err = h.st.Count(kindDarkVolume); err != nil || n != 0 {
		t.Fatalf("%d dark-volume records (%v) after the delete, want 0", n, err)
	}
}
