package thin

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// Point is one reading of a pool at a time: a raw sample, or the mean of an
// hour's samples (GET /v1/pools/{id}/history).
type Point struct {
	At               time.Time `json:"at"`
	UsedBytes        int64     `json:"usedBytes"`
	ProvisionedBytes int64     `json:"provisionedBytes"`
	// peak is the highest raw sample of the hour (History.Series only; 0
	// when unknown, then the point's UsedBytes stands for it). A pool is
	// full when its peaks reach capacity, not its hourly means.
	peak int64
}

// peakOf is p's highest known used bytes.
func peakOf(p Point) float64 { return float64(max(p.peak, p.UsedBytes)) }

// Methods a Forecast names.
const (
	MethodLeastSquares = "least-squares"
	MethodHolt         = "holt"
	// MethodSeasonal is least squares of a trend plus a weekly and a daily
	// cycle (two harmonics each).
	MethodSeasonal = "seasonal"
)

// Forecast is how a pool's used bytes are expected to grow, and why it is,
// or is not, trusted (the forecast object of GET /v1/pools).
type Forecast struct {
	// Method is the model chosen (least-squares, holt or seasonal); "" when there is
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
	// for the points since; null when the history is too short to fit
	// that far back.
	BacktestErrorBytes *float64 `json:"backtestErrorBytes"`
	// Trusted says whether the model passed the R² gate: then DaysToFull
	// may be believed, and its absence means the pool is not growing.
	Trusted bool `json:"trusted"`
	// Explanation says in words what was fitted and why DaysToFull is what
	// it is (or null).
	Explanation string `json:"explanation"`
	// DaysToFullLow is the pessimistic days to full PoolFullSoon fires on:
	// when the upper end of the prediction interval (the model plus the
	// last week's highest peak above it plus twice the standard error of
	// the fit and of the backtest error, growing with the horizon) reaches
	// the capacity.
	DaysToFullLow *float64 `json:"daysToFullLow"`
	// DaysToFull is when the used bytes' peaks reach the capacity (the
	// model, its cycle included, plus the typical daily peak above it);
	// nil when not trusted or not growing. Not part of the forecast object
	// in the API (the pool carries it).
	DaysToFull *float64 `json:"-"`
}

// ForecastConfig tunes Predict; the zero value takes the defaults.
type ForecastConfig struct {
	// Windows are the least-squares windows, shortest first (default 1 d,
	// 3 d, 7 d, 14 d).
	Windows []time.Duration
	// MinR2 gates trust (default 0.9, EMC/Chamness).
	MinR2 float64
	// Backtest is how far back the backtest's fit stops (default 7 d, at
	// most a third of the history): days to full is a long-range question.
	Backtest time.Duration
}

// DefaultWindows are the least-squares windows.
var DefaultWindows = []time.Duration{24 * time.Hour, 72 * time.Hour, 7 * 24 * time.Hour, 14 * 24 * time.Hour}

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
	// amp bounds how far predict strays from the trend (its cycle).
	amp float64
	// se is the standard error of predict h days after the last point
	// from the uncertainty of the fitted parameters; nil when unknown.
	se func(h float64) float64
	// fitted are the model's in-sample values of the last len(fitted)
	// points of the series it was fitted to.
	fitted []float64
}

// Predict forecasts when the used bytes of series (oldest first, about
// evenly spaced: the hourly series of History) reach capacity. It fits
// least squares over each window long enough to be covered by the series
// and keeps the first local maximum of R² across them (EMC/Chamness),
// Holt's double exponential smoothing, and least squares of a trend with a
// weekly and a daily cycle (seasonal); a model is a candidate only with R²
// above the gate; of the candidates plain least squares is kept unless
// another's error in a backtest (fitted on the series up to Backtest ago,
// asked for the points since) is clearly smaller. Days to full is when the
// model's peaks — the model plus how far the hourly peaks typically rose
// above it each day of the last week — reach capacity; days to full low is
// when the upper end of a prediction interval does (see interval). Pure:
// the same series gives the same forecast.
func Predict(series []Point, capacity int64, cfg ForecastConfig) Forecast {
	cfg = cfg.withDefaults()
	if len(series) < minFitPoints {
		return Forecast{Explanation: fmt.Sprintf("no forecast: %d points of history, %d needed", len(series), minFitPoints)}
	}
	ls := fitLeastSquares(series, cfg.Windows, cfg.MinR2)
	ho := fitHolt(series)
	se := fitSeasonal(series)
	var cands []fit
	var why []string
	for _, f := range []fit{ls, ho, se} {
		switch {
		case !f.ok:
		case f.r2 > cfg.MinR2:
			cands = append(cands, f)
		default:
			why = append(why, fmt.Sprintf("%s R² %.2f", describe(f), f.r2))
		}
	}
	if len(cands) == 0 {
		best := fit{}
		for _, f := range []fit{ls, ho, se} {
			if f.ok && (!best.ok || f.r2 > best.r2) {
				best = f
			}
		}
		fc := Forecast{Method: best.method, Window: dur(best.window), R2: round3(best.r2), GrowthBytesPerDay: math.Round(best.perDay)}
		fc.Explanation = fmt.Sprintf("not trusted: %s, none above the gate of %.2f", strings.Join(why, "; "), cfg.MinR2)
		return fc
	}
	errs := make([]float64, len(cands))
	hor := 0.0
	for i, c := range cands {
		errs[i], hor = backtest(series, c, cfg)
	}
	// Least squares, the simpler and steadier model, unless another's
	// error is clearly smaller: a forecast that switches model on a coin
	// toss makes the days to full, and the alerts, jump.
	pick := 0
	if cands[0].method == MethodLeastSquares {
		for i := 1; i < len(cands); i++ {
			if errs[i] < holtMargin*errs[0] && errs[i] < errs[pick] {
				pick = i
			}
		}
	} else {
		for i := range cands {
			if errs[i] < errs[pick] {
				pick = i
			}
		}
	}
	c := cands[pick]
	fc := Forecast{Method: c.method, Window: dur(c.window), R2: round3(c.r2), GrowthBytesPerDay: math.Round(c.perDay)}
	if e := errs[pick]; !math.IsInf(e, 0) && !math.IsNaN(e) {
		e = math.Round(e)
		fc.BacktestErrorBytes = &e
	}
	chose := fmt.Sprintf("%s (R² %.2f, %s)", describe(c), c.r2, backtestWords(errs[pick]))
	for i, o := range cands {
		if i != pick {
			chose += fmt.Sprintf(" over %s (R² %.2f, %s)", describe(o), o.r2, backtestWords(errs[i]))
		}
	}
	if c.perDay <= 0 {
		fc.Trusted = true
		fc.Explanation = fmt.Sprintf("not growing: %s has a trend of %.0f bytes/day", chose, c.perDay)
		return fc
	}
	typ, top := peaks(series, c)
	last := series[len(series)-1].At
	cp := float64(capacity)
	d, ok := crossing(c, last, func(float64) float64 { return typ }, cp)
	if !ok {
		fc.Trusted = true
		fc.Explanation = fmt.Sprintf("not growing: %s does not reach capacity within %d days", chose, maxDays)
		return fc
	}
	margin := func(h float64) float64 { return interval(c, errs[pick], hor, h) }
	lo, _ := crossing(c, last, func(h float64) float64 { return top + margin(h) }, cp)
	lo = min(lo, d)
	days, low := math.Round(d*100)/100, math.Round(lo*100)/100
	fc.DaysToFull, fc.DaysToFullLow, fc.Trusted = &days, &low, true
	fc.Explanation = fmt.Sprintf("%s: the fit's level is %.0f bytes of %d, growing %.0f bytes/day, peaks %.0f bytes above it; full in %.2f days (%.2f at the pessimistic end)",
		chose, c.level, capacity, c.perDay, typ, days, low)
	return fc
}

// zInterval is the width of the prediction interval in standard errors:
// one-sided, about 98 % of the outcomes fall short of its upper end when
// the errors are normal.
const zInterval = 2.0

// maxDays is the furthest a forecast looks: a pool that does not fill by
// then is reported as not growing.
const maxDays = 3650

// interval is the half-width, in bytes, of the prediction interval of f's
// used bytes h days ahead: zInterval times the square root of the
// parameters' variance at h (the fit's standard error, growing with the
// distance from the fitted points) plus the backtest's: err is the mean
// absolute error of the model fitted hor days ago over the days since, as
// if it came all from a wrong trend (err·2/hor bytes a day), extrapolated
// linearly to h.
func interval(f fit, err, hor, h float64) float64 {
	v := 0.0
	if f.se != nil {
		s := f.se(h)
		v += s * s
	}
	if hor > 0 && !math.IsInf(err, 0) {
		e := err * max(1, 2*h/hor)
		v += e * e
	}
	return zInterval * math.Sqrt(v)
}

// peaks is how far above the model c the hourly peaks of series rose over
// the last week (at most c's window): the median over its days of each
// day's highest rise (the typical peak: a pool fills at one), and the
// highest (the pessimistic one). Zero when c has no in-sample values.
func peaks(series []Point, c fit) (typ, top float64) {
	n := min(len(c.fitted), len(series))
	if n == 0 {
		return 0, 0
	}
	last := series[len(series)-1].At
	pts, fitted := series[len(series)-n:], c.fitted[len(c.fitted)-n:]
	var daily []float64
	for i := len(pts) - 1; i >= 0; i-- {
		age := last.Sub(pts[i].At)
		if age > 7*24*time.Hour {
			break
		}
		k := int(age / (24 * time.Hour))
		ex := peakOf(pts[i]) - fitted[i]
		for len(daily) <= k {
			daily = append(daily, math.Inf(-1))
		}
		daily[k] = max(daily[k], ex)
	}
	daily = slices.DeleteFunc(daily, func(x float64) bool { return math.IsInf(x, -1) })
	if len(daily) == 0 {
		return 0, 0
	}
	slices.Sort(daily)
	typ = max(daily[len(daily)/2], 0)
	return typ, max(daily[len(daily)-1], typ)
}

// crossing is the first h ≥ 0 (days) at which f's value h days after its
// last point plus add(h), a nondecreasing margin, reaches capacity. f's
// value is its trend plus a cycle at most f.amp from it: bisection finds
// where the trend plus add comes within amp of capacity, then an hourly
// scan finds the first peak that reaches it. false when none does within
// maxDays.
func crossing(f fit, last time.Time, add func(h float64) float64, capacity float64) (float64, bool) {
	v := func(h float64) float64 { return f.predict(last.Add(time.Duration(h*float64(24*time.Hour)))) + add(h) }
	env := func(h float64) float64 { return f.level + f.perDay*h + add(h) }
	if v(0) >= capacity {
		return 0, true
	}
	first := func(off float64) (float64, bool) { // first h with env(h) + off ≥ capacity
		if env(0)+off >= capacity {
			return 0, true
		}
		if env(maxDays)+off < capacity {
			return maxDays, false
		}
		a, b := 0.0, float64(maxDays)
		for b-a > 1.0/96 {
			m := (a + b) / 2
			if env(m)+off >= capacity {
				b = m
			} else {
				a = m
			}
		}
		return b, true
	}
	from, ok := first(f.amp)
	if !ok {
		return 0, false
	}
	to, _ := first(-f.amp)
	const step = 1.0 / 24
	for h := max(from-step, 0); h <= to+step && h <= maxDays; h += step {
		if v(h) >= capacity {
			a, b := max(h-step, 0), h
			for range 12 {
				m := (a + b) / 2
				if v(m) >= capacity {
					b = m
				} else {
					a = m
				}
			}
			return b, true
		}
	}
	return to, v(to) >= capacity
}

func describe(f fit) string {
	switch f.method {
	case MethodLeastSquares:
		return "least squares over " + dur(f.window)
	case MethodSeasonal:
		return "least squares of a trend with weekly and daily cycles over " + dur(f.window)
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
	if r, ok := regress(window(series, best.window), linearTerms); ok {
		best.se, best.fitted = r.se, r.fitted
	}
	return best
}

// window is the points of series within w of its last point.
func window(series []Point, w time.Duration) []Point {
	last := series[len(series)-1].At
	from := len(series)
	for from > 0 && last.Sub(series[from-1].At) <= w {
		from--
	}
	return series[from:]
}

// Terms of a regression at x days from the last point.
var (
	linearTerms   = []func(x float64) float64{func(float64) float64 { return 1 }, func(x float64) float64 { return x }}
	seasonalTerms = []func(x float64) float64{
		func(float64) float64 { return 1 }, func(x float64) float64 { return x },
		func(x float64) float64 { return math.Sin(2 * math.Pi * x / 7) }, func(x float64) float64 { return math.Cos(2 * math.Pi * x / 7) },
		func(x float64) float64 { return math.Sin(2 * math.Pi * x) }, func(x float64) float64 { return math.Cos(2 * math.Pi * x) },
	}
)

// regression is a least-squares fit of used bytes on terms.
type regression struct {
	coef   []float64
	r2     float64
	fitted []float64               // at each point
	se     func(h float64) float64 // standard error of the fitted value h days after the last point
}

// regress fits the used bytes of pts to a linear combination of terms of
// the days from the last point, by the normal equations (Cholesky). ok is
// false with too few points or a singular design.
func regress(pts []Point, terms []func(float64) float64) (regression, bool) {
	p := len(terms)
	if len(pts) < max(minFitPoints, p+2) {
		return regression{}, false
	}
	last := pts[len(pts)-1].At
	row := func(x float64, out []float64) {
		for j, t := range terms {
			out[j] = t(x)
		}
	}
	// Centre y for conditioning; the intercept takes the mean back.
	var my float64
	for _, pt := range pts {
		my += float64(pt.UsedBytes)
	}
	my /= float64(len(pts))
	a := make([]float64, p*p)
	b := make([]float64, p)
	x := make([]float64, p)
	for _, pt := range pts {
		row(days(pt.At, last), x)
		y := float64(pt.UsedBytes) - my
		for i := range p {
			b[i] += x[i] * y
			for j := range p {
				a[i*p+j] += x[i] * x[j]
			}
		}
	}
	l, ok := cholesky(a, p)
	if !ok {
		return regression{}, false
	}
	coef := cholSolve(l, p, b)
	coef[0] += my
	var sse, sst float64
	fitted := make([]float64, len(pts))
	for i, pt := range pts {
		row(days(pt.At, last), x)
		var v float64
		for j := range p {
			v += coef[j] * x[j]
		}
		fitted[i] = v
		y := float64(pt.UsedBytes)
		sse += (y - v) * (y - v)
		sst += (y - my) * (y - my)
	}
	r := regression{coef: coef, fitted: fitted}
	if sst > 0 {
		r.r2 = max(1-sse/sst, 0)
	}
	s2 := sse / float64(len(pts)-p)
	r.se = func(h float64) float64 {
		v := make([]float64, p)
		row(h, v)
		w := cholSolve(l, p, v) // (XᵀX)⁻¹ v
		var q float64
		for j := range p {
			q += v[j] * w[j]
		}
		return math.Sqrt(max(s2*q, 0))
	}
	return r, true
}

// cholesky factors the symmetric positive definite p×p matrix a (row
// major) as L·Lᵀ; false when it is not positive definite.
func cholesky(a []float64, p int) ([]float64, bool) {
	l := make([]float64, p*p)
	for i := range p {
		for j := 0; j <= i; j++ {
			s := a[i*p+j]
			for k := range j {
				s -= l[i*p+k] * l[j*p+k]
			}
			if i == j {
				if s <= 1e-12*max(a[i*p+i], 1e-300) {
					return nil, false
				}
				l[i*p+i] = math.Sqrt(s)
			} else {
				l[i*p+j] = s / l[j*p+j]
			}
		}
	}
	return l, true
}

// cholSolve solves L·Lᵀ·x = b.
func cholSolve(l []float64, p int, b []float64) []float64 {
	y := make([]float64, p)
	for i := range p {
		s := b[i]
		for k := range i {
			s -= l[i*p+k] * y[k]
		}
		y[i] = s / l[i*p+i]
	}
	x := make([]float64, p)
	for i := p - 1; i >= 0; i-- {
		s := y[i]
		for k := i + 1; k < p; k++ {
			s -= l[k*p+i] * x[k]
		}
		x[i] = s / l[i*p+i]
	}
	return x
}

// seasonalWindow is the most history the seasonal fit takes: two weeks;
// it needs at least one (a whole weekly cycle).
const seasonalWindow = 14 * 24 * time.Hour

// fitSeasonal fits a trend plus a weekly and a daily sinusoid over the last
// seasonalWindow of series, when it spans a week at least. A weekly swing
// does not then count against the fit (R² of the long plain windows falls
// under the gate on it), and the days to full can be when a peak of the
// cycle, not its mean, reaches capacity.
func fitSeasonal(series []Point) fit {
	pts := window(series, seasonalWindow)
	if len(pts) == 0 || pts[len(pts)-1].At.Sub(pts[0].At) < 7*24*time.Hour-2*time.Hour {
		return fit{}
	}
	r, ok := regress(pts, seasonalTerms)
	if !ok {
		return fit{}
	}
	last := series[len(series)-1].At
	k := r.coef
	f := fit{method: MethodSeasonal, window: last.Sub(pts[0].At).Round(24 * time.Hour), level: k[0], perDay: k[1], r2: r.r2, ok: true,
		amp: math.Hypot(k[2], k[3]) + math.Hypot(k[4], k[5]), se: r.se, fitted: r.fitted}
	f.predict = func(t time.Time) float64 {
		x := days(t, last)
		var v float64
		for j, term := range seasonalTerms {
			v += k[j] * term(x)
		}
		return v
	}
	return f
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
	var bl, bb, ba, bbe float64
	for _, a := range holtAlpha {
		for _, be := range holtBeta {
			l, b, sse := holt(pts, a, be, nil)
			if sse < bestSSE {
				bestSSE, bl, bb, ba, bbe = sse, l, b, a, be
			}
		}
	}
	fitted := make([]float64, 0, len(pts)-2)
	holt(pts, ba, bbe, &fitted)
	r2 := 0.0
	if sst > 0 {
		r2 = max(1-bestSSE/sst, 0)
	}
	f := fit{method: MethodHolt, window: last.Sub(pts[0].At).Round(time.Hour), level: bl, perDay: bb / step, r2: r2, ok: true, fitted: fitted}
	f.predict = func(t time.Time) float64 { return f.level + f.perDay*days(t, last) }
	return f
}

// holt smooths pts with level weight a and trend weight b; it returns the
// final level and trend (per point) and the one-step-ahead squared error;
// it appends the one-step-ahead predictions of pts[2:] to fitted, if not
// nil.
func holt(pts []Point, a, b float64, fitted *[]float64) (level, trend, sse float64) {
	level = float64(pts[1].UsedBytes)
	trend = float64(pts[1].UsedBytes - pts[0].UsedBytes)
	for _, p := range pts[2:] {
		y := float64(p.UsedBytes)
		pred := level + trend
		if fitted != nil {
			*fitted = append(*fitted, pred)
		}
		sse += (y - pred) * (y - pred)
		nl := a*y + (1-a)*pred
		trend = b*(nl-level) + (1-b)*trend
		level = nl
	}
	return level, trend, sse
}

// backtest fits c's method on series up to cfg.Backtest (or a third of the
// span, when shorter) before its end and returns its mean absolute error on
// the points since, and that horizon in days. A model that cannot be
// fitted that far back gets +Inf.
func backtest(series []Point, c fit, cfg ForecastConfig) (float64, float64) {
	last := series[len(series)-1].At
	h := min(cfg.Backtest, last.Sub(series[0].At)/3)
	cut := len(series)
	for cut > 0 && last.Sub(series[cut-1].At) < h {
		cut--
	}
	past, future := series[:cut], series[cut:]
	hd := h.Hours() / 24
	if len(past) < minFitPoints || len(future) == 0 {
		return math.Inf(1), hd
	}
	var f fit
	switch c.method {
	case MethodLeastSquares:
		f = fitLeastSquares(past, cfg.Windows, cfg.MinR2)
	case MethodSeasonal:
		f = fitSeasonal(past)
	default:
		f = fitHolt(past)
	}
	if !f.ok {
		return math.Inf(1), hd
	}
	var e float64
	for _, p := range future {
		e += math.Abs(f.predict(p.At) - float64(p.UsedBytes))
	}
	return e / float64(len(future)), hd
}

// backtestWords says a backtest error in words: a model fitted on too
// short a history to look back has none.
func backtestWords(e float64) string {
	if math.IsInf(e, 0) || math.IsNaN(e) {
		return "no backtest yet: too little history"
	}
	return fmt.Sprintf("backtest error %.0f bytes", e)
}
