package thin

import (
	"errors"
	"strings"
	"testing"

	"github.com/sanmob/sanmob/array"
)

// TestUsageHysteresis: 80/90 with 5 points to re-arm.
func TestUsageHysteresis(t *testing.T) {
	steps := []struct {
		v    float64
		want Level
	}{{70, LevelNone}, {80, LevelWarning}, {76, LevelWarning}, {74.9, LevelNone}, {79.9, LevelNone},
		{95, LevelCritical}, {86, LevelCritical}, {84, LevelWarning}, {89, LevelWarning}, {74, LevelNone}}
	lv := LevelNone
	for i, s := range steps {
		lv = rising(lv, s.v, 80, 90, 5)
		if lv != s.want {
			t.Fatalf("step %d (%v%%): level %d, want %d", i, s.v, lv, s.want)
		}
	}
}

// TestDaysHysteresis: 15/3 days, 10 % more to clear; unknown holds.
func TestDaysHysteresis(t *testing.T) {
	steps := []struct {
		d     float64
		known bool
		want  Level
	}{{20, true, LevelNone}, {15, true, LevelWarning}, {16, true, LevelWarning}, {0, false, LevelWarning},
		{16.6, true, LevelNone}, {2, true, LevelCritical}, {3.2, true, LevelCritical}, {3.4, true, LevelWarning}, {99, false, LevelWarning}, {100, true, LevelNone}}
	lv := LevelNone
	for i, s := range steps {
		lv = falling(lv, s.d, s.known, 15, 3, 0.1)
		if lv != s.want {
			t.Fatalf("step %d (%v days, known %v): level %d, want %d", i, s.d, s.known, lv, s.want)
		}
	}
}

// TestAdmitFull: a thick request that takes used past 90 % is refused with
// the numbers; at 90 % exactly, and any thin request, pass.
func TestAdmitFull(t *testing.T) {
	p := array.Pool{ID: "p", PhysicalBytes: 1000, UsedBytes: 800}
	if err := AdmitFull(p, 100, false, 90); err != nil {
		t.Fatalf("to 90 %%: %v", err)
	}
	if err := AdmitFull(p, 500, true, 90); err != nil {
		t.Fatalf("thin: %v", err)
	}
	err := AdmitFull(p, 101, false, 90)
	if !errors.Is(err, array.ErrNoCapacity) || !strings.Contains(err.Error(), "800 used of 1000 physical would become 90.1%, past the full threshold of 90%") {
		t.Fatalf("past 90 %%: %v", err)
	}
}
