package thin

import (
	"errors"
	"strings"
	"testing"
	"time"

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
		lv = falling(lv, s.d, s.d, s.known, 15, 3, 0.1)
		if lv != s.want {
			t.Fatalf("step %d (%v days, known %v): level %d, want %d", i, s.d, s.known, lv, s.want)
		}
	}
}

// TestAdmitFull: a thick request that takes used past 90 % is refused with
// the numbers; at 90 % exactly passes; a thin request passes until the pool
// is past full already, then is refused too (its writes would find no room).
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
	full := array.Pool{ID: "p", PhysicalBytes: 1000, UsedBytes: 1000}
	err = AdmitFull(full, 1, true, 90)
	if !errors.Is(err, array.ErrNoCapacity) || !strings.Contains(err.Error(), "takes no thin volume: 1000 used of 1000 physical is 100.0%") {
		t.Fatalf("thin into a full pool: %v", err)
	}
	if err := AdmitFull(array.Pool{ID: "p", PhysicalBytes: 1000, UsedBytes: 899}, 1<<40, true, 90); err != nil {
		t.Fatalf("thin below full: %v", err)
	}
}

// TestFullSoonSticky: PoolFullSoon fires at once on the pessimistic days;
// a model switch that says 20 days, a day of "not growing" or of no
// trusted forecast does not clear it; only 24 h past 22.5 days does.
func TestFullSoonSticky(t *testing.T) {
	th := Thresholds{}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	fc := func(low float64, trusted bool) Forecast {
		f := Forecast{Trusted: trusted}
		if low >= 0 {
			d := low
			f.DaysToFull, f.DaysToFullLow = &d, &low
		}
		return f
	}
	steps := []struct {
		hours float64
		fc    Forecast
		want  Level
	}{
		{0, fc(30, true), LevelNone},
		{1, fc(14.9, true), LevelWarning},
		{2, fc(20, true), LevelWarning},  // another model: under 22.5
		{3, fc(-1, true), LevelWarning},  // not growing, an hour
		{20, fc(-1, true), LevelWarning}, // 17 h not growing
		{21, fc(14, true), LevelWarning}, // back
		{22, fc(0, false), LevelWarning}, // not trusted: held
		{40, fc(0, false), LevelWarning},
		{23 + 24 + 1, fc(0, false), LevelWarning}, // untrusted past the hold: counts as never full, not yet for 24 h
		{23 + 48 + 2, fc(0, false), LevelNone},
		{80, fc(2, true), LevelCritical},
		{81, fc(4, true), LevelCritical},       // critical wants 24 h over 4.5
		{82, fc(10, true), LevelCritical},      // a warning level called for
		{82 + 23, fc(10, true), LevelCritical}, // 23 h
		{82 + 24, fc(10, true), LevelWarning},
		{110, fc(30, true), LevelWarning},
		{110 + 24, fc(30, true), LevelNone},
	}
	var r FullSoonRule
	for i, s := range steps {
		got := r.Step(now.Add(time.Duration(s.hours*float64(time.Hour))), s.fc, th, DefaultHoldUntrusted)
		if got != s.want {
			t.Fatalf("step %d (hour %v): level %d, want %d", i, s.hours, got, s.want)
		}
	}
}

// TestFullSoonCriticalOnTheForecast: PoolFullSoon warns on the pessimistic
// bound but pages critical only when the forecast itself says full within
// 3 days: a bursty pool whose bound dips to 1.8 days while its forecast
// says 16 warns (a tryout saw it page critical).
func TestFullSoonCriticalOnTheForecast(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	fc := func(point, low float64) Forecast {
		return Forecast{Trusted: true, DaysToFull: &point, DaysToFullLow: &low}
	}
	var r FullSoonRule
	if got := r.Step(now, fc(16.4, 1.8), Thresholds{}, DefaultHoldUntrusted); got != LevelWarning {
		t.Fatalf("forecast 16.4 days, bound 1.8: level %d, want a warning", got)
	}
	if got := r.Step(now.Add(time.Hour), fc(2.5, 1.2), Thresholds{}, DefaultHoldUntrusted); got != LevelCritical {
		t.Fatalf("forecast 2.5 days: level %d, want critical", got)
	}
}
