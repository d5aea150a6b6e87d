package thin

import (
	"math"
	"time"
)

// Thresholds are when the pool alerts fire, with AIQUM's defaults, and how
// far a value must fall back before an alert re-arms (hysteresis, as LVM's
// dmeventd does), so that a pool hovering at a threshold does not flap.
type Thresholds struct {
	// NearlyFullPercent and FullPercent of physical capacity used raise
	// PoolUsageHigh warning and critical (AIQUM: 80, 90). FullPercent is
	// also where admission stops thick volumes (thin.Room with Full).
	NearlyFullPercent, FullPercent float64
	// UsageRearmPoints is how many percentage points below a threshold
	// usage must fall to clear it (default 5).
	UsageRearmPoints float64
	// OvercommitWarnPercent and OvercommitCritPercent of the maximum
	// overcommit provisioned raise PoolOvercommitHigh (AIQUM: 95, 100);
	// the share is provisioned / ((physical − reserve) · max overcommit),
	// Cinder's total_available.
	OvercommitWarnPercent, OvercommitCritPercent float64
	// OvercommitRearmPoints: points below a threshold to clear it (default 5).
	OvercommitRearmPoints float64
	// DaysToFull and DaysToFullCritical raise PoolFullSoon warning and
	// critical when a trusted forecast says the pool fills within them
	// (AIQUM: 15; critical: 3, sanmob's choice — a few days is what it
	// takes to buy and install disks at the quickest).
	DaysToFull, DaysToFullCritical float64
	// DaysRearmFraction: the pessimistic days to full must be this much
	// more than a threshold to clear it (default 0.5: 22.5 days for 15),
	// and for DaysRearmFor: an alert that means "the pool may fill within
	// 15 days" must not clear because the forecast switched model or a
	// burst ended, and re-fire an hour later with its lead lost.
	DaysRearmFraction float64
	// DaysRearmFor is how long the days must stay past the re-arm point
	// (default 24 h).
	DaysRearmFor time.Duration
}

// DefaultThresholds are AIQUM's.
func DefaultThresholds() Thresholds {
	return Thresholds{NearlyFullPercent: 80, FullPercent: 90, UsageRearmPoints: 5,
		OvercommitWarnPercent: 95, OvercommitCritPercent: 100, OvercommitRearmPoints: 5,
		DaysToFull: 15, DaysToFullCritical: 3, DaysRearmFraction: 0.5, DaysRearmFor: 24 * time.Hour}
}

func (t Thresholds) withDefaults() Thresholds {
	d := DefaultThresholds()
	set := func(v *float64, def float64) {
		if *v <= 0 {
			*v = def
		}
	}
	set(&t.NearlyFullPercent, d.NearlyFullPercent)
	set(&t.FullPercent, d.FullPercent)
	set(&t.UsageRearmPoints, d.UsageRearmPoints)
	set(&t.OvercommitWarnPercent, d.OvercommitWarnPercent)
	set(&t.OvercommitCritPercent, d.OvercommitCritPercent)
	set(&t.OvercommitRearmPoints, d.OvercommitRearmPoints)
	set(&t.DaysToFull, d.DaysToFull)
	set(&t.DaysToFullCritical, d.DaysToFullCritical)
	set(&t.DaysRearmFraction, d.DaysRearmFraction)
	if t.DaysRearmFor <= 0 {
		t.DaysRearmFor = d.DaysRearmFor
	}
	return t
}

// Level is an alert's state: none, warning or critical.
type Level int

// Levels.
const (
	LevelNone Level = iota
	LevelWarning
	LevelCritical
)

// rising steps a level for a value that is bad when high: it rises at once
// to the highest threshold v reaches, and falls only one step below a
// threshold it has fallen rearm below.
func rising(cur Level, v, warn, crit, rearm float64) Level {
	switch {
	case v >= crit:
		return LevelCritical
	case cur == LevelCritical && v >= crit-rearm:
		return LevelCritical
	case v >= warn:
		return LevelWarning
	case cur >= LevelWarning && v >= warn-rearm:
		return LevelWarning
	}
	return LevelNone
}

// falling steps a level for days to full, bad when low: it rises when days
// fall to a threshold and clears only when days exceed it by the fraction.
// known is false when there is no trusted forecast: the level is held (a
// forecast that loses trust for an hour must not clear and re-raise).
func falling(cur Level, days, critDays float64, known bool, warn, crit, frac float64) Level {
	if !known {
		return cur
	}
	switch {
	case critDays <= crit:
		return LevelCritical
	case cur == LevelCritical && critDays <= crit*(1+frac):
		return LevelCritical
	case days <= warn:
		return LevelWarning
	case cur >= LevelWarning && days <= warn*(1+frac):
		return LevelWarning
	}
	return LevelNone
}

// FullSoonRule is PoolFullSoon's state for one pool: its level, since when
// a lower level has been called for, and when a forecast was last trusted.
// The zero value is a pool with no alert.
type FullSoonRule struct {
	Level       Level
	lowerSince  time.Time // zero while the level is not called to fall
	lastTrusted time.Time
}

// Step evaluates the rule at now on the forecast fc (nil days: not
// growing) and returns the new level. It fires on the pessimistic days to
// full (fc.DaysToFullLow), at once; it falls only when falling, with
// t.DaysRearmFraction, has called for a lower level for t.DaysRearmFor on
// end. While no forecast is trusted the level is held, up to hold; after
// that the forecast counts as "never full" (and the alert clears after
// DaysRearmFor more).
func (r *FullSoonRule) Step(now time.Time, fc Forecast, t Thresholds, hold time.Duration) Level {
	days, crit, known := math.Inf(1), math.Inf(1), fc.Trusted
	if fc.Trusted {
		r.lastTrusted = now
		if fc.DaysToFullLow != nil {
			days = *fc.DaysToFullLow
		}
		if fc.DaysToFull != nil {
			crit = *fc.DaysToFull
		}
	} else if now.Sub(r.lastTrusted) > hold {
		known = true
	}
	return r.stepDays(now, days, crit, known, t)
}

// StepDays is Step on a days to full already known (or not: known false
// holds the level), the same for both severities.
func (r *FullSoonRule) StepDays(now time.Time, days float64, known bool, t Thresholds) Level {
	return r.stepDays(now, days, days, known, t)
}

// stepDays warns on days (the pessimistic bound: the pool may be full
// that soon) and pages critical on critDays (the forecast itself: it is
// expected full that soon), so that a bursty pool whose bound dips under
// three days while its forecast says weeks warns without paging.
func (r *FullSoonRule) stepDays(now time.Time, days, critDays float64, known bool, t Thresholds) Level {
	t = t.withDefaults()
	next := falling(r.Level, days, critDays, known, t.DaysToFull, t.DaysToFullCritical, t.DaysRearmFraction)
	switch {
	case next >= r.Level:
		r.lowerSince = time.Time{}
		r.Level = next
	case r.lowerSince.IsZero():
		r.lowerSince = now
	case now.Sub(r.lowerSince) >= t.DaysRearmFor:
		r.lowerSince = time.Time{}
		r.Level = next
	}
	return r.Level
}
