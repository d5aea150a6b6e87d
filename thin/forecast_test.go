package thin

import (
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
