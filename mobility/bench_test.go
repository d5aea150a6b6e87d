package mobility

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/sanmob/sanmob/internal/loadgen"
	"github.com/sanmob/sanmob/inventory"
	"github.com/sanmob/sanmob/lab"
)

// BenchmarkPublish is ControllerPublishVolume's core: 500 attaches from 50
// concurrent clients, each a fresh volume to one of the site's hosts and
// VMs (about 4 per node), with the lab's zone commits instant and taking
// 2 s (the lab at 10x real time, so that the real cost of each attach —
// a synced store write among others — is not magnified much). Latencies
// are in the lab's virtual time; at 2 s a commit, group
// commit must keep p99 under 3 commits (6 s).
func BenchmarkPublish(b *testing.B) {
	for _, lat := range []time.Duration{0, 2 * time.Second} {
		b.Run(fmt.Sprint("commit-", lat), func(b *testing.B) {
			var perSec, p50, p99 float64
			for range b.N {
				cfg := lab.Small()
				cfg.Sites, cfg.HostsPerSite, cfg.VMsPerSite = []string{"east"}, 25, 100
				cfg.CommitLatency, cfg.Speed = lat, 10
				if lat == 0 {
					// 0 means the default; with no latency the lab runs at
					// real time, so the figures are real ones.
					cfg.CommitLatency, cfg.Speed = time.Nanosecond, 1
				}
				h := newHarnessLab(b, cfg, nil)
				ctx := context.Background()
				var nodes []string
				for _, x := range h.svc.Hosts(inventory.HostFilter{}) {
					nodes = append(nodes, x.ID)
				}
				for _, v := range h.svc.VMs(inventory.VMFilter{}) {
					nodes = append(nodes, v.ID)
				}
				const publishes, clients = 500, 50
				vols := make([]string, publishes)
				for i := range vols {
					v, err := h.svc.CreateVolume(ctx, VolumeSpec{Name: fmt.Sprint("pub-", i), SizeBytes: 1 << 30})
					if err != nil {
						b.Fatal(err)
					}
					vols[i] = v.ID
				}
				r, err := loadgen.Run(h.world.Clock(), publishes, clients, func(i int) error {
					_, err := h.svc.Attach(ctx, AttachmentSpec{Volume: vols[i], Node: nodes[i%len(nodes)]})
					return err
				})
				if err != nil {
					b.Fatal(err)
				}
				perSec += r.PerSecond
				p50 += r.P50.Seconds()
				p99 += r.P99.Seconds()
			}
			n := float64(b.N)
			b.ReportMetric(perSec/n, "publishes/s")
			b.ReportMetric(p50/n, "p50-s")
			b.ReportMetric(p99/n, "p99-s")
		})
	}
}
