package thin

import (
	"math"
	"math/rand/v2"
	"time"
)

// Generated pool traces for the forecast tests and the issue 11 benchmark:
// the growth models of issue 11, each drawn from a seed.

const (
	traceCap  int64 = 10 << 40 // 10 TiB physical
	traceStep       = 10 * time.Minute
)

var traceEpoch = time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC) // a Monday

// Trace kinds.
var traceKinds = []string{"linear", "seasonal", "step", "flat", "bursts"}

type trace struct {
	kind   string
	pts    []Point   // every traceStep from traceEpoch
	fullAt time.Time // first point at capacity; zero when it never fills
}

// genTrace draws a trace of kind from seed. Growing traces end when the
// pool is full (at most 150 days); flat ones after 45 days.
func genTrace(kind string, seed uint64) trace {
	r := rand.New(rand.NewPCG(seed, 0x7417))
	c := float64(traceCap)
	u := func(lo, hi float64) float64 { return lo + (hi-lo)*r.Float64() }
	u0 := u(0.2, 0.4) * c
	fillDays := u(30, 75)
	rate := (c - u0) / fillDays // bytes/day
	noise := 0.003 * c
	var at func(d float64) float64 // the noise-free used bytes at day d
	end := 150.0
	switch kind {
	case "linear":
		at = func(d float64) float64 { return u0 + rate*d }
	case "seasonal":
		wk, dy := u(0.02, 0.05)*c, 0.01*c
		noise = 0.002 * c
		at = func(d float64) float64 {
			return u0 + rate*d + wk*math.Sin(2*math.Pi*d/7) + dy*math.Sin(2*math.Pi*d)
		}
	case "step":
		slow := (c - u0) / 150
		ts, jump, fast := u(10, 25), u(0.05, 0.15)*c, slow*u(2, 4)
		at = func(d float64) float64 {
			if d < ts {
				return u0 + slow*d
			}
			return u0 + slow*ts + jump + fast*(d-ts)
		}
	case "flat":
		lvl := u(0.3, 0.7) * c
		noise = u(0.002, 0.01) * c
		end = 45
		at = func(float64) float64 { return lvl }
	case "bursts":
		type burst struct{ from, to, h float64 }
		var bs []burst
		for d := u(0, 3); d < end; d += u(1, 5) {
			bs = append(bs, burst{d, d + u(2, 12)/24, u(0.03, 0.08) * c})
		}
		noise = 0.002 * c
		at = func(d float64) float64 {
			v := u0 + rate*d
			for _, b := range bs {
				if d >= b.from && d < b.to {
					v += b.h
				}
			}
			return v
		}
	default:
		panic("unknown trace kind " + kind)
	}
	tr := trace{kind: kind}
	for i := 0; ; i++ {
		t := traceEpoch.Add(time.Duration(i) * traceStep)
		d := t.Sub(traceEpoch).Hours() / 24
		if d > end {
			break
		}
		v := min(max(at(d)+noise*r.NormFloat64(), 0), c)
		tr.pts = append(tr.pts, Point{At: t, UsedBytes: int64(v), ProvisionedBytes: 3 * traceCap})
		if int64(v) >= traceCap {
			tr.fullAt = t
			break
		}
	}
	return tr
}

// predictLinear is Prometheus' predict_linear as a days-to-full: least
// squares over the raw points of the last window, no gating; nil when not
// growing.
func predictLinear(raw []Point, capacity int64, window time.Duration) *float64 {
	level, perDay, _, ok := LeastSquares(raw, window)
	if !ok || perDay <= 0 {
		return nil
	}
	d := max((float64(capacity)-level)/perDay, 0)
	return &d
}
