package thin

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// Point is one reading of a pool at a time: a raw sample, or the mean of an
// hour's samples (GET /v1/pools/{id}/history).
type Point struct {
	At               time.Time `json:"at"`
	UsedBytes        int64     `json:"usedBytes"`
	ProvisionedBytes int64     `json:"provisionedBytes"`
}

// Methods a Forecast names.
const (
	MethodLeastSquares = "least-squares"
	MethodHolt         = "holt"
)

// Forecast is how a pool's used bytes are expected to grow, and why it is,
// or is not, trusted (the forecast object of GET /v1/pools).
type Forecast struct {
	// Method is the model chosen (least-squares or holt); "" when there is
	// too little history to fit either.
	Method string `json:"method"`
	// Window is the least-squares fit's window (EMC/Chamness choice), or
	// the span Holt was run over.
	Window string `json:"window,omitempty"`
	// R2 is the chosen model's coefficient of determination on the points
	// it was fitted to (Holt: of its one-step-ahead predictions).
	R2 float64 `json:"r2"`
	// GrowthBytesPerDay is the model's trend.
	GrowthBytesPerDay float64 `json:"growthBytesPerDay"`
	// BacktestErrorBytes is the model's mean absolute error when fitted on
	// the history up to a week ago (a third of it, when shorter) and asked
	// for the points since.
	BacktestErrorBytes float64 `json:"backtestErrorBytes"`
	// Trusted says whether the model passed the R² gate: then DaysToFull
	// may be believed, and its absence means the pool is not growing.
	Trusted bool `json:"trusted"`
	// Explanation says in words what was fitted and why DaysToFull is what
	// it is (or null).
	Explanation string `json:"explanation"`
	// DaysToFullLow is the pessimistic days to full PoolFullSoon fires on:
	// when the trend reaches the capacity less twice the backtest error
	// (the model was that far off over the last week).
	DaysToFullLow *float64 `json:"daysToFullLow"`
	// DaysToFull is when the used bytes reach the capacity at the trend;
	// nil when not trusted or not growing. Not part of the forecast object
	// in the API (the pool carries it).
	DaysToFull *float64 `json:"-"`
}

// ForecastConfig tunes Predict; the zero value takes the defaults.
type ForecastConfig struct {
	// Windows are the least-squares windows, shortest first (default 6 h,
	// 1 d, 3 d, 7 d, 14 d).
	Windows []time.Duration
	// MinR2 gates trust (default 0.9, EMC/Chamness).
	MinR2 float64
	// Backtest is how far back the backtest's fit stops (default 7 d, at
	// most a third of the history): days to full is a long-range question.
	Backtest time.Duration
}

// DefaultWindows are the least-squares windows.
var DefaultWindows = []time.Duration{6 * time.Hour, 24 * time.Hour, 72 * time.Hour, 7 * 24 * time.Hour, 14 * 24 * time.Hour}

func (c ForecastConfig) withDefaults() ForecastConfig {
	if len(c.Windows) == 0 {
		c.Windows = DefaultWindows
	}
	if c.MinR2 <= 0 {
		c.MinR2 = 0.9
	}
	if c.Backtest <= 0 {
		c.Backtest = 7 * 24 * time.Hour
	}
	return c
}

// holtMargin is how much smaller Holt's backtest error must be for Holt to
// be chosen over least squares.
const holtMargin = 0.8

// minFitPoints is the fewest points a model is fitted to.
const minFitPoints = 6

// fit is one model fitted to a series: the value at the series' last time,
// the trend per day, and R².
type fit struct {
	method string
	window time.Duration
	level  float64 // at the last point's time
	perDay float64
	r2     float64
	ok     bool
	// predict gives the model's value at t (used by the backtest).
	predict func(t time.Time) float64
}

// Predict forecasts when the used bytes of series (oldest first, about
// evenly spaced: the hourly series of History) reach capacity. It fits
// least squares over each window long enough to be covered by the series
// and keeps the first local maximum of R² across them (EMC/Chamness), and
// Holt's double exponential smoothing; a model is a candidate only with R²
// above the gate; of the candidates the one with the smaller error in a
// backtest (fitted on the series up to Backtest ago, asked for the points
// since) is chosen. Pure: the same series gives the same forecast.
func Predict(series []Point, capacity int64, cfg ForecastConfig) Forecast {
	cfg = cfg.withDefaults()
	if len(series) < minFitPoints {
		return Forecast{Explanation: fmt.Sprintf("no forecast: %d points of history, %d needed", len(series), minFitPoints)}
	}
	ls := fitLeastSquares(series, cfg.Windows, cfg.MinR2)
	ho := fitHolt(series)
	var cands []fit
	var why []string
	for _, f := range []fit{ls, ho} {
		switch {
		case !f.ok:
		case f.r2 > cfg.MinR2:
			cands = append(cands, f)
		default:
			why = append(why, fmt.Sprintf("%s R² %.2f", describe(f), f.r2))
		}
	}
	if len(cands) == 0 {
		best := ls
		if !ls.ok || (ho.ok && ho.r2 > ls.r2) {
			best = ho
		}
		fc := Forecast{Method: best.method, Window: dur(best.window), R2: round3(best.r2), GrowthBytesPerDay: math.Round(best.perDay)}
		fc.Explanation = fmt.Sprintf("not trusted: %s, none above the gate of %.2f", strings.Join(why, "; "), cfg.MinR2)
		return fc
	}
	errs := make([]float64, len(cands))
	for i, c := range cands {
		errs[i] = backtest(series, c, cfg)
	}
	// Least squares, the simpler and steadier model, unless Holt's error
	// is clearly smaller: a forecast that switches model on a coin toss
	// makes the days to full, and the alerts, jump.
	pick := 0
	if len(cands) == 2 && errs[1] < holtMargin*errs[0] {
		pick = 1
	}
	c := cands[pick]
	fc := Forecast{Method: c.method, Window: dur(c.window), R2: round3(c.r2), GrowthBytesPerDay: math.Round(c.perDay),
		BacktestErrorBytes: math.Round(errs[pick])}
	chose := fmt.Sprintf("%s (R² %.2f, backtest error %.0f bytes)", describe(c), c.r2, errs[pick])
	if len(cands) == 2 {
		o := cands[1-pick]
		chose += fmt.Sprintf(" over %s (R² %.2f, backtest error %.0f bytes)", describe(o), o.r2, errs[1-pick])
	}
	if c.perDay <= 0 {
		fc.Trusted = true
		fc.Explanation = fmt.Sprintf("not growing: %s has a trend of %.0f bytes/day", chose, c.perDay)
		return fc
	}
	days := max((float64(capacity)-c.level)/c.perDay, 0)
	days = math.Round(days*100) / 100
	low := max((float64(capacity)-c.level-2*errs[pick])/c.perDay, 0)
	low = math.Round(low*100) / 100
	fc.DaysToFull, fc.DaysToFullLow, fc.Trusted = &days, &low, true
	fc.Explanation = fmt.Sprintf("%s: %.0f of %d bytes used, growing %.0f bytes/day, full in %.2f days (%.2f at the pessimistic end)", chose, c.level, capacity, c.perDay, days, low)
	return fc
}

func describe(f fit) string {
	if f.method == MethodLeastSquares {
		return "least squares over " + dur(f.window)
	}
	return "Holt over " + dur(f.window)
}

// dur prints a window as people say it: 6h, 1d, 14d.
func dur(d time.Duration) string {
	switch {
	case d <= 0:
		return ""
	case d%(24*time.Hour) == 0:
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	case d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	}
	return d.Round(time.Minute).String()
}

func round3(f float64) float64 { return math.Round(f*1000) / 1000 }

// days is t − ref in days.
func days(t, ref time.Time) float64 { return t.Sub(ref).Hours() / 24 }

// LeastSquares fits used bytes to a line over the points of series within
// w of its last point: the value at the last point, the slope per day and
// R². ok is false with fewer than minFitPoints points. R² of points with no
// variance is 0 (nothing explained).
func LeastSquares(series []Point, w time.Duration) (level, perDay, r2 float64, ok bool) {
	if len(series) == 0 {
		return 0, 0, 0, false
	}
	last := series[len(series)-1].At
	from := len(series)
	for from > 0 && last.Sub(series[from-1].At) <= w {
		from--
	}
	pts := series[from:]
	if len(pts) < minFitPoints {
		return 0, 0, 0, false
	}
	n := float64(len(pts))
	var sx, sy float64
	for _, p := range pts {
		sx += days(p.At, last)
		sy += float64(p.UsedBytes)
	}
	mx, my := sx/n, sy/n
	var sxx, sxy, syy float64
	for _, p := range pts {
		dx, dy := days(p.At, last)-mx, float64(p.UsedBytes)-my
		sxx += dx * dx
		sxy += dx * dy
		syy += dy * dy
	}
	if sxx == 0 {
		return my, 0, 0, true
	}
	b := sxy / sxx
	a := my - b*mx // value at x = 0, the last point
	if syy > 0 {
		r2 = sxy * sxy / (sxx * syy)
	}
	return a, b, r2, true
}

// fitLeastSquares fits every window the series covers (at least half of
// it) and keeps the first local maximum of R², shortest window first.
func fitLeastSquares(series []Point, windows []time.Duration, minR2 float64) fit {
	span := series[len(series)-1].At.Sub(series[0].At)
	var fits []fit
	for _, w := range windows {
		if span < w/2 && len(fits) > 0 {
			break // the series does not cover it: the same fit as the last
		}
		level, perDay, r2, ok := LeastSquares(series, w)
		if !ok {
			continue
		}
		fits = append(fits, fit{method: MethodLeastSquares, window: w, level: level, perDay: perDay, r2: r2, ok: true})
	}
	if len(fits) == 0 {
		return fit{}
	}
	// The first local maximum of R² that passes the gate; else the
	// highest R² (which Predict will not trust).
	best := fits[0]
	for _, f := range fits {
		if f.r2 > best.r2 {
			best = f
		}
	}
	for i, f := range fits {
		if f.r2 > minR2 && (i+1 == len(fits) || f.r2 >= fits[i+1].r2) && (i == 0 || f.r2 >= fits[i-1].r2) {
			best = f
			break
		}
	}
	last := series[len(series)-1].At
	best.predict = func(t time.Time) float64 { return best.level + best.perDay*days(t, last) }
	return best
}

// holtGrid are the smoothing parameters Holt is tried with; the pair with
// the smallest one-step-ahead squared error is kept.
var (
	holtAlpha = [...]float64{0.05, 0.1, 0.2, 0.4}
	holtBeta  = [...]float64{0.01, 0.03, 0.1}
)

// holtWindow is the most history Holt is run over.
const holtWindow = 14 * 24 * time.Hour

// fitHolt runs Holt's linear (double exponential) smoothing over the last
// holtWindow of series, the trend per the series' median step. R² is of the
// one-step-ahead predictions against the points (after the first two).
func fitHolt(series []Point) fit {
	last := series[len(series)-1].At
	from := 0
	for from < len(series) && last.Sub(series[from].At) > holtWindow {
		from++
	}
	pts := series[from:]
	if len(pts) < minFitPoints {
		return fit{}
	}
	step := pts[len(pts)-1].At.Sub(pts[0].At).Hours() / 24 / float64(len(pts)-1) // days per point
	if step <= 0 {
		return fit{}
	}
	var mean float64
	for _, p := range pts[2:] {
		mean += float64(p.UsedBytes)
	}
	mean /= float64(len(pts) - 2)
	var sst float64
	for _, p := range pts[2:] {
		d := float64(p.UsedBytes) - mean
		sst += d * d
	}
	bestSSE := math.Inf(1)
	var bl, bb float64
	for _, a := range holtAlpha {
		for _, be := range holtBeta {
			l, b, sse := holt(pts, a, be)
			if sse < bestSSE {
				bestSSE, bl, bb = sse, l, b
			}
		}
	}
	r2 := 0.0
	if sst > 0 {
		r2 = max(1-bestSSE/sst, 0)
	}
	f := fit{method: MethodHolt, window: last.Sub(pts[0].At).Round(time.Hour), level: bl, perDay: bb / step, r2: r2, ok: true}
	f.predict = func(t time.Time) float64 { return f.level + f.perDay*days(t, last) }
	return f
}

// holt smooths pts with level weight a and trend weight b; it returns the
// final level and trend (per point) and the one-step-ahead squared error.
func holt(pts []Point, a, b float64) (level, trend, sse float64) {
	level = float64(pts[1].UsedBytes)
	trend = float64(pts[1].UsedBytes - pts[0].UsedBytes)
	for _, p := range pts[2:] {
		y := float64(p.UsedBytes)
		pred := level + trend
		sse += (y - pred) * (y - pred)
		nl := a*y + (1-a)*pred
		trend = b*(nl-level) + (1-b)*trend
		level = nl
	}
	return level, trend, sse
}

// backtest fits c's method on series up to cfg.Backtest (or a third of the
// span, when shorter) before its end and returns its mean absolute error on
// the points since. A model that cannot be fitted that far back gets +Inf.
func backtest(series []Point, c fit, cfg ForecastConfig) float64 {
	last := series[len(series)-1].At
	h := min(cfg.Backtest, last.Sub(series[0].At)/3)
	cut := len(series)
	for cut > 0 && last.Sub(series[cut-1].At) < h {
		cut--
	}
	past, future := series[:cut], series[cut:]
	if len(past) < minFitPoints || len(future) == 0 {
		return math.Inf(1)
	}
	var f fit
	if c.method == MethodLeastSquares {
		f = fitLeastSquares(past, cfg.Windows, cfg.MinR2)
	} else {
		f = fitHolt(past)
	}
	if !f.ok {
		return math.Inf(1)
	}
	var e float64
	for _, p := range future {
		e += math.Abs(f.predict(p.At) - float64(p.UsedBytes))
	}
	return e / float64(len(future))
}
