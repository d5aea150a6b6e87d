package thin

import (
	"testing"
	"time"
)

// TestHistoryDownsamples: a minute's samples for four days keep the last
// two days raw and the two before as hourly means; a sample not after the
// last is refused.
func TestHistoryDownsamples(t *testing.T) {
	h := NewHistory(Retention{})
	var closed int
	for m := range 4 * 24 * 60 {
		at := traceEpoch.Add(time.Duration(m) * time.Minute)
		c, ok := h.Add(at, int64(m), 2*int64(m))
		if !ok {
			t.Fatalf("sample %d refused", m)
		}
		closed += len(c)
		h.Expire(at)
	}
	now := traceEpoch.Add(4*24*time.Hour - time.Minute)
	if _, ok := h.Add(now, 1, 1); ok {
		t.Fatal("a sample at the same time was taken")
	}
	if closed != 4*24-1 {
		t.Fatalf("%d hours closed, want %d", closed, 4*24-1)
	}
	pts := h.Points(time.Time{})
	raw, hourly := 0, 0
	for i, p := range pts {
		if i > 0 && !p.At.After(pts[i-1].At) {
			t.Fatalf("points out of order at %d", i)
		}
		if now.Sub(p.At) <= 48*time.Hour {
			raw++
			continue
		}
		hourly++
		// The mean of minutes m..m+59 of that hour.
		m := int64(p.At.Sub(traceEpoch) / time.Minute)
		if p.UsedBytes != m+30 || p.ProvisionedBytes != 2*m+59 {
			t.Fatalf("hour at %v: %+v, want used %d prov %d", p.At, p, m+30, 2*m+59)
		}
	}
	if raw < 48*60 || raw > 49*60 || hourly < 47 || hourly > 48 {
		t.Fatalf("%d raw and %d hourly points", raw, hourly)
	}
	since := now.Add(-time.Hour)
	if got := h.Points(since); len(got) != 61 || got[0].At.Before(since) {
		t.Fatalf("since an hour ago: %d points from %v", len(got), got[0].At)
	}
	if s := h.Series(); len(s) != 4*24 {
		t.Fatalf("series of %d hours, want %d", len(s), 4*24)
	}
}

// TestHistoryRetention: hours older than HourlyFor go.
func TestHistoryRetention(t *testing.T) {
	h := NewHistory(Retention{RawFor: time.Hour, HourlyFor: 5 * time.Hour})
	for m := range 10 * 60 {
		at := traceEpoch.Add(time.Duration(m) * time.Minute)
		h.Add(at, 1, 1)
		h.Expire(at)
	}
	if len(h.hours) != 4 || len(h.raw) > 120 { // hours from 5:00 (cut at 4:59), raw from 8:59
		t.Fatalf("%d hours and %d raw samples kept", len(h.hours), len(h.raw))
	}
}
