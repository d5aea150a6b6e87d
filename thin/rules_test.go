package thin

import "testing"

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
