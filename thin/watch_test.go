package thin

import (
	"context"
	"sync"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/sanmob/sanmob/alert"
	"github.com/sanmob/sanmob/array"
	"github.com/sanmob/sanmob/compute"
	"github.com/sanmob/sanmob/devices"
	"github.com/sanmob/sanmob/store"
)

// fakeArray reports pools a test sets; every other method is absent.
type fakeArray struct {
	array.Driver
	mu    sync.Mutex
	pools []array.Pool
}

func (f *fakeArray) Pools(context.Context) ([]array.Pool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]array.Pool(nil), f.pools...), nil
}

func (f *fakeArray) set(used, prov int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pools = []array.Pool{
		{ID: "p1", PhysicalBytes: 1000, UsedBytes: used, ProvisionedBytes: prov, MaxOvercommit: 2, ReservedPercent: 10},
		{ID: "p2", PhysicalBytes: 1000, UsedBytes: 100, ProvisionedBytes: 100, MaxOvercommit: 2},
	}
}

type noCompute struct{ compute.Driver }

func newTestWatcher(t *testing.T, st *store.Store, clk *clocktesting.FakeClock, arr *fakeArray, am *alert.Manager) *Watcher {
	t.Helper()
	dev, err := devices.New(devices.Config{Clock: clk, Compute: noCompute{},
		Arrays: []devices.ArrayDevice{{ID: "a1", Site: "east", DriverName: "fake", Driver: arr}}})
	if err != nil {
		t.Fatal(err)
	}
	w := New(Config{Devices: dev, Store: st, Clock: clk, Alerts: am, Sites: map[string]string{"a1": "east"}})
	if err := w.Load(); err != nil {
		t.Fatal(err)
	}
	return w
}

func firing(am *alert.Manager) map[string]string {
	out := map[string]string{}
	for _, a := range am.List() {
		if a.Status == "firing" {
			out[a.Labels["alertname"]+"/"+a.Labels["pool"]] = a.Labels["severity"]
		}
	}
	return out
}

// TestWatcherAlertsAndHistory: usage and overcommit alerts rise and fall
// with hysteresis and carry their labels; one store record per sample holds
// every pool; the history survives a new Watcher on the same store.
func TestWatcherAlertsAndHistory(t *testing.T) {
	st, err := store.Open(store.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	clk := clocktesting.NewFakeClock(traceEpoch)
	am := alert.NewManager(clk, 0)
	arr := &fakeArray{}
	w := newTestWatcher(t, st, clk, arr, am)
	ctx := context.Background()
	steps := []struct {
		used, prov int64
		want       map[string]string
	}{
		{500, 1000, map[string]string{}},
		// 1710 of (1000 − 100) × 2 = 1800 is 95 %.
		{800, 1710, map[string]string{"PoolUsageHigh/p1": "warning", "PoolOvercommitHigh/p1": "warning"}},
		{760, 1800, map[string]string{"PoolUsageHigh/p1": "warning", "PoolOvercommitHigh/p1": "critical"}},
		{900, 1720, map[string]string{"PoolUsageHigh/p1": "critical", "PoolOvercommitHigh/p1": "critical"}},
		{700, 1600, map[string]string{}},
	}
	for i, s := range steps {
		arr.set(s.used, s.prov)
		if err := w.Sample(ctx); err != nil {
			t.Fatal(err)
		}
		got := firing(am)
		if len(got) != len(s.want) {
			t.Fatalf("step %d: firing %v, want %v", i, got, s.want)
		}
		for k, v := range s.want {
			if got[k] != v {
				t.Fatalf("step %d: firing %v, want %v", i, got, s.want)
			}
		}
		clk.Step(time.Minute)
	}
	for _, a := range am.List() {
		if a.Labels["array"] != "a1" || a.Labels["site"] != "east" || a.Annotations["summary"] == "" || a.Annotations["usedPercent"] == "" {
			t.Fatalf("alert %+v lacks its labels or numbers", a)
		}
	}
	if n, _ := st.Count(KindSample); n != len(steps) {
		t.Fatalf("%d sample records for %d samples", n, len(steps))
	}
	s, ok := w.Status("p1")
	if !ok || s.OvercommitPercentOfMax != 88.89 {
		t.Fatalf("status %+v", s)
	}
	// Past an hour: the hour closes into its own record.
	clk.Step(time.Hour)
	if err := w.Sample(ctx); err != nil {
		t.Fatal(err)
	}
	if n, _ := st.Count(KindHour); n != 1 {
		t.Fatalf("%d hour records", n)
	}
	before, _ := w.History("p1", time.Time{})
	w2 := newTestWatcher(t, st, clk, arr, alert.NewManager(clk, 0))
	after, ok := w2.History("p1", time.Time{})
	if !ok || len(after) != len(before) || after[0] != before[0] || after[len(after)-1] != before[len(before)-1] {
		t.Fatalf("after a restart: %v, before %v", after, before)
	}
	if _, ok := w2.History("nope", time.Time{}); ok {
		t.Fatal("an unknown pool has a history")
	}
}

// TestWatcherExpiresRecords: raw records older than the retention are
// deleted from the store in the sample's own transaction.
func TestWatcherExpiresRecords(t *testing.T) {
	st, err := store.Open(store.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	clk := clocktesting.NewFakeClock(traceEpoch)
	arr := &fakeArray{}
	arr.set(100, 100)
	w := newTestWatcher(t, st, clk, arr, nil)
	w.cfg.Retention = Retention{RawFor: 10 * time.Minute, HourlyFor: 2 * time.Hour}
	for range 4 * 60 {
		if err := w.Sample(context.Background()); err != nil {
			t.Fatal(err)
		}
		clk.Step(time.Minute)
	}
	raw, _ := st.Count(KindSample)
	hours, _ := st.Count(KindHour)
	if raw > 11 || hours > 2 || hours < 1 {
		t.Fatalf("%d raw and %d hour records kept", raw, hours)
	}
}
