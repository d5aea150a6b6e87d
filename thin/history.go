package thin

import (
	"cmp"
	"slices"
	"time"
)

// Retention is how long each tier of a pool's history is kept: raw samples
// (one per sample period) for RawFor, then hourly means for HourlyFor.
type Retention struct {
	RawFor    time.Duration // default 48 h
	HourlyFor time.Duration // default 90 days
}

func (r Retention) withDefaults() Retention {
	if r.RawFor <= 0 {
		r.RawFor = 48 * time.Hour
	}
	if r.HourlyFor <= 0 {
		r.HourlyFor = 90 * 24 * time.Hour
	}
	return r
}

// sample is one raw reading, held compactly (24 bytes).
type sample struct {
	at         int64 // unix milliseconds
	used, prov int64
}

// hour is the mean of one clock hour's samples.
type hour struct {
	start      int64 // unix milliseconds of the hour's start
	used, prov int64 // means
	maxUsed    int64
	n          int32
}

// History is one pool's readings in two tiers: raw samples for
// Retention.RawFor, hourly aggregates (mean and max) for Retention.HourlyFor.
// Memory is bounded by the retention: at one sample a minute about 2,900
// raw samples and 2,200 hours, some 120 KB a pool. Not safe for concurrent
// use; the Watcher guards it.
type History struct {
	ret   Retention
	raw   []sample // oldest first
	hours []hour   // oldest first; only closed hours
}

// NewHistory makes an empty history.
func NewHistory(ret Retention) *History { return &History{ret: ret.withDefaults()} }

func hourOf(ms int64) int64 { return ms - ms%int64(time.Hour/time.Millisecond) }

// Add records a raw sample at at, which must be later than the last one
// (an earlier or equal one is ignored and Add says false). It closes every
// hour before at's that has raw samples and no aggregate yet, and returns
// the hours it closed, for the caller to persist.
func (h *History) Add(at time.Time, used, prov int64) (closed []hour, added bool) {
	ms := at.UnixMilli()
	if n := len(h.raw); n > 0 && ms <= h.raw[n-1].at {
		return nil, false
	}
	closed = h.close(hourOf(ms))
	h.raw = append(h.raw, sample{ms, used, prov})
	return closed, true
}

// close aggregates the raw samples of every hour before cur not yet
// aggregated.
func (h *History) close(cur int64) []hour {
	var lastHour int64 = -1 << 62
	if n := len(h.hours); n > 0 {
		lastHour = h.hours[n-1].start
	}
	var out []hour
	for i := 0; i < len(h.raw); {
		hs := hourOf(h.raw[i].at)
		j := i
		for j < len(h.raw) && hourOf(h.raw[j].at) == hs {
			j++
		}
		if hs > lastHour && hs < cur {
			out = append(out, aggregate(hs, h.raw[i:j]))
		}
		i = j
	}
	h.hours = append(h.hours, out...)
	return out
}

func aggregate(start int64, ss []sample) hour {
	var su, sp float64
	hr := hour{start: start, n: int32(len(ss))}
	for _, s := range ss {
		su += float64(s.used)
		sp += float64(s.prov)
		hr.maxUsed = max(hr.maxUsed, s.used)
	}
	hr.used, hr.prov = int64(su/float64(len(ss))+0.5), int64(sp/float64(len(ss))+0.5)
	return hr
}

// Expire drops raw samples older than RawFor and hours older than
// HourlyFor before now; it returns the cut-offs it used (unix ms).
func (h *History) Expire(now time.Time) {
	rawCut := now.Add(-h.ret.RawFor).UnixMilli()
	i, _ := slices.BinarySearchFunc(h.raw, rawCut, func(s sample, t int64) int { return cmp.Compare(s.at, t) })
	// Keep the samples of an hour not yet aggregated, whatever their age.
	if n := len(h.hours); n > 0 {
		for i > 0 && hourOf(h.raw[i-1].at) > h.hours[n-1].start {
			i--
		}
	} else {
		i = 0
	}
	h.raw = slices.Delete(h.raw, 0, i)
	hourCut := now.Add(-h.ret.HourlyFor).UnixMilli()
	j, _ := slices.BinarySearchFunc(h.hours, hourCut, func(x hour, t int64) int { return cmp.Compare(x.start, t) })
	h.hours = slices.Delete(h.hours, 0, j)
}

// Points is the history since since, downsampled by age: hourly means
// (stamped at the hour's start) where raw samples are gone, raw samples
// after.
func (h *History) Points(since time.Time) []Point {
	s := since.UnixMilli()
	out := []Point{}
	firstRaw := int64(1<<63 - 1)
	if len(h.raw) > 0 {
		firstRaw = h.raw[0].at
	}
	for _, x := range h.hours {
		if x.start >= s && x.start < hourOf(firstRaw) {
			out = append(out, Point{At: time.UnixMilli(x.start).UTC(), UsedBytes: x.used, ProvisionedBytes: x.prov})
		}
	}
	for _, r := range h.raw {
		if r.at >= s {
			out = append(out, Point{At: time.UnixMilli(r.at).UTC(), UsedBytes: r.used, ProvisionedBytes: r.prov})
		}
	}
	return out
}

// Series is the history as one evenly spaced hourly series for the
// forecasts: the hourly means, then the raw samples' own hours (the hour in
// progress included), each point stamped at the mean time of its samples
// (the hour's middle for a closed aggregate).
func (h *History) Series() []Point {
	out := make([]Point, 0, len(h.hours)+48)
	half := int64(time.Hour/time.Millisecond) / 2
	lastHour := int64(-1 << 62)
	for _, x := range h.hours {
		out = append(out, Point{At: time.UnixMilli(x.start + half).UTC(), UsedBytes: x.used, ProvisionedBytes: x.prov})
		lastHour = x.start
	}
	for i := 0; i < len(h.raw); {
		hs := hourOf(h.raw[i].at)
		j := i
		var st float64
		for j < len(h.raw) && hourOf(h.raw[j].at) == hs {
			st += float64(h.raw[j].at)
			j++
		}
		if hs > lastHour {
			a := aggregate(hs, h.raw[i:j])
			out = append(out, Point{At: time.UnixMilli(int64(st / float64(j-i))).UTC(), UsedBytes: a.used, ProvisionedBytes: a.prov})
		}
		i = j
	}
	return out
}

// Last is the latest raw sample, if any.
func (h *History) Last() (Point, bool) {
	if len(h.raw) == 0 {
		return Point{}, false
	}
	r := h.raw[len(h.raw)-1]
	return Point{At: time.UnixMilli(r.at).UTC(), UsedBytes: r.used, ProvisionedBytes: r.prov}, true
}
