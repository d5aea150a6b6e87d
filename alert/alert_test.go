package alert

import (
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"
)

func TestFireResolve(t *testing.T) {
	c := clocktesting.NewFakePassiveClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	m := NewManager(c, 2)
	drift := func(f string) map[string]string {
		return map[string]string{"alertname": FabricDrift, "severity": Warning, "fabric": f}
	}
	if !m.Set(drift("a"), map[string]string{"summary": "1 missing"}, true) {
		t.Fatal("a new alert must change state")
	}
	c.SetTime(c.Now().Add(time.Minute))
	if m.Set(drift("a"), map[string]string{"summary": "2 missing"}, true) {
		t.Fatal("an alert that fires already must not change state")
	}
	if m.Set(drift("b"), nil, false) {
		t.Fatal("resolving an alert that does not fire must not change state")
	}
	l := m.List()
	if len(l) != 1 || l[0].Status != "firing" || l[0].Annotations["summary"] != "2 missing" || !l[0].StartsAt.Equal(c.Now().Add(-time.Minute)) {
		t.Fatalf("list %+v", l)
	}
	if !m.Set(drift("a"), nil, false) {
		t.Fatal("resolving must change state")
	}
	l = m.List()
	if len(l) != 1 || l[0].Status != "resolved" || l[0].EndsAt == nil || !l[0].EndsAt.Equal(c.Now()) {
		t.Fatalf("list %+v", l)
	}
	for _, f := range []string{"x", "y", "z"} {
		m.Set(drift(f), nil, true)
		m.Set(drift(f), nil, false)
	}
	if l = m.List(); len(l) != 2 || l[0].Labels["fabric"] != "z" || l[1].Labels["fabric"] != "y" {
		t.Fatalf("resolved kept %+v, want z then y (newest first, at most 2)", l)
	}
}

func TestFingerprintIgnoresOrder(t *testing.T) {
	a := Fingerprint(map[string]string{"a": "1", "b": "2"})
	if a != Fingerprint(map[string]string{"b": "2", "a": "1"}) {
		t.Fatal("label order changed the fingerprint")
	}
	if a == Fingerprint(map[string]string{"a": "12"}) || a == Fingerprint(map[string]string{"a": "1", "b": "3"}) {
		t.Fatal("different label sets, one fingerprint")
	}
}
