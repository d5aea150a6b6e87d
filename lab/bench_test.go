package lab

import (
	"runtime"
	"testing"
)

func TestLargeIsValid(t *testing.T) {
	c := Large()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if hosts, vms := len(c.Sites)*c.HostsPerSite, len(c.Sites)*c.VMsPerSite; hosts != 10000 || vms != 100000 {
		t.Fatalf("Large has %d hosts and %d VMs", hosts, vms)
	}
}

// BenchmarkNewLarge builds the 10,000-host, 100,000-VM world and reports,
// besides time and allocations, the heap the built world keeps alive.
func BenchmarkNewLarge(b *testing.B) {
	cfg := Large()
	cfg.Epoch = testEpoch
	b.ReportAllocs()
	var w *World
	for b.Loop() {
		var err error
		if w, err = New(cfg); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(w)
	w = nil
	runtime.GC()
	runtime.ReadMemStats(&before)
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/(1<<20), "live-MB")
}
