package thin

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
	// DaysRearmFraction: a forecast must say this much more than a
	// threshold to clear it (default 0.1: 16.5 days for 15).
	DaysRearmFraction float64
}

// DefaultThresholds are AIQUM's.
func DefaultThresholds() Thresholds {
	return Thresholds{NearlyFullPercent: 80, FullPercent: 90, UsageRearmPoints: 5,
		OvercommitWarnPercent: 95, OvercommitCritPercent: 100, OvercommitRearmPoints: 5,
		DaysToFull: 15, DaysToFullCritical: 3, DaysRearmFraction: 0.1}
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
func falling(cur Level, days float64, known bool, warn, crit, frac float64) Level {
	if !known {
		return cur
	}
	switch {
	case days <= crit:
		return LevelCritical
	case cur == LevelCritical && days <= crit*(1+frac):
		return LevelCritical
	case days <= warn:
		return LevelWarning
	case cur >= LevelWarning && days <= warn*(1+frac):
		return LevelWarning
	}
	return LevelNone
}
