package mobility

import (
	"context"
	"testing"
	"time"

	"github.com/sanmob/sanmob/inventory"
	"github.com/sanmob/sanmob/lab"
)

// BenchmarkQueueDepthsLarge: on the large lab (10,000 hosts, 100,000 VMs),
// one host agent's batch (every LUN of the host, every path) and one
// control period with every host reporting: all 10,000 batches ingested
// one after another, then the step. On the real clock, a period is 2 s.
func BenchmarkQueueDepthsLarge(b *testing.B) {
	cfg := lab.Large()
	cfg.Speed = 1 // real time: the period's 2 s are the budget the ingest and the step must fit in
	h := newHarnessLab(b, cfg, nil)
	ctx := context.Background()
	hosts := h.svc.Hosts(inventory.HostFilter{})
	batch := func(host string) []TelemetrySample {
		recs, err := h.svc.HostQueueDepths(ctx, host)
		if err != nil {
			b.Fatal(err)
		}
		var out []TelemetrySample
		for _, r := range recs.Items {
			for _, p := range r.PreferredTargetPorts {
				out = append(out, TelemetrySample{Host: host, Volume: r.Volume, TargetPortWWPN: p, At: h.world.Clock().Now(), IOPS: 100, LatencyMs: 1, Outstanding: 4})
			}
		}
		return out
	}
	one := batch(hosts[0].ID)
	b.Logf("%d hosts; one host's batch is %d samples", len(hosts), len(one))
	b.Run("ingest-one-host", func(b *testing.B) {
		h.svc.qd.cfg.HostRate, h.svc.qd.cfg.HostBurst = 1e12, 1e12
		// Once before timing: the volume-users index is built then, and
		// rebuilt every 2 s; a period's batches share it.
		if _, err := h.svc.IngestTelemetry(ctx, "bench", one); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if _, err := h.svc.IngestTelemetry(ctx, "bench", one); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("period-all-hosts", func(b *testing.B) {
		if testing.Short() {
			b.Skip()
		}
		byHost := map[string][]TelemetrySample{}
		for _, vm := range h.svc.VMs(inventory.VMFilter{}) {
			ports, err := h.svc.qd.portsOf(ctx, vm.ID, vm.UpdatedAt)
			if err != nil {
				b.Fatal(err)
			}
			for vol, ps := range ports {
				for _, p := range ps {
					byHost[vm.Host] = append(byHost[vm.Host], TelemetrySample{Host: vm.Host, Volume: vol, TargetPortWWPN: p,
						At: h.world.Clock().Now(), IOPS: 100, LatencyMs: 1, Outstanding: 4})
				}
			}
		}
		var all [][]TelemetrySample
		for _, s := range byHost {
			all = append(all, s)
		}
		for b.Loop() {
			now := h.world.Clock().Now()
			for _, s := range all {
				for i := range s {
					s[i].At = now
				}
			}
			t0 := time.Now()
			for _, s := range all {
				if _, err := h.svc.IngestTelemetry(ctx, "bench", s); err != nil {
					b.Fatal(err)
				}
			}
			ing := time.Since(t0)
			t1 := time.Now()
			h.svc.qd.step(ctx, false)
			stepped := time.Since(t1)
			h.svc.qd.mu.Lock()
			n := 0
			for _, items := range h.svc.qd.out {
				n += len(items)
			}
			h.svc.qd.mu.Unlock()
			if n == 0 {
				b.Fatal("the period recommended nothing")
			}
			b.ReportMetric(ing.Seconds(), "ingest-s")
			b.ReportMetric(stepped.Seconds(), "step-s")
			b.ReportMetric(float64(n), "queues")
		}
	})
}
