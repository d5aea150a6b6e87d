package thin

import (
	"flag"
	"math"
	"slices"
	"testing"
	"time"
)

// The issue 11 figures: sanmob's forecast (least squares over several
// windows with R² gating, Holt, chosen by backtest) beside Prometheus'
// predict_linear over the last 6 h, on the same generated traces, in the
// same run. Deterministic: seeds 1..benchSeeds of every kind.

const (
	benchSeeds = 40
	// capDays bounds a days-to-full in the error: a forecast of none (not
	// trusted, not growing) or of more counts as capDays.
	capDays = 60.0
	// checkHorizon: checkpoints are taken while the pool is at most this
	// many days from full.
	checkHorizon = 30.0
)

// evalResult is one trace's outcome for both forecasters.
type evalResult struct {
	errS, errPL   []float64 // |predicted − actual| days to full at checkpoints
	leadS, leadPL float64   // days PoolFullSoon had been firing when the pool filled; NaN when it never fills
	critS, critPL bool      // a critical PoolFullSoon fired at some point
}

// evalTrace replays tr through a History as the Watcher would (hourly
// evaluation of the forecast and the PoolFullSoon rule with its hysteresis;
// the same rule fed predict_linear's days for the baseline).
func evalTrace(tr trace, th Thresholds) evalResult {
	th = th.withDefaults()
	h := NewHistory(Retention{})
	res := evalResult{leadS: math.NaN(), leadPL: math.NaN()}
	var lvS, lvPL Level
	var sinceS, sincePL, lastTrusted time.Time
	perHour := int(time.Hour / traceStep)
	for i, p := range tr.pts {
		h.Add(p.At, p.UsedBytes, p.ProvisionedBytes)
		h.Expire(p.At)
		if i%perHour != 0 || i < 6*perHour {
			continue
		}
		fc := Predict(h.Series(), traceCap, ForecastConfig{})
		days, alertDays, known := math.Inf(1), math.Inf(1), fc.Trusted
		if fc.Trusted {
			lastTrusted = p.At
			if fc.DaysToFull != nil {
				days, alertDays = *fc.DaysToFull, *fc.DaysToFullLow
			}
		} else if p.At.Sub(lastTrusted) > DefaultHoldUntrusted {
			known = true
		}
		lvS = falling(lvS, alertDays, known, th.DaysToFull, th.DaysToFullCritical, th.DaysRearmFraction)
		pl := predictLinear(tr.pts[:i+1], traceCap, 6*time.Hour)
		plDays := math.Inf(1)
		if pl != nil {
			plDays = *pl
		}
		lvPL = falling(lvPL, plDays, true, th.DaysToFull, th.DaysToFullCritical, th.DaysRearmFraction)
		sinceS = episode(sinceS, lvS, p.At)
		sincePL = episode(sincePL, lvPL, p.At)
		res.critS = res.critS || lvS == LevelCritical
		res.critPL = res.critPL || lvPL == LevelCritical
		if !tr.fullAt.IsZero() && i%(12*perHour) == 0 && p.At.Sub(tr.pts[0].At) >= 72*time.Hour {
			actual := tr.fullAt.Sub(p.At).Hours() / 24
			if actual <= checkHorizon {
				res.errS = append(res.errS, math.Abs(min(days, capDays)-actual))
				res.errPL = append(res.errPL, math.Abs(min(plDays, capDays)-actual))
			}
		}
	}
	if !tr.fullAt.IsZero() {
		res.leadS, res.leadPL = lead(sinceS, tr.fullAt), lead(sincePL, tr.fullAt)
	}
	return res
}

// episode is when the current firing began; zero while not firing.
func episode(since time.Time, lv Level, now time.Time) time.Time {
	switch {
	case lv == LevelNone:
		return time.Time{}
	case since.IsZero():
		return now
	}
	return since
}

func lead(since, full time.Time) float64 {
	if since.IsZero() {
		return 0
	}
	return full.Sub(since).Hours() / 24
}

// figures are the benchmark's numbers over many traces.
type figures struct {
	maeS, maePL           float64
	leadOKS, leadOKPL     float64 // share of filling traces with lead ≥ 15 days
	leadP5S, leadP5PL     float64 // 5th percentile of lead, days
	falseCritS, falseCrPL int     // flat traces with a critical PoolFullSoon
	traces                int
}

func runFigures(kinds []string, seeds int) (figures, map[string]figures) {
	all := map[string]*[2][]float64{}
	var f figures
	per := map[string]figures{}
	var leadsS, leadsPL []float64
	for _, kind := range kinds {
		var errS, errPL, kls, klp []float64
		var kf figures
		for s := 1; s <= seeds; s++ {
			tr := genTrace(kind, uint64(s))
			r := evalTrace(tr, Thresholds{})
			errS, errPL = append(errS, r.errS...), append(errPL, r.errPL...)
			if !math.IsNaN(r.leadS) {
				kls, klp = append(kls, r.leadS), append(klp, r.leadPL)
			}
			if kind == "flat" {
				if r.critS {
					kf.falseCritS++
				}
				if r.critPL {
					kf.falseCrPL++
				}
			}
			kf.traces++
		}
		all[kind] = &[2][]float64{errS, errPL}
		kf.maeS, kf.maePL = mean(errS), mean(errPL)
		kf.leadOKS, kf.leadOKPL, kf.leadP5S, kf.leadP5PL = share15(kls), share15(klp), pct(kls, 5), pct(klp, 5)
		per[kind] = kf
		leadsS, leadsPL = append(leadsS, kls...), append(leadsPL, klp...)
		f.falseCritS += kf.falseCritS
		f.falseCrPL += kf.falseCrPL
		f.traces += kf.traces
	}
	var es, ep []float64
	for _, k := range kinds {
		es, ep = append(es, all[k][0]...), append(ep, all[k][1]...)
	}
	f.maeS, f.maePL = mean(es), mean(ep)
	f.leadOKS, f.leadOKPL, f.leadP5S, f.leadP5PL = share15(leadsS), share15(leadsPL), pct(leadsS, 5), pct(leadsPL, 5)
	return f, per
}

func mean(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	var s float64
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

func share15(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	n := 0
	for _, x := range xs {
		if x >= 15 {
			n++
		}
	}
	return float64(n) / float64(len(xs))
}

func pct(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Sorted(slices.Values(xs))
	return s[int(math.Floor(p/100*float64(len(s)-1)))]
}

// BenchmarkForecastAccuracy reports, over benchSeeds traces of every kind:
// the mean absolute error of days to full at checkpoints for sanmob
// (mae-days) and predict_linear over 6 h (mae-days-predict-linear) and the
// reduction (mae-reduction-%, goal ≥ 30); the share of filling traces whose
// PoolFullSoon had fired at least 15 days before full (lead15-share, goal
// ≥ 0.95) and the 5th percentile of that lead; critical PoolFullSoon alerts
// on flat traces (false-crit, goal 0). One sub-benchmark per kind too.
func BenchmarkForecastAccuracy(b *testing.B) {
	report := func(b *testing.B, f figures) {
		b.ReportMetric(f.maeS, "mae-days")
		b.ReportMetric(f.maePL, "mae-days-predict-linear")
		b.ReportMetric(100*(1-f.maeS/f.maePL), "mae-reduction-%")
		b.ReportMetric(f.leadOKS, "lead15-share")
		b.ReportMetric(f.leadOKPL, "lead15-share-predict-linear")
		b.ReportMetric(f.leadP5S, "lead-p5-days")
		b.ReportMetric(f.leadP5PL, "lead-p5-days-predict-linear")
		b.ReportMetric(float64(f.falseCritS), "false-crit")
		b.ReportMetric(float64(f.falseCrPL), "false-crit-predict-linear")
	}
	b.Run("all", func(b *testing.B) {
		var f figures
		for b.Loop() {
			f, _ = runFigures(traceKinds, benchSeeds)
		}
		report(b, f)
	})
	for _, kind := range traceKinds {
		b.Run(kind, func(b *testing.B) {
			var f figures
			for b.Loop() {
				f, _ = runFigures([]string{kind}, benchSeeds)
			}
			report(b, f)
		})
	}
}

// TestPrintFigures prints the per-kind figures (go test -run PrintFigures -v
// -figures); skipped otherwise.
func TestPrintFigures(t *testing.T) {
	if !*printFigures {
		t.Skip("needs -figures")
	}
	f, per := runFigures(traceKinds, benchSeeds)
	for _, k := range traceKinds {
		p := per[k]
		t.Logf("%-9s mae %.2f vs %.2f, lead15 %.2f vs %.2f, p5 %.1f vs %.1f, false crit %d vs %d", k, p.maeS, p.maePL, p.leadOKS, p.leadOKPL, p.leadP5S, p.leadP5PL, p.falseCritS, p.falseCrPL)
	}
	t.Logf("all       mae %.2f vs %.2f, lead15 %.2f vs %.2f, p5 %.1f vs %.1f, false crit %d vs %d", f.maeS, f.maePL, f.leadOKS, f.leadOKPL, f.leadP5S, f.leadP5PL, f.falseCritS, f.falseCrPL)
}

var printFigures = flag.Bool("figures", false, "print the forecast figures per trace kind")
