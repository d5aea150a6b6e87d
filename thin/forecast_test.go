package thin

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"
)

// hourly is a trace's points one an hour (the series Predict is given).
func hourly(tr trace, upTo time.Time) []Point {
	h := NewHistory(Retention{})
	for _, p := range tr.pts {
		if p.At.After(upTo) {
			break
		}
		h.Add(p.At, p.UsedBytes, p.ProvisionedBytes)
		h.Expire(p.At)
	}
	return h.Series()
}

// TestPredictOnTraces: on each kind of trace, 15 days into it, the forecast
// is trusted and close on linear growth and a settled step change, and
// never trusted to fill a flat pool.
func TestPredictOnTraces(t *testing.T) {
	for seed := uint64(1); seed <= 5; seed++ {
		for _, kind := range []string{"linear", "step", "flat"} {
			tr := genTrace(kind, seed)
			at := traceEpoch.Add(15 * 24 * time.Hour)
			if kind == "step" {
				at = traceEpoch.Add(40 * 24 * time.Hour) // the step is at day 10–25
			}
			if !tr.fullAt.IsZero() && !tr.fullAt.After(at) {
				continue
			}
			fc := Predict(hourly(tr, at), traceCap, ForecastConfig{})
			if kind == "flat" {
				if fc.DaysToFull != nil && *fc.DaysToFull < 60 {
					t.Errorf("flat seed %d: days to full %v: %s", seed, *fc.DaysToFull, fc.Explanation)
				}
				continue
			}
			actual := tr.fullAt.Sub(at).Hours() / 24
			if fc.DaysToFull == nil || math.Abs(*fc.DaysToFull-actual) > 0.15*actual+1 {
				t.Errorf("%s seed %d: days to full %v, actual %.1f: %s", kind, seed, fc.DaysToFull, actual, fc.Explanation)
				continue
			}
			if !fc.Trusted || fc.R2 <= 0.9 || fc.Method == "" || *fc.DaysToFullLow > *fc.DaysToFull {
				t.Errorf("%s seed %d: %+v", kind, seed, fc)
			}
		}
	}
}

func TestPredictExplains(t *testing.T) {
	at := func(h int) time.Time { return traceEpoch.Add(time.Duration(h) * time.Hour) }
	var few, shrinking, noise []Point
	for h := range 3 {
		few = append(few, Point{At: at(h), UsedBytes: 100})
	}
	for h := range 48 {
		shrinking = append(shrinking, Point{At: at(h), UsedBytes: int64(1e12 - 1e9*float64(h))})
		noise = append(noise, Point{At: at(h), UsedBytes: int64(5e11 + 1e10*math.Sin(float64(h)*2.1))})
	}
	tests := []struct {
		name    string
		series  []Point
		trusted bool
		words   string
	}{
		{"too few points", few, false, "3 points of history, 6 needed"},
		{"shrinking", shrinking, true, "not growing"},
		{"noise", noise, false, "not trusted"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fc := Predict(tt.series, 2e12, ForecastConfig{})
			if fc.DaysToFull != nil || fc.Trusted != tt.trusted || !strings.Contains(fc.Explanation, tt.words) {
				t.Fatalf("got %+v, want no days to full, trusted %v, %q", fc, tt.trusted, tt.words)
			}
		})
	}
}

// TestLeastSquaresExact: a line gives its slope, its last value and R² 1;
// only the points in the window count.
func TestLeastSquaresExact(t *testing.T) {
	var pts []Point
	for h := range 100 {
		v := int64(1000 + 24*h) // 24 bytes an hour: 576 a day
		if h < 50 {
			v = 0 // outside the window
		}
		pts = append(pts, Point{At: traceEpoch.Add(time.Duration(h) * time.Hour), UsedBytes: v})
	}
	level, perDay, r2, ok := LeastSquares(pts, 24*time.Hour)
	if !ok || math.Abs(level-(1000+24*99)) > 1e-6 || math.Abs(perDay-576) > 1e-6 || math.Abs(r2-1) > 1e-9 {
		t.Fatalf("got %v %v %v %v", level, perDay, r2, ok)
	}
}

// line is hourly points of a linear trend with Gaussian-like noise of sd
// (a fixed pseudo-random sequence), over n hours.
func line(n int, base, perHour, sd float64) []Point {
	var pts []Point
	x := uint64(12345)
	for h := range n {
		// sum of 4 uniforms, centred and scaled to sd
		var u float64
		for range 4 {
			x = x*6364136223846793005 + 1442695040888963407
			u += float64(x>>11) / (1 << 53)
		}
		v := base + perHour*float64(h) + sd*(u-2)*math.Sqrt(3)
		pts = append(pts, Point{At: traceEpoch.Add(time.Duration(h) * time.Hour), UsedBytes: int64(v)})
	}
	return pts
}

// TestIntervalWidensWithNoise: the same trend with more noise gives the
// same days to full about, and a pessimistic end further below it; the
// interval is wider at a longer horizon.
func TestIntervalWidensWithNoise(t *testing.T) {
	const capacity = 1e13
	gap := func(sd float64) float64 {
		fc := Predict(line(14*24, 5e12, 5e12/(40*24), sd), capacity, ForecastConfig{})
		if fc.DaysToFull == nil || fc.DaysToFullLow == nil {
			t.Fatalf("sd %g: %+v", sd, fc)
		}
		if *fc.DaysToFullLow > *fc.DaysToFull {
			t.Fatalf("sd %g: low %v above %v", sd, *fc.DaysToFullLow, *fc.DaysToFull)
		}
		return *fc.DaysToFull - *fc.DaysToFullLow
	}
	quiet, loud := gap(1e9), gap(3e10)
	if !(loud > 2*quiet) || loud <= 0 {
		t.Fatalf("gap %v days with little noise, %v with much: want it to widen", quiet, loud)
	}
	ls := fitLeastSquares(line(14*24, 5e12, 1e9, 3e10), DefaultWindows, 0.9)
	if i1, i30 := interval(ls, 1e10, 7, 1), interval(ls, 1e10, 7, 30); !(i30 > i1) {
		t.Fatalf("interval at 1 day %v, at 30 days %v: want it to widen", i1, i30)
	}
}

// TestPredictSeasonal: on weekly and daily seasonal traces the forecast
// from 15 days in is trusted, seasonal or not, and its days to full —
// when a peak reaches capacity — is near the truth; the pessimistic end
// is not after it.
func TestPredictSeasonal(t *testing.T) {
	for seed := uint64(1); seed <= 8; seed++ {
		tr := genTrace("seasonal", seed)
		at := traceEpoch.Add(15 * 24 * time.Hour)
		actual := tr.fullAt.Sub(at).Hours() / 24
		if actual <= 1 {
			continue
		}
		fc := Predict(hourly(tr, at), traceCap, ForecastConfig{})
		if !fc.Trusted || fc.DaysToFull == nil {
			t.Errorf("seed %d: not trusted: %s", seed, fc.Explanation)
			continue
		}
		if math.Abs(*fc.DaysToFull-actual) > 0.1*actual+1 || *fc.DaysToFullLow > actual+0.5 {
			t.Errorf("seed %d: days to full %.2f (low %.2f), actual %.2f: %s", seed, *fc.DaysToFull, *fc.DaysToFullLow, actual, fc.Explanation)
		}
	}
}

// TestSeasonalPeaks: a trend with a weekly swing of 4 % fills when the swing
// is at its top, days before the trend does.
func TestSeasonalPeaks(t *testing.T) {
	const capacity = 1e13
	var pts []Point
	for h := range 21 * 24 {
		d := float64(h) / 24
		v := 4e12 + 1e11*d + 4e11*math.Sin(2*math.Pi*d/7)
		pts = append(pts, Point{At: traceEpoch.Add(time.Duration(h) * time.Hour), UsedBytes: int64(v)})
	}
	fc := Predict(pts, capacity, ForecastConfig{})
	if fc.Method != MethodSeasonal || fc.DaysToFull == nil {
		t.Fatalf("%+v", fc)
	}
	// The truth: the first hour after the last point at capacity.
	now := float64(len(pts)-1) / 24
	truth := math.NaN()
	for h := 0; h < 100*24; h++ {
		d := now + float64(h)/24
		if 4e12+1e11*d+4e11*math.Sin(2*math.Pi*d/7) >= capacity {
			truth = float64(h) / 24
			break
		}
	}
	trendOnly := (capacity - (4e12 + 1e11*now)) / 1e11
	if math.Abs(*fc.DaysToFull-truth) > 0.5 || truth > trendOnly-1 {
		t.Fatalf("days to full %.2f, truth %.2f, the trend alone %.2f: %s", *fc.DaysToFull, truth, trendOnly, fc.Explanation)
	}
}

// TestForecastAlwaysEncodes: whatever the history — every length from
// none to weeks, constant, a single jump, a pool already full — a forecast
// encodes as JSON (no NaN or ±Inf in it): /v1/pools answered 500 when a
// backtest had too little history and its error was +Inf.
func TestForecastAlwaysEncodes(t *testing.T) {
	hourly := func(pts []Point) []Point {
		var out []Point
		for i := 0; i < len(pts); i += 6 {
			out = append(out, pts[i])
		}
		return out
	}
	var series [][]Point
	for _, kind := range traceKinds {
		series = append(series, hourly(genTrace(kind, 3).pts))
	}
	constant := make([]Point, 400)
	jump := make([]Point, 400)
	full := make([]Point, 400)
	for i := range constant {
		at := traceEpoch.Add(time.Duration(i) * time.Hour)
		constant[i] = Point{At: at, UsedBytes: traceCap / 2}
		jump[i] = Point{At: at, UsedBytes: traceCap / 4}
		if i >= 200 {
			jump[i].UsedBytes = traceCap / 2
		}
		full[i] = Point{At: at, UsedBytes: traceCap}
	}
	series = append(series, constant, jump, full)
	for si, s := range series {
		for n := 0; n <= len(s); n += max(1, n/8) {
			fc := Predict(s[:n], traceCap, ForecastConfig{})
			if _, err := json.Marshal(fc); err != nil {
				t.Fatalf("series %d, %d points: %v (%+v)", si, n, err, fc)
			}
		}
	}
}
